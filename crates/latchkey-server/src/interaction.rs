//! Login and consent: the [`InteractionHandler`] the axum adapter calls for a
//! verified authorization request, and the routes its forms post to.
//!
//! Flow (OAuth 2.1 section 4.1.1 leaves authentication and consent to the
//! server): `GET /authorize` -> the engine verifies the request -> this
//! handler shows the login page, or, when already signed in, sends the
//! browser to the consent page of this request (or straight back to the
//! client when consent is remembered) -> `POST /latchkey/login` -> `GET
//! /latchkey/consent?request=<id>` -> `POST /latchkey/consent` -> the engine
//! completes the authorization and the browser goes back to the client with
//! `code`, `state` and `iss` (or `error=access_denied`).
//!
//! State, and what bounds it:
//!
//! - Before sign-in the server keeps nothing per visitor. The login form
//!   carries the `PendingAuthorization` sealed (AES-256-GCM, see
//!   [`crate::sealed`]) with an expiry and bound to the browser's random
//!   cookie, and a CSRF token derived from that cookie. Anonymous `GET
//!   /authorize` requests, however many, cannot evict anyone.
//! - Signing in creates the server-side session ([`crate::session`]: a new
//!   id, bounded per client address and in all). Each request waiting for
//!   consent has its own unguessable id, bound to the session; the consent
//!   page's URL and form carry it.
//!
//! Consent approves only what it showed. A `POST /latchkey/consent` is
//! checked whole (CSRF token, `decision`, request id) before anything is
//! taken, then takes exactly the request its form names, only if that
//! request's page was shown in this session and it is still waiting, and only
//! once. A later `GET /authorize` in the same session (say, a cross-site
//! navigation to another client) adds a request beside it and never replaces
//! one whose page was shown, so it cannot slip in behind an open consent
//! page; remembered consent is recorded for the request decided, and no other.
//!
//! `prompt` and `max_age` (OpenID Connect Core 1.0 section 3.1.2.1): a
//! session too old for `max_age`, or older than the request for
//! `prompt=login` or `select_account`, gets the login page again
//! ([`PendingAuthorization::must_sign_in`]); `prompt=consent` shows the
//! consent page even when consent is remembered; `prompt=none` never shows a
//! page: without a usable session it is answered `login_required`, without
//! remembered consent `consent_required` ([`Engine::refuse_prompt_none`], an
//! error page instead of a redirect for a client anyone could have
//! registered).
//!
//! Remembered consent: allowing remembers the consent for this client, its
//! resources and scope, except for a loopback redirect URI, where any program
//! on the computer can listen: there the consent page has a "remember" box,
//! unticked, and only a ticked box remembers. The page also says how long a
//! client that gets refresh tokens stays connected
//! ([`Engine::stays_connected_for`]).
//!
//! Every form carries a CSRF token; a wrong one is a `403` page. A wrong
//! password shows the login page again without saying whether the user
//! exists, after an argon2 verification of the same cost either way.
//!
//! Password guessing (OAuth 2.1 section 7.7): each sign-in first asks the
//! [`LoginLimiter`] whether its user name and its client address may try
//! again. When either is locked out, the login page comes back with `429 Too
//! Many Requests`, a `Retry-After` header and the same message whatever the
//! name, and neither the user store nor argon2 is touched. The client address
//! is the connection's peer (served with `ConnectInfo<SocketAddr>`, as
//! `latchkey serve` does), or what `X-Forwarded-For` says when that peer is a
//! configured trusted proxy. Without a known peer, every attempt shares one
//! address counter, and sessions are capped only in all.
//!
//! argon2 runs on the blocking thread pool, at most one verification per CPU
//! at a time: verifications never stall the async workers that serve the
//! other endpoints, and their memory (19 MiB each) stays bounded however many
//! sign-ins arrive at once.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Request};
use axum::http::header::{LOCATION, RETRY_AFTER, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;
use axum::routing::get;
use base64ct::{Base64UrlUnpadded, Encoding};
use latchkey_axum::InteractionHandler;
use latchkey_engine::authorize::{
    AuthorizationDecision, AuthorizeOutcome, PendingAuthorization, PromptNoneRefusal,
};
use latchkey_engine::{EndpointResponse, Engine, EngineError, MetadataFetcher, SECURITY_TARGET};
use latchkey_http::{ConsentChoice, Event, PageForm, looks_like_session_id, query_request_id};
use latchkey_store::Store;
use latchkey_types::{Scope, SecretString, Subject, TokenDigest, UnixTime};
use latchkey_upstream::{PendingUpstream, UpstreamError};
use rand_core::CryptoRng;
use tokio::sync::Semaphore;
use zeroize::Zeroizing;

use crate::login_limit::{Blocked, LoginLimiter, LoginPolicy, TrustedProxies};
use crate::metrics::SharedObserver;
use crate::pages::{
    self, CALLBACK_PATH, CONSENT_PATH, LOGIN_PATH, ProviderButton, STYLESHEET_PATH, SignInChoices,
    UPSTREAM_PATH,
};
use crate::password;
use crate::sealed::{PageKey, SealedError, UpstreamSeal};
use crate::serve::RequestId;
use crate::session::{MAX_SESSIONS_PER_ADDRESS, PendingError, Sessions, SignedIn, UpstreamProfile};
use crate::upstream::{SignInError, UpstreamSignIn};
use crate::{Clock, os_rng};

/// What the pages decided about a verified request (`latchkey_axum::Interaction`
/// with an axum response, whose body is collected once for the adapter).
enum Interaction {
    Decide(AuthorizationDecision),
    Respond(Response),
}

/// The largest form body the pages accept (the login form carries the
/// sealed request, up to [`crate::sealed::MAX_SEALED_LEN`]).
pub const MAX_FORM_LEN: usize = 64 * 1024;

/// The pages' routes and methods, as [`Pages::router`] registers them
/// (`crate::serve::routes` lists them; a test sends every method to each).
pub const PAGE_ROUTES: &[(&str, &[Method])] = &[
    (STYLESHEET_PATH, &[Method::GET]),
    (LOGIN_PATH, &[Method::POST]),
    (CONSENT_PATH, &[Method::GET, Method::POST]),
    (UPSTREAM_PATH, &[Method::POST]),
    (CALLBACK_PATH, &[Method::GET]),
];

/// The message on the login page while a user name or an address is locked
/// out; the same for every name, so it tells nothing about accounts.
pub const TOO_MANY_ATTEMPTS: &str = "Too many failed sign-in attempts.";

/// The longest upstream cookie set: browsers keep cookies of about 4 KiB.
pub const MAX_UPSTREAM_COOKIE_LEN: usize = 3800;

/// The most upstream sign-ins one browser keeps pending at once (one cookie
/// each); starting another drops the oldest.
pub const MAX_PENDING_UPSTREAM: usize = 4;

/// How long the browser keeps the upstream cookie (the sealed contents
/// expire on their own after [`crate::sealed::LOGIN_FORM_LIFETIME`]).
const UPSTREAM_COOKIE_MAX_AGE: u64 = 15 * 60;

/// How the pages guard sign-in, and where they read the time.
#[derive(Clone, Debug)]
pub struct PageOptions {
    /// The limits on failed sign-ins.
    pub login: LoginPolicy,
    /// Peers whose `X-Forwarded-For` header is believed (default: none).
    pub trusted_proxies: TrustedProxies,
    /// The clock the page routes read (the authorization endpoint's pages get
    /// the adapter's reading instead).
    pub clock: Clock,
    /// The key that seals the login forms (`latchkey serve` derives it from
    /// the secrets file). `None`: a random key, so forms open only until
    /// the process ends.
    pub page_key: Option<PageKey>,
    /// The most signed-in sessions kept for one client address (default
    /// [`MAX_SESSIONS_PER_ADDRESS`]); its oldest go first.
    pub max_sessions_per_address: usize,
    /// Whether the password form is shown and accepted (default `true`).
    pub passwords: bool,
    /// The identity providers people may sign in through (default none).
    pub upstream: Option<Arc<UpstreamSignIn>>,
    /// What each scope means, for the consent page (default none).
    pub scope_descriptions: BTreeMap<String, String>,
    /// Where sign-in failures, lockouts, scope elevations and store
    /// failures are reported (default: nowhere; see [`crate::metrics`]).
    pub observer: SharedObserver,
}

impl Default for PageOptions {
    fn default() -> Self {
        Self {
            login: LoginPolicy::default(),
            trusted_proxies: TrustedProxies::default(),
            clock: Clock::default(),
            page_key: None,
            max_sessions_per_address: MAX_SESSIONS_PER_ADDRESS,
            passwords: true,
            upstream: None,
            scope_descriptions: BTreeMap::new(),
            observer: SharedObserver::default(),
        }
    }
}

/// The login and consent pages of one engine.
pub struct Pages<S: Store, F: MetadataFetcher> {
    engine: Arc<Engine<S, F>>,
    sessions: Sessions,
    page_key: PageKey,
    limiter: LoginLimiter,
    trusted_proxies: TrustedProxies,
    clock: Clock,
    peer_warned: AtomicBool,
    verifications: Semaphore,
    cookie_name: &'static str,
    /// The prefix of the upstream cookies, one per pending sign-in
    /// (`{prefix}-{id}`, see `upstream_cookie_for`).
    upstream_cookie_name: &'static str,
    secure_cookie: bool,
    choices: SignInChoices,
    upstream: Option<Arc<UpstreamSignIn>>,
    scope_descriptions: BTreeMap<String, String>,
    observer: SharedObserver,
}

impl<S, F> Pages<S, F>
where
    S: Store + Send + Sync + 'static,
    F: MetadataFetcher + Send + Sync + 'static,
{
    /// Pages for `engine`. With an https issuer the cookie (the pre-login
    /// binding, then the session id) is `__Host-latchkey` with `Secure`;
    /// otherwise `latchkey` (the browser would drop a `Secure` cookie over
    /// http).
    pub fn new(engine: Arc<Engine<S, F>>) -> Arc<Self> {
        Self::with_options(engine, PageOptions::default())
    }

    /// Pages for `engine` with `options` (login limits, trusted proxies,
    /// clock). Computes the dummy password hash now, so the first unknown
    /// user name costs what every other one does.
    pub fn with_options(engine: Arc<Engine<S, F>>, options: PageOptions) -> Arc<Self> {
        password::prepare_dummy();
        let secure = engine.config().issuer.starts_with("https://");
        let choices = SignInChoices {
            passwords: options.passwords,
            providers: options
                .upstream
                .as_ref()
                .map(|upstream| {
                    upstream
                        .buttons()
                        .into_iter()
                        .map(|(id, display_name)| ProviderButton {
                            id: id.to_owned(),
                            display_name: display_name.to_owned(),
                        })
                        .collect()
                })
                .unwrap_or_default(),
        };
        Arc::new(Self {
            engine,
            sessions: Sessions::with_address_cap(options.max_sessions_per_address),
            page_key: options
                .page_key
                .unwrap_or_else(|| PageKey::generate(&mut os_rng())),
            limiter: LoginLimiter::new(options.login),
            trusted_proxies: options.trusted_proxies,
            clock: options.clock,
            peer_warned: AtomicBool::new(false),
            verifications: Semaphore::new(
                std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
            ),
            cookie_name: if secure {
                "__Host-latchkey"
            } else {
                "latchkey"
            },
            upstream_cookie_name: if secure {
                "__Host-latchkey-upstream"
            } else {
                "latchkey-upstream"
            },
            secure_cookie: secure,
            choices,
            upstream: options.upstream,
            scope_descriptions: options.scope_descriptions,
            observer: options.observer,
        })
    }

    /// The routes of the pages: the stylesheet, the login form's target and
    /// the consent page and form target ([`PAGE_ROUTES`] lists them).
    pub fn router(self: &Arc<Self>) -> Router {
        let (login, consent_get, consent_post) =
            (Arc::clone(self), Arc::clone(self), Arc::clone(self));
        let (upstream_post, callback) = (Arc::clone(self), Arc::clone(self));
        Router::new()
            .route(
                UPSTREAM_PATH,
                axum::routing::post(move |Path(id): Path<String>, request: Request| {
                    let pages = Arc::clone(&upstream_post);
                    async move { pages.post_upstream(&id, request).await }
                }),
            )
            .route(
                CALLBACK_PATH,
                get(move |Path(id): Path<String>, request: Request| {
                    let pages = Arc::clone(&callback);
                    async move { pages.get_callback(&id, request).await }
                }),
            )
            .route(STYLESHEET_PATH, get(|| async { pages::stylesheet() }))
            .route(
                LOGIN_PATH,
                axum::routing::post(move |request: Request| {
                    let pages = Arc::clone(&login);
                    async move { pages.post_login(request).await }
                }),
            )
            .route(
                CONSENT_PATH,
                get(move |request: Request| {
                    let pages = Arc::clone(&consent_get);
                    async move { pages.get_consent(request) }
                })
                .post(move |request: Request| {
                    let pages = Arc::clone(&consent_post);
                    async move { pages.post_consent(request).await }
                }),
            )
    }

    /// The sessions (for tests and metrics).
    pub fn sessions(&self) -> &Sessions {
        &self.sessions
    }

    /// The sign-in failure counters (for tests and metrics).
    pub fn limiter(&self) -> &LoginLimiter {
        &self.limiter
    }

    /// A verified authorization request arrives. Signed in recently enough
    /// for its `prompt` and `max_age`: straight back to the client when
    /// consent is remembered, else the request waits in the session under a
    /// new id and the browser goes to its consent page. Otherwise the login
    /// page, with the request sealed into its form and nothing kept here; or,
    /// for `prompt=none`, `login_required` without any page.
    async fn begin(
        &self,
        pending: PendingAuthorization,
        request: &Parts,
        now: UnixTime,
    ) -> Interaction {
        let mut rng = os_rng();
        let cookie = self.cookie_value(&request.headers);
        if let Some(id) = &cookie
            && let Some(user) = self.sessions.signed_in(id, now)
            && !pending.must_sign_in(Some(user.auth_time), now)
        {
            return self.begin_signed_in(pending, id, user, now, &mut rng).await;
        }
        if pending.prompt().none() {
            return self.refuse_prompt_none(&pending, PromptNoneRefusal::LoginRequired);
        }
        // Anonymous: the browser's cookie (a new random one when it has
        // none) binds the sealed form to this browser.
        let (cookie, set_cookie) = match cookie {
            Some(cookie) => (cookie, false),
            None => (
                SecretString::generate(&mut rng, 32)
                    .expose_secret()
                    .to_owned(),
                true,
            ),
        };
        // One identity provider and no passwords: straight to it.
        if !self.choices.passwords
            && let Some(only) = self.upstream.as_ref().and_then(|u| u.only())
        {
            let id = only.id().as_str().to_owned();
            let mut response = self
                .start_upstream(&id, pending, &request.headers, &cookie, now, &mut rng)
                .await;
            if set_cookie {
                self.set_cookie(response.headers_mut(), &cookie);
            }
            return Interaction::Respond(response);
        }
        let form = LoginForm {
            csrf: self.page_key.login_csrf(&cookie),
            request: self.page_key.seal(&pending, &cookie, now, &mut rng),
        };
        let page = pages::login(&pending, &self.choices, &form.csrf, &form.request, None);
        let targets = self.login_form_targets(&pending).await;
        let mut response = pages::html(StatusCode::OK, page, Some(&targets));
        if set_cookie {
            self.set_cookie(response.headers_mut(), &cookie);
        }
        Interaction::Respond(response)
    }

    async fn begin_signed_in(
        &self,
        pending: PendingAuthorization,
        id: &str,
        user: SignedIn,
        now: UnixTime,
        rng: &mut impl CryptoRng,
    ) -> Interaction {
        // Skip the consent page when consent is remembered (never for
        // prompt=consent; for a loopback redirect only when the user chose
        // to remember it). There is nothing new to remember then.
        match self
            .engine
            .consent_is_remembered(&pending, &user.subject)
            .await
        {
            Ok(true) => {
                return Interaction::Decide(AuthorizationDecision::Approve {
                    subject: user.subject,
                    auth_time: user.auth_time,
                    remember_consent: false,
                });
            }
            Ok(false) => {}
            Err(error) => {
                tracing::error!(error = %error, "consent lookup failed");
                self.store_failed(&error, "consent");
                return Interaction::Respond(self.failure_page());
            }
        }
        if pending.prompt().none() {
            return self.refuse_prompt_none(&pending, PromptNoneRefusal::ConsentRequired);
        }
        match self.sessions.add_pending(id, pending, now, rng) {
            Ok(request_id) => Interaction::Respond(see_other_to_consent(&request_id, None)),
            Err(PendingError::Full) => Interaction::Respond(too_many_requests_page()),
            Err(_) => Interaction::Respond(expired_page()),
        }
    }

    /// Answers a `prompt=none` request that needs a page: the engine's error
    /// redirect (`login_required`, `consent_required`), or its error page for
    /// a client anyone could have registered. Nothing is kept.
    fn refuse_prompt_none(
        &self,
        pending: &PendingAuthorization,
        refusal: PromptNoneRefusal,
    ) -> Interaction {
        Interaction::Respond(match self.engine.refuse_prompt_none(pending, refusal) {
            AuthorizeOutcome::Redirect(response) => endpoint_response(response),
            AuthorizeOutcome::ErrorPage { error, description } => pages::html(
                StatusCode::BAD_REQUEST,
                pages::message(
                    "Authorization error",
                    &format!("{}: {description}", error.as_str()),
                ),
                None,
            ),
            AuthorizeOutcome::Interaction(_) => self.failure_page(),
        })
    }

    async fn post_login(&self, request: Request) -> Response {
        let now = self.clock.now();
        let mut rng = os_rng();
        let (parts, body) = request.into_parts();
        let address = self.client_address(&parts);
        // No cookie: a cross-site post (SameSite=Lax) or a browser that
        // keeps none; either way the form cannot be tied to this browser.
        let Some(cookie) = self.cookie_value(&parts.headers) else {
            return forged_page();
        };
        if !self.choices.passwords {
            return pages::html(
                StatusCode::FORBIDDEN,
                pages::message(
                    "Passwords are off",
                    "This server signs people in only through their identity provider.",
                ),
                None,
            );
        }
        let Some(form) = read_form(body).await else {
            return pages::html(
                StatusCode::BAD_REQUEST,
                pages::message("Something went wrong", "The form could not be read."),
                None,
            );
        };
        if !self.page_key.login_csrf_matches(&cookie, form.get("csrf")) {
            return forged_page();
        }
        let pending = match self.page_key.open(form.get("request"), &cookie, now) {
            Ok(pending) => pending,
            Err(SealedError::Expired) => return expired_page(),
            Err(_) => return forged_page(),
        };
        // The form as it came: shown again after a failure, unchanged.
        let login_form = LoginForm {
            csrf: form.get("csrf").to_owned(),
            request: form.get("request").to_owned(),
        };
        let origin = pages::redirect_origin(&pending);
        let username = form.get("username");
        let password = form.get("password");
        // Before any lookup or hashing: a locked-out name or address costs nothing.
        let attempt = match self.limiter.begin(username, address, now) {
            Ok(attempt) => attempt,
            Err(blocked) => {
                tracing::debug!("sign-in refused: locked out");
                self.observer.observe(&Event::SignInLockedOut);
                return too_many_attempts(
                    &pending,
                    &self.choices,
                    &login_form,
                    origin.as_deref(),
                    blocked,
                );
            }
        };
        let user = match Subject::parse(username) {
            Ok(subject) => match self.engine.store().user(&subject).await {
                Ok(user) => user,
                Err(error) => {
                    self.limiter.abandon(attempt);
                    tracing::error!(error = %error, "user lookup failed");
                    self.observer
                        .observe(&Event::StoreFailed { area: "sign_in" });
                    return self.failure_page();
                }
            },
            Err(_) => None,
        };
        let hash = user.as_ref().map(|user| user.password_hash.clone());
        let verified = self.check_password(password, hash).await;
        let Some(user) = user.filter(|_| verified) else {
            // The user name is never logged: people type passwords into it.
            self.observer.observe(&Event::SignInFailed);
            if let Some(blocked) = self.limiter.failed(attempt, now) {
                self.observer.observe(&Event::SignInLockedOut);
                tracing::warn!(
                    address = %address.map_or_else(|| "unknown".to_owned(), |a| a.to_string()),
                    lockout_secs = blocked.retry_after_secs(),
                    "sign-in failed; a user name or address is now locked out"
                );
                return too_many_attempts(
                    &pending,
                    &self.choices,
                    &login_form,
                    origin.as_deref(),
                    blocked,
                );
            }
            tracing::info!("sign-in failed");
            let page = pages::login(
                &pending,
                &self.choices,
                &login_form.csrf,
                &login_form.request,
                Some("The user name or the password is not right."),
            );
            return pages::html(StatusCode::OK, page, origin.as_deref());
        };
        self.limiter.succeeded(attempt);
        tracing::info!(user = user.username.as_str(), "signed in");
        // A new session id at sign-in: a planted cookie gains nothing.
        self.sessions.remove(&cookie);
        let id = self
            .sessions
            .sign_in(user.username.clone(), address, now, &mut rng);
        let Ok(request_id) = self
            .sessions
            .add_pending(id.expose_secret(), pending, now, &mut rng)
        else {
            return expired_page();
        };
        let mut response = see_other_to_consent(&request_id, origin.as_deref());
        self.set_cookie(response.headers_mut(), id.expose_secret());
        response
    }

    /// `GET /latchkey/consent?request=<id>`: the consent page for the
    /// request `id` of this session, which from now on counts as shown.
    fn get_consent(&self, request: Request) -> Response {
        let now = self.clock.now();
        let Some(id) = self.cookie_value(request.headers()) else {
            return expired_page();
        };
        let Some(request_id) = query_request_id(request.uri().query()) else {
            return expired_page();
        };
        let Ok((pending, user)) = self.sessions.show(&id, &request_id, now) else {
            return expired_page();
        };
        let page = pages::consent(
            &pending,
            &user,
            &self.scope_descriptions,
            &request_id,
            self.engine.stays_connected_for(&pending),
        );
        let origin = pages::redirect_origin(&pending);
        pages::html(StatusCode::OK, page, origin.as_deref())
    }

    /// `POST /latchkey/consent`: the decision on exactly the request the
    /// form names, once its page was shown in this session. The whole form
    /// is checked before the request is taken.
    async fn post_consent(&self, request: Request) -> Response {
        let now = self.clock.now();
        let mut rng = os_rng();
        let (parts, body) = request.into_parts();
        let Some(id) = self.cookie_value(&parts.headers) else {
            return expired_page();
        };
        let Some(user) = self.sessions.signed_in(&id, now) else {
            return expired_page();
        };
        let Some(form) = read_form(body).await else {
            return forged_page();
        };
        if !user.csrf_matches(form.get("csrf")) {
            return forged_page();
        }
        let Some(choice) = ConsentChoice::parse(form.get("decision")) else {
            return pages::html(
                StatusCode::BAD_REQUEST,
                pages::message("Something went wrong", "Choose Allow or Deny."),
                None,
            );
        };
        // The "remember" box: absent (unticked) or `yes`.
        let Some(remember_ticked) = latchkey_http::parse_remember(form.get("remember")) else {
            return pages::html(
                StatusCode::BAD_REQUEST,
                pages::message("Something went wrong", "The form could not be read."),
                None,
            );
        };
        let request_id = form.get("request");
        if !looks_like_session_id(request_id) {
            return expired_page();
        }
        // Taken once: a second post of the same form finds nothing.
        let (pending, user) = match self.sessions.take_shown(&id, request_id, now) {
            Ok(taken) => taken,
            Err(PendingError::NotShown) => return not_shown_page(),
            Err(_) => return expired_page(),
        };
        // A loopback redirect is remembered only if the user ticked the box
        // (any local program can claim the port); any other, always.
        let remember = !pending.redirect_is_loopback() || remember_ticked;
        let decision = consent_decision(choice, &user, remember);
        // Before completing: an approval remembers the new consent.
        let approved = matches!(decision, AuthorizationDecision::Approve { .. });
        let correlation_id = parts.extensions.get::<RequestId>().copied();
        self.note_elevation(&pending, &user.subject, approved, correlation_id)
            .await;
        let response = self
            .engine
            .complete_authorization(pending, decision, now, &mut rng)
            .await;
        endpoint_response(response)
    }

    /// Scope elevation (MCP security best practices, "Scope Minimization":
    /// log elevation events, the scope requested and the subset granted,
    /// with correlation ids): `subject` already consented to this client for
    /// these resources, but not to all of the scope it now asks. One
    /// structured line under `latchkey::security` (`event =
    /// "scope_elevation"`) with the client, the scope requested, the scope
    /// granted (all of it on approval, none on denial: the consent page
    /// approves what it shows) and the request id, and one
    /// [`Event::ScopeElevation`].
    async fn note_elevation(
        &self,
        pending: &PendingAuthorization,
        subject: &Subject,
        approved: bool,
        correlation_id: Option<RequestId>,
    ) {
        let store = self.engine.store();
        let loopback = pending.redirect_is_loopback();
        let covers = |scope| {
            store.consent_covers(
                subject,
                pending.client_id(),
                pending.resources(),
                scope,
                loopback,
            )
        };
        let held = match covers(&Scope::empty()).await {
            Ok(false) => return,
            Ok(true) => covers(pending.scope()).await.map(|covered| !covered),
            Err(error) => Err(error),
        };
        match held {
            Ok(true) => {}
            Ok(false) => return,
            Err(error) => {
                tracing::error!(error = %error, "consent lookup failed");
                self.store_failed(&EngineError::Store(error), "consent");
                return;
            }
        }
        let requested = pending.scope().to_string();
        tracing::info!(
            target: SECURITY_TARGET,
            event = "scope_elevation",
            client_id = pending.client_id().as_str(),
            scope_requested = requested.as_str(),
            scope_granted = if approved { requested.as_str() } else { "" },
            correlation_id = %correlation_id.map_or_else(String::new, |id| id.to_string()),
            "a client asked for more scope than its consent holds"
        );
        self.observer
            .observe(&Event::ScopeElevation { granted: approved });
    }

    /// Reports a store failure seen in `area`, if `error` is one.
    fn store_failed(&self, error: &EngineError, area: &'static str) {
        if matches!(error, EngineError::Store(_)) {
            self.observer.observe(&Event::StoreFailed { area });
        }
    }

    /// `POST /latchkey/upstream/{id}` from a login page's "Continue with"
    /// button: the same CSRF token and sealed request as the password form
    /// (a cross-site page cannot start a sign-in for this browser), then
    /// off to the provider.
    async fn post_upstream(&self, id: &str, request: Request) -> Response {
        let now = self.clock.now();
        let mut rng = os_rng();
        let (parts, body) = request.into_parts();
        let Some(cookie) = self.cookie_value(&parts.headers) else {
            return forged_page();
        };
        let Some(form) = read_form(body).await else {
            return forged_page();
        };
        if !self.page_key.login_csrf_matches(&cookie, form.get("csrf")) {
            return forged_page();
        }
        let pending = match self.page_key.open(form.get("request"), &cookie, now) {
            Ok(pending) => pending,
            Err(SealedError::Expired) => return expired_page(),
            Err(_) => return forged_page(),
        };
        self.start_upstream(id, pending, &parts.headers, &cookie, now, &mut rng)
            .await
    }

    /// Begins the sign-in at provider `id` for the browser with `cookie`:
    /// the pending upstream request and the MCP request to resume, sealed
    /// together for this browser into the upstream cookie, and `303` to the
    /// provider's authorization endpoint.
    async fn start_upstream(
        &self,
        id: &str,
        authorization: PendingAuthorization,
        headers: &HeaderMap,
        cookie: &str,
        now: UnixTime,
        rng: &mut impl CryptoRng,
    ) -> Response {
        let Some(upstream) = &self.upstream else {
            return unknown_provider_page();
        };
        let Some(display_name) = upstream.provider(id).map(|p| p.display_name().to_owned()) else {
            return unknown_provider_page();
        };
        let (url, pending) = match upstream.begin(id, now, rng).await {
            Ok(begun) => begun,
            Err(error) => return upstream_error_page(id, &display_name, &error),
        };
        let seal = UpstreamSeal {
            upstream: pending.encode().expose_secret().to_owned(),
            authorization,
        };
        let sealed = self.page_key.seal_upstream(&seal, cookie, now, rng);
        if sealed.len() > MAX_UPSTREAM_COOKIE_LEN {
            return pages::html(
                StatusCode::BAD_REQUEST,
                pages::message(
                    "This request is too large",
                    "The application's authorization request is too long to sign in through an identity provider.",
                ),
                None,
            );
        }
        let mut response = pages::html(StatusCode::SEE_OTHER, String::new(), None);
        let Ok(location) = HeaderValue::from_str(&url) else {
            return self.failure_page();
        };
        response.headers_mut().insert(LOCATION, location);
        for name in self.oldest_upstream_cookies(headers, cookie, now) {
            self.set_upstream_cookie(response.headers_mut(), &name, "", 0);
        }
        let name = self.upstream_cookie_for(&pending.state_digest());
        self.set_upstream_cookie(
            response.headers_mut(),
            &name,
            &sealed,
            UPSTREAM_COOKIE_MAX_AGE,
        );
        response
    }

    /// The cookie that holds the pending sign-in whose `state` has `digest`:
    /// `{prefix}-{id}`, the id the first 72 bits of the digest (SHA-256 of
    /// the random `state`), base64url. Not a secret: the `state` itself
    /// travels in URLs; the id only lets each tab's callback find its own
    /// pending sign-in, so that two tabs can sign in at once.
    fn upstream_cookie_for(&self, digest: &TokenDigest) -> String {
        format!(
            "{}-{}",
            self.upstream_cookie_name,
            Base64UrlUnpadded::encode_string(&digest.as_bytes()[..9])
        )
    }

    /// The names of the upstream cookies this browser sent that must go so
    /// that one more fits under [`MAX_PENDING_UPSTREAM`]: those that no
    /// longer open (expired, another browser's) first, then the oldest
    /// pending sign-ins.
    fn oldest_upstream_cookies(
        &self,
        headers: &HeaderMap,
        cookie: &str,
        now: UnixTime,
    ) -> Vec<String> {
        let prefix = format!("{}-", self.upstream_cookie_name);
        let mut pending: Vec<(Option<UnixTime>, String)> =
            latchkey_http::cookies_with_prefix(headers, &prefix)
                .into_iter()
                .map(|(name, value)| {
                    let created = self
                        .page_key
                        .open_upstream(&value, cookie, now)
                        .ok()
                        .and_then(|seal| PendingUpstream::decode(&seal.upstream).ok())
                        .map(|pending| pending.created_at());
                    (created, name)
                })
                .collect();
        let excess = (pending.len() + 1).saturating_sub(MAX_PENDING_UPSTREAM);
        // Stable: within one second, the order the browser sent them in,
        // which is oldest first (RFC 6265 section 5.4, step 2).
        pending.sort_by_key(|(created, _)| *created);
        pending
            .into_iter()
            .take(excess)
            .map(|(_, name)| name)
            .collect()
    }

    /// `GET /latchkey/callback/{id}`: the provider sends the browser back.
    /// Answered with the consent page of the resumed MCP request, or an
    /// error page naming the provider and the reason (never a redirect to
    /// the client). The upstream cookie is cleared either way.
    async fn get_callback(&self, id: &str, request: Request) -> Response {
        let now = self.clock.now();
        let (parts, _) = request.into_parts();
        let Some(upstream) = self.upstream.clone() else {
            return unknown_provider_page();
        };
        let Some(display_name) = upstream.provider(id).map(|p| p.display_name().to_owned()) else {
            return unknown_provider_page();
        };
        let name = callback_state(parts.uri.query().unwrap_or_default())
            .map(|state| self.upstream_cookie_for(&TokenDigest::of(state.as_bytes())));
        let mut response = match self
            .finish_upstream(&upstream, id, &parts, name.as_deref(), now)
            .await
        {
            Ok(response) => response,
            Err(error) => upstream_error_page(id, &display_name, &error),
        };
        if let Some(name) = name {
            self.set_upstream_cookie(response.headers_mut(), &name, "", 0);
        }
        response
    }

    async fn finish_upstream(
        &self,
        upstream: &UpstreamSignIn,
        id: &str,
        parts: &Parts,
        cookie_name: Option<&str>,
        now: UnixTime,
    ) -> Result<Response, SignInError> {
        let mut rng = os_rng();
        let address = self.client_address(parts);
        let cookie = self
            .cookie_value(&parts.headers)
            .ok_or(SignInError::NoPendingSignIn)?;
        let sealed = cookie_name
            .and_then(|name| cookie_named(&parts.headers, name))
            .ok_or(SignInError::NoPendingSignIn)?;
        let seal =
            self.page_key
                .open_upstream(&sealed, &cookie, now)
                .map_err(|error| match error {
                    SealedError::Expired => SignInError::Upstream(UpstreamError::Expired),
                    SealedError::Unreadable | SealedError::OtherBrowser => {
                        SignInError::NoPendingSignIn
                    }
                })?;
        let pending = PendingUpstream::decode(&seal.upstream)?;
        if pending.provider().as_str() != id {
            return Err(UpstreamError::PendingProviderMismatch.into());
        }
        // The login limits, per client address: each pending sign-in counts
        // as its own "user name", so nobody can lock others out of a provider.
        let counter = format!(
            "\u{0}upstream {}",
            Base64UrlUnpadded::encode_string(pending.state_digest().as_bytes())
        );
        let attempt = match self.limiter.begin(&counter, address, now) {
            Ok(attempt) => attempt,
            Err(blocked) => {
                let mut response = pages::html(
                    StatusCode::TOO_MANY_REQUESTS,
                    pages::message("Too many sign-in attempts", TOO_MANY_ATTEMPTS),
                    None,
                );
                response
                    .headers_mut()
                    .insert(RETRY_AFTER, HeaderValue::from(blocked.retry_after_secs()));
                return Ok(response);
            }
        };
        // Single use: the first callback for this state wins, any replay is refused.
        let mut key = b"latchkey upstream state ".to_vec();
        key.extend_from_slice(pending.state_digest().as_bytes());
        let key = *TokenDigest::of(&key).as_bytes();
        let expires_at = pending
            .created_at()
            .saturating_add(crate::sealed::LOGIN_FORM_LIFETIME)
            .max(now.saturating_add(crate::sealed::LOGIN_FORM_LIFETIME));
        match self
            .engine
            .store()
            .remember_once(&key, expires_at, now)
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                self.limiter.failed(attempt, now);
                return Err(SignInError::Replayed);
            }
            Err(error) => {
                self.limiter.abandon(attempt);
                tracing::error!(error = %error, "recording an upstream sign-in failed");
                return Err(SignInError::Store);
            }
        }
        let query = parts.uri.query().unwrap_or_default();
        let person = match upstream.finish(id, pending, query, now).await {
            Ok(person) => person,
            Err(error) => {
                self.limiter.failed(attempt, now);
                return Err(error);
            }
        };
        self.limiter.succeeded(attempt);
        let subject = person.local_subject();
        let profile = UpstreamProfile {
            provider: upstream
                .provider(id)
                .map(|p| p.display_name().to_owned())
                .unwrap_or_default(),
            name: person.name().map(str::to_owned),
            email: person.email().map(str::to_owned),
        };
        crate::admin::upsert_upstream_user(
            self.engine.store().as_ref(),
            &subject,
            id,
            &profile,
            now,
        )
        .await
        .map_err(|error| {
            tracing::error!(error = %error, "storing an upstream user failed");
            SignInError::Store
        })?;
        tracing::info!(provider = id, user = subject.as_str(), "signed in upstream");
        self.sessions.remove(&cookie);
        let session = self
            .sessions
            .sign_in_with(subject, Some(profile), address, now, &mut rng);
        let request_id = self
            .sessions
            .add_pending(
                session.expose_secret(),
                seal.authorization.clone(),
                now,
                &mut rng,
            )
            .map_err(|_| SignInError::Store)?;
        let mut response = see_other_to_consent(&request_id, None);
        self.set_cookie(response.headers_mut(), session.expose_secret());
        self.reseal_other_upstream_cookies(
            &parts.headers,
            cookie_name.unwrap_or_default(),
            &cookie,
            session.expose_secret(),
            now,
            &mut rng,
            response.headers_mut(),
        );
        Ok(response)
    }

    /// The browser's cookie changes at sign-in (a new session id), and each
    /// pending sign-in of its other tabs is sealed to the old one: seal them
    /// again to the new one, keeping their names and remaining lifetime, so
    /// that those tabs can still come back.
    #[expect(
        clippy::too_many_arguments,
        reason = "the old and new browser cookies, the request's cookies and the response's headers are all distinct inputs"
    )]
    fn reseal_other_upstream_cookies(
        &self,
        request: &HeaderMap,
        this_one: &str,
        old_cookie: &str,
        new_cookie: &str,
        now: UnixTime,
        rng: &mut impl CryptoRng,
        response: &mut HeaderMap,
    ) {
        let prefix = format!("{}-", self.upstream_cookie_name);
        for (name, value) in latchkey_http::cookies_with_prefix(request, &prefix) {
            if name == this_one {
                continue;
            }
            let Ok(seal) = self.page_key.open_upstream(&value, old_cookie, now) else {
                continue;
            };
            let Ok(pending) = PendingUpstream::decode(&seal.upstream) else {
                continue;
            };
            let age = now
                .duration_since(pending.created_at())
                .map_or(0, |d| d.as_secs());
            let left = UPSTREAM_COOKIE_MAX_AGE.saturating_sub(age);
            if left == 0 {
                continue;
            }
            let sealed = self.page_key.seal_upstream(&seal, new_cookie, now, rng);
            self.set_upstream_cookie(response, &name, &sealed, left);
        }
    }

    /// The origins the login page's forms may end at: the client's redirect
    /// origin (after consent) and each provider's authorization endpoint
    /// (the "Continue with" buttons redirect there), space-separated.
    async fn login_form_targets(&self, pending: &PendingAuthorization) -> String {
        let mut targets: Vec<String> = pages::redirect_origin(pending).into_iter().collect();
        if let Some(upstream) = &self.upstream {
            targets.extend(upstream.authorization_origins(self.clock.now()).await);
        }
        targets.join(" ")
    }

    fn set_upstream_cookie(&self, headers: &mut HeaderMap, name: &str, value: &str, max_age: u64) {
        let secure = if self.secure_cookie { "; Secure" } else { "" };
        let cookie =
            format!("{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}");
        if let Ok(mut value) = HeaderValue::from_str(&cookie) {
            value.set_sensitive(true);
            headers.append(SET_COOKIE, value);
        }
    }

    /// Whether `password` matches `hash`; with no hash (unknown or invalid
    /// user name), an argon2 verification of the same cost against a dummy
    /// hash, and `false`. Runs on the blocking pool under `verifications`.
    async fn check_password(&self, password: &str, hash: Option<String>) -> bool {
        let Ok(_permit) = self.verifications.acquire().await else {
            return false;
        };
        let password = Zeroizing::new(password.to_owned());
        let verified = tokio::task::spawn_blocking(move || match hash {
            Some(hash) => password::verify(&password, &hash),
            None => {
                password::verify_dummy(&password);
                false
            }
        })
        .await;
        verified.unwrap_or_else(|error| {
            tracing::error!(error = %error, "the password check did not finish");
            false
        })
    }

    /// The client's address: the connection's peer, or what a trusted proxy
    /// forwarded; `None` when the server was not served with the peer address.
    fn client_address(&self, parts: &Parts) -> Option<IpAddr> {
        let Some(ConnectInfo(peer)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() else {
            if !self.peer_warned.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    "the peer address is unknown (serve with ConnectInfo<SocketAddr>); \
                     all sign-ins share one address counter"
                );
            }
            return None;
        };
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .map(|value| value.to_str().unwrap_or_default());
        Some(self.trusted_proxies.client_address(peer.ip(), forwarded))
    }

    /// The value of this server's cookie: a session id once signed in,
    /// before that the random value the login form is bound to.
    fn cookie_value(&self, headers: &HeaderMap) -> Option<String> {
        latchkey_http::session_cookie(headers, self.cookie_name)
    }

    fn set_cookie(&self, headers: &mut HeaderMap, id: &str) {
        let secure = if self.secure_cookie { "; Secure" } else { "" };
        let cookie = format!(
            "{}={id}; Path=/; HttpOnly; SameSite=Lax{secure}",
            self.cookie_name
        );
        if let Ok(mut value) = HeaderValue::from_str(&cookie) {
            value.set_sensitive(true);
            headers.append(SET_COOKIE, value);
        }
    }

    fn failure_page(&self) -> Response {
        pages::html(
            StatusCode::SERVICE_UNAVAILABLE,
            pages::message(
                "Something went wrong",
                "The server could not finish this step. Try again in a moment.",
            ),
            None,
        )
    }
}

