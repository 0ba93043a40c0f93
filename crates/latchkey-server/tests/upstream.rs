//! Upstream sign-in (issue 10) through the real router, against a tiny
//! OpenID provider of our own on 127.0.0.1: discovery, a JWK Set and a token
//! endpoint that signs ID tokens with a latchkey-jose key. The browser is
//! played by hand (redirects never followed): `/authorize`, "Continue with",
//! the provider's redirect read from `Location`, the callback, the consent
//! page. Each refusal the issue lists ends on an error page naming the
//! provider and the reason, with no user stored and no session cookie set.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use base64ct::{Base64UrlUnpadded, Encoding};
use latchkey_http_tests::client::{Request, Response, send};
use latchkey_jose::{Algorithm, JoseHeader, Jwks, SigningKey};
use latchkey_server::admin::{self, NewClient};
use latchkey_server::config::ServerConfig;
use latchkey_server::serve;
use latchkey_store::UserStore;
use latchkey_store_sqlite::SqliteStore;
use latchkey_types::{Scope, Subject};
use rand_core::SeedableRng;
use serde_json::{Value, json};
use sha2::Digest;

const REDIRECT: &str = "http://127.0.0.1:9999/cb";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CLIENT_SECRET: &str = "upstream-client-secret";

/// What the fake provider signs next, and what it saw.
struct Op {
    issuer: String,
    keys: Vec<SigningKey>,
    /// Which of `keys` signs, and is published (all up to it are).
    current: usize,
    claims: Value,
    tamper: bool,
    token_requests: Vec<TokenRequestSeen>,
    jwks_fetches: usize,
    /// The `Authorization` header of each userinfo request.
    userinfo_requests: Vec<Option<String>>,
    /// When set, the token endpoint answers with this status and body.
    token_error: Option<(u16, Value)>,
}

type Shared = Arc<Mutex<Op>>;

/// A token request as the provider saw it: `Authorization`, then the form.
type TokenRequestSeen = (Option<String>, Vec<(String, String)>);

async fn start_provider() -> (String, Shared) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let issuer = format!("http://{}", listener.local_addr().expect("addr"));
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(77);
    let keys = vec![
        SigningKey::generate(Algorithm::Es256, "op-1".to_owned(), &mut rng),
        SigningKey::generate(Algorithm::Es256, "op-2".to_owned(), &mut rng),
        SigningKey::generate(Algorithm::Es256, "op-3".to_owned(), &mut rng),
    ];
    let op = Arc::new(Mutex::new(Op {
        issuer: issuer.clone(),
        keys,
        current: 0,
        claims: json!({}),
        tamper: false,
        token_requests: Vec::new(),
        jwks_fetches: 0,
        userinfo_requests: Vec::new(),
        token_error: None,
    }));
    let userinfo = Arc::clone(&op);
    let (discovery, jwks, token) = (Arc::clone(&op), Arc::clone(&op), Arc::clone(&op));
    let app = Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(move || {
                let issuer = discovery
                    .lock()
                    .expect("the provider's state")
                    .issuer
                    .clone();
                async move {
                    axum::Json(json!({
                        "issuer": issuer,
                        "authorization_endpoint": format!("{issuer}/authorize"),
                        "token_endpoint": format!("{issuer}/token"),
                        "jwks_uri": format!("{issuer}/jwks"),
                        "response_types_supported": ["code"],
                        "subject_types_supported": ["public"],
                        "id_token_signing_alg_values_supported": ["ES256"],
                        "code_challenge_methods_supported": ["S256"],
                        "authorization_response_iss_parameter_supported": true,
                        "token_endpoint_auth_methods_supported": ["client_secret_basic"]
                    }))
                }
            }),
        )
        .route(
            "/jwks",
            get(move || {
                let mut op = jwks.lock().expect("the provider's state");
                op.jwks_fetches += 1;
                let published = op.keys[..=op.current]
                    .iter()
                    .map(SigningKey::public_jwk)
                    .collect();
                let set = Jwks::new(published).expect("a key set");
                async move { axum::Json(set.to_json()) }
            }),
        )
        .route(
            "/token",
            post(move |headers: HeaderMap, body: String| {
                let mut op = token.lock().expect("the provider's state");
                let authorization = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let form = url::form_urlencoded::parse(body.as_bytes())
                    .into_owned()
                    .collect();
                op.token_requests.push((authorization, form));
                if let Some((status, body)) = op.token_error.clone() {
                    let status = axum::http::StatusCode::from_u16(status).expect("status");
                    return std::future::ready((status, axum::Json(body)));
                }
                let key = &op.keys[op.current];
                let mut header = JoseHeader::new(Algorithm::Es256);
                header.kid = Some(key.public_jwk().kid().unwrap_or_default().to_owned());
                let mut id_token = key.sign_compact(&header, op.claims.to_string().as_bytes());
                if op.tamper {
                    let mut claims = op.claims.clone();
                    claims["sub"] = json!("mallory");
                    let mut parts: Vec<String> = id_token.split('.').map(str::to_owned).collect();
                    parts[1] = Base64UrlUnpadded::encode_string(claims.to_string().as_bytes());
                    id_token = parts.join(".");
                }
                std::future::ready((
                    axum::http::StatusCode::OK,
                    axum::Json(json!({
                        "access_token": "upstream-access-token",
                        "token_type": "Bearer",
                        "expires_in": 300,
                        "id_token": id_token
                    })),
                ))
            }),
        );
    // A plain OAuth 2.0 provider's userinfo endpoint, GitHub-shaped.
    let app =
        app.route(
            "/userinfo",
            get(move |headers: HeaderMap| {
                let authorization = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                userinfo
                    .lock()
                    .expect("the provider's state")
                    .userinfo_requests
                    .push(authorization);
                async move {
                    axum::Json(json!({"id": 583231, "login": "octocat", "name": "The Octocat"}))
                }
            }),
        );
    tokio::spawn(async move {
        axum::serve(listener, app)
            .await
            .expect("serve the provider");
    });
    (issuer, op)
}

