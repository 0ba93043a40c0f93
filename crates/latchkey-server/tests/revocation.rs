//! Revocation reaches the demo MCP endpoint of `latchkey serve`, and
//! introspection works for the configured clients: through the real router
//! on 127.0.0.1:0 over a temporary SQLite database, tokens obtained from
//! `/token` after the login and consent pages, then used at `/mcp`.
//!
//! Each revocation path (RFC 7009 `/revoke`, refresh-token reuse per OAuth
//! 2.1 section 4.3.1 and RFC 9700 section 4.14.2, code replay per OAuth 2.1
//! section 4.1.3) first shows the token working, then refused with `401` and
//! `WWW-Authenticate: Bearer error="invalid_token"` (RFC 6750 section 3.1).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use base64ct::{Base64UrlUnpadded, Encoding};
use latchkey_engine::{
    RevocationCheck, RevocationRefusal, StatusFuture, StoreRevocationCheck, TokenStatus,
    check_revocation,
};
use latchkey_http_tests::client::{Request, Response, send};
use latchkey_http_tests::forms::{cookie_of, form_action, hidden_fields, with_cookie};
use latchkey_metadata::{AuthScheme, parse_www_authenticate};
use latchkey_server::admin::{self, NewClient};
use latchkey_server::config::ServerConfig;
use latchkey_server::serve;
use latchkey_store::{AccessTokenRecord, GrantStore, StoreError};
use latchkey_store_sqlite::SqliteStore;
use latchkey_types::{ClientId, ErrorCode, Scope, UnixTime};
use rand_core::SeedableRng;
use serde_json::{Value, json};
use sha2::Digest;

const PASSWORD: &str = "correct horse battery staple";
const REDIRECT: &str = "http://127.0.0.1:9999/cb";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const BACKEND: &str = "backend";
const INTROSPECTOR: &str = "introspector";

struct Server {
    base: String,
    public_client: String,
    backend_secret: String,
    introspector_secret: String,
    store: Arc<SqliteStore>,
}

fn temp_db() -> PathBuf {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!("latchkey-revocation-{}", std::process::id()));
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

/// `latchkey serve` with a public client, a confidential `backend` client and
/// a confidential `introspector` listed in `introspection_clients`.
async fn start() -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let issuer = format!("http://127.0.0.1:{port}");
    let database = temp_db();
    let mut config = ServerConfig::default();
    config
        .apply_toml(&format!("introspection_clients = [\"{INTROSPECTOR}\"]"))
        .expect("toml");
    config.apply_env(|name| match name {
        "LATCHKEY_ISSUER" => Some(issuer.clone()),
        "LATCHKEY_DATABASE" => Some(database.display().to_string()),
        "LATCHKEY_DEMO_PASSWORD" => Some(PASSWORD.to_owned()),
        _ => None,
    });
    assert!(config.problems().is_empty(), "{:?}", config.problems());
    let store = Arc::new(SqliteStore::open(&config.database).await.expect("store"));
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(11);
    let now = latchkey_server::now();
    let app = serve::build(&config, Arc::clone(&store), now, &mut rng, &mut Vec::new())
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
    let mut secrets = Vec::new();
    for id in [BACKEND, INTROSPECTOR] {
        let confidential = NewClient {
            client_id: Some(id.to_owned()),
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
        secrets.push(printed_secret(&out));
    }
    tokio::spawn(async move {
        let app = app.into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(listener, app).await.expect("serve");
    });
    let introspector_secret = secrets.pop().expect("introspector secret");
    let backend_secret = secrets.pop().expect("backend secret");
    Server {
        base: format!("http://127.0.0.1:{port}"),
        public_client: public_client.as_str().to_owned(),
        backend_secret,
        introspector_secret,
        store,
    }
}

