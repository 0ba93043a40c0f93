//! The authorization endpoint (OAuth 2.1 section 4.1.1 and 4.1.2): from the
//! request's parameters to a consent interaction, an error page or an error
//! redirect, and from the resource owner's decision to the code redirect.
//!
//! The order of checks is the security argument:
//!
//! 1. `client_id` must name a client the engine can resolve (registered, or a
//!    client ID metadata document), and
//! 2. `redirect_uri` must match one of its registered redirect URIs exactly
//!    (loopback ports aside: OAuth 2.1 section 4.1.1, RFC 8252 section 7.3, MCP
//!    A13), or be absent with exactly one registered.
//!
//! Until both hold, every failure is an [`AuthorizeOutcome::ErrorPage`] shown to
//! the user and never a redirect (OAuth 2.1 section 4.1.2.1, section 7.12.2 on
//! open redirection, MCP A14). A repeated `client_id` or `redirect_uri` is such
//! a failure too ([`Engine::authorize_pairs`]).
//!
//! A client that anyone could have created (dynamically registered, RFC 7591,
//! or a client ID metadata document: [`PendingAuthorization::is_unvetted_client`])
//! may have registered any redirect URI, `https://phish.example/login`
//! included, so redirecting its errors would make this server an open
//! redirector (RFC 9700 section 4.11.2). For such a client every error found
//! before the user interacted is an error page too, including the answer to
//! an unsatisfiable `prompt=none` ([`Engine::refuse_prompt_none`]). After the
//! user interacted (denied on the consent page, or an error while completing
//! an approval) the redirect is sent. A client an administrator added
//! (`latchkey clients add`) has its errors redirected as below.
//!
//! After both hold, errors go back to
//! the client as a `302` to the verified redirect URI with `error`,
//! `error_description`, `state` and `iss` (RFC 9207 section 2: `iss` in every
//! authorization response, success or error), in this order:
//! `response_type` (`unsupported_response_type`, or `invalid_request` when
//! missing), the client's registered grant (`unauthorized_client`), request
//! objects and `response_mode` (`invalid_request`), PKCE (`invalid_request`,
//! OAuth 2.1 section 4.1.1: S256 only, the method is required because the
//! default would be `plain`), `resource` (`invalid_target`, RFC 8707 section 2),
//! `scope` (`invalid_scope`), `dpop_jkt` (`invalid_request`, RFC 9449 section 10),
//! `prompt` and `max_age` (`invalid_request`, OpenID Connect Core 1.0 section
//! 3.1.2.1, see below).
//!
//! Choices, documented:
//!
//! - `resource` absent: the configured default resource. Present: each value is
//!   canonicalized ([`ResourceUri::parse`]) and must be covered by a configured
//!   resource ([`EngineConfig::resource`], under `audience_match`); the
//!   canonical requested URI (not the covering one) is granted, so the token
//!   request can name the same value (RFC 8707 section 2.2).
//! - `scope` absent: the union of the granted resources' default scopes,
//!   narrowed to the client's registered `scope` if it registered one (RFC 6749
//!   section 3.3 lets the server pick a default). Present: it must lie within the
//!   union of the granted resources' `scopes_supported` and within the client's
//!   registered `scope`; otherwise `invalid_scope` (refused, never clamped).
//! - `offline_access` is not a resource scope (MCP 2026-07-28 "Refresh Tokens":
//!   it asks for a refresh token). It is accepted in every profile, removed
//!   from the scope bound to the code, and reported through
//!   [`PendingAuthorization::offline_access_requested`]. Whether a refresh token
//!   is issued is decided at the token endpoint from the client's grant types
//!   and the configuration, never from this scope.
//! - `response_mode`: only `query` (the default) is accepted; anything else is
//!   `invalid_request`. `request` and `request_uri` (RFC 9101) are refused with
//!   `invalid_request` rather than ignored, since they could carry parameters
//!   that differ from the ones checked here.
//! - `prompt` (OpenID Connect Core 1.0 section 3.1.2.1) is parsed strictly
//!   ([`Prompt::parse`]): `none`, `login`, `consent` and `select_account`;
//!   anything else, a repeated value, or `none` with another value is
//!   `invalid_request`. `max_age` must be a non-negative integer. The pages
//!   act on them: [`PendingAuthorization::must_sign_in`] says whether to show
//!   the sign-in page (`login`, `select_account`, `max_age`);
//!   [`Engine::consent_is_remembered`] is false for `prompt=consent`; and for
//!   `prompt=none` a request that needs either page is answered with
//!   [`Engine::refuse_prompt_none`] (`login_required`, `consent_required`,
//!   `interaction_required`, section 3.1.2.6).
//! - Remembered consent covers a request only when the same user approved the
//!   same client for a resource set holding the requested resources, with the
//!   requested scope ([`latchkey_store::ConsentStore::consent_covers`]). It is
//!   recorded only when the decision asks for it
//!   ([`AuthorizationDecision::Approve::remember_consent`]); for a loopback
//!   redirect URI ([`PendingAuthorization::redirect_is_loopback`]), which any
//!   local program can claim, the page asks only if the user chose to, and
//!   such a consent is the only kind that covers a later loopback request.
//! - Error descriptions are fixed strings from this module or from
//!   [`Params`]' sanitized messages: no request value is echoed.

