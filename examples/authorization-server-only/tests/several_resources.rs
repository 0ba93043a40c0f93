//! The bundled configuration served for real on `127.0.0.1` (an ephemeral
//! port as the issuer, a fresh SQLite database): tokens are bound to the
//! resource they were asked for (RFC 8707, MCP R6, R13), scopes are per
//! resource (`invalid_scope`), unknown resources are `invalid_target`, and
//! no MCP endpoint is served.

use std::sync::Arc;

use latchkey_http_tests::client::{Request, Response, send};
use latchkey_jose::Jwks;
use latchkey_pkce::CodeVerifier;
use latchkey_server::admin::{self, NewClient};
use latchkey_store_sqlite::SqliteStore;
use latchkey_token::{AccessTokenValidator, TokenError};
use latchkey_types::Scope;
use latchkey_uri::{AudienceMatch, ResourceUri};
use rand_core::SeedableRng;
use serde_json::json;

const NOTES_AXUM: &str = "http://127.0.0.1:3000/mcp";
const NOTES_ACTIX: &str = "http://127.0.0.1:3001/mcp";
const CALENDAR: &str = "https://calendar.example.com/mcp";
/// A backend client allowed the notes scopes only.
const BACKEND: &str = "notes-backend";
/// A public client with a loopback redirect URI.
const APP: &str = "notes-app";
const REDIRECT_URI: &str = "http://127.0.0.1:9/callback";