struct Server {
    base: String,
    client_id: String,
    store: Arc<SqliteStore>,
}

async fn start_server(provider: &str, passwords: bool) -> Server {
    let oidc = format!(
        r#"
        [[identity_providers]]
        id = "corp"
        kind = "oidc"
        display_name = "Corp SSO"
        issuer = "{provider}"
        client_id = "latchkey"
        scopes = ["openid", "email", "profile"]
        allowed_email_domains = ["example.com"]
        "#
    );
    start_server_with(&oidc, passwords).await
}

async fn start_server_with(identity_providers: &str, passwords: bool) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let dir = std::env::temp_dir().join(format!("latchkey-upstream-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let database = dir.join(format!("{}.db", base.rsplit(':').next().expect("port")));
    let mut config = ServerConfig::default();
    config
        .apply_toml(&format!(
            r#"
            [login]
            passwords = {passwords}
            [[resources]]
            uri = "{base}/mcp"
            scopes = ["mcp:tools", "mcp:read"]
            default_scope = ["mcp:tools"]
            scope_descriptions = {{ "mcp:tools" = "Use the tools of this server" }}
            {identity_providers}
            "#
        ))
        .expect("toml");
    config.apply_env(|name| match name {
        "LATCHKEY_ISSUER" => Some(base.clone()),
        "LATCHKEY_DATABASE" => Some(database.display().to_string()),
        "LATCHKEY_DEMO_PASSWORD" => Some("correct horse battery staple".to_owned()),
        "LATCHKEY_IDP_CORP_CLIENT_SECRET" => Some(CLIENT_SECRET.to_owned()),
        _ => None,
    });
    assert!(config.problems().is_empty(), "{:?}", config.problems());
    let store = Arc::new(SqliteStore::open(&config.database).await.expect("store"));
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(9);
    let now = latchkey_server::now();
    let app = serve::build(&config, Arc::clone(&store), now, &mut rng, &mut Vec::new())
        .await
        .expect("build");
    let new = NewClient {
        name: Some("Test App".to_owned()),
        redirect_uris: vec![REDIRECT.to_owned()],
        auth_method: "none".to_owned(),
        ..NewClient::default()
    };
    let client_id = admin::clients_add(
        store.as_ref(),
        &new,
        &Scope::parse("mcp:tools mcp:read").expect("scopes"),
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
        base,
        client_id: client_id.as_str().to_owned(),
        store,
    }
}

fn authorize_path(server: &Server) -> String {
    let challenge = Base64UrlUnpadded::encode_string(&sha2::Sha256::digest(VERIFIER.as_bytes()));
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", &server.client_id)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("state", "client-state")
        .append_pair("scope", "mcp:tools")
        .finish();
    format!("/authorize?{query}")
}

/// The `name=value` of the Set-Cookie header for cookie `name`.
fn set_cookie(response: &Response, name: &str) -> Option<String> {
    response
        .header_all("set-cookie")
        .into_iter()
        .filter_map(|set| set.split(';').next())
        .find(|pair| pair.split_once('=').is_some_and(|(n, _)| n == name))
        .map(str::to_owned)
}

/// The `name=value` of the Set-Cookie header of the upstream cookie (named
/// `latchkey-upstream-{id}`, one per pending sign-in) being set or cleared.
fn upstream_cookie(response: &Response) -> Option<String> {
    let all = upstream_cookies(response);
    assert!(all.len() <= 1, "{all:?}");
    all.into_iter().next()
}

/// Every upstream cookie set or cleared by `response`, as `name=value`.
fn upstream_cookies(response: &Response) -> Vec<String> {
    response
        .header_all("set-cookie")
        .into_iter()
        .filter_map(|set| set.split(';').next())
        .filter(|pair| pair.starts_with("latchkey-upstream-"))
        .map(str::to_owned)
        .collect()
}

fn field(body: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = body.find(&marker).expect("form field") + marker.len();
    let end = body[start..].find('"').expect("end of the field") + start;
    body[start..end].to_owned()
}

/// One browser at the provider's door: its cookies and what the provider
/// was asked for.
struct Started {
    /// `latchkey=...` (the browser's pre-login cookie).
    browser: String,
    /// `latchkey-upstream=...`.
    upstream: String,
    params: Vec<(String, String)>,
}

impl Started {
    fn param(&self, name: &str) -> &str {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .expect("parameter")
    }

    fn cookies(&self) -> String {
        format!("{}; {}", self.browser, self.upstream)
    }
}

/// `/authorize` -> the login page -> "Continue with Corp SSO", in a new browser.
async fn start(server: &Server, provider: &str) -> Started {
    start_in(server, provider, None).await
}

/// The same in the browser whose cookies are `jar` (its `latchkey=` cookie
/// first), or in a new one.
async fn start_in(server: &Server, provider: &str, jar: Option<&str>) -> Started {
    let mut get = Request::new("GET", &authorize_path(server));
    if let Some(jar) = jar {
        get = get.header("cookie", jar);
    }
    let login = send(&server.base, &get).await;
    assert_eq!(login.status, 200, "{}", login.text());
    let page = login.text();
    assert!(page.contains("Continue with Corp SSO"), "{page}");
    assert!(
        page.contains("action=\"/latchkey/upstream/corp\""),
        "{page}"
    );
    let csp = login.header("content-security-policy").expect("csp");
    assert!(
        csp.contains(&format!(
            "form-action 'self' http://127.0.0.1:9999 {provider}"
        )),
        "{csp}"
    );
    let browser = match jar {
        Some(jar) => jar.split("; ").next().expect("browser cookie").to_owned(),
        None => set_cookie(&login, "latchkey").expect("browser cookie"),
    };
    let csrf = field(&page, "csrf");
    let request = field(&page, "request");
    let begun = send(
        &server.base,
        &Request::new("POST", "/latchkey/upstream/corp")
            .header("cookie", jar.unwrap_or(&browser))
            .form(&[("csrf", &csrf), ("request", &request)]),
    )
    .await;
    assert_eq!(begun.status, 303, "{}", begun.text());
    let location = begun.header("location").expect("location");
    assert!(
        location.starts_with(&format!("{provider}/authorize?")),
        "{location}"
    );
    let upstream = upstream_cookies(&begun)
        .into_iter()
        .find(|pair| !pair.ends_with('='))
        .expect("upstream cookie");
    let set = begun.header_all("set-cookie").join("\n");
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Lax"),
        "{set}"
    );
    let params = url::Url::parse(location)
        .expect("url")
        .query_pairs()
        .into_owned()
        .collect();
    Started {
        browser,
        upstream,
        params,
    }
}

