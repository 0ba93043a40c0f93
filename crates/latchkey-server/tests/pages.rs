//! End-to-end tests of the login and consent pages through the real router
//! on 127.0.0.1:0, with a temporary SQLite database and a minimal HTTP/1.1
//! client (redirects are never followed).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64ct::{Base64UrlUnpadded, Encoding};
use latchkey_server::admin::{self, NewClient};
use latchkey_server::config::ServerConfig;
use latchkey_server::interaction::TOO_MANY_ATTEMPTS;
use latchkey_server::{Clock, serve};
use latchkey_store_sqlite::SqliteStore;
use latchkey_types::{Scope, SecretString, UnixTime};
use rand_core::SeedableRng;
use sha2::Digest;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PASSWORD: &str = "correct horse battery staple";
const REDIRECT: &str = "http://127.0.0.1:9999/cb";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

struct Server {
    base: String,
    issuer: String,
    client_id: String,
    store: Arc<SqliteStore>,
}

/// Where a request comes from: the source address of the connection and
/// any extra headers.
#[derive(Clone, Copy)]
struct Client<'a> {
    source: IpAddr,
    headers: &'a [(&'a str, &'a str)],
}

const LOCAL: Client<'static> = Client {
    source: IpAddr::V4(Ipv4Addr::LOCALHOST),
    headers: &[],
};

/// A client on another loopback address (all of 127.0.0.0/8 is loopback).
fn client_at(source: &str) -> Client<'static> {
    Client {
        source: source.parse().expect("address"),
        headers: &[],
    }
}

/// A clock the test moves by hand, starting at the real time.
fn manual_clock() -> (Clock, Arc<AtomicU64>) {
    let secs = Arc::new(AtomicU64::new(latchkey_server::now().as_secs()));
    let read = Arc::clone(&secs);
    let clock = Clock::from_fn(move || UnixTime::from_secs(read.load(Ordering::SeqCst)));
    (clock, secs)
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

    /// The `name=value` of the Set-Cookie header.
    fn cookie(&self) -> String {
        let set = self.header("set-cookie").expect("set-cookie");
        set.split(';').next().expect("cookie pair").to_owned()
    }

    fn csrf(&self) -> String {
        self.field("csrf")
    }

    /// The value of the hidden form field `name`.
    fn field(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self.body.find(&marker).expect("form field") + marker.len();
        let end = self.body[start..].find('"').expect("end of the field") + start;
        self.body[start..end].to_owned()
    }

    /// The login form of this login page.
    fn login_form(&self) -> LoginForm {
        LoginForm {
            cookie: self.cookie(),
            csrf: self.csrf(),
            request: self.field("request"),
        }
    }
}

/// A login page's cookie and hidden fields.
#[derive(Clone)]
struct LoginForm {
    cookie: String,
    csrf: String,
    request: String,
}

/// A signed-in browser: its session cookie and the consent page it was sent to.
struct SignedIn {
    cookie: String,
    consent: String,
}

fn temp_db() -> PathBuf {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!("latchkey-pages-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join(format!("{}.db", COUNTER.fetch_add(1, Ordering::Relaxed)))
}

async fn start(https_issuer: bool) -> Server {
    start_with(https_issuer, &[], Clock::system()).await
}

/// A server with the extra configuration `env` whose pages read `clock`,
/// served with each connection's peer address.
async fn start_with(https_issuer: bool, env: &[(&str, &str)], clock: Clock) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let scheme = if https_issuer { "https" } else { "http" };
    let issuer = format!("{scheme}://127.0.0.1:{port}");
    let database = temp_db();
    let mut config = ServerConfig::default();
    config.apply_env(|name| match name {
        "LATCHKEY_ISSUER" => Some(issuer.clone()),
        "LATCHKEY_DATABASE" => Some(database.display().to_string()),
        "LATCHKEY_DEMO_PASSWORD" => Some(PASSWORD.to_owned()),
        other => env
            .iter()
            .find(|(name, _)| *name == other)
            .map(|(_, value)| (*value).to_owned()),
    });
    assert!(config.problems().is_empty(), "{:?}", config.problems());
    let store = Arc::new(SqliteStore::open(&config.database).await.expect("store"));
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(9);
    let now = latchkey_server::now();
    let mut out = Vec::new();
    let app = serve::build_with_clock(&config, Arc::clone(&store), now, clock, &mut rng, &mut out)
        .await
        .expect("build");
    assert_eq!(
        String::from_utf8(out).expect("utf-8"),
        "created user demo with the password from LATCHKEY_DEMO_PASSWORD\n"
    );
    let new = NewClient {
        name: Some("Test <App>".to_owned()),
        redirect_uris: vec![REDIRECT.to_owned()],
        auth_method: "none".to_owned(),
        ..NewClient::default()
    };
    let scopes = Scope::parse("mcp:tools mcp:read").expect("scopes");
    let client_id = admin::clients_add(
        store.as_ref(),
        &new,
        &scopes,
        now,
        &mut rng,
        &mut Vec::new(),
    )
    .await
    .expect("client");
    tokio::spawn(async move {
        let app = app.into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(listener, app).await.expect("serve");
    });
    Server {
        base: format!("http://127.0.0.1:{port}"),
        issuer,
        client_id: client_id.as_str().to_owned(),
        store,
    }
}