#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
mod prompt;

use std::time::Duration;

pub use prompt::Prompt;

use latchkey_pkce::CodeChallenge;
use latchkey_registration::{GrantType, ResponseType};
use latchkey_store::Store;
use latchkey_token::code::{CodeParams, CodeRecord, JwkThumbprint, RedirectUriSource};
use latchkey_types::{ClientId, ErrorCode, Scope, ScopeToken, Subject, UnixTime};
use latchkey_uri::{RedirectUri, ResourceUri};
use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};

use crate::clients::{ClientSource, MetadataFetcher, ResolvedClient};
use crate::config::EngineConfig;
use crate::engine::Engine;
use crate::error::EngineError;
use crate::request::Params;
use crate::response::EndpointResponse;

/// The scope token that asks for a refresh token rather than resource access.
pub const OFFLINE_ACCESS: &str = "offline_access";

/// What the authorization endpoint decided about a request.
#[derive(Debug)]
pub enum AuthorizeOutcome {
    /// The client or the redirect URI could not be verified, or the client is
    /// one anyone could have created and the user has not interacted yet:
    /// show this to the user, never redirect (OAuth 2.1 section 4.1.2.1, MCP
    /// A14, RFC 9700 section 4.11.2). The description is a fixed text, safe to
    /// render (HTML-escape it anyway).
    ErrorPage {
        /// The error, for the page and the log.
        error: ErrorCode,
        /// A short explanation without request values.
        description: String,
    },
    /// An error sent back to the verified redirect URI (`302`, with `state` and `iss`).
    Redirect(EndpointResponse),
    /// A valid request: authenticate the resource owner and ask for consent,
    /// then call [`Engine::complete_authorization`].
    Interaction(PendingAuthorization),
}

/// A verified authorization request waiting for the resource owner.
///
/// Keep it server-side (it serializes for a session store) and hand it back to
/// [`Engine::complete_authorization`]. Everything a consent page must show is
/// here: the client's name, the redirect host (MCP A8: "MUST clearly display
/// the redirect URI hostname"), the warning flag for metadata-document clients
/// whose redirect URIs are all loopback (A8), the resources and the scope.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingAuthorization {
    client_id: ClientId,
    client_name: Option<String>,
    metadata_document: bool,
    redirect_uri: RedirectUri,
    redirect_uri_sent: bool,
    redirect_host: Option<String>,
    loopback_redirect_warning: bool,
    resources: Vec<ResourceUri>,
    scope: Scope,
    offline_access: bool,
    state: Option<String>,
    code_challenge: String,
    dpop_jkt: Option<String>,
    prompt: Prompt,
    max_age: Option<u64>,
    requested_at: UnixTime,
    unvetted_client: bool,
    refresh_token_grant: bool,
}

impl PendingAuthorization {
    /// The client asking.
    pub fn client_id(&self) -> &ClientId {
        &self.client_id
    }

    /// The client's registered `client_name`, if any.
    pub fn client_name(&self) -> Option<&str> {
        self.client_name.as_deref()
    }

    /// What to call the client on the consent page: its name, else its id.
    pub fn display_name(&self) -> &str {
        self.client_name
            .as_deref()
            .unwrap_or(self.client_id.as_str())
    }

    /// Whether the client is described by a client ID metadata document (its
    /// id is the document's URL) rather than registered.
    pub fn is_metadata_document_client(&self) -> bool {
        self.metadata_document
    }