fn claims(provider: &str, started: &Started, sub: &str) -> Value {
    let now = latchkey_server::now().as_secs();
    json!({
        "iss": provider, "sub": sub, "aud": "latchkey",
        "exp": now + 300, "iat": now, "nonce": started.param("nonce"),
        "email": format!("{sub}@example.com"), "email_verified": true, "name": "Alice Example",
    })
}

fn callback_path(provider: &str, state: &str) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("code", "c0de")
        .append_pair("state", state)
        .append_pair("iss", provider)
        .finish();
    format!("/latchkey/callback/corp?{query}")
}

async fn callback(server: &Server, cookies: &str, path: &str) -> Response {
    send(
        &server.base,
        &Request::new("GET", path).header("cookie", cookies),
    )
    .await
}

/// A refused callback: an error page naming the provider and `reason`, the
/// upstream cookie cleared, no session cookie, no user `corp:{sub}` stored.
async fn assert_refused(server: &Server, response: &Response, sub: &str, reason: &str) {
    let body = response.text();
    assert!(
        response.status == 400 || response.status == 502,
        "{} {body}",
        response.status
    );
    assert!(
        body.contains(&format!("Sign-in with Corp SSO failed: {reason}")),
        "{body}"
    );
    assert!(response.header("location").is_none());
    let cleared = upstream_cookie(response).expect("the upstream cookie cleared");
    assert!(cleared.ends_with('='), "{cleared}");
    assert_eq!(set_cookie(response, "latchkey"), None, "no session");
    let subject = Subject::parse(&format!("corp:{sub}")).expect("subject");
    assert_eq!(server.store.user(&subject).await.expect("store"), None);
}