impl<S, F> InteractionHandler for Pages<S, F>
where
    S: Store + Send + Sync + 'static,
    F: MetadataFetcher + Send + Sync + 'static,
{
    fn interact<'a>(
        &'a self,
        pending: PendingAuthorization,
        request: &'a Parts,
        now: UnixTime,
    ) -> Pin<Box<dyn Future<Output = latchkey_axum::Interaction> + Send + 'a>> {
        Box::pin(async move {
            match self.begin(pending, request, now).await {
                Interaction::Decide(decision) => latchkey_axum::Interaction::Decide(decision),
                Interaction::Respond(response) => {
                    let (parts, body) = response.into_parts();
                    // The pages' bodies are in-memory strings: collecting
                    // cannot fail or grow past what was rendered.
                    let body = axum::body::to_bytes(body, usize::MAX)
                        .await
                        .unwrap_or_default();
                    latchkey_axum::Interaction::Respond(Response::from_parts(parts, body))
                }
            }
        })
    }
}

/// Copies an engine response (the redirect back to the client) onto HTTP.
/// The redirect target is never logged.
pub fn endpoint_response(response: EndpointResponse) -> Response {
    let mut out = latchkey_http::into_response(response).map(Body::from);
    out.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    out.headers_mut().insert(
        axum::http::HeaderName::from_static("referrer-policy"),
        HeaderValue::from_static("no-referrer"),
    );
    out
}