/// A code for the public client: `/authorize`, sign in as `demo`, allow.
async fn authorization_code(server: &Server) -> String {
    let challenge = Base64UrlUnpadded::encode_string(&sha2::Sha256::digest(VERIFIER.as_bytes()));
    let query = latchkey_http_tests::client::form_encode(&[
        ("response_type", "code"),
        ("client_id", &server.public_client),
        ("redirect_uri", REDIRECT),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
        ("state", "st"),
        ("scope", "mcp:tools"),
    ]);
    let login = send(
        &server.base,
        &Request::new("GET", &format!("/authorize?{query}")),
    )
    .await;
    assert_eq!(login.status, 200, "{}", login.text());
    let mut cookie = cookie_of(&login, None);
    let page = login.text();
    let mut fields = hidden_fields(&page);
    fields.push(("username".to_owned(), "demo".to_owned()));
    fields.push(("password".to_owned(), PASSWORD.to_owned()));
    let pairs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let signed_in = send(
        &server.base,
        &with_cookie(
            Request::new("POST", &form_action(&page)).form(&pairs),
            cookie.as_ref(),
        ),
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
    let page = consent.text();
    let mut fields = hidden_fields(&page);
    fields.push(("decision".to_owned(), "allow".to_owned()));
    let pairs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let allowed = send(
        &server.base,
        &with_cookie(
            Request::new("POST", &form_action(&page)).form(&pairs),
            cookie.as_ref(),
        ),
    )
    .await;
    assert_eq!(allowed.status, 302, "{}", allowed.text());
    let location = url::Url::parse(allowed.header("location").expect("location")).expect("url");
    location
        .query_pairs()
        .find(|(name, _)| name == "code")
        .map(|(_, code)| code.into_owned())
        .expect("code")
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

/// `(access_token, refresh_token)` of a successful token response.
fn tokens(response: &Response) -> (String, String) {
    assert_eq!(response.status, 200, "{}", response.text());
    let json = response.json();
    let access = json["access_token"].as_str().expect("access token");
    let refresh = json["refresh_token"].as_str().unwrap_or_default();
    (access.to_owned(), refresh.to_owned())
}

/// A `client_credentials` access token of the `backend` client.
async fn backend_token(server: &Server) -> String {
    let response = token(
        server,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", BACKEND),
            ("client_secret", &server.backend_secret),
        ],
    )
    .await;
    tokens(&response).0
}

/// `tools/list` at `/mcp` with `access_token` as a Bearer token.
async fn mcp(server: &Server, access_token: &str) -> Response {
    let body = json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {} });
    send(
        &server.base,
        &Request::new("POST", "/mcp")
            .header("Content-Type", "application/json")
            .header("Accept", "application/json, text/event-stream")
            .header("MCP-Protocol-Version", "2025-11-25")
            .header("Authorization", &format!("Bearer {access_token}"))
            .body(body.to_string().into_bytes()),
    )
    .await
}

async fn assert_works(server: &Server, access_token: &str) {
    let response = mcp(server, access_token).await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert!(response.json()["result"]["tools"].is_array());
}

/// RFC 6750 section 3.1: `401` and `Bearer error="invalid_token"`.
async fn assert_refused_as_invalid_token(server: &Server, access_token: &str) {
    let response = mcp(server, access_token).await;
    assert_eq!(response.status, 401, "{}", response.text());
    let bearer = response
        .header_all("www-authenticate")
        .into_iter()
        .flat_map(|value| parse_www_authenticate(value).expect("challenge"))
        .find(|challenge| *challenge.scheme() == AuthScheme::Bearer)
        .expect("a Bearer challenge");
    assert_eq!(bearer.error_code(), Some(ErrorCode::InvalidToken));
}

#[tokio::test]
async fn security_revoked_access_token_is_refused_at_mcp_after_revoke() {
    let server = start().await;
    // A user's token, revoked by its public client (RFC 7009 section 2.1).
    let code = authorization_code(&server).await;
    let (user_token, refresh_token) = tokens(&redeem(&server, &code).await);
    assert_works(&server, &user_token).await;
    let revoked = send(
        &server.base,
        &Request::new("POST", "/revoke")
            .form(&[("token", &user_token), ("client_id", &server.public_client)]),
    )
    .await;
    assert_eq!(revoked.status, 200, "{}", revoked.text());
    assert_refused_as_invalid_token(&server, &user_token).await;

    // Revoking the refresh token revokes the access tokens of its family.
    let (successor, current_refresh) = tokens(&refresh(&server, &refresh_token).await);
    assert_works(&server, &successor).await;
    let revoked = send(
        &server.base,
        &Request::new("POST", "/revoke").form(&[
            ("token", &current_refresh),
            ("client_id", &server.public_client),
        ]),
    )
    .await;
    assert_eq!(revoked.status, 200, "{}", revoked.text());
    assert_refused_as_invalid_token(&server, &successor).await;

    // A client-credentials token, revoked by its confidential client.
    let backend = backend_token(&server).await;
    assert_works(&server, &backend).await;
    let revoked = send(
        &server.base,
        &Request::new("POST", "/revoke").form(&[
            ("token", &backend),
            ("client_id", BACKEND),
            ("client_secret", &server.backend_secret),
        ]),
    )
    .await;
    assert_eq!(revoked.status, 200, "{}", revoked.text());
    assert_refused_as_invalid_token(&server, &backend).await;
}