    /// The redirect URI the response goes to: the request's `redirect_uri`
    /// as sent (it matched a registered one), or the single registered one.
    pub fn redirect_uri(&self) -> &RedirectUri {
        &self.redirect_uri
    }

    /// Whether the request named the redirect URI or the registered one was used.
    pub fn redirect_uri_source(&self) -> RedirectUriSource {
        if self.redirect_uri_sent {
            RedirectUriSource::Request
        } else {
            RedirectUriSource::Registered
        }
    }

    /// The redirect URI's host, to display (MCP A8); `None` for private-use schemes.
    pub fn redirect_host(&self) -> Option<&str> {
        self.redirect_host.as_deref()
    }

    /// Whether the consent page should warn that this metadata-document
    /// client's redirect URIs are all loopback, so any local program can claim
    /// to be it (MCP 2025-11-25 "Localhost Redirect URI Risks", A8).
    pub fn loopback_redirect_warning(&self) -> bool {
        self.loopback_redirect_warning
    }

    /// The resources the token will be for (RFC 8707), canonical.
    pub fn resources(&self) -> &[ResourceUri] {
        &self.resources
    }

    /// The scope asked for (without `offline_access`).
    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// Whether the request's `scope` held `offline_access`.
    pub fn offline_access_requested(&self) -> bool {
        self.offline_access
    }

    /// The client's `state`, returned unchanged.
    pub fn state(&self) -> Option<&str> {
        self.state.as_deref()
    }

    /// The PKCE `code_challenge` (always `S256`).
    pub fn code_challenge(&self) -> &str {
        &self.code_challenge
    }

    /// The `dpop_jkt` the code will be bound to (RFC 9449 section 10), if any.
    pub fn dpop_jkt(&self) -> Option<&str> {
        self.dpop_jkt.as_deref()
    }

    /// The request's `prompt` (OpenID Connect Core 1.0 section 3.1.2.1).
    pub fn prompt(&self) -> Prompt {
        self.prompt
    }

    /// The request's `max_age`: the longest time since the end-user last
    /// signed in that this request accepts (OpenID Connect Core 1.0 section
    /// 3.1.2.1).
    pub fn max_age(&self) -> Option<Duration> {
        self.max_age.map(Duration::from_secs)
    }

    /// When the request arrived at the authorization endpoint.
    pub fn requested_at(&self) -> UnixTime {
        self.requested_at
    }

    /// Whether the end-user must sign in before this request goes on, given
    /// when the session last authenticated (`auth_time`; `None` without a
    /// session) and the time `now`: without a session; for `prompt=login`,
    /// `prompt=select_account` or `max_age=0` when the last sign-in is older
    /// than the request (signing in once, at or after
    /// [`Self::requested_at`], satisfies it); when more than `max_age`
    /// seconds have passed since `auth_time` (OpenID Connect Core 1.0 section
    /// 3.1.2.1). For `prompt=none`, `true` means answering with
    /// [`Engine::refuse_prompt_none`] and [`PromptNoneRefusal::LoginRequired`].
    pub fn must_sign_in(&self, auth_time: Option<UnixTime>, now: UnixTime) -> bool {
        prompt::must_sign_in(self.prompt, self.max_age, self.requested_at, auth_time, now)
    }

    /// Whether the response goes to a loopback redirect URI (RFC 8252
    /// section 7.3). Any program on the user's machine can listen on a
    /// loopback port and claim to be the client, so the consent page asks
    /// before remembering consent for such a request (unticked by default)
    /// and says why; only a consent remembered that way covers a later
    /// loopback request.
    pub fn redirect_is_loopback(&self) -> bool {
        self.redirect_uri.is_loopback()
    }

    /// Whether anyone could have created the client: dynamically registered
    /// (RFC 7591) or described by a client ID metadata document, rather than
    /// added by an administrator. Its errors before the user interacted are a
    /// page, never a redirect (RFC 9700 section 4.11.2).
    pub fn is_unvetted_client(&self) -> bool {
        self.unvetted_client
    }
}

/// Why a `prompt=none` request cannot be answered without a page (OpenID
/// Connect Core 1.0 section 3.1.2.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PromptNoneRefusal {
    /// The end-user is not signed in, or must sign in again
    /// ([`PendingAuthorization::must_sign_in`]): `login_required`.
    LoginRequired,
    /// The end-user is signed in but consent is not remembered
    /// ([`Engine::consent_is_remembered`]): `consent_required`.
    ConsentRequired,
    /// Some other interaction is needed: `interaction_required`.
    InteractionRequired,
}