async fn request(
    server: &Server,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    form: Option<&[(&str, &str)]>,
) -> Reply {
    request_from(server, LOCAL, method, path, cookie, form).await
}

async fn request_from(
    server: &Server,
    client: Client<'_>,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    form: Option<&[(&str, &str)]>,
) -> Reply {
    let host = server.base.trim_start_matches("http://");
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::new(client.source, 0))
        .expect("bind the client's source address");
    let mut stream = socket
        .connect(host.parse().expect("server address"))
        .await
        .expect("connect");
    let body = form
        .map(|pairs| {
            url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs)
                .finish()
        })
        .unwrap_or_default();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    if let Some(cookie) = cookie {
        head.push_str(&format!("Cookie: {cookie}\r\n"));
    }
    for (name, value) in client.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if form.is_some() {
        head.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    stream.write_all(head.as_bytes()).await.expect("write");
    stream.write_all(body.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read");
    let text = String::from_utf8(raw).expect("utf-8 response");
    let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .expect("status");
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(": "))
        .map(|(n, v)| (n.to_ascii_lowercase(), v.to_owned()))
        .collect();
    assert!(
        !headers
            .iter()
            .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked")),
        "the test client does not decode chunked bodies"
    );
    Reply {
        status,
        headers,
        body: body.to_owned(),
    }
}

fn authorize_path(server: &Server, state: &str) -> String {
    authorize_path_with(&server.client_id, REDIRECT, state, &[])
}

/// An authorization request for `client_id` and `redirect_uri`, with `extra`
/// parameters (`prompt`, `max_age`, ...).
fn authorize_path_with(
    client_id: &str,
    redirect_uri: &str,
    state: &str,
    extra: &[(&str, &str)],
) -> String {
    let challenge = Base64UrlUnpadded::encode_string(&sha2::Sha256::digest(VERIFIER.as_bytes()));
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("state", state)
        .extend_pairs(extra)
        .finish();
    format!("/authorize?{query}")
}

fn query_of(location: &str) -> HashMap<String, String> {
    let url = url::Url::parse(location).expect("absolute location");
    url.query_pairs().into_owned().collect()
}

/// The consent page a sign-in or an authorization request sent the browser to.
fn consent_location(reply: &Reply) -> String {
    assert_eq!(reply.status, 303, "{}", reply.body);
    let location = reply.header("location").expect("location").to_owned();
    let id = location
        .strip_prefix("/latchkey/consent?request=")
        .expect("the consent page of one request");
    assert_eq!(id.len(), 43, "a 256-bit request id");
    location
}

/// Authorize, then sign in; returns the signed-in cookie and the consent page.
async fn sign_in(server: &Server, state: &str) -> SignedIn {
    let login = request(server, "GET", &authorize_path(server, state), None, None).await;
    assert_eq!(login.status, 200);
    let form = login.login_form();
    let signed_in = request(
        server,
        "POST",
        "/latchkey/login",
        Some(&form.cookie),
        Some(&[
            ("csrf", &form.csrf),
            ("request", &form.request),
            ("username", "demo"),
            ("password", PASSWORD),
        ]),
    )
    .await;
    let consent = consent_location(&signed_in);
    let cookie = signed_in.cookie();
    assert_ne!(cookie, form.cookie, "signing in replaces the session id");
    SignedIn { cookie, consent }
}

/// Opens the consent page and posts `decision` with its form.
async fn consent(server: &Server, signed_in: &SignedIn, decision: &str) -> Reply {
    consent_at(
        server,
        &signed_in.cookie,
        &signed_in.consent,
        decision,
        None,
    )
    .await
}