/// A posted form of at most [`MAX_FORM_LEN`] bytes
/// ([`PageForm::parse`]: repeated fields make it unreadable).
async fn read_form(body: Body) -> Option<PageForm> {
    let bytes = axum::body::to_bytes(body, MAX_FORM_LEN).await.ok()?;
    PageForm::parse(&bytes).ok()
}

/// What the consent form asked, applied to the signed-in `user`.
fn consent_decision(
    choice: ConsentChoice,
    user: &SignedIn,
    remember_consent: bool,
) -> AuthorizationDecision {
    match choice {
        ConsentChoice::Allow => AuthorizationDecision::Approve {
            subject: user.subject.clone(),
            auth_time: user.auth_time,
            remember_consent,
        },
        ConsentChoice::Deny => AuthorizationDecision::Deny,
    }
}

/// The hidden fields of a login form: its CSRF token and the sealed request.
struct LoginForm {
    csrf: String,
    request: String,
}

/// `303 See Other` to the consent page of request `request_id`.
fn see_other_to_consent(request_id: &SecretString, form_target: Option<&str>) -> Response {
    let mut response = pages::html(StatusCode::SEE_OTHER, String::new(), form_target);
    let location = format!("{CONSENT_PATH}?request={}", request_id.expose_secret());
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(LOCATION, value);
    }
    response
}

