//! The metrics endpoint (`[metrics] bind`, `latchkey_server::metrics`)
//! through real listeners: the server on one ephemeral port, `/metrics` on
//! another. Real flows (tokens, a refused token request, a code replay, a
//! refresh-token reuse, registrations, a rate limit, a failed sign-in, a
//! scope elevation) are driven through the main listener, then `/metrics`
//! is scraped and each counter compared with what was done.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use base64ct::{Base64UrlUnpadded, Encoding};
use latchkey_http_tests::client::{Request, Response, send};
use latchkey_http_tests::forms::{cookie_of, form_action, hidden_fields, with_cookie};
use latchkey_server::admin::{self, NewClient};
use latchkey_server::config::ServerConfig;
use latchkey_server::metrics::{Metrics, SharedObserver};
use latchkey_server::{Clock, serve};
use latchkey_store_sqlite::SqliteStore;
use latchkey_types::Scope;
use rand_core::SeedableRng;
use serde_json::json;
use sha2::Digest;

const PASSWORD: &str = "correct horse battery staple";
const REDIRECT: &str = "http://127.0.0.1:9999/cb";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const BACKEND: &str = "backend";

struct Server {
    base: String,
    metrics: String,
    public_client: String,
    backend_secret: String,
}

fn temp_db() -> PathBuf {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!("latchkey-metrics-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join(format!("{}.db", COUNTER.fetch_add(1, Ordering::Relaxed)))
}

/// The secret `latchkey clients add` printed once.
fn printed_secret(out: &[u8]) -> String {
    let text = String::from_utf8(out.to_vec()).expect("utf-8");
    let line = text
        .lines()
        .find_map(|line| line.strip_prefix("client_secret: "))
        .expect("a secret is printed");
    line.split(' ').next().expect("secret").to_owned()
}

/// `latchkey serve` with `[metrics] bind` on an ephemeral port, two
/// registrations an hour per address, a public client and a confidential
/// `backend` client.
async fn start() -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let issuer = format!("http://127.0.0.1:{port}");
    let database = temp_db();
    let mut config = ServerConfig::default();
    config
        .apply_toml(
            "[rate_limits]\nregistrations_per_address_per_hour = 2\n\
             [metrics]\nbind = \"127.0.0.1:0\"\n",
        )
        .expect("toml");
    config.apply_env(|name| match name {
        "LATCHKEY_ISSUER" => Some(issuer.clone()),
        "LATCHKEY_DATABASE" => Some(database.display().to_string()),
        "LATCHKEY_DEMO_PASSWORD" => Some(PASSWORD.to_owned()),
        _ => None,
    });
    assert!(config.problems().is_empty(), "{:?}", config.problems());
    let metrics_addr = config
        .metrics_bind_addr()
        .expect("metrics bind")
        .expect("metrics on");
    let metrics_listener = tokio::net::TcpListener::bind(metrics_addr)
        .await
        .expect("bind metrics");
    let metrics_port = metrics_listener.local_addr().expect("addr").port();
    let metrics = Arc::new(Metrics::new());
    let store = Arc::new(SqliteStore::open(&config.database).await.expect("store"));
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(13);
    let now = latchkey_server::now();
    let app = serve::build_with_observer(
        &config,
        Arc::clone(&store),
        now,
        Clock::system(),
        SharedObserver::new(Arc::clone(&metrics) as Arc<dyn latchkey_http::Observer>),
        &mut rng,
        &mut Vec::new(),
    )
    .await
    .expect("build");
    let scopes = Scope::parse("mcp:tools mcp:read").expect("scopes");
    let public = NewClient {
        name: Some("Public".to_owned()),
        redirect_uris: vec![REDIRECT.to_owned()],
        auth_method: "none".to_owned(),
        ..NewClient::default()
    };
    let public_client = admin::clients_add(
        store.as_ref(),
        &public,
        &scopes,
        now,
        &mut rng,
        &mut Vec::new(),
    )
    .await
    .expect("public client");
    let confidential = NewClient {
        client_id: Some(BACKEND.to_owned()),
        auth_method: "client_secret_post".to_owned(),
        scope: Some("mcp:tools".to_owned()),
        client_credentials: true,
        ..NewClient::default()
    };
    let mut out = Vec::new();
    admin::clients_add(
        store.as_ref(),
        &confidential,
        &scopes,
        now,
        &mut rng,
        &mut out,
    )
    .await
    .expect("confidential client");
    tokio::spawn(async move {
        let app = app.into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(listener, app).await.expect("serve");
    });
    tokio::spawn(latchkey_server::metrics::serve(
        metrics_listener,
        metrics,
        std::future::pending(),
    ));
    Server {
        base: format!("http://127.0.0.1:{port}"),
        metrics: format!("http://127.0.0.1:{metrics_port}"),
        public_client: public_client.as_str().to_owned(),
        backend_secret: printed_secret(&out),
    }
}