#[tokio::test]
async fn issue_10_oidc_sign_in_resumes_the_mcp_request_and_shows_who_signed_in() {
    let (provider, op) = start_provider().await;
    let server = start_server(&provider, true).await;
    let started = start(&server, &provider).await;
    assert_eq!(started.param("response_type"), "code");
    assert_eq!(started.param("client_id"), "latchkey");
    assert_eq!(started.param("code_challenge_method"), "S256");
    assert_eq!(
        started.param("redirect_uri"),
        format!("{}/latchkey/callback/corp", server.base)
    );
    op.lock().expect("the provider's state").claims = claims(&provider, &started, "alice");

    let path = callback_path(&provider, started.param("state"));
    let signed_in = callback(&server, &started.cookies(), &path).await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.text());
    let consent = signed_in.header("location").expect("location").to_owned();
    assert!(
        consent.starts_with("/latchkey/consent?request="),
        "{consent}"
    );
    let session = set_cookie(&signed_in, "latchkey").expect("session cookie");
    assert_ne!(session, started.browser, "a new session id at sign-in");

    // The token request: the code, the exact redirect URI, the PKCE
    // verifier of the challenge sent, client_secret_basic.
    let (authorization, form) = op
        .lock()
        .unwrap()
        .token_requests
        .pop()
        .expect("token request");
    let expected = format!(
        "Basic {}",
        base64ct::Base64::encode_string(format!("latchkey:{CLIENT_SECRET}").as_bytes())
    );
    assert_eq!(authorization.as_deref(), Some(expected.as_str()));
    let value = |name: &str| {
        form.iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .expect("form value")
    };
    assert_eq!(value("grant_type"), "authorization_code");
    assert_eq!(value("code"), "c0de");
    assert_eq!(value("redirect_uri"), started.param("redirect_uri"));
    let verifier = value("code_verifier");
    assert_eq!(
        Base64UrlUnpadded::encode_string(&sha2::Sha256::digest(verifier.as_bytes())),
        started.param("code_challenge")
    );

    // The consent page says who signed in, and what the scope means.
    let page = send(
        &server.base,
        &Request::new("GET", &consent).header("cookie", &session),
    )
    .await;
    assert_eq!(page.status, 200);
    let text = page.text();
    assert!(
        text.contains(
            "Signed in with <strong>Corp SSO</strong> as <strong>Alice Example</strong> \
             (<code>alice@example.com</code>)"
        ),
        "{text}"
    );
    assert!(
        text.contains("<code>mcp:tools</code>: Use the tools of this server"),
        "{text}"
    );
    let user = server
        .store
        .user(&Subject::parse("corp:alice").expect("subject"))
        .await
        .expect("store")
        .expect("the federated user is stored");
    assert_eq!(user.username.as_str(), "corp:alice");
    assert_eq!(
        user.upstream,
        Some(latchkey_store::UpstreamAttributes {
            provider: "corp".to_owned(),
            name: Some("Alice Example".to_owned()),
            email: Some("alice@example.com".to_owned()),
        })
    );
    let mut listed = Vec::new();
    admin::users_list(server.store.as_ref(), &mut listed)
        .await
        .expect("list");
    let listed = String::from_utf8(listed).expect("utf-8");
    assert!(
        listed.contains("\tvia corp\tAlice Example\t<alice@example.com>\n"),
        "{listed}"
    );

    // Allow: back to the client with a code whose tokens name corp:alice.
    let csrf = field(&text, "csrf");
    let request = field(&text, "request");
    let allowed = send(
        &server.base,
        &Request::new("POST", "/latchkey/consent")
            .header("cookie", &session)
            .form(&[
                ("csrf", &csrf),
                ("request", &request),
                ("decision", "allow"),
            ]),
    )
    .await;
    assert_eq!(allowed.status, 302, "{}", allowed.text());
    let back = allowed.header("location").expect("location");
    assert!(back.starts_with(REDIRECT), "{back}");
    let code = url::Url::parse(back)
        .expect("url")
        .query_pairs()
        .find(|(n, _)| n == "code")
        .expect("code")
        .1
        .into_owned();
    let token = send(
        &server.base,
        &Request::new("POST", "/token").form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("client_id", &server.client_id),
            ("code_verifier", VERIFIER),
            ("resource", &format!("{}/mcp", server.base)),
        ]),
    )
    .await;
    assert_eq!(token.status, 200, "{}", token.text());
    let access = token.json()["access_token"]
        .as_str()
        .expect("access token")
        .to_owned();
    let payload = access.split('.').nth(1).expect("jwt payload");
    let claims: Value =
        serde_json::from_slice(&Base64UrlUnpadded::decode_vec(payload).expect("b64"))
            .expect("json");
    assert_eq!(claims["sub"], "corp:alice");
    assert!(!access.contains("upstream-access-token"));
    assert!(
        !token.text().contains("upstream-access-token"),
        "no token passthrough"
    );

    // The same callback again (a replay, cookies and all): refused.
    let replayed = callback(&server, &started.cookies(), &path).await;
    assert_eq!(replayed.status, 400);
    assert!(
        replayed
            .text()
            .contains("Sign-in with Corp SSO failed: this sign-in response was already used"),
        "{}",
        replayed.text()
    );
    assert_eq!(set_cookie(&replayed, "latchkey"), None);
}