/// Opens the consent page at `location` and posts `decision` with its form,
/// and `remember` as the "remember" box's value when given.
async fn consent_at(
    server: &Server,
    cookie: &str,
    location: &str,
    decision: &str,
    remember: Option<&str>,
) -> Reply {
    let page = request(server, "GET", location, Some(cookie), None).await;
    assert_eq!(page.status, 200);
    let csrf = page.csrf();
    let request_id = page.field("request");
    let mut form = vec![
        ("csrf", csrf.as_str()),
        ("request", request_id.as_str()),
        ("decision", decision),
    ];
    if let Some(remember) = remember {
        form.push(("remember", remember));
    }
    request(
        server,
        "POST",
        "/latchkey/consent",
        Some(cookie),
        Some(&form),
    )
    .await
}

#[tokio::test]
async fn oauth_2_1_section_4_1_login_and_allow_redirects_with_code_state_and_iss() {
    let server = start(false).await;
    let signed_in = sign_in(&server, "st-1").await;
    let page = request(
        &server,
        "GET",
        &signed_in.consent,
        Some(&signed_in.cookie),
        None,
    )
    .await;
    // MCP A8: the client's name and id, the redirect host, the resource and the scope.
    assert!(page.body.contains("Test &#60;App&#62;"));
    assert!(page.body.contains(&server.client_id));
    assert!(page.body.contains("<code>127.0.0.1</code>"));
    assert!(page.body.contains(&format!("{}/mcp", server.issuer)));
    assert!(page.body.contains("mcp:tools"));
    assert!(page.body.contains(">Allow</button>"));
    assert!(page.body.contains(">Deny</button>"));
    assert!(!page.body.contains("class=\"warning\""));

    // The redirect URI is loopback: consent is remembered only with the box ticked.
    let done = consent_at(
        &server,
        &signed_in.cookie,
        &signed_in.consent,
        "allow",
        Some("yes"),
    )
    .await;
    assert_eq!(done.status, 302);
    let location = done.header("location").expect("location");
    assert!(location.starts_with(REDIRECT));
    let query = query_of(location);
    assert_eq!(query.get("state").map(String::as_str), Some("st-1"));
    // RFC 9207: the issuer identifies who answered.
    assert_eq!(query.get("iss"), Some(&server.issuer));
    let code = query.get("code").expect("code").clone();

    // The code redeems at the token endpoint with the PKCE verifier.
    let token = request(
        &server,
        "POST",
        "/token",
        None,
        Some(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("client_id", &server.client_id),
            ("code_verifier", VERIFIER),
        ]),
    )
    .await;
    assert_eq!(token.status, 200, "{}", token.body);
    assert!(token.body.contains("\"access_token\""));

    // Consent is remembered: the next authorization skips both pages.
    let again = request(
        &server,
        "GET",
        &authorize_path(&server, "st-2"),
        Some(&signed_in.cookie),
        None,
    )
    .await;
    assert_eq!(again.status, 302);
    let query = query_of(again.header("location").expect("location"));
    assert!(query.contains_key("code"));
    assert_eq!(query.get("state").map(String::as_str), Some("st-2"));
}

#[tokio::test]
async fn oauth_2_1_section_4_1_2_1_deny_redirects_with_access_denied() {
    let server = start(false).await;
    let signed_in = sign_in(&server, "st-deny").await;
    let done = consent(&server, &signed_in, "deny").await;
    assert_eq!(done.status, 302);
    let query = query_of(done.header("location").expect("location"));
    assert_eq!(
        query.get("error").map(String::as_str),
        Some("access_denied")
    );
    assert_eq!(query.get("state").map(String::as_str), Some("st-deny"));
    assert_eq!(query.get("iss"), Some(&server.issuer));
    assert!(!query.contains_key("code"));
}

#[tokio::test]
async fn wrong_password_shows_the_login_page_again_without_a_hint() {
    let server = start(false).await;
    let login = request(&server, "GET", &authorize_path(&server, "s"), None, None).await;
    let form = login.login_form();
    let cookie = form.cookie.clone();
    let mut bodies = Vec::new();
    for (username, password) in [("demo", "not the password at all"), ("nobody", PASSWORD)] {
        let (again, _) = post_login(&server, LOCAL, &form, username, password).await;
        assert_eq!(again.status, 200);
        assert!(again.header("set-cookie").is_none());
        assert!(
            again
                .body
                .contains("The user name or the password is not right.")
        );
        assert!(again.body.contains("type=\"password\""));
        bodies.push(again.body);
    }
    // Unknown user and wrong password look the same.
    assert_eq!(bodies[0], bodies[1]);
    // Not signed in: the consent page is not shown.
    let consent = request(&server, "GET", "/latchkey/consent", Some(&cookie), None).await;
    assert_eq!(consent.status, 400);
}