impl PromptNoneRefusal {
    /// The error code sent.
    pub fn error_code(self) -> ErrorCode {
        ErrorCode::from(&EngineError::from(self))
    }
}

/// The resource owner's answer on the consent page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthorizationDecision {
    /// Issue a code for the pending request.
    Approve {
        /// The authenticated resource owner.
        subject: Subject,
        /// When they last authenticated.
        auth_time: UnixTime,
        /// Whether to remember this consent, so the next request by the same
        /// client for resources and a scope within it skips the page. Only
        /// `true` records anything; for a loopback redirect URI
        /// ([`PendingAuthorization::redirect_is_loopback`]) pages pass what
        /// the user chose.
        remember_consent: bool,
    },
    /// Send `access_denied` back to the client.
    Deny,
}

impl<S: Store, F: MetadataFetcher> Engine<S, F> {
    /// Handles an authorization request (OAuth 2.1 section 4.1.1) whose
    /// parameters were collected into [`Params`] (which already refused repeated
    /// parameters). Adapters that have the raw pairs should prefer
    /// [`Self::authorize_pairs`], which tells a repeated `client_id` or
    /// `redirect_uri` (an error page) from any other repeat (an error redirect).
    ///
    /// Never fails: a store failure while resolving the client is an error page
    /// (`server_error` or `temporarily_unavailable`), since no redirect URI is
    /// verified yet.
    pub async fn authorize(&self, params: &Params, now: UnixTime) -> AuthorizeOutcome {
        let front = match self.verify_front_channel(params, now).await {
            Ok(front) => front,
            Err(page) => return page,
        };
        match self.check_request(params, &front, now) {
            Ok(pending) => AuthorizeOutcome::Interaction(pending),
            Err(error) => self.error_before_interaction(&front, &error),
        }
    }

    /// Handles an authorization request from its raw name/value pairs (already
    /// percent-decoded), so that repeated parameters are answered correctly:
    /// a repeated `client_id` or `redirect_uri` is an error page (the client or
    /// its redirect URI cannot be verified, OAuth 2.1 section 4.1.2.1); any other
    /// repeat, too many parameters or an oversized value is an `invalid_request`
    /// redirect once the client and redirect URI are verified (OAuth 2.1 section
    /// 3.1: parameters "MUST NOT be included more than once"). A repeated or
    /// oversized `state` is not echoed.
    pub async fn authorize_pairs(
        &self,
        pairs: Vec<(String, String)>,
        now: UnixTime,
    ) -> AuthorizeOutcome {
        for name in ["client_id", "redirect_uri"] {
            if pairs.iter().filter(|(n, _)| n == name).count() > 1 {
                return page_from(&EngineError::IdentifyingParameterRepeated(name));
            }
        }
        // A repeated or oversized `state` is not echoed.
        let state_once = pairs.iter().filter(|(n, _)| n == "state").count() == 1
            && pairs
                .iter()
                .all(|(n, v)| n != "state" || v.len() <= Params::MAX_VALUE_LEN);
        let front_pairs: Vec<(String, String)> = pairs
            .iter()
            .filter(|(n, _)| {
                n == "client_id" || n == "redirect_uri" || (n == "state" && state_once)
            })
            .cloned()
            .collect();
        let params_error = match Params::from_pairs(pairs) {
            Ok(params) => return self.authorize(&params, now).await,
            Err(error) => error,
        };
        let front_params = match Params::from_pairs(front_pairs) {
            Ok(front_params) => front_params,
            Err(error) => return page_from(&error),
        };
        match self.verify_front_channel(&front_params, now).await {
            Ok(front) => self.error_before_interaction(&front, &params_error),
            Err(page) => page,
        }
    }

    /// An error found before the user interacted, for a verified client and
    /// redirect URI: redirected for a client an administrator added, a page
    /// for one anyone could have created (RFC 9700 section 4.11.2).
    fn error_before_interaction(
        &self,
        front: &FrontChannel,
        error: &EngineError,
    ) -> AuthorizeOutcome {
        if is_unvetted(front.client.source) {
            return page_from(error);
        }
        AuthorizeOutcome::Redirect(front.target.error(error, &self.config().issuer))
    }