#[tokio::test]
async fn issue_10_each_listed_refusal_ends_on_an_error_page_with_nothing_stored() {
    let (provider, op) = start_provider().await;
    let server = start_server(&provider, true).await;
    // The page escapes the apostrophe.
    let bad_id_token = "the provider&#39;s identity token was not valid";

    type Edit = fn(&mut Value);
    let cases: [(&str, Edit, &str); 5] = [
        (
            "nonce",
            |c| c["nonce"] = json!("another-browsers-nonce"),
            bad_id_token,
        ),
        ("aud", |c| c["aud"] = json!("someone-else"), bad_id_token),
        (
            "iss",
            |c| c["iss"] = json!("https://other.example"),
            bad_id_token,
        ),
        (
            "expired",
            |c| {
                let now = latchkey_server::now().as_secs();
                c["exp"] = json!(now - 600);
                c["iat"] = json!(now - 900);
            },
            bad_id_token,
        ),
        (
            "domain",
            |c| c["email"] = json!("eve@elsewhere.example"),
            "this account is not allowed to sign in here",
        ),
    ];
    for (sub, edit, reason) in cases {
        let started = start(&server, &provider).await;
        let mut claims = claims(&provider, &started, sub);
        edit(&mut claims);
        op.lock().expect("the provider's state").claims = claims;
        let path = callback_path(&provider, started.param("state"));
        let response = callback(&server, &started.cookies(), &path).await;
        assert_refused(&server, &response, sub, reason).await;
    }

    // A tampered ID token: the payload changed under the signature.
    let started = start(&server, &provider).await;
    {
        let mut op = op.lock().expect("the provider's state");
        op.claims = claims(&provider, &started, "tampered");
        op.tamper = true;
    }
    let path = callback_path(&provider, started.param("state"));
    let response = callback(&server, &started.cookies(), &path).await;
    assert_refused(&server, &response, "tampered", bad_id_token).await;
    assert_refused(&server, &response, "mallory", bad_id_token).await;
    op.lock().expect("the provider's state").tamper = false;

    // A callback in another browser: its own pre-login cookie, and either
    // no upstream cookie or this browser's copied over.
    let started = start(&server, &provider).await;
    op.lock().expect("the provider's state").claims = claims(&provider, &started, "victim");
    let path = callback_path(&provider, started.param("state"));
    let other = start(&server, &provider).await;
    let elsewhere = "this sign-in response does not belong to a sign-in started in this browser";
    let response = callback(&server, &other.browser, &path).await;
    assert_refused(&server, &response, "victim", elsewhere).await;
    let mixed = format!("{}; {}", other.browser, started.upstream);
    let response = callback(&server, &mixed, &path).await;
    assert_refused(&server, &response, "victim", elsewhere).await;
    // The other browser's own pending sign-in is under another name (each
    // is named after its own state): nothing waits for this state there.
    let response = callback(&server, &other.cookies(), &path).await;
    assert_refused(&server, &response, "victim", elsewhere).await;
    // Its cookie renamed to this state's: sealed to the other browser's
    // pending sign-in, whose state differs.
    let (_, value) = other.upstream.split_once('=').expect("cookie");
    let (name, _) = started.upstream.split_once('=').expect("cookie");
    let renamed = format!("{}; {name}={value}", other.browser);
    let response = callback(&server, &renamed, &path).await;
    assert_refused(
        &server,
        &response,
        "victim",
        "this sign-in response does not belong to this browser session",
    )
    .await;

    // A cross-site page cannot start a sign-in in this browser: without the
    // login page's CSRF token (or with another browser's), no redirect.
    let login = send(&server.base, &Request::new("GET", &authorize_path(&server))).await;
    let browser = set_cookie(&login, "latchkey").expect("browser cookie");
    let request = field(&login.text(), "request");
    for csrf in ["", other.param("state")] {
        let forged = send(
            &server.base,
            &Request::new("POST", "/latchkey/upstream/corp")
                .header("cookie", &browser)
                .form(&[("csrf", csrf), ("request", &request)]),
        )
        .await;
        assert_eq!(forged.status, 403, "{}", forged.text());
        assert!(forged.header("location").is_none());
        assert_eq!(upstream_cookie(&forged), None);
    }

    // Denied at the provider.
    let started = start(&server, &provider).await;
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("error", "access_denied")
        .append_pair("state", started.param("state"))
        .append_pair("iss", &provider)
        .finish();
    let response = callback(
        &server,
        &started.cookies(),
        &format!("/latchkey/callback/corp?{query}"),
    )
    .await;
    assert_refused(
        &server,
        &response,
        "victim",
        "the sign-in was denied at the provider",
    )
    .await;
}

