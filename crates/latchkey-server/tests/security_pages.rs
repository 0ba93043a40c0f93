//! Attacks on the login and consent pages, through the in-process router
//! (`tower::ServiceExt::oneshot`, no sockets): the consent swap, an invalid
//! consent decision, anonymous floods of `GET /authorize`, the per-address
//! cap on sessions, and sealed login forms that were changed, expired or
//! moved to another browser.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use base64ct::{Base64UrlUnpadded, Encoding};
use http_body_util::BodyExt;
use latchkey_engine::{Engine, NoMetadataFetcher};
use latchkey_server::admin::{self, NewClient};
use latchkey_server::config::ServerConfig;
use latchkey_server::interaction::{PageOptions, Pages};
use latchkey_server::sealed::LOGIN_FORM_LIFETIME;
use latchkey_server::{Clock, secrets, serve};
use latchkey_store::{ClientStore, ConsentStore};
use latchkey_store_sqlite::SqliteStore;
use latchkey_types::{ClientId, Scope, SecretString, Subject, UnixTime};
use rand_core::SeedableRng;
use sha2::Digest;
use tower::ServiceExt;

const PASSWORD: &str = "correct horse battery staple";
const ISSUER: &str = "http://127.0.0.1:8080";
const REDIRECT_X: &str = "http://127.0.0.1:9991/cb";
const REDIRECT_A: &str = "http://127.0.0.1:9992/cb";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
/// How many anonymous requests a flood sends: more than the 10,000 sessions
/// that used to be kept, bounded so that the test stays short.
const FLOOD: usize = 12_000;

type TestPages = Pages<SqliteStore, NoMetadataFetcher>;

struct App {
    router: Router,
    pages: Arc<TestPages>,
    store: Arc<SqliteStore>,
    /// The trusted client the user means to allow.
    x: Client,
    /// The attacker's client.
    a: Client,
    secs: Arc<AtomicU64>,
}

struct Client {
    id: String,
    redirect: &'static str,
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn cookie(&self) -> String {
        let set = self.header("set-cookie").expect("set-cookie");
        set.split(';').next().expect("cookie pair").to_owned()
    }

    fn field(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self.body.find(&marker).expect("form field") + marker.len();
        let end = self.body[start..].find('"').expect("end of the field") + start;
        self.body[start..end].to_owned()
    }

    fn location(&self) -> &str {
        self.header("location").expect("location")
    }

    /// The query of an absolute `Location`.
    fn redirect_query(&self) -> HashMap<String, String> {
        let url = url::Url::parse(self.location()).expect("absolute location");
        url.query_pairs().into_owned().collect()
    }
}