/// Posts the page's form with its hidden fields and `extra`.
async fn post_form(
    server: &Server,
    page: &str,
    extra: &[(&str, &str)],
    cookie: Option<&String>,
) -> Response {
    let mut fields = hidden_fields(page);
    fields.extend(
        extra
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned())),
    );
    let pairs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    send(
        &server.base,
        &with_cookie(
            Request::new("POST", &form_action(page)).form(&pairs),
            cookie,
        ),
    )
    .await
}

/// `/authorize` for `scope`; one sign-in as `demo` with `wrong_password`
/// first when given (refused, the login page again), then the right one,
/// and allow. Returns the code and the `x-request-id` of the allowing post.
async fn authorization_code(
    server: &Server,
    scope: &str,
    wrong_password: Option<&str>,
) -> (String, String) {
    let challenge = Base64UrlUnpadded::encode_string(&sha2::Sha256::digest(VERIFIER.as_bytes()));
    let query = latchkey_http_tests::client::form_encode(&[
        ("response_type", "code"),
        ("client_id", &server.public_client),
        ("redirect_uri", REDIRECT),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
        ("state", "st"),
        ("scope", scope),
    ]);
    let login = send(
        &server.base,
        &Request::new("GET", &format!("/authorize?{query}")),
    )
    .await;
    assert_eq!(login.status, 200, "{}", login.text());
    let mut cookie = cookie_of(&login, None);
    let mut page = login.text();
    if let Some(wrong) = wrong_password {
        let refused = post_form(
            server,
            &page,
            &[("username", "demo"), ("password", wrong)],
            cookie.as_ref(),
        )
        .await;
        assert_eq!(refused.status, 200, "{}", refused.text());
        assert!(refused.text().contains("not right"), "{}", refused.text());
        cookie = cookie_of(&refused, cookie);
        page = refused.text();
    }
    let signed_in = post_form(
        server,
        &page,
        &[("username", "demo"), ("password", PASSWORD)],
        cookie.as_ref(),
    )
    .await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.text());
    cookie = cookie_of(&signed_in, cookie);
    let consent_path = signed_in.header("location").expect("location").to_owned();
    let consent = send(
        &server.base,
        &with_cookie(Request::new("GET", &consent_path), cookie.as_ref()),
    )
    .await;
    assert_eq!(consent.status, 200, "{}", consent.text());
    let allowed = post_form(
        server,
        &consent.text(),
        // The redirect URI is loopback: consent is remembered only when asked.
        &[("decision", "allow"), ("remember", "yes")],
        cookie.as_ref(),
    )
    .await;
    assert_eq!(allowed.status, 302, "{}", allowed.text());
    let location = url::Url::parse(allowed.header("location").expect("location")).expect("url");
    let code = location
        .query_pairs()
        .find(|(name, _)| name == "code")
        .map(|(_, code)| code.into_owned())
        .expect("code");
    let request_id = allowed
        .header("x-request-id")
        .expect("request id")
        .to_owned();
    (code, request_id)
}