#[tokio::test]
async fn security_revoked_access_token_is_refused_at_mcp_after_refresh_token_reuse() {
    let server = start().await;
    let code = authorization_code(&server).await;
    let (first_access, first_refresh) = tokens(&redeem(&server, &code).await);
    // Two rotations, so the first refresh token is neither current nor the
    // one a retry may present again.
    let (second_access, second_refresh) = tokens(&refresh(&server, &first_refresh).await);
    let (third_access, _) = tokens(&refresh(&server, &second_refresh).await);
    for token in [&first_access, &second_access, &third_access] {
        assert_works(&server, token).await;
    }
    let reused = refresh(&server, &first_refresh).await;
    assert_eq!(reused.status, 400, "{}", reused.text());
    assert_eq!(reused.json()["error"], "invalid_grant");
    // RFC 9700 section 4.14.2: the whole family is revoked, with every
    // access token issued under it.
    for token in [&first_access, &second_access, &third_access] {
        assert_refused_as_invalid_token(&server, token).await;
    }
}

#[tokio::test]
async fn security_revoked_access_token_is_refused_at_mcp_after_code_replay() {
    let server = start().await;
    let code = authorization_code(&server).await;
    let (access, refresh_token) = tokens(&redeem(&server, &code).await);
    assert_works(&server, &access).await;
    let replayed = redeem(&server, &code).await;
    assert_eq!(replayed.status, 400, "{}", replayed.text());
    assert_eq!(replayed.json()["error"], "invalid_grant");
    // OAuth 2.1 section 4.1.3: everything the code issued is revoked.
    assert_refused_as_invalid_token(&server, &access).await;
    assert_eq!(refresh(&server, &refresh_token).await.status, 400);
}

#[tokio::test]
async fn security_revoked_access_token_is_refused_at_mcp_after_client_removal() {
    let server = start().await;
    let access = backend_token(&server).await;
    assert_works(&server, &access).await;
    // `latchkey clients remove` revokes the client's tokens with it.
    let now = latchkey_server::now();
    admin::clients_remove(server.store.as_ref(), BACKEND, now, &mut Vec::new())
        .await
        .expect("removed");
    assert_refused_as_invalid_token(&server, &access).await;
}

#[tokio::test]
async fn security_revoked_access_token_is_refused_at_mcp_after_user_removal() {
    let server = start().await;
    let code = authorization_code(&server).await;
    let (access, refresh_token) = tokens(&redeem(&server, &code).await);
    let backend = backend_token(&server).await;
    assert_works(&server, &access).await;
    // Issue 10: `latchkey users remove` revokes the user's grants with them.
    let mut out = Vec::new();
    admin::users_remove(
        server.store.as_ref(),
        latchkey_server::serve::DEMO_USER,
        latchkey_server::now(),
        &mut out,
    )
    .await
    .expect("removed");
    assert_eq!(
        String::from_utf8(out).expect("utf-8"),
        "removed user demo and revoked their grants\n"
    );
    assert_refused_as_invalid_token(&server, &access).await;
    let refreshed = refresh(&server, &refresh_token).await;
    assert_eq!(refreshed.status, 400, "{}", refreshed.text());
    assert_eq!(refreshed.json()["error"], "invalid_grant");
    // A token that was not the user's still works.
    assert_works(&server, &backend).await;
}