fn temp_db() -> PathBuf {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!("latchkey-security-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join(format!("{}.db", COUNTER.fetch_add(1, Ordering::Relaxed)))
}

async fn app(max_sessions_per_address: usize) -> App {
    app_on(&temp_db(), max_sessions_per_address).await
}

/// The pages over the database at `database` (and its secrets file), with a
/// clock the test moves, and two public clients, X and A.
async fn app_on(database: &std::path::Path, max_sessions_per_address: usize) -> App {
    let mut config = ServerConfig::default();
    config.apply_env(|name| match name {
        "LATCHKEY_ISSUER" => Some(ISSUER.to_owned()),
        "LATCHKEY_DATABASE" => Some(database.display().to_string()),
        _ => None,
    });
    let store = Arc::new(SqliteStore::open(&config.database).await.expect("store"));
    static SEED: AtomicU64 = AtomicU64::new(1);
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(SEED.fetch_add(1, Ordering::Relaxed));
    let now = latchkey_server::now();
    let (engine_secrets, page_key) =
        secrets::load_or_create_with_page_key(&config.secrets_path(), &mut rng).expect("secrets");
    let engine = Arc::new(
        Engine::new(
            Arc::clone(&store),
            config.engine_config().expect("engine config"),
            engine_secrets,
            NoMetadataFetcher,
            now,
            &mut rng,
        )
        .await
        .expect("engine"),
    );
    let password = SecretString::new(PASSWORD.to_owned());
    serve::ensure_demo_user(
        store.as_ref(),
        Some(&password),
        now,
        &mut rng,
        &mut Vec::new(),
    )
    .await
    .expect("demo user");
    let secs = Arc::new(AtomicU64::new(now.as_secs()));
    let read = Arc::clone(&secs);
    let options = PageOptions {
        clock: Clock::from_fn(move || UnixTime::from_secs(read.load(Ordering::SeqCst))),
        page_key: Some(page_key),
        max_sessions_per_address,
        ..PageOptions::default()
    };
    let pages = Pages::with_options(Arc::clone(&engine), options);
    let server = latchkey_axum::AuthorizationServer::new(Arc::clone(&engine), pages.clone());
    let router = latchkey_axum::authorization_server_routes(Arc::new(server)).merge(pages.router());
    let client = |name: &str, redirect: &'static str| {
        let new = NewClient {
            client_id: Some(name.to_owned()),
            name: Some(name.to_owned()),
            redirect_uris: vec![redirect.to_owned()],
            auth_method: "none".to_owned(),
            ..NewClient::default()
        };
        (new, redirect)
    };
    let scopes = Scope::parse("mcp:tools mcp:read").expect("scopes");
    let mut clients = Vec::new();
    for (new, redirect) in [
        client("trusted-x", REDIRECT_X),
        client("attacker-a", REDIRECT_A),
    ] {
        let existing = store
            .client(&ClientId::parse(new.client_id.as_deref().unwrap_or_default()).expect("id"))
            .await
            .expect("lookup");
        let id = match existing {
            Some(_) => new.client_id.clone().expect("id"),
            None => admin::clients_add(
                store.as_ref(),
                &new,
                &scopes,
                now,
                &mut rng,
                &mut Vec::new(),
            )
            .await
            .expect("client")
            .as_str()
            .to_owned(),
        };
        clients.push(Client { id, redirect });
    }
    let a = clients.pop().expect("A");
    let x = clients.pop().expect("X");
    App {
        router,
        pages,
        store,
        x,
        a,
        secs,
    }
}

/// One request through the router, from `peer` when given.
async fn send(
    app: &App,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    form: Option<&[(&str, &str)]>,
    peer: Option<&str>,
) -> Reply {
    let body = form
        .map(|pairs| {
            url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs)
                .finish()
        })
        .unwrap_or_default();
    let mut builder = Request::builder().method(method).uri(path);
    if let Some(cookie) = cookie {
        builder = builder.header("cookie", cookie);
    }
    if form.is_some() {
        builder = builder.header("content-type", "application/x-www-form-urlencoded");
    }
    let mut request = builder.body(Body::from(body)).expect("request");
    if let Some(peer) = peer {
        let addr: SocketAddr = format!("{peer}:40000").parse().expect("peer");
        request.extensions_mut().insert(ConnectInfo(addr));
    }
    let response = app
        .router
        .clone()
        .oneshot(request)
        .await
        .expect("infallible");
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                v.to_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    Reply {
        status,
        headers,
        body: String::from_utf8(bytes.to_vec()).expect("utf-8"),
    }
}

fn authorize_path(client: &Client, state: &str) -> String {
    let challenge = Base64UrlUnpadded::encode_string(&sha2::Sha256::digest(VERIFIER.as_bytes()));
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", &client.id)
        .append_pair("redirect_uri", client.redirect)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("state", state)
        .finish();
    format!("/authorize?{query}")
}

/// The login page of an anonymous `GET /authorize` for `client`.
async fn login_page(app: &App, client: &Client, peer: Option<&str>) -> Reply {
    let login = send(
        app,
        "GET",
        &authorize_path(client, "login"),
        None,
        None,
        peer,
    )
    .await;
    assert_eq!(login.status, 200, "{}", login.body);
    assert!(login.body.contains("type=\"password\""));
    login
}

async fn post_login(app: &App, login: &Reply, cookie: &str, peer: Option<&str>) -> Reply {
    send(
        app,
        "POST",
        "/latchkey/login",
        Some(cookie),
        Some(&[
            ("csrf", &login.field("csrf")),
            ("request", &login.field("request")),
            ("username", "demo"),
            ("password", PASSWORD),
        ]),
        peer,
    )
    .await
}

/// A signed-in browser: its cookie and the consent page of its first request.
struct Browser {
    cookie: String,
    consent: String,
}