/// A log sink for the scope elevation line.
#[derive(Clone, Default)]
struct LogSink(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn token(server: &Server, pairs: &[(&str, &str)]) -> Response {
    send(&server.base, &Request::new("POST", "/token").form(pairs)).await
}

async fn redeem(server: &Server, code: &str) -> Response {
    token(
        server,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("client_id", &server.public_client),
            ("code_verifier", VERIFIER),
        ],
    )
    .await
}

async fn refresh(server: &Server, refresh_token: &str) -> Response {
    token(
        server,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", &server.public_client),
        ],
    )
    .await
}

fn error_of(response: &Response) -> String {
    response.json()["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The value of the sample `series` (name and labels as written), if scraped.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let value = line.strip_prefix(series)?.strip_prefix(' ')?;
        value.parse().ok()
    })
}

async fn scrape(server: &Server) -> String {
    let response = send(&server.metrics, &Request::new("GET", "/metrics")).await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert!(
        response
            .header("content-type")
            .is_some_and(|value| value.starts_with("application/openmetrics-text")),
        "{:?}",
        response.header("content-type")
    );
    response.text()
}

#[tokio::test]
async fn metrics_count_real_flows_exactly() {
    let sink = LogSink::default();
    let writer = sink.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // Global: tracing caches call-site interest globally, so a scoped
    // subscriber could miss the line. No other test here installs one.
    tracing::subscriber::set_global_default(subscriber).expect("only this test sets a subscriber");
    let server = start().await;

    // client_credentials: one issued, one refused (wrong secret).
    let issued = token(
        &server,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", BACKEND),
            ("client_secret", &server.backend_secret),
        ],
    )
    .await;
    assert_eq!(issued.status, 200, "{}", issued.text());
    let refused = token(
        &server,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", BACKEND),
            ("client_secret", "not the secret"),
        ],
    )
    .await;
    assert_eq!(error_of(&refused), "invalid_client");

    // A code redeemed, then replayed; a failed sign-in on the way.
    let (code, _) = authorization_code(&server, "mcp:tools", Some("wrong password")).await;
    assert_eq!(redeem(&server, &code).await.status, 200);
    assert_eq!(error_of(&redeem(&server, &code).await), "invalid_grant");

    // A refresh token rotated, then the rotated one presented again.
    let (code, _) = authorization_code(&server, "mcp:tools", None).await;
    let first = redeem(&server, &code).await;
    assert_eq!(first.status, 200, "{}", first.text());
    let rotated = first.json()["refresh_token"]
        .as_str()
        .expect("refresh token")
        .to_owned();
    assert_eq!(refresh(&server, &rotated).await.status, 200);
    assert_eq!(error_of(&refresh(&server, &rotated).await), "invalid_grant");

    // More scope than the remembered consent holds: a scope elevation.
    let (_, elevation_id) = authorization_code(&server, "mcp:tools mcp:read", None).await;

    // Registrations: one registered, one refused, one over the quota of 2.
    let register = |body: serde_json::Value| {
        let base = server.base.clone();
        async move { send(&base, &Request::new("POST", "/register").json(&body)).await }
    };
    let registered = register(json!({
        "redirect_uris": [REDIRECT],
        "token_endpoint_auth_method": "none"
    }))
    .await;
    assert_eq!(registered.status, 201, "{}", registered.text());
    let refused = register(json!({
        "redirect_uris": ["http://app.example.com/cb"],
        "token_endpoint_auth_method": "none"
    }))
    .await;
    assert_eq!(refused.status, 400, "{}", refused.text());
    assert_eq!(error_of(&refused), "invalid_redirect_uri");
    let limited = register(json!({
        "redirect_uris": [REDIRECT],
        "token_endpoint_auth_method": "none"
    }))
    .await;
    assert_eq!(limited.status, 429, "{}", limited.text());

    let text = scrape(&server).await;
    let expected: &[(&str, f64)] = &[
        (
            "latchkey_tokens_issued_total{grant=\"client_credentials\"}",
            1.0,
        ),
        (
            "latchkey_tokens_issued_total{grant=\"authorization_code\"}",
            2.0,
        ),
        ("latchkey_tokens_issued_total{grant=\"refresh_token\"}", 1.0),
        ("latchkey_token_errors_total{error=\"invalid_client\"}", 1.0),
        ("latchkey_token_errors_total{error=\"invalid_grant\"}", 2.0),
        ("latchkey_code_replays_total", 1.0),
        ("latchkey_refresh_token_reuse_total", 1.0),
        (
            "latchkey_refresh_family_revocations_total{cause=\"code_replay\"}",
            1.0,
        ),
        (
            "latchkey_refresh_family_revocations_total{cause=\"refresh_reuse\"}",
            1.0,
        ),
        ("latchkey_dpop_replays_total", 0.0),
        ("latchkey_registrations_total", 1.0),
        (
            "latchkey_rate_limited_requests_total{endpoint=\"register\",limit=\"registration\"}",
            1.0,
        ),
        ("latchkey_sign_in_failures_total", 1.0),
        ("latchkey_sign_in_lockouts_total", 0.0),
        ("latchkey_scope_elevations_total{decision=\"granted\"}", 1.0),
        // Seven requests reached the token endpoint.
        (
            "latchkey_request_duration_seconds_count{route=\"token\"}",
            7.0,
        ),
        (
            "latchkey_request_duration_seconds_count{route=\"registration\"}",
            3.0,
        ),
    ];
    for (series, value) in expected {
        assert_eq!(sample(&text, series), Some(*value), "{series} in\n{text}");
    }
    assert_eq!(
        sample(
            &text,
            "latchkey_registrations_refused_total{error=\"invalid_redirect_uri\"}"
        ),
        Some(1.0),
        "{text}"
    );
    // No store failed, so no series; every route label is a fixed name.
    assert!(!text.contains("latchkey_store_errors_total{"), "{text}");
    let mut routes: Vec<&str> = text
        .split("route=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect();
    routes.sort_unstable();
    routes.dedup();
    assert_one_elevation_line(&sink, &server.public_client, &elevation_id);
    assert_eq!(
        routes,
        [
            "/latchkey/consent",
            "/latchkey/login",
            "authorization",
            "registration",
            "token"
        ]
    );
}