    /// Answers a `prompt=none` request that needs a page the request forbids
    /// (OpenID Connect Core 1.0 section 3.1.2.1 and 3.1.2.6): a redirect with
    /// `error` (`login_required`, `consent_required` or
    /// `interaction_required`), `state` and `iss`, without showing anything.
    /// For a client anyone could have created
    /// ([`PendingAuthorization::is_unvetted_client`]) it is an error page
    /// instead (RFC 9700 section 4.11.2: the user has not interacted, so the
    /// redirect URI is not trusted); an error page is neither a sign-in nor a
    /// consent page. Nothing is stored.
    pub fn refuse_prompt_none(
        &self,
        pending: &PendingAuthorization,
        refusal: PromptNoneRefusal,
    ) -> AuthorizeOutcome {
        let error = EngineError::from(refusal);
        if pending.unvetted_client {
            return page_from(&error);
        }
        let target = RedirectTarget {
            redirect_uri: pending.redirect_uri.clone(),
            state: pending.state.clone(),
        };
        AuthorizeOutcome::Redirect(target.error(&error, &self.config().issuer))
    }

    /// How long the client stays connected after this approval, for the
    /// consent page to say: `Some(refresh family lifetime)` when the client
    /// will get a refresh token (the engine issues them and the client
    /// registered the `refresh_token` grant, the rule the token endpoint
    /// applies, whether or not `offline_access` was asked for), else `None`
    /// (it is connected only as long as one access token lives).
    pub fn stays_connected_for(&self, pending: &PendingAuthorization) -> Option<Duration> {
        (self.config().issue_refresh_tokens && pending.refresh_token_grant)
            .then(|| self.config().refresh_policy.family_lifetime())
    }

    /// Whether `subject` already consented to everything `pending` asks of its
    /// client, so the consent page may be skipped: one remembered approval of
    /// this client by `subject` covers the requested resources and scope
    /// ([`latchkey_store::ConsentStore::consent_covers`]).
    ///
    /// Always `false` for `prompt=consent` (OpenID Connect Core 1.0 section
    /// 3.1.2.1). For a loopback redirect URI only a consent the user chose to
    /// remember for a loopback request counts; so a metadata-document client
    /// whose redirect URIs are all loopback
    /// ([`PendingAuthorization::loopback_redirect_warning`], MCP A8) is asked
    /// every time unless the user opted in.
    pub async fn consent_is_remembered(
        &self,
        pending: &PendingAuthorization,
        subject: &Subject,
    ) -> Result<bool, EngineError> {
        if pending.prompt.consent() {
            return Ok(false);
        }
        Ok(self
            .store()
            .consent_covers(
                subject,
                &pending.client_id,
                &pending.resources,
                &pending.scope,
                pending.redirect_is_loopback(),
            )
            .await?)
    }

    /// Completes a pending authorization with the resource owner's decision
    /// (OAuth 2.1 section 4.1.2): on approval a code bound to the client,
    /// redirect URI, PKCE challenge, resources, scope and `dpop_jkt` is stored
    /// (as its digest) and the user agent is sent to the redirect URI with
    /// `code`, `state` and `iss` (RFC 9207); on denial with
    /// `error=access_denied`, `state` and `iss` (OAuth 2.1 section 4.1.2.1).
    /// A store failure is a `server_error` or `temporarily_unavailable` redirect.
    pub async fn complete_authorization(
        &self,
        pending: PendingAuthorization,
        decision: AuthorizationDecision,
        now: UnixTime,
        rng: &mut impl CryptoRng,
    ) -> EndpointResponse {
        let issuer = &self.config().issuer;
        let target = RedirectTarget {
            redirect_uri: pending.redirect_uri.clone(),
            state: pending.state.clone(),
        };
        let (subject, auth_time, remember_consent) = match decision {
            AuthorizationDecision::Deny => {
                return target.error(&EngineError::AccessDenied, issuer);
            }
            AuthorizationDecision::Approve {
                subject,
                auth_time,
                remember_consent,
            } => (subject, auth_time, remember_consent),
        };
        match self
            .issue_code(pending, subject, auth_time, remember_consent, now, rng)
            .await
        {
            Ok(code) => target.success(&code, issuer),
            Err(error) => {
                if error.is_internal() {
                    tracing::error!(target: "latchkey::engine", error = %error, "authorization could not be completed");
                }
                target.error(&error, issuer)
            }
        }
    }