/// Signs in from `peer` through the login page of an authorization request
/// for `client`.
async fn sign_in(app: &App, client: &Client, peer: Option<&str>) -> Browser {
    let login = login_page(app, client, peer).await;
    let signed_in = post_login(app, &login, &login.cookie(), peer).await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    Browser {
        cookie: signed_in.cookie(),
        consent: signed_in.location().to_owned(),
    }
}

/// The consent page at `path`: its CSRF token and request id.
async fn consent_form(app: &App, browser: &Browser, path: &str) -> (String, String) {
    let page = send(app, "GET", path, Some(&browser.cookie), None, None).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Allow access?"));
    (page.field("csrf"), page.field("request"))
}

async fn post_consent(
    app: &App,
    browser: &Browser,
    csrf: &str,
    request_id: &str,
    decision: &str,
) -> Reply {
    post_consent_with(app, browser, csrf, request_id, decision, &[]).await
}

/// [`post_consent`] with `extra` form fields (the "remember" box).
async fn post_consent_with(
    app: &App,
    browser: &Browser,
    csrf: &str,
    request_id: &str,
    decision: &str,
    extra: &[(&str, &str)],
) -> Reply {
    let mut form = vec![
        ("csrf", csrf),
        ("request", request_id),
        ("decision", decision),
    ];
    form.extend_from_slice(extra);
    send(
        app,
        "POST",
        "/latchkey/consent",
        Some(&browser.cookie),
        Some(&form),
        None,
    )
    .await
}

/// Whether any consent of `demo` for `client` is remembered: the empty
/// request (no resource, no scope, any redirect) is covered by every one.
async fn remembered(app: &App, client: &Client) -> bool {
    app.store
        .consent_covers(
            &Subject::parse("demo").expect("subject"),
            &ClientId::parse(&client.id).expect("client id"),
            &[],
            &Scope::empty(),
            false,
        )
        .await
        .expect("consent lookup")
}

#[tokio::test]
async fn security_consent_swap_approves_only_the_shown_request() {
    let app = app(64).await;
    // The victim signs in and has the consent page for X open.
    let victim = sign_in(&app, &app.x, None).await;
    let (csrf, x_id) = consent_form(&app, &victim, &victim.consent).await;

    // Another site navigates a second window to /authorize for A: a top-level
    // GET, so the SameSite=Lax cookie comes along.
    let swap = send(
        &app,
        "GET",
        &authorize_path(&app.a, "attacker"),
        Some(&victim.cookie),
        None,
        None,
    )
    .await;
    assert_eq!(
        swap.status, 303,
        "the attacker's request waits on its own page"
    );
    let a_page = swap.location().to_owned();
    let a_id = a_page
        .strip_prefix("/latchkey/consent?request=")
        .expect("A's consent page")
        .to_owned();
    assert_ne!(a_id, x_id);

    // A post naming A's request, whose page was never shown, takes nothing.
    let unseen = post_consent(&app, &victim, &csrf, &a_id, "allow").await;
    assert_eq!(unseen.status, 400, "{}", unseen.body);
    assert!(unseen.header("location").is_none());
    assert!(unseen.body.contains("This request was not shown to you"));

    // The victim clicks Allow on X's page (ticking "remember": X's redirect
    // URI is loopback): X gets the code, for X's request.
    let allowed =
        post_consent_with(&app, &victim, &csrf, &x_id, "allow", &[("remember", "yes")]).await;
    assert_eq!(allowed.status, 302, "{}", allowed.body);
    assert!(allowed.location().starts_with(REDIRECT_X));
    let query = allowed.redirect_query();
    assert!(query.contains_key("code"));
    assert_eq!(query.get("state").map(String::as_str), Some("login"));

    // Consumed once: the same form again finds nothing.
    let again = post_consent(&app, &victim, &csrf, &x_id, "allow").await;
    assert_eq!(again.status, 400);
    assert!(again.header("location").is_none());

    // Nothing was remembered for A: its next request asks again (a consent
    // page, not a code), while X's is remembered.
    assert!(remembered(&app, &app.x).await);
    assert!(!remembered(&app, &app.a).await);
    let a_again = send(
        &app,
        "GET",
        &authorize_path(&app.a, "attacker-2"),
        Some(&victim.cookie),
        None,
        None,
    )
    .await;
    assert_eq!(a_again.status, 303);
    assert!(a_again.location().starts_with("/latchkey/consent?request="));
    let x_again = send(
        &app,
        "GET",
        &authorize_path(&app.x, "x-2"),
        Some(&victim.cookie),
        None,
        None,
    )
    .await;
    assert_eq!(x_again.status, 302);
    assert!(x_again.location().starts_with(REDIRECT_X));

    // A request id is bound to its session: another signed-in browser
    // cannot open or decide A's request.
    let other = sign_in(&app, &app.x, None).await;
    let (other_csrf, _) = consent_form(&app, &other, &other.consent).await;
    let foreign = send(&app, "GET", &a_page, Some(&other.cookie), None, None).await;
    assert_eq!(foreign.status, 400);
    let foreign = post_consent(&app, &other, &other_csrf, &a_id, "allow").await;
    assert_eq!(foreign.status, 400);
    assert!(foreign.header("location").is_none());
    assert!(!remembered(&app, &app.a).await);
    // A's page, once the victim sees it, is still there for the victim to decide.
    let (csrf, shown_a) = consent_form(&app, &victim, &a_page).await;
    assert_eq!(shown_a, a_id);
    let denied = post_consent(&app, &victim, &csrf, &a_id, "deny").await;
    assert_eq!(denied.status, 302);
    assert!(denied.location().starts_with(REDIRECT_A));
    assert_eq!(
        denied.redirect_query().get("error").map(String::as_str),
        Some("access_denied")
    );
}