/// The login page again with `429 Too Many Requests` and `Retry-After`
/// (RFC 6585 section 4, RFC 9110 section 10.2.3).
fn too_many_attempts(
    pending: &PendingAuthorization,
    choices: &SignInChoices,
    form: &LoginForm,
    form_target: Option<&str>,
    blocked: Blocked,
) -> Response {
    let secs = blocked.retry_after_secs();
    let wait = if secs < 60 {
        format!("{secs} second{}", if secs == 1 { "" } else { "s" })
    } else {
        let minutes = secs.div_ceil(60);
        format!("{minutes} minute{}", if minutes == 1 { "" } else { "s" })
    };
    let message = format!("{TOO_MANY_ATTEMPTS} Try again in {wait}.");
    let page = pages::login(pending, choices, &form.csrf, &form.request, Some(&message));
    let mut response = pages::html(StatusCode::TOO_MANY_REQUESTS, page, form_target);
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(secs));
    response
}

/// The value of the cookie `name` ([`latchkey_http::cookie`]), if not empty.
fn cookie_named(headers: &HeaderMap, name: &str) -> Option<String> {
    latchkey_http::cookie(headers, name)
        .filter(|value| !value.is_empty())
        .map(str::to_owned)
}

/// The first `state` of a callback query, if any (a repeated one is refused
/// later, by `latchkey_upstream::CallbackParams::parse`).
fn callback_state(query: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(name, _)| name == "state")
        .map(|(_, value)| value.into_owned())
        .filter(|state| !state.is_empty() && state.len() <= 2048)
}