#[tokio::test]
async fn forged_csrf_token_is_refused_with_403() {
    let server = start(false).await;
    let login = request(&server, "GET", &authorize_path(&server, "s"), None, None).await;
    let form = login.login_form();
    let forged = LoginForm {
        csrf: "forged".to_owned(),
        ..form.clone()
    };
    let (reply, _) = post_login(&server, LOCAL, &forged, "demo", PASSWORD).await;
    assert_eq!(reply.status, 403);
    assert!(reply.header("set-cookie").is_none());
    let missing = request(
        &server,
        "POST",
        "/latchkey/login",
        Some(&form.cookie),
        Some(&[
            ("request", &form.request),
            ("username", "demo"),
            ("password", PASSWORD),
        ]),
    )
    .await;
    assert_eq!(missing.status, 403);

    let signed_in = sign_in(&server, "s2").await;
    let page = request(
        &server,
        "GET",
        &signed_in.consent,
        Some(&signed_in.cookie),
        None,
    )
    .await;
    let forged = request(
        &server,
        "POST",
        "/latchkey/consent",
        Some(&signed_in.cookie),
        Some(&[
            ("csrf", "forged"),
            ("request", &page.field("request")),
            ("decision", "allow"),
        ]),
    )
    .await;
    assert_eq!(forged.status, 403);
    assert!(forged.header("location").is_none());
    // The pending authorization survives a forged post; the real form still works.
    let done = consent(&server, &signed_in, "allow").await;
    assert_eq!(done.status, 302);
}

#[tokio::test]
async fn rfc_9700_section_4_4_pages_carry_security_headers_and_cookie_flags() {
    let server = start(false).await;
    let login = request(&server, "GET", &authorize_path(&server, "s"), None, None).await;
    let csp = login.header("content-security-policy").expect("csp");
    assert!(csp.contains("default-src 'none'"));
    assert!(csp.contains("frame-ancestors 'none'"));
    assert!(csp.contains("form-action 'self' http://127.0.0.1:9999"));
    assert!(!csp.contains("unsafe-inline"));
    assert_eq!(login.header("x-frame-options"), Some("DENY"));
    assert_eq!(login.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(login.header("cache-control"), Some("no-store"));
    assert_eq!(
        login.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(login.header("x-request-id").is_some());
    let set_cookie = login.header("set-cookie").expect("cookie");
    assert!(set_cookie.starts_with("latchkey="));
    assert!(set_cookie.contains("; HttpOnly"));
    assert!(set_cookie.contains("; SameSite=Lax"));
    assert!(set_cookie.contains("; Path=/"));
    assert!(
        !set_cookie.contains("Secure"),
        "a Secure cookie would be dropped over http"
    );
    assert!(login.body.contains("<label for=\"username\">"));
    assert!(!login.body.contains("<script"));

    let forged = request(
        &server,
        "POST",
        "/latchkey/login",
        Some(&login.cookie()),
        Some(&[("csrf", "x")]),
    )
    .await;
    assert_eq!(forged.status, 403);
    assert_eq!(forged.header("x-frame-options"), Some("DENY"));
    assert!(forged.header("content-security-policy").is_some());

    let css = request(&server, "GET", "/latchkey/style.css", None, None).await;
    assert_eq!(css.status, 200);
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));
}

#[tokio::test]
async fn https_issuer_uses_a_host_prefixed_secure_cookie() {
    let server = start(true).await;
    let login = request(&server, "GET", &authorize_path(&server, "s"), None, None).await;
    assert_eq!(login.status, 200);
    let set_cookie = login.header("set-cookie").expect("cookie");
    assert!(set_cookie.starts_with("__Host-latchkey="));
    assert!(set_cookie.contains("; Secure"));
    assert!(set_cookie.contains("; Path=/"));
    assert!(!set_cookie.contains("Domain="));
}

#[tokio::test]
async fn demo_user_password_is_generated_and_printed_once() {
    let store = SqliteStore::open(&temp_db()).await.expect("store");
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(4);
    let now = UnixTime::from_secs(1_800_000_000);
    let mut out = Vec::new();
    serve::ensure_demo_user(&store, None, now, &mut rng, &mut out)
        .await
        .expect("created");
    let printed = String::from_utf8(out).expect("utf-8");
    assert!(printed.starts_with("created user demo with password "));
    let mut out = Vec::new();
    let password = SecretString::new(PASSWORD.to_owned());
    serve::ensure_demo_user(&store, Some(&password), now, &mut rng, &mut out)
        .await
        .expect("exists");
    assert!(out.is_empty(), "printed only on creation");
}