struct Running {
    issuer: String,
    secret: String,
    dir: std::path::PathBuf,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The example's configuration with only the issuer and the database
/// changed (as `LATCHKEY_ISSUER` and `LATCHKEY_DATABASE` would), served.
async fn start() -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let issuer = format!("http://127.0.0.1:{port}");
    let dir = std::env::temp_dir().join(format!(
        "authorization-server-only-{}-{port}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let database = dir.join("latchkey.db").display().to_string();
    let config = authorization_server_only::load(None, |name| match name {
        "LATCHKEY_ISSUER" => Some(issuer.clone()),
        "LATCHKEY_DATABASE" => Some(database.clone()),
        _ => None,
    })
    .expect("the bundled configuration loads");
    assert!(config.problems().is_empty(), "{:?}", config.problems());

    let store = Arc::new(SqliteStore::open(&config.database).await.expect("store"));
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(31);
    let now = latchkey_server::now();
    let all_scopes = config
        .engine_config()
        .expect("engine configuration")
        .resources
        .iter()
        .fold(Scope::empty(), |all, r| all.union(&r.scopes_supported));
    // As `latchkey clients add` registers them.
    let mut out = Vec::new();
    let backend = NewClient {
        client_id: Some(BACKEND.to_owned()),
        auth_method: "client_secret_post".to_owned(),
        scope: Some("notes:read notes:write".to_owned()),
        client_credentials: true,
        ..NewClient::default()
    };
    admin::clients_add(
        store.as_ref(),
        &backend,
        &all_scopes,
        now,
        &mut rng,
        &mut out,
    )
    .await
    .expect("backend client");
    let app = NewClient {
        client_id: Some(APP.to_owned()),
        auth_method: "none".to_owned(),
        redirect_uris: vec![REDIRECT_URI.to_owned()],
        ..NewClient::default()
    };
    admin::clients_add(store.as_ref(), &app, &all_scopes, now, &mut rng, &mut out)
        .await
        .expect("public client");
    let secret = String::from_utf8(out.clone())
        .expect("utf-8")
        .lines()
        .find_map(|line| line.strip_prefix("client_secret: "))
        .and_then(|rest| rest.split(' ').next())
        .expect("the secret is printed once")
        .to_owned();

    let routes = latchkey_server::serve::build(&config, store, now, &mut rng, &mut out)
        .await
        .expect("the server builds");
    tokio::spawn(async move {
        // As `latchkey serve` does: the pages see each client's address.
        let routes = routes.into_make_service_with_connect_info::<std::net::SocketAddr>();
        let _ = axum::serve(listener, routes).await;
    });
    Running {
        issuer,
        secret,
        dir,
    }
}

impl Running {
    async fn client_credentials(&self, resource: &str, scope: &str) -> Response {
        let request = Request::new("POST", "/token").form(&[
            ("grant_type", "client_credentials"),
            ("client_id", BACKEND),
            ("client_secret", &self.secret),
            ("resource", resource),
            ("scope", scope),
        ]);
        send(&self.issuer, &request).await
    }

    async fn token(&self, resource: &str, scope: &str) -> String {
        let response = self.client_credentials(resource, scope).await;
        assert_eq!(response.status, 200, "{}", response.text());
        response.json()["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    /// What a resource server at `resource` builds: the issuer's keys (over
    /// HTTP), this issuer, its own URL as the audience.
    async fn validator_for(&self, resource: &str) -> AccessTokenValidator {
        let jwks = send(&self.issuer, &Request::new("GET", "/jwks")).await;
        assert_eq!(jwks.status, 200);
        AccessTokenValidator::new(
            Jwks::parse(&jwks.body).expect("a jwk set"),
            self.issuer.clone(),
            ResourceUri::parse(resource).expect("resource"),
            AudienceMatch::Exact,
        )
    }

    /// An authorization request of the public client (PKCE S256); the
    /// `error` of the redirect back, or `None` when the request was accepted
    /// and the login page shown.
    async fn authorize_error(&self, resource: &str, scope: &str) -> Option<String> {
        let verifier = CodeVerifier::generate(&mut rand_chacha::ChaCha20Rng::seed_from_u64(7));
        let query = latchkey_http_tests::client::form_encode(&[
            ("response_type", "code"),
            ("client_id", APP),
            ("redirect_uri", REDIRECT_URI),
            ("state", "s1"),
            ("code_challenge", verifier.challenge().as_str()),
            ("code_challenge_method", "S256"),
            ("resource", resource),
            ("scope", scope),
        ]);
        let response = send(
            &self.issuer,
            &Request::new("GET", &format!("/authorize?{query}")),
        )
        .await;
        let location = response.header("location").unwrap_or_default();
        if !location.starts_with(REDIRECT_URI) {
            assert_eq!(response.status, 200, "{}", response.text());
            assert!(
                response.text().contains("/latchkey/login"),
                "{}",
                response.text()
            );
            return None;
        }
        let url = url::Url::parse(location).expect("redirect url");
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        let get = |name: &str| {
            pairs
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        // RFC 9207: the error redirect names the issuer.
        assert_eq!(get("iss").as_deref(), Some(self.issuer.as_str()));
        assert_eq!(get("state").as_deref(), Some("s1"));
        get("error")
    }
}

#[tokio::test]
async fn rfc_8414_metadata_lists_every_resources_scopes_and_no_mcp_endpoint_is_served() {
    let running = start().await;
    let metadata = send(
        &running.issuer,
        &Request::new("GET", "/.well-known/oauth-authorization-server"),
    )
    .await;
    assert_eq!(metadata.status, 200);
    let document = metadata.json();
    assert_eq!(document["issuer"], running.issuer.as_str());
    for scope in [
        "notes:read",
        "notes:write",
        "calendar:read",
        "calendar:write",
    ] {
        assert!(
            document["scopes_supported"]
                .as_array()
                .expect("scopes_supported")
                .contains(&json!(scope)),
            "{scope}: {document}"
        );
    }
    // An authorization server only: no protected MCP endpoint of its own.
    let mcp = send(
        &running.issuer,
        &Request::new("POST", "/mcp").json(&json!({ "jsonrpc": "2.0", "id": 1, "method": "ping" })),
    )
    .await;
    assert_eq!(mcp.status, 404);
}

#[tokio::test]
async fn rfc_8707_a_token_for_one_resource_is_refused_by_the_others() {
    let running = start().await;
    let for_axum = running.token(NOTES_AXUM, "notes:read").await;
    let for_actix = running.token(NOTES_ACTIX, "notes:read notes:write").await;

    let axum = running.validator_for(NOTES_AXUM).await;
    let actix = running.validator_for(NOTES_ACTIX).await;
    let calendar = running.validator_for(CALENDAR).await;
    let now = latchkey_server::now();

    let claims = axum
        .validate(&for_axum, now)
        .expect("valid where asked for")
        .into_claims();
    assert_eq!(claims.scope.to_string(), "notes:read");
    assert_eq!(claims.sub.as_str(), BACKEND);
    assert_eq!(
        actix.validate(&for_axum, now),
        Err(TokenError::WrongAudience)
    );
    assert_eq!(
        calendar.validate(&for_axum, now),
        Err(TokenError::WrongAudience)
    );

    assert!(actix.validate(&for_actix, now).is_ok());
    assert_eq!(
        axum.validate(&for_actix, now),
        Err(TokenError::WrongAudience)
    );
}

#[tokio::test]
async fn rfc_8707_a_resource_that_is_not_configured_is_invalid_target() {
    let running = start().await;
    let refused = running
        .client_credentials("https://unknown.example.com/mcp", "notes:read")
        .await;
    assert_eq!(refused.status, 400);
    assert_eq!(refused.json()["error"], "invalid_target");
    assert_eq!(
        running
            .authorize_error("https://unknown.example.com/mcp", "notes:read")
            .await
            .as_deref(),
        Some("invalid_target")
    );
}

#[tokio::test]
async fn scopes_are_per_resource_invalid_scope_otherwise() {
    let running = start().await;
    // The resource's own scopes: on to the login page.
    assert_eq!(
        running.authorize_error(NOTES_AXUM, "notes:write").await,
        None
    );
    assert_eq!(
        running.authorize_error(CALENDAR, "calendar:read").await,
        None
    );
    // Another resource's scope.
    assert_eq!(
        running
            .authorize_error(NOTES_AXUM, "calendar:read")
            .await
            .as_deref(),
        Some("invalid_scope")
    );
    assert_eq!(
        running
            .authorize_error(CALENDAR, "notes:read")
            .await
            .as_deref(),
        Some("invalid_scope")
    );
    // A client_credentials client gets only what it registered.
    let refused = running.client_credentials(CALENDAR, "calendar:read").await;
    assert_eq!(refused.status, 400);
    assert_eq!(refused.json()["error"], "invalid_scope");
}