/// The page for a sign-in through provider `id` that stopped: its name and
/// the reason; the detail goes to the log only.
fn upstream_error_page(id: &str, display_name: &str, error: &SignInError) -> Response {
    tracing::warn!(provider = id, error = %error, "upstream sign-in refused");
    let status = match error {
        SignInError::Unreachable { .. } => StatusCode::BAD_GATEWAY,
        SignInError::Store => StatusCode::SERVICE_UNAVAILABLE,
        SignInError::Upstream(_)
        | SignInError::UnknownProvider
        | SignInError::NoPendingSignIn
        | SignInError::Replayed => StatusCode::BAD_REQUEST,
    };
    pages::html(
        status,
        pages::message(
            "Sign-in failed",
            &format!("Sign-in with {display_name} failed: {}.", error.reason()),
        ),
        None,
    )
}

fn unknown_provider_page() -> Response {
    pages::html(
        StatusCode::NOT_FOUND,
        pages::message(
            "No such sign-in option",
            "This server has no identity provider by that name.",
        ),
        None,
    )
}

fn expired_page() -> Response {
    pages::html(
        StatusCode::BAD_REQUEST,
        pages::message(
            "This sign-in has expired",
            "The page was open too long, or the server restarted.",
        ),
        None,
    )
}

fn too_many_requests_page() -> Response {
    pages::html(
        StatusCode::TOO_MANY_REQUESTS,
        pages::message(
            "Too many sign-in requests are open",
            "Answer or close the pages asking for access in this browser first.",
        ),
        None,
    )
}

fn not_shown_page() -> Response {
    pages::html(
        StatusCode::BAD_REQUEST,
        pages::message(
            "This request was not shown to you",
            "For your safety nothing was changed.",
        ),
        None,
    )
}

fn forged_page() -> Response {
    pages::html(
        StatusCode::FORBIDDEN,
        pages::message(
            "This form was not sent from this site",
            "For your safety nothing was changed.",
        ),
        None,
    )
}