    /// Steps 1 and 2: the client and its redirect URI. Every failure is a page.
    async fn verify_front_channel(
        &self,
        params: &Params,
        now: UnixTime,
    ) -> Result<FrontChannel, AuthorizeOutcome> {
        let Some(raw_client_id) = params.get("client_id") else {
            return Err(page_from(&EngineError::ParameterMissing {
                name: "client_id".to_owned(),
            }));
        };
        let Ok(client_id) = ClientId::parse(raw_client_id) else {
            return Err(page_from(&EngineError::ClientIdMalformed));
        };
        let client = match self.resolve_client(&client_id, now).await {
            Ok(Some(client)) => client,
            Ok(None) => return Err(page_from(&EngineError::UnknownClient)),
            Err(error) => {
                if error.is_internal() {
                    tracing::error!(target: "latchkey::engine", error = %error, "client could not be resolved");
                }
                return Err(page_from(&error));
            }
        };
        let registered = client.metadata.redirect_uris();
        let (redirect_uri, sent) = match params.get("redirect_uri") {
            Some(requested) => {
                if !registered.iter().any(|r| r.matches(requested)) {
                    tracing::warn!(
                        target: crate::events::SECURITY_TARGET,
                        event = "redirect_uri_mismatch",
                        client_id = client_id.as_str(),
                        "authorization request with an unregistered redirect_uri refused"
                    );
                    return Err(page_from(&EngineError::RedirectUriNotRegistered));
                }
                // It matched a registered URI, so it parses; keep it as sent
                // (a loopback URI with the port actually used).
                let Ok(uri) = RedirectUri::parse(requested) else {
                    return Err(page_from(&EngineError::RedirectUriMalformed));
                };
                (uri, true)
            }
            None => match registered {
                [only] => (only.clone(), false),
                [] => {
                    return Err(page_from(&EngineError::NoRegisteredRedirectUri));
                }
                _ => {
                    return Err(page_from(&EngineError::RedirectUriAmbiguous));
                }
            },
        };
        let target = RedirectTarget {
            redirect_uri,
            state: params.get("state").map(str::to_owned),
        };
        if url::Url::parse(target.redirect_uri.as_str()).is_err() {
            return Err(page_from(&EngineError::RedirectUriMalformed));
        }
        Ok(FrontChannel {
            client,
            target,
            redirect_uri_sent: sent,
        })
    }

    /// Step 3: everything else, each failure redirected (or shown, for a
    /// client anyone could have created).
    fn check_request(
        &self,
        params: &Params,
        front: &FrontChannel,
        now: UnixTime,
    ) -> Result<PendingAuthorization, EngineError> {
        let config = self.config();
        let metadata = &front.client.metadata;
        match params.get("response_type") {
            None => {
                return Err(EngineError::ParameterMissing {
                    name: "response_type".to_owned(),
                });
            }
            Some("code") => {}
            Some(_) => return Err(EngineError::ResponseTypeUnsupported),
        }
        if !metadata.has_grant_type(GrantType::AuthorizationCode)
            || !metadata.response_types().contains(&ResponseType::Code)
        {
            return Err(EngineError::CodeGrantNotRegistered);
        }
        if params.contains("request") || params.contains("request_uri") {
            return Err(EngineError::RequestObjectUnsupported);
        }
        if params
            .get("response_mode")
            .is_some_and(|mode| mode != "query")
        {
            return Err(EngineError::ResponseModeUnsupported);
        }
        let Some(challenge) = params.get("code_challenge") else {
            return Err(EngineError::CodeChallengeMissing);
        };
        let challenge = CodeChallenge::parse(challenge, params.get("code_challenge_method"))
            .map_err(EngineError::CodeChallenge)?;
        let resources = requested_resources(config, params)?;
        let (scope, offline_access) =
            requested_scope(config, params, &resources, metadata.scope())?;
        let dpop_jkt = match params.get("dpop_jkt") {
            None => None,
            Some(jkt) => {
                Some(JwkThumbprint::parse(jkt).map_err(|_| EngineError::DpopJktMalformed)?)
            }
        };
        let prompt = match params.get("prompt") {
            None => Prompt::default(),
            Some(raw) => Prompt::parse(raw).map_err(EngineError::PromptInvalid)?,
        };
        let max_age = params
            .get("max_age")
            .map(prompt::parse_max_age)
            .transpose()?;
        let (metadata_document, loopback_redirect_warning) = match front.client.source {
            ClientSource::Registered | ClientSource::DynamicallyRegistered => (false, false),
            ClientSource::MetadataDocument {
                redirect_uris_all_loopback,
            } => (true, redirect_uris_all_loopback),
        };
        Ok(PendingAuthorization {
            client_id: front.client.client_id.clone(),
            client_name: metadata.client_name().map(str::to_owned),
            metadata_document,
            redirect_host: front.target.redirect_uri.host().map(str::to_owned),
            redirect_uri: front.target.redirect_uri.clone(),
            redirect_uri_sent: front.redirect_uri_sent,
            loopback_redirect_warning,
            resources,
            scope,
            offline_access,
            state: front.target.state.clone(),
            code_challenge: challenge.as_str().to_owned(),
            dpop_jkt: dpop_jkt.map(|jkt| jkt.to_encoded()),
            prompt,
            max_age,
            requested_at: now,
            unvetted_client: is_unvetted(front.client.source),
            refresh_token_grant: metadata.has_grant_type(GrantType::RefreshToken),
        })
    }