/// A fresh login page for `client`: its cookie and hidden fields.
async fn login_page(server: &Server, client: Client<'_>) -> LoginForm {
    let path = authorize_path(server, "limits");
    let login = request_from(server, client, "GET", &path, None, None).await;
    assert_eq!(login.status, 200);
    login.login_form()
}

/// Posts the login form `form`; the reply and how long it took.
async fn post_login(
    server: &Server,
    client: Client<'_>,
    form: &LoginForm,
    username: &str,
    password: &str,
) -> (Reply, Duration) {
    let started = Instant::now();
    let reply = request_from(
        server,
        client,
        "POST",
        "/latchkey/login",
        Some(&form.cookie),
        Some(&[
            ("csrf", &form.csrf),
            ("request", &form.request),
            ("username", username),
            ("password", password),
        ]),
    )
    .await;
    (reply, started.elapsed())
}

fn assert_locked_out(reply: &Reply, retry_after: &str) {
    assert_eq!(reply.status, 429, "{}", reply.body);
    assert_eq!(reply.header("retry-after"), Some(retry_after));
    assert!(reply.body.contains(TOO_MANY_ATTEMPTS), "{}", reply.body);
    assert!(reply.header("set-cookie").is_none(), "no sign-in");
    assert_eq!(reply.header("x-frame-options"), Some("DENY"));
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    assert!(
        reply.body.contains("type=\"password\""),
        "the form comes back"
    );
}

#[tokio::test]
async fn oauth_2_1_section_7_7_wrong_passwords_lock_the_user_name_out_with_429_and_retry_after() {
    let (clock, secs) = manual_clock();
    let server = start_with(
        false,
        &[
            ("LATCHKEY_LOGIN_MAX_FAILURES_PER_USER", "3"),
            ("LATCHKEY_LOGIN_WINDOW_SECS", "60"),
            ("LATCHKEY_LOGIN_MAX_LOCKOUT_SECS", "600"),
        ],
        clock,
    )
    .await;
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(11);
    admin::add_user(
        server.store.as_ref(),
        "alice",
        PASSWORD,
        latchkey_server::now(),
        &mut rng,
    )
    .await
    .expect("alice");

    let session = login_page(&server, LOCAL).await;
    let mut verified = Vec::new();
    for _ in 0..2 {
        let (reply, took) =
            post_login(&server, LOCAL, &session, "demo", "not the password at all").await;
        assert_eq!(reply.status, 200);
        assert!(
            reply
                .body
                .contains("The user name or the password is not right.")
        );
        assert!(reply.header("retry-after").is_none());
        verified.push(took);
    }
    // The third failure within the window locks the name for one window.
    let (reply, took) = post_login(&server, LOCAL, &session, "demo", "still not it").await;
    verified.push(took);
    assert_locked_out(&reply, "60");
    assert!(
        reply.body.contains("Try again in 1 minute."),
        "{}",
        reply.body
    );

    // Now the right password is refused too, before argon2 runs: each refusal
    // takes a fraction of a verification.
    let mut refused = Vec::new();
    for _ in 0..3 {
        let (reply, took) = post_login(&server, LOCAL, &session, "demo", PASSWORD).await;
        assert_locked_out(&reply, "60");
        refused.push(took);
    }
    let fastest_verified = verified.iter().min().expect("timings");
    let fastest_refused = refused.iter().min().expect("timings");
    assert!(
        *fastest_refused * 4 < *fastest_verified,
        "refused in {fastest_refused:?}, verified in {fastest_verified:?}"
    );

    // The lock is on the name, whatever the address.
    let elsewhere = client_at("127.0.0.2");
    let other_session = login_page(&server, elsewhere).await;
    let (reply, _) = post_login(&server, elsewhere, &other_session, "demo", PASSWORD).await;
    assert_locked_out(&reply, "60");

    // Another user is unaffected, from another address or from this one.
    let (reply, _) = post_login(&server, elsewhere, &other_session, "alice", PASSWORD).await;
    assert_eq!(reply.status, 303, "{}", reply.body);
    let alice_here = login_page(&server, LOCAL).await;
    let (reply, _) = post_login(&server, LOCAL, &alice_here, "alice", PASSWORD).await;
    assert_eq!(reply.status, 303, "{}", reply.body);

    // One second before the lockout ends it still holds; then the right
    // password signs in.
    secs.fetch_add(59, Ordering::SeqCst);
    let (reply, _) = post_login(&server, LOCAL, &session, "demo", PASSWORD).await;
    assert_locked_out(&reply, "1");
    assert!(
        reply.body.contains("Try again in 1 second."),
        "{}",
        reply.body
    );
    secs.fetch_add(1, Ordering::SeqCst);
    let (reply, _) = post_login(&server, LOCAL, &session, "demo", PASSWORD).await;
    consent_location(&reply);
}