#[tokio::test]
async fn security_an_invalid_consent_decision_leaves_the_request_pending() {
    let app = app(64).await;
    let browser = sign_in(&app, &app.x, None).await;
    let (csrf, id) = consent_form(&app, &browser, &browser.consent).await;
    for decision in ["maybe", "", "ALLOW"] {
        let invalid = post_consent(&app, &browser, &csrf, &id, decision).await;
        assert_eq!(invalid.status, 400, "{decision:?}");
        assert!(invalid.body.contains("Choose Allow or Deny."));
        assert!(invalid.header("location").is_none());
    }
    // A forged token or a malformed request id takes nothing either.
    assert_eq!(
        post_consent(&app, &browser, "forged", &id, "allow")
            .await
            .status,
        403
    );
    assert_eq!(
        post_consent(&app, &browser, &csrf, "short", "allow")
            .await
            .status,
        400
    );
    // The request is still waiting: the valid form completes it.
    let allowed = post_consent(&app, &browser, &csrf, &id, "allow").await;
    assert_eq!(allowed.status, 302, "{}", allowed.body);
    assert!(allowed.redirect_query().contains_key("code"));
}

/// `FLOOD` anonymous `GET /authorize` requests, each without a cookie.
async fn flood(app: &App) {
    let path = authorize_path(&app.a, "flood");
    for i in 0..FLOOD {
        let reply = send(app, "GET", &path, None, None, None).await;
        if i % 1000 == 0 {
            assert_eq!(reply.status, 200, "{}", reply.body);
            assert!(reply.body.contains("type=\"password\""));
        }
    }
}