    /// Stores consent (if asked) and a new code; returns the code to send.
    async fn issue_code(
        &self,
        pending: PendingAuthorization,
        subject: Subject,
        auth_time: UnixTime,
        remember_consent: bool,
        now: UnixTime,
        rng: &mut impl CryptoRng,
    ) -> Result<String, EngineError> {
        let internal = || EngineError::Internal("a pending authorization no longer parses");
        // The pending request is server-side state; its values were checked
        // when it was created and are parsed again here rather than trusted.
        let code_challenge =
            CodeChallenge::parse(&pending.code_challenge, Some("S256")).map_err(|_| internal())?;
        let dpop_jkt = match &pending.dpop_jkt {
            None => None,
            Some(jkt) => Some(JwkThumbprint::parse(jkt).map_err(|_| internal())?),
        };
        if remember_consent {
            self.store()
                .remember_consent(
                    &subject,
                    &pending.client_id,
                    &pending.resources,
                    // Remembered with what it implies (MCP 2026-07-28 scope
                    // hierarchies), so that a later request for a narrower
                    // scope is covered; a narrower consent never covers a
                    // broader request.
                    &self.config().scope_hierarchy.expand(&pending.scope),
                    pending.redirect_is_loopback(),
                    now,
                )
                .await?;
        }
        let redirect_uri_source = pending.redirect_uri_source();
        let params = CodeParams {
            client_id: pending.client_id,
            redirect_uri: pending.redirect_uri,
            redirect_uri_source,
            code_challenge,
            resources: pending.resources,
            scope: pending.scope,
            subject,
            auth_time,
            dpop_jkt,
        };
        let (code, record) = CodeRecord::issue(params, now, &self.config().code_policy, rng)
            .map_err(|_| EngineError::Internal("a code could not be issued"))?;
        self.store().insert_code(&record).await?;
        Ok(code.expose_secret().to_owned())
    }
}

/// The verified client and where its responses go.
struct FrontChannel {
    client: ResolvedClient,
    target: RedirectTarget,
    redirect_uri_sent: bool,
}

/// A verified redirect URI and the `state` to echo.
struct RedirectTarget {
    redirect_uri: RedirectUri,
    state: Option<String>,
}

impl RedirectTarget {
    /// `302` with `error`, `error_description`, `state`, `iss` (OAuth 2.1 section 4.1.2.1, RFC 9207).
    fn error(&self, error: &EngineError, issuer: &str) -> EndpointResponse {
        let description = sanitize_description(&error.public_description());
        self.redirect(
            &[
                ("error", ErrorCode::from(error).as_str()),
                ("error_description", description.as_str()),
            ],
            issuer,
        )
    }

    /// `302` with `code`, `state`, `iss` (OAuth 2.1 section 4.1.2, RFC 9207).
    fn success(&self, code: &str, issuer: &str) -> EndpointResponse {
        self.redirect(&[("code", code)], issuer)
    }