#[tokio::test]
async fn a_token_the_store_does_not_know_is_refused_at_mcp() {
    let server = start().await;
    let access = backend_token(&server).await;
    assert_works(&server, &access).await;
    // The record is gone (as after a purge of expired records, here early).
    let later = UnixTime::from_secs(latchkey_server::now().as_secs() + 3_600);
    server
        .store
        .purge_expired(later, u64::MAX)
        .await
        .expect("purge");
    assert_refused_as_invalid_token(&server, &access).await;
}

async fn introspect(server: &Server, token: &str, client: &str, secret: &str) -> Response {
    send(
        &server.base,
        &Request::new("POST", "/introspect").form(&[
            ("token", token),
            ("client_id", client),
            ("client_secret", secret),
        ]),
    )
    .await
}

#[tokio::test]
async fn rfc_7662_introspection_clients_introspect_through_serve_and_others_are_refused() {
    let server = start().await;
    let access = backend_token(&server).await;
    let secret = server.introspector_secret.clone();

    // RFC 7662 section 2.2: active, with the token's claims.
    let active = introspect(&server, &access, INTROSPECTOR, &secret).await;
    assert_eq!(active.status, 200, "{}", active.text());
    assert_eq!(active.header("cache-control"), Some("no-store"));
    let body: Value = active.json();
    assert_eq!(body["active"], true, "{body}");
    assert_eq!(body["client_id"], BACKEND);
    assert_eq!(body["scope"], "mcp:tools");

    // Inactive once revoked, and nothing else is said.
    let revoked = send(
        &server.base,
        &Request::new("POST", "/revoke").form(&[
            ("token", &access),
            ("client_id", BACKEND),
            ("client_secret", &server.backend_secret),
        ]),
    )
    .await;
    assert_eq!(revoked.status, 200);
    let inactive = introspect(&server, &access, INTROSPECTOR, &secret).await;
    assert_eq!(inactive.status, 200);
    assert_eq!(inactive.json(), json!({ "active": false }));

    // RFC 7662 sections 2.1 and 4: a caller not authorized to introspect
    // (a confidential client not listed, a public client, a wrong secret)
    // gets 401 invalid_client and learns nothing about the token.
    let fresh = backend_token(&server).await;
    for (client, secret) in [
        (BACKEND, server.backend_secret.as_str()),
        (server.public_client.as_str(), ""),
        (INTROSPECTOR, "not the secret"),
    ] {
        let refused = introspect(&server, &fresh, client, secret).await;
        assert_eq!(refused.status, 401, "{client}: {}", refused.text());
        let body = refused.json();
        assert_eq!(body["error"], "invalid_client", "{client}: {body}");
        assert!(body.get("active").is_none());
    }
}

struct Unavailable;

impl RevocationCheck for Unavailable {
    fn status<'a>(&'a self, _jti: &'a str, _exp: UnixTime) -> StatusFuture<'a> {
        Box::pin(async {
            Err(StoreError::Backend(Box::new(std::io::Error::other(
                "database is down",
            ))))
        })
    }
}

#[tokio::test]
async fn a_failing_revocation_check_fails_closed_at_mcp_with_503() {
    let server = start().await;
    let access = backend_token(&server).await;
    assert_works(&server, &access).await;
    // The same MCP endpoint behind a resource server whose check fails.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let keys = send(&server.base, &Request::new("GET", "/jwks")).await;
    let jwks = latchkey_jose::Jwks::parse(&keys.body).expect("jwks");
    let resource = latchkey_uri::ResourceUri::parse(&format!("{}/mcp", server.base)).expect("uri");
    let validator = latchkey_token::AccessTokenValidator::new(
        jwks,
        server.base.clone(),
        resource.clone(),
        latchkey_uri::AudienceMatch::Exact,
    );
    let rs = Arc::new(
        latchkey_axum::ResourceServer::new(resource, validator)
            .with_revocation_check(Arc::new(Unavailable)),
    );
    let app = latchkey_server::mcp_demo::router(rs);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let body = json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {} });
    let authority = server.base.trim_start_matches("http://").to_owned();
    let response = send(
        &base,
        &Request::new("POST", "/mcp")
            .header("Host", &authority)
            .header("Content-Type", "application/json")
            .header("Accept", "application/json, text/event-stream")
            .header("Authorization", &format!("Bearer {access}"))
            .body(body.to_string().into_bytes()),
    )
    .await;
    assert_eq!(response.status, 503, "{}", response.text());
    assert_eq!(response.json()["error"], "temporarily_unavailable");
}