#[tokio::test]
async fn oidc_core_section_10_1_1_an_unknown_kid_fetches_the_keys_once_more() {
    let (provider, op) = start_provider().await;
    let server = start_server(&provider, true).await;
    let started = start(&server, &provider).await;
    op.lock().expect("the provider's state").claims = claims(&provider, &started, "first");
    let path = callback_path(&provider, started.param("state"));
    assert_eq!(
        callback(&server, &started.cookies(), &path).await.status,
        303
    );
    assert_eq!(op.lock().expect("the provider's state").jwks_fetches, 1);

    // The provider rotates to op-2: one more fetch of its keys, then in.
    let started = start(&server, &provider).await;
    {
        let mut op = op.lock().expect("the provider's state");
        op.current = 1;
        op.claims = claims(&provider, &started, "second");
    }
    let path = callback_path(&provider, started.param("state"));
    let response = callback(&server, &started.cookies(), &path).await;
    assert_eq!(response.status, 303, "{}", response.text());
    assert_eq!(op.lock().expect("the provider's state").jwks_fetches, 2);

    // Another unknown kid within the minute (a forged one, or a second
    // rotation): the keys are not fetched again, and the token is refused.
    let started = start(&server, &provider).await;
    {
        let mut op = op.lock().expect("the provider's state");
        op.current = 2;
        op.claims = claims(&provider, &started, "third");
    }
    let path = callback_path(&provider, started.param("state"));
    let response = callback(&server, &started.cookies(), &path).await;
    assert_refused(
        &server,
        &response,
        "third",
        "the provider&#39;s identity token was not valid",
    )
    .await;
    assert_eq!(op.lock().expect("the provider's state").jwks_fetches, 2);
}

#[tokio::test]
async fn issue_10_one_provider_without_passwords_goes_straight_to_it() {
    let (provider, _op) = start_provider().await;
    let server = start_server(&provider, false).await;
    let response = send(&server.base, &Request::new("GET", &authorize_path(&server))).await;
    assert_eq!(response.status, 303, "{}", response.text());
    let location = response.header("location").expect("location");
    assert!(
        location.starts_with(&format!("{provider}/authorize?")),
        "{location}"
    );
    assert!(set_cookie(&response, "latchkey").is_some());
    assert!(upstream_cookie(&response).is_some());
    // And the password form is refused.
    let posted = send(
        &server.base,
        &Request::new("POST", "/latchkey/login")
            .header("cookie", "latchkey=x")
            .form(&[
                ("username", "demo"),
                ("password", "correct horse battery staple"),
            ]),
    )
    .await;
    assert_eq!(posted.status, 403);
}

/// A server with the fake provider configured as `kind = "oauth2"`, with `extra`.
async fn start_oauth2_server(provider: &str, extra: &str) -> Server {
    start_server_with(
        &format!(
            r#"
            [[identity_providers]]
            id = "corp"
            kind = "oauth2"
            display_name = "Corp SSO"
            client_id = "latchkey"
            scopes = ["read:user"]
            authorization_endpoint = "{provider}/authorize"
            token_endpoint = "{provider}/token"
            userinfo_endpoint = "{provider}/userinfo"
            subject_field = "id"
            token_endpoint_auth_method = "client_secret_post"
            {extra}
            "#
        ),
        true,
    )
    .await
}