#[tokio::test]
async fn a_lockout_looks_the_same_for_unknown_and_existing_user_names() {
    let (clock, _) = manual_clock();
    let server = start_with(
        false,
        &[("LATCHKEY_LOGIN_MAX_FAILURES_PER_USER", "2")],
        clock,
    )
    .await;
    let session = login_page(&server, LOCAL).await;
    let mut pages = Vec::new();
    for username in ["demo", "nobody"] {
        let (reply, _) = post_login(&server, LOCAL, &session, username, "wrong password").await;
        assert_eq!(reply.status, 200);
        let (reply, _) = post_login(&server, LOCAL, &session, username, "wrong password").await;
        assert_locked_out(&reply, "900");
        let (reply, _) = post_login(&server, LOCAL, &session, username, PASSWORD).await;
        assert_locked_out(&reply, "900");
        assert!(
            reply.body.contains("Try again in 15 minutes."),
            "{}",
            reply.body
        );
        pages.push(reply.body);
    }
    assert_eq!(pages[0], pages[1]);
}

#[tokio::test]
async fn one_address_trying_many_names_is_locked_out_whatever_x_forwarded_for_says() {
    let (clock, _) = manual_clock();
    let server = start_with(
        false,
        &[("LATCHKEY_LOGIN_MAX_FAILURES_PER_ADDRESS", "3")],
        clock,
    )
    .await;
    let source = "127.0.0.3".parse().expect("address");
    let forged = [
        [("X-Forwarded-For", "198.51.100.1")],
        [("X-Forwarded-For", "198.51.100.2")],
        [("X-Forwarded-For", "198.51.100.3")],
        [("X-Forwarded-For", "198.51.100.4")],
    ];
    let sprayer = |i: usize| Client {
        source,
        headers: &forged[i],
    };
    let session = login_page(&server, sprayer(0)).await;
    for (i, username) in ["u1", "u2", "u3"].into_iter().enumerate() {
        let (reply, _) = post_login(&server, sprayer(i), &session, username, PASSWORD).await;
        if i < 2 {
            assert_eq!(reply.status, 200);
        } else {
            assert_locked_out(&reply, "900");
        }
    }
    let (reply, _) = post_login(&server, sprayer(3), &session, "demo", PASSWORD).await;
    assert_locked_out(&reply, "900");

    let elsewhere = client_at("127.0.0.4");
    let other_session = login_page(&server, elsewhere).await;
    let (reply, _) = post_login(&server, elsewhere, &other_session, "demo", PASSWORD).await;
    assert_eq!(reply.status, 303, "{}", reply.body);
}

#[tokio::test]
async fn a_configured_trusted_proxy_names_the_client_in_x_forwarded_for() {
    let (clock, _) = manual_clock();
    let server = start_with(
        false,
        &[
            ("LATCHKEY_TRUSTED_PROXIES", "127.0.0.5"),
            ("LATCHKEY_LOGIN_MAX_FAILURES_PER_ADDRESS", "2"),
        ],
        clock,
    )
    .await;
    let source = "127.0.0.5".parse().expect("address");
    let first = Client {
        source,
        headers: &[("X-Forwarded-For", "203.0.113.1")],
    };
    let second = Client {
        source,
        headers: &[("X-Forwarded-For", "203.0.113.2")],
    };
    let session = login_page(&server, first).await;
    let (reply, _) = post_login(&server, first, &session, "u1", PASSWORD).await;
    assert_eq!(reply.status, 200);
    let (reply, _) = post_login(&server, first, &session, "u2", PASSWORD).await;
    assert_locked_out(&reply, "900");
    let (reply, _) = post_login(&server, first, &session, "demo", PASSWORD).await;
    assert_locked_out(&reply, "900");
    // Another client behind the same proxy has its own counter.
    let (reply, _) = post_login(&server, second, &session, "demo", PASSWORD).await;
    assert_eq!(reply.status, 303, "{}", reply.body);
}

/// An administrator-added client whose redirect URI is not loopback.
const WEB_REDIRECT: &str = "https://app.example.com/cb";

async fn web_client(server: &Server) -> String {
    let new = NewClient {
        name: Some("Web App".to_owned()),
        redirect_uris: vec![WEB_REDIRECT.to_owned()],
        auth_method: "none".to_owned(),
        ..NewClient::default()
    };
    let scopes = Scope::parse("mcp:tools mcp:read").expect("scopes");
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(11);
    admin::clients_add(
        server.store.as_ref(),
        &new,
        &scopes,
        latchkey_server::now(),
        &mut rng,
        &mut Vec::new(),
    )
    .await
    .expect("client")
    .as_str()
    .to_owned()
}