/// MCP security best practices, "Scope Minimization": one line per
/// elevation with the scope requested, the subset granted, the client and
/// the request id as correlation id.
fn assert_one_elevation_line(sink: &LogSink, client_id: &str, request_id: &str) {
    let log = String::from_utf8(sink.0.lock().expect("lock").clone()).expect("utf-8");
    let lines: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("scope_elevation"))
        .collect();
    assert_eq!(lines.len(), 1, "{log}");
    for field in [
        "latchkey::security".to_owned(),
        format!("client_id=\"{client_id}\""),
        "scope_requested=\"mcp:read mcp:tools\"".to_owned(),
        "scope_granted=\"mcp:read mcp:tools\"".to_owned(),
        format!("correlation_id={request_id}"),
    ] {
        assert!(lines[0].contains(&field), "{field} missing in {}", lines[0]);
    }
}

#[tokio::test]
async fn metrics_are_served_only_on_their_own_listener() {
    let server = start().await;
    let main = send(&server.base, &Request::new("GET", "/metrics")).await;
    assert_eq!(main.status, 404, "{}", main.text());
    assert!(!main.text().contains("latchkey_"), "{}", main.text());
    for (method, path) in [
        ("GET", "/"),
        ("GET", "/token"),
        ("GET", "/.well-known/oauth-authorization-server"),
        ("POST", "/metrics"),
        ("GET", "/metrics/"),
        ("GET", "/metricsx"),
    ] {
        let response = send(&server.metrics, &Request::new(method, path)).await;
        assert_eq!(response.status, 404, "{method} {path}: {}", response.text());
        assert!(response.text().is_empty(), "{method} {path}");
    }
    let text = scrape(&server).await;
    assert!(
        text.contains("# TYPE latchkey_code_replays counter"),
        "{text}"
    );
    assert!(text.trim_end().ends_with("# EOF"), "{text}");
}