/// The callback path with `code`, the state of `started`, and `iss` if given.
fn oauth2_callback_path(started: &Started, iss: Option<&str>) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query
        .append_pair("code", "c0de")
        .append_pair("state", started.param("state"));
    if let Some(iss) = iss {
        query.append_pair("iss", iss);
    }
    format!("/latchkey/callback/corp?{}", query.finish())
}

#[tokio::test]
async fn rfc_9207_section_2_4_an_oauth2_provider_sending_iss_needs_a_configured_issuer() {
    let (provider, op) = start_provider().await;
    // No issuer configured: a sent iss cannot be compared, so the sign-in
    // stops on the "misconfigured" page before the code is redeemed.
    let server = start_oauth2_server(&provider, "").await;
    let started = start(&server, &provider).await;
    let response = callback(
        &server,
        &started.cookies(),
        &oauth2_callback_path(&started, Some(&provider)),
    )
    .await;
    assert_refused(
        &server,
        &response,
        "583231",
        "this sign-in option is misconfigured; tell the administrator",
    )
    .await;
    assert!(
        op.lock()
            .expect("the provider's state")
            .token_requests
            .is_empty()
    );

    // With `issuer` set: the same iss is accepted, another one refused, and
    // a response without iss still accepted (oauth2 has no metadata saying
    // the provider always sends it).
    let server = start_oauth2_server(&provider, &format!("issuer = \"{provider}\"")).await;
    let started = start(&server, &provider).await;
    let response = callback(
        &server,
        &started.cookies(),
        &oauth2_callback_path(&started, Some(&format!("{provider}/"))),
    )
    .await;
    assert_refused(
        &server,
        &response,
        "583231",
        "the provider&#39;s response was malformed",
    )
    .await;
    for iss in [Some(provider.as_str()), None] {
        let started = start(&server, &provider).await;
        let response = callback(
            &server,
            &started.cookies(),
            &oauth2_callback_path(&started, iss),
        )
        .await;
        assert_eq!(response.status, 303, "{iss:?}: {}", response.text());
    }
}

#[tokio::test]
async fn rfc_6749_section_5_2_the_token_endpoints_error_is_named_on_the_page() {
    let (provider, op) = start_provider().await;
    let server = start_oauth2_server(&provider, "").await;
    for (status, error, shown) in [
        (400, "invalid_grant", "invalid_grant"),
        (401, "invalid_client", "invalid_client"),
        (400, "<b>bad</b>", "?b?bad??b?"),
    ] {
        op.lock().expect("the provider's state").token_error = Some((
            status,
            json!({"error": error, "error_description": "The code has expired <script>"}),
        ));
        let started = start(&server, &provider).await;
        let response = callback(
            &server,
            &started.cookies(),
            &oauth2_callback_path(&started, None),
        )
        .await;
        assert_refused(
            &server,
            &response,
            "583231",
            &format!("the provider refused the code: {shown}."),
        )
        .await;
        let body = response.text();
        assert!(
            !body.contains("<script>") && !body.contains("expired"),
            "{body}"
        );
    }
    // A 400 that is not JSON: only its status, as before.
    op.lock().expect("the provider's state").token_error = Some((400, json!(["not", "an object"])));
    let started = start(&server, &provider).await;
    let response = callback(
        &server,
        &started.cookies(),
        &oauth2_callback_path(&started, None),
    )
    .await;
    assert_refused(
        &server,
        &response,
        "583231",
        "the provider did not complete the sign-in",
    )
    .await;
}

#[tokio::test]
async fn issue_10_oauth2_sign_in_takes_the_subject_from_userinfo() {
    let (provider, op) = start_provider().await;
    let server = start_oauth2_server(&provider, "").await;
    let started = start(&server, &provider).await;
    assert!(!started.params.iter().any(|(name, _)| name == "nonce"));
    // No RFC 9207 `iss` from a plain OAuth 2.0 provider.
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("code", "c0de")
        .append_pair("state", started.param("state"))
        .finish();
    let response = callback(
        &server,
        &started.cookies(),
        &format!("/latchkey/callback/corp?{query}"),
    )
    .await;
    assert_eq!(response.status, 303, "{}", response.text());
    let (authorization, form, userinfo_requests) = {
        let op = op.lock().expect("the provider's state");
        let (authorization, form) = op.token_requests.last().cloned().expect("token request");
        (authorization, form, op.userinfo_requests.clone())
    };
    // client_secret_post: the secret in the form, no Authorization header.
    assert_eq!(authorization, None);
    assert!(form.contains(&("client_secret".to_owned(), CLIENT_SECRET.to_owned())));
    assert_eq!(
        userinfo_requests,
        [Some("Bearer upstream-access-token".to_owned())]
    );
    let user = server
        .store
        .user(&Subject::parse("corp:583231").expect("subject"))
        .await
        .expect("store")
        .expect("the federated user is stored");
    assert_eq!(
        user.upstream.and_then(|u| u.name).as_deref(),
        Some("The Octocat")
    );
}