/// `GET /authorize` for the test client with `extra` parameters.
async fn authorize_with(server: &Server, cookie: Option<&str>, extra: &[(&str, &str)]) -> Reply {
    let path = authorize_path_with(&server.client_id, REDIRECT, "st-p", extra);
    request(server, "GET", &path, cookie, None).await
}

/// A redirect back to the test client: its query.
fn back_at_the_client(reply: &Reply) -> HashMap<String, String> {
    assert_eq!(reply.status, 302, "{}", reply.body);
    let location = reply.header("location").expect("location");
    assert!(location.starts_with(REDIRECT), "{location}");
    query_of(location)
}

/// Signs in, allows with the "remember" box ticked; returns the session cookie.
async fn signed_in_with_remembered_consent(server: &Server) -> String {
    let signed_in = sign_in(server, "st-r").await;
    let done = consent_at(
        server,
        &signed_in.cookie,
        &signed_in.consent,
        "allow",
        Some("yes"),
    )
    .await;
    assert!(back_at_the_client(&done).contains_key("code"));
    let again = authorize_with(server, Some(&signed_in.cookie), &[]).await;
    assert!(
        back_at_the_client(&again).contains_key("code"),
        "remembered"
    );
    signed_in.cookie
}

#[tokio::test]
async fn openid_connect_core_3_1_2_1_prompt_login_and_max_age_show_the_login_page_again() {
    let (clock, secs) = manual_clock();
    let server = start_with(false, &[], clock).await;
    // Sign in ten minutes ago (the pages read the manual clock).
    let real_now = latchkey_server::now().as_secs();
    secs.store(real_now - 600, Ordering::SeqCst);
    let cookie = signed_in_with_remembered_consent(&server).await;
    let is_login_page = |reply: &Reply| {
        reply.status == 200
            && reply.body.contains("name=\"password\"")
            && reply.header("location").is_none()
    };

    let login = authorize_with(&server, Some(&cookie), &[("prompt", "login")]).await;
    assert!(is_login_page(&login), "{}", login.body);
    let select = authorize_with(&server, Some(&cookie), &[("prompt", "select_account")]).await;
    assert!(is_login_page(&select));
    let too_old = authorize_with(&server, Some(&cookie), &[("max_age", "60")]).await;
    assert!(is_login_page(&too_old), "signed in 600 s ago");
    let zero = authorize_with(&server, Some(&cookie), &[("max_age", "0")]).await;
    assert!(is_login_page(&zero), "max_age=0 is prompt=login");
    let recent_enough = authorize_with(&server, Some(&cookie), &[("max_age", "3600")]).await;
    assert!(back_at_the_client(&recent_enough).contains_key("code"));

    // Signing in again on the prompt=login page satisfies it: on to consent.
    secs.store(latchkey_server::now().as_secs(), Ordering::SeqCst);
    let form = login.field("request");
    let again = request(
        &server,
        "POST",
        "/latchkey/login",
        Some(&cookie),
        Some(&[
            ("csrf", &login.csrf()),
            ("request", &form),
            ("username", "demo"),
            ("password", PASSWORD),
        ]),
    )
    .await;
    consent_location(&again);
}

#[tokio::test]
async fn openid_connect_core_3_1_2_1_prompt_none_never_shows_a_page() {
    let (clock, secs) = manual_clock();
    let server = start_with(false, &[], clock).await;
    // Sign-ins happen a minute ago (the pages read the manual clock).
    secs.store(latchkey_server::now().as_secs() - 60, Ordering::SeqCst);
    // Not signed in: login_required, with state and iss (section 3.1.2.6).
    let anonymous = authorize_with(&server, None, &[("prompt", "none")]).await;
    let query = back_at_the_client(&anonymous);
    assert_eq!(
        query.get("error").map(String::as_str),
        Some("login_required")
    );
    assert_eq!(query.get("state").map(String::as_str), Some("st-p"));
    assert_eq!(query.get("iss"), Some(&server.issuer));
    assert!(!query.contains_key("code"));
    assert!(anonymous.header("set-cookie").is_none(), "nothing kept");

    // Signed in, consent not remembered: consent_required.
    let signed_in = sign_in(&server, "st-n").await;
    let unconsented = authorize_with(&server, Some(&signed_in.cookie), &[("prompt", "none")]).await;
    let query = back_at_the_client(&unconsented);
    assert_eq!(
        query.get("error").map(String::as_str),
        Some("consent_required")
    );
    assert_eq!(query.get("state").map(String::as_str), Some("st-p"));
    assert_eq!(query.get("iss"), Some(&server.issuer));

    // Consent remembered: the code, without a page.
    let done = consent_at(
        &server,
        &signed_in.cookie,
        &signed_in.consent,
        "allow",
        Some("yes"),
    )
    .await;
    assert!(back_at_the_client(&done).contains_key("code"));
    let silent = authorize_with(&server, Some(&signed_in.cookie), &[("prompt", "none")]).await;
    let query = back_at_the_client(&silent);
    assert!(query.contains_key("code"), "{query:?}");
    assert_eq!(query.get("iss"), Some(&server.issuer));

    // A session older than the request, with max_age=0: login_required,
    // still without a page.
    let stale = authorize_with(
        &server,
        Some(&signed_in.cookie),
        &[("prompt", "none"), ("max_age", "0")],
    )
    .await;
    let query = back_at_the_client(&stale);
    assert_eq!(
        query.get("error").map(String::as_str),
        Some("login_required")
    );
}