#[tokio::test]
async fn security_anonymous_authorize_requests_keep_no_server_state() {
    let app = app(64).await;
    let _signed_in = sign_in(&app, &app.x, None).await;
    assert_eq!(app.pages.sessions().len(), 1);
    let started = std::time::Instant::now();
    flood(&app).await;
    assert_eq!(
        app.pages.sessions().len(),
        1,
        "anonymous requests added server state"
    );
    eprintln!(
        "{FLOOD} anonymous GET /authorize in {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn security_anonymous_visitors_cannot_sign_a_user_out() {
    let app = app(64).await;
    // The victim is in the middle of consent when the flood comes.
    let victim = sign_in(&app, &app.x, None).await;
    let (csrf, id) = consent_form(&app, &victim, &victim.consent).await;
    flood(&app).await;
    let allowed = post_consent(&app, &victim, &csrf, &id, "allow").await;
    assert_eq!(allowed.status, 302, "{}", allowed.body);
    assert!(allowed.location().starts_with(REDIRECT_X));
    assert!(allowed.redirect_query().contains_key("code"));
}

#[tokio::test]
async fn security_sessions_are_capped_per_client_address() {
    let app = app(3).await;
    let victim = sign_in(&app, &app.x, Some("192.0.2.1")).await;
    let mut flooder = Vec::new();
    for _ in 0..4 {
        flooder.push(sign_in(&app, &app.x, Some("198.51.100.7")).await);
    }
    // The address keeps its cap; its oldest session went, nobody else's.
    assert_eq!(app.pages.sessions().len(), 1 + 3);
    let first = send(
        &app,
        "GET",
        &flooder[0].consent,
        Some(&flooder[0].cookie),
        None,
        None,
    )
    .await;
    assert_eq!(first.status, 400, "the address's oldest session ended");
    for browser in flooder.iter().skip(1).chain([&victim]) {
        consent_form(&app, browser, &browser.consent).await;
    }
}

#[tokio::test]
async fn security_a_sealed_login_form_opens_only_unchanged_unexpired_and_in_its_browser() {
    let app = app(64).await;
    // The authorization endpoint seals with the system time: start the
    // pages' clock there (the seal may fall one second later).
    let start = latchkey_server::now().as_secs();
    app.secs.store(start, Ordering::SeqCst);
    let login = login_page(&app, &app.x, None).await;
    let cookie = login.cookie();
    let post = |cookie: String, csrf: String, request: String| {
        let app = &app;
        async move {
            send(
                app,
                "POST",
                "/latchkey/login",
                Some(&cookie),
                Some(&[
                    ("csrf", csrf.as_str()),
                    ("request", request.as_str()),
                    ("username", "demo"),
                    ("password", PASSWORD),
                ]),
                None,
            )
            .await
        }
    };
    let (csrf, request) = (login.field("csrf"), login.field("request"));

    // One changed character of the sealed request.
    let mut tampered = request.clone().into_bytes();
    let middle = tampered.len() / 2;
    tampered[middle] = if tampered[middle] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).expect("ascii");
    let reply = post(cookie.clone(), csrf.clone(), tampered).await;
    assert_eq!(reply.status, 403);
    assert!(reply.header("set-cookie").is_none());

    // Another browser (its own cookie, its own CSRF token) posting this form.
    let other = login_page(&app, &app.x, None).await;
    let reply = post(other.cookie(), other.field("csrf"), request.clone()).await;
    assert_eq!(reply.status, 403, "a sealed form from another browser");
    // This browser's form with the other browser's CSRF token.
    let reply = post(cookie.clone(), other.field("csrf"), request.clone()).await;
    assert_eq!(reply.status, 403);
    // No cookie at all, as in a cross-site post.
    let reply = send(
        &app,
        "POST",
        "/latchkey/login",
        None,
        Some(&[
            ("csrf", &csrf),
            ("request", &request),
            ("username", "demo"),
            ("password", PASSWORD),
        ]),
        None,
    )
    .await;
    assert_eq!(reply.status, 403);
    assert!(app.pages.sessions().is_empty(), "no refused form signed in");

    // Expired: one lifetime later it no longer opens.
    let lifetime = LOGIN_FORM_LIFETIME.as_secs();
    app.secs.store(start + lifetime + 1, Ordering::SeqCst);
    let reply = post(cookie.clone(), csrf.clone(), request.clone()).await;
    assert_eq!(reply.status, 400);
    assert!(reply.body.contains("This sign-in has expired"));
    assert!(app.pages.sessions().is_empty());

    // Just before, the untouched form signs in.
    app.secs.store(start + lifetime - 1, Ordering::SeqCst);
    let reply = post(cookie, csrf, request).await;
    assert_eq!(reply.status, 303, "{}", reply.body);
    assert_eq!(app.pages.sessions().len(), 1);
}

#[tokio::test]
async fn a_sealed_login_form_survives_a_restart() {
    let database = temp_db();
    let before = app_on(&database, 64).await;
    let login = login_page(&before, &before.x, None).await;
    drop(before);
    // A new process over the same database and secrets file.
    let after = app_on(&database, 64).await;
    let signed_in = post_login(&after, &login, &login.cookie(), None).await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
}