/// `jar` after `response`: each cookie it sets replaces the one of that
/// name; a cleared one (empty value) goes.
fn update_jar(jar: &str, response: &Response) -> String {
    let mut pairs: Vec<(String, String)> = jar
        .split("; ")
        .filter_map(|pair| pair.split_once('='))
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect();
    for set in response.header_all("set-cookie") {
        let Some((name, value)) = set.split(';').next().and_then(|p| p.split_once('=')) else {
            continue;
        };
        pairs.retain(|(n, _)| n != name);
        if !value.is_empty() {
            pairs.push((name.to_owned(), value.to_owned()));
        }
    }
    // The browser cookie first, as `start_in` expects.
    pairs.sort_by_key(|(n, _)| n != "latchkey");
    pairs
        .iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

#[tokio::test]
async fn issue_10_two_tabs_of_one_browser_sign_in_at_once_and_the_pending_ones_are_capped() {
    let (provider, op) = start_provider().await;
    let server = start_server(&provider, true).await;
    // Tab 1 and tab 2 both go to the provider before either comes back.
    let first = start(&server, &provider).await;
    let mut jar = first.cookies();
    let second = start_in(&server, &provider, Some(&jar)).await;
    assert_ne!(first.upstream, second.upstream);
    jar = format!("{jar}; {}", second.upstream);
    assert_eq!(jar.matches("latchkey-upstream-").count(), 2);

    // Tab 2 comes back first and signs in; the browser's cookie changes.
    op.lock().expect("the provider's state").claims = claims(&provider, &second, "second");
    let response = callback(
        &server,
        &jar,
        &callback_path(&provider, second.param("state")),
    )
    .await;
    assert_eq!(response.status, 303, "{}", response.text());
    jar = update_jar(&jar, &response);
    assert_eq!(jar.matches("latchkey-upstream-").count(), 1, "{jar}");
    // Then tab 1, with the same browser's cookies.
    op.lock().expect("the provider's state").claims = claims(&provider, &first, "first");
    let response = callback(
        &server,
        &jar,
        &callback_path(&provider, first.param("state")),
    )
    .await;
    assert_eq!(response.status, 303, "{}", response.text());
    for sub in ["corp:first", "corp:second"] {
        let subject = Subject::parse(sub).expect("subject");
        assert!(
            server.store.user(&subject).await.expect("store").is_some(),
            "{sub}"
        );
    }

    // At most four pending at once: a fifth drops the oldest, whose
    // callback then finds nothing; the newer ones still complete.
    let mut tabs = vec![start(&server, &provider).await];
    let mut jar = tabs[0].cookies();
    for _ in 1..4 {
        let tab = start_in(&server, &provider, Some(&jar)).await;
        assert!(!jar.contains(&tab.upstream));
        jar = format!("{jar}; {}", tab.upstream);
        tabs.push(tab);
    }
    // The fifth's response cleared the first one.
    let login = send(
        &server.base,
        &Request::new("GET", &authorize_path(&server)).header("cookie", &jar),
    )
    .await;
    let page = login.text();
    let begun = send(
        &server.base,
        &Request::new("POST", "/latchkey/upstream/corp")
            .header("cookie", &jar)
            .form(&[
                ("csrf", &field(&page, "csrf")),
                ("request", &field(&page, "request")),
            ]),
    )
    .await;
    assert_eq!(begun.status, 303);
    let set = upstream_cookies(&begun);
    let (oldest, _) = tabs[0].upstream.split_once('=').expect("cookie");
    assert!(set.contains(&format!("{oldest}=")), "{set:?}");
    assert_eq!(set.len(), 2, "{set:?}");
    // In the browser: at most four upstream cookies.
    let jar = update_jar(&jar, &begun);
    assert_eq!(jar.matches("latchkey-upstream-").count(), 4, "{jar}");
    op.lock().expect("the provider's state").claims = claims(&provider, &tabs[0], "oldest");
    let response = callback(
        &server,
        &jar,
        &callback_path(&provider, tabs[0].param("state")),
    )
    .await;
    assert_refused(
        &server,
        &response,
        "oldest",
        "this sign-in response does not belong to a sign-in started in this browser",
    )
    .await;
    op.lock().expect("the provider's state").claims = claims(&provider, &tabs[1], "kept");
    let response = callback(
        &server,
        &jar,
        &callback_path(&provider, tabs[1].param("state")),
    )
    .await;
    assert_eq!(response.status, 303, "{}", response.text());
}