/// The added cost of the check on SQLite: one read by primary key. Printed,
/// not asserted (timings vary by machine); run with `--nocapture` to see it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_revocation_check_is_one_indexed_read_on_sqlite() {
    const ITERATIONS: u32 = 500;
    let store = Arc::new(SqliteStore::open(&temp_db()).await.expect("store"));
    let exp = UnixTime::from_secs(latchkey_server::now().as_secs() + 300);
    for n in 0..1_000 {
        store
            .record_access_token(&AccessTokenRecord {
                jti: format!("jti-{n}"),
                client_id: ClientId::parse("c").expect("client id"),
                subject: None,
                family: None,
                from_code: None,
                expires_at: exp,
                revoked: n % 2 == 1,
            })
            .await
            .expect("recorded");
    }
    let check = StoreRevocationCheck::new(Arc::clone(&store));
    let started = Instant::now();
    for n in 0..ITERATIONS {
        let jti = format!("jti-{}", (n * 2) % 1_000);
        assert_eq!(
            check.status(&jti, exp).await.expect("status"),
            TokenStatus::Active
        );
    }
    let per_check = started.elapsed() / ITERATIONS;
    assert_eq!(
        check_revocation(&check, "jti-1", exp).await,
        Err(RevocationRefusal::Revoked)
    );
    eprintln!("revocation check on SQLite: {per_check:?} per request (mean of {ITERATIONS})");
}

/// One `/mcp` request's added cost on SQLite: the same `tools/list` through
/// the demo MCP router in process, with and without the store check,
/// interleaved. Printed, not asserted; run with `--nocapture` to see it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mcp_request_with_the_revocation_check_costs_one_store_read_more() {
    use tower::ServiceExt;
    const ITERATIONS: u32 = 300;
    let server = start().await;
    let access = backend_token(&server).await;
    let keys = send(&server.base, &Request::new("GET", "/jwks")).await;
    let jwks = latchkey_jose::Jwks::parse(&keys.body).expect("jwks");
    let resource = latchkey_uri::ResourceUri::parse(&format!("{}/mcp", server.base)).expect("uri");
    let validator = latchkey_token::AccessTokenValidator::new(
        jwks,
        server.base.clone(),
        resource.clone(),
        latchkey_uri::AudienceMatch::Exact,
    );
    let plain = latchkey_axum::ResourceServer::new(resource, validator);
    let checked = latchkey_axum::ResourceServer::new(plain.resource().clone(), {
        let keys = plain.keys();
        latchkey_token::AccessTokenValidator::new(
            keys,
            server.base.clone(),
            plain.resource().clone(),
            latchkey_uri::AudienceMatch::Exact,
        )
    })
    .with_revocation_check(Arc::new(StoreRevocationCheck::new(Arc::clone(
        &server.store,
    ))));
    let routers = [
        latchkey_server::mcp_demo::router(Arc::new(plain)),
        latchkey_server::mcp_demo::router(Arc::new(checked)),
    ];
    let authority = server.base.trim_start_matches("http://").to_owned();
    let body = json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {} });
    let mut elapsed = [std::time::Duration::ZERO; 2];
    for _ in 0..ITERATIONS {
        for (router, total) in routers.iter().zip(elapsed.iter_mut()) {
            let request = axum::http::Request::post("/mcp")
                .header("host", &authority)
                .header("content-type", "application/json")
                .header("accept", "application/json, text/event-stream")
                .header("mcp-protocol-version", "2025-11-25")
                .header("authorization", format!("Bearer {access}"))
                .body(axum::body::Body::from(body.to_string()))
                .expect("request");
            let started = Instant::now();
            let response = router.clone().oneshot(request).await.expect("infallible");
            *total += started.elapsed();
            assert_eq!(response.status(), 200);
        }
    }
    let [plain, checked] = elapsed.map(|total| total / ITERATIONS);
    eprintln!(
        "/mcp tools/list on SQLite: {plain:?} without the revocation check, {checked:?} with it \
         (mean of {ITERATIONS} each; added {:?})",
        checked.saturating_sub(plain)
    );
}