    /// The response parameters appended to the redirect URI's query
    /// (`application/x-www-form-urlencoded`, OAuth 2.1 appendix C.1), keeping
    /// any query the registered URI has.
    fn redirect(&self, first: &[(&str, &str)], issuer: &str) -> EndpointResponse {
        let Ok(mut url) = url::Url::parse(self.redirect_uri.as_str()) else {
            // Checked when the target was built; unreachable in practice.
            return EndpointResponse::error(ErrorCode::ServerError, "internal server error");
        };
        {
            let mut query = url.query_pairs_mut();
            for (name, value) in first {
                query.append_pair(name, value);
            }
            if let Some(state) = &self.state {
                query.append_pair("state", state);
            }
            query.append_pair("iss", issuer);
        }
        EndpointResponse::redirect(url.into())
    }
}

/// The requested resources, canonical and configured (RFC 8707 section 2);
/// the default resource when none is named.
fn requested_resources(
    config: &EngineConfig,
    params: &Params,
) -> Result<Vec<ResourceUri>, EngineError> {
    let mut resources = Vec::new();
    for raw in params.all("resource") {
        let resource = ResourceUri::parse(raw).map_err(|_| EngineError::ResourceMalformed)?;
        if config.resource(&resource).is_none() {
            return Err(EngineError::ResourceNotServed);
        }
        if !resources.contains(&resource) {
            resources.push(resource);
        }
    }
    if resources.is_empty() {
        resources.push(config.default_resource.clone());
    }
    resources.sort();
    Ok(resources)
}

/// The scope to bind (without `offline_access`) and whether `offline_access`
/// was asked for; see the module documentation for the rules.
fn requested_scope(
    config: &EngineConfig,
    params: &Params,
    resources: &[ResourceUri],
    registered: Option<&Scope>,
) -> Result<(Scope, bool), EngineError> {
    let mut supported = Scope::empty();
    let mut default = Scope::empty();
    for resource in resources {
        if let Some(resource) = config.resource(resource) {
            supported = supported.union(&resource.scopes_supported);
            default = default.union(&resource.default_scope);
        }
    }
    let hierarchy = &config.scope_hierarchy;
    let Some(raw) = params.get("scope") else {
        let default = match registered {
            Some(registered) => hierarchy.covered(registered, &default),
            None => default,
        };
        return Ok((default, false));
    };
    let requested = Scope::parse(raw).map_err(|_| EngineError::ScopeMalformed)?;
    let offline_access = requested.contains(OFFLINE_ACCESS);
    let mut offline = Scope::empty();
    if let Ok(token) = ScopeToken::parse(OFFLINE_ACCESS) {
        offline.insert(token);
    }
    let requested = requested.difference(&offline);
    // MCP 2026-07-28 "Step-Up Authorization Flow": a broader scope implies
    // narrower ones, so a resource supporting `notes` supports `notes:read`,
    // and a client registered for `notes` may ask for `notes:read`.
    if !hierarchy.covers(&supported, &requested) {
        return Err(EngineError::ScopeNotSupportedByResource);
    }
    if let Some(registered) = registered
        && !hierarchy.covers(registered, &requested)
    {
        return Err(EngineError::ScopeNotAllowedForClient);
    }
    Ok((requested, offline_access))
}

/// Whether anyone could have created a client from this source (RFC 9700
/// section 4.11.2): dynamically registered, or a metadata document.
fn is_unvetted(source: ClientSource) -> bool {
    match source {
        ClientSource::Registered => false,
        ClientSource::DynamicallyRegistered | ClientSource::MetadataDocument { .. } => true,
    }
}

/// The error page for `error` (never a redirect).
fn page_from(error: &EngineError) -> AuthorizeOutcome {
    AuthorizeOutcome::ErrorPage {
        error: ErrorCode::from(error),
        description: error.public_description(),
    }
}

/// OAuth 2.1 section 4.1.2.1: `error_description` uses only %x20-21 / %x23-5B / %x5D-7E.
fn sanitize_description(description: &str) -> String {
    description
        .chars()
        .take(200)
        .map(|c| {
            if c == '"' || c == '\\' || !(' '..='~').contains(&c) {
                '_'
            } else {
                c
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oauth_2_1_section_4_1_2_1_error_description_charset() {
        assert_eq!(sanitize_description("a \"b\" \\ c\u{7f}é"), "a _b_ _ c__");
        assert_eq!(sanitize_description(&"x".repeat(500)).len(), 200);
    }
}