#[tokio::test]
async fn openid_connect_core_3_1_2_1_prompt_consent_shows_the_page_even_when_remembered() {
    let server = start(false).await;
    let cookie = signed_in_with_remembered_consent(&server).await;
    let asked = authorize_with(&server, Some(&cookie), &[("prompt", "consent")]).await;
    let location = consent_location(&asked);
    let page = request(&server, "GET", &location, Some(&cookie), None).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains(">Allow</button>"));
}

#[tokio::test]
async fn security_loopback_consent_is_remembered_only_when_the_box_is_ticked() {
    let server = start(false).await;
    let signed_in = sign_in(&server, "st-l").await;
    let page = request(
        &server,
        "GET",
        &signed_in.consent,
        Some(&signed_in.cookie),
        None,
    )
    .await;
    assert!(
        page.body
            .contains("<input type=\"checkbox\" name=\"remember\" value=\"yes\">")
    );
    assert!(!page.body.contains("checked"), "unticked by default");
    assert!(
        page.body
            .contains("any program can listen and claim to be it")
    );

    // A remember value other than the box's is refused before the request is taken.
    let bogus = consent_at(
        &server,
        &signed_in.cookie,
        &signed_in.consent,
        "allow",
        Some("on"),
    )
    .await;
    assert_eq!(bogus.status, 400);
    assert!(bogus.header("location").is_none());

    // Allowed without the box: a code, and the next request asks again.
    let done = consent(&server, &signed_in, "allow").await;
    assert!(back_at_the_client(&done).contains_key("code"));
    let next = authorize_with(&server, Some(&signed_in.cookie), &[]).await;
    let next_page = consent_location(&next);

    // Allowed with the box ticked: remembered.
    let done = consent_at(&server, &signed_in.cookie, &next_page, "allow", Some("yes")).await;
    assert!(back_at_the_client(&done).contains_key("code"));
    let remembered = authorize_with(&server, Some(&signed_in.cookie), &[]).await;
    assert!(back_at_the_client(&remembered).contains_key("code"));

    // A redirect URI that is not loopback: no box, and consent is remembered.
    let web = web_client(&server).await;
    let path = authorize_path_with(&web, WEB_REDIRECT, "st-w", &[]);
    let asked = request(&server, "GET", &path, Some(&signed_in.cookie), None).await;
    let location = consent_location(&asked);
    let page = request(&server, "GET", &location, Some(&signed_in.cookie), None).await;
    assert!(!page.body.contains("name=\"remember\""));
    let done = consent_at(&server, &signed_in.cookie, &location, "allow", None).await;
    assert_eq!(done.status, 302);
    let again = request(&server, "GET", &path, Some(&signed_in.cookie), None).await;
    assert_eq!(again.status, 302);
    assert!(
        query_of(again.header("location").expect("location")).contains_key("code"),
        "remembered without a box"
    );
}

#[tokio::test]
async fn mcp_refresh_tokens_consent_page_says_how_long_the_client_stays_connected() {
    let server = start(false).await;
    let signed_in = sign_in(&server, "st-c").await;
    let page = request(
        &server,
        "GET",
        &signed_in.consent,
        Some(&signed_in.cookie),
        None,
    )
    .await;
    assert_eq!(page.status, 200);
    // The client registered the refresh_token grant and did not ask for
    // offline_access: it still stays connected, for the family lifetime.
    assert!(!page.body.contains("offline_access"));
    assert!(
        page.body.contains(
            "<strong>Test &#60;App&#62;</strong> stays connected to your account for 30 days"
        ),
        "{}",
        page.body
    );
}
