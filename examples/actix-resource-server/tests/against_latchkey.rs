//! The example against a real Latchkey authorization server, both started
//! here on `127.0.0.1` (ephemeral ports): the `latchkey serve` routes over a
//! SQLite store (axum, on the test's runtime), with a confidential client
//! registered as `latchkey clients add` does, and the example (actix-web, on
//! its own thread and runtime) discovering the server's keys over HTTP.
//! Tokens come from the token endpoint (`client_credentials`); MCP calls are
//! JSON-RPC over HTTP POST, as an MCP client sends them.

use std::sync::Arc;

use actix_resource_server::{Notes, Settings, configure, metadata, resource_server};
use actix_web::{App, HttpServer};
use latchkey_engine::{Engine, NoMetadataFetcher};
use latchkey_http_tests::client::{Request, Response, send};
use latchkey_metadata::{Challenge, parse_www_authenticate};
use latchkey_server::admin::{self, NewClient};
use latchkey_server::config::ServerConfig;
use latchkey_store_sqlite::SqliteStore;
use latchkey_types::{ErrorCode, Scope};
use latchkey_uri::ResourceUri;
use rand_core::SeedableRng;
use serde_json::{Value, json};

const CLIENT: &str = "notes-test";
const OTHER_RESOURCE: &str = "https://calendar.example.com/mcp";
const ALLOWED_ORIGIN: &str = "http://localhost:6274";

/// A Latchkey authorization server and the example, both running.
struct Running {
    issuer: String,
    /// The example's base URL, `http://127.0.0.1:{port}`.
    base: String,
    /// The example's resource URL, `{base}/mcp`.
    resource: String,
    secret: String,
    engine: Arc<Engine<SqliteStore, NoMetadataFetcher>>,
    dir: std::path::PathBuf,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn start() -> Running {
    let as_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let rs_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let issuer = format!("http://{}", as_listener.local_addr().expect("addr"));
    let base = format!("http://{}", rs_listener.local_addr().expect("addr"));
    let resource = format!("{base}/mcp");

    // The authorization server: this example's URL and another server as resources.
    let dir = std::env::temp_dir().join(format!(
        "actix-resource-server-{}-{}",
        std::process::id(),
        rs_listener.local_addr().expect("addr").port()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut config = ServerConfig::default();
    config
        .apply_toml(&format!(
            r#"
            issuer = "{issuer}"
            demo_user = false
            [[resources]]
            uri = "{resource}"
            scopes = ["notes:read", "notes:write"]
            default_scope = ["notes:read"]
            [[resources]]
            uri = "{OTHER_RESOURCE}"
            scopes = ["calendar:read"]
            default_scope = ["calendar:read"]
            "#
        ))
        .expect("configuration");
    config.database = dir.join("latchkey.db");
    assert!(config.problems().is_empty(), "{:?}", config.problems());
    let store = Arc::new(SqliteStore::open(&config.database).await.expect("store"));
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(17);
    let now = latchkey_server::now();
    let secrets = latchkey_server::secrets::load_or_create(&config.secrets_path(), &mut rng)
        .expect("secrets");
    let engine_config = config.engine_config().expect("engine configuration");
    let all_scopes = engine_config
        .resources
        .iter()
        .fold(Scope::empty(), |all, r| all.union(&r.scopes_supported));
    let engine = Arc::new(
        Engine::new(
            Arc::clone(&store),
            engine_config,
            secrets,
            NoMetadataFetcher,
            now,
            &mut rng,
        )
        .await
        .expect("engine"),
    );
    let mut out = Vec::new();
    let new = NewClient {
        client_id: Some(CLIENT.to_owned()),
        auth_method: "client_secret_post".to_owned(),
        scope: Some("notes:read notes:write calendar:read".to_owned()),
        client_credentials: true,
        ..NewClient::default()
    };
    admin::clients_add(store.as_ref(), &new, &all_scopes, now, &mut rng, &mut out)
        .await
        .expect("client");
    let secret = String::from_utf8(out)
        .expect("utf-8")
        .lines()
        .find_map(|line| line.strip_prefix("client_secret: "))
        .and_then(|rest| rest.split(' ').next())
        .expect("the secret is printed once")
        .to_owned();
    let routes = latchkey_server::serve::router(Arc::clone(&engine), &[]);
    tokio::spawn(async move {
        // As `latchkey serve` does: the pages see each client's address.
        let routes = routes.into_make_service_with_connect_info::<std::net::SocketAddr>();
        let _ = axum::serve(as_listener, routes).await;
    });

    // The example, given only the issuer and its own URL.
    let settings = Settings {
        issuer: issuer.clone(),
        resource: ResourceUri::parse(&resource).expect("resource"),
        allowed_origins: vec![ALLOWED_ORIGIN.to_owned()],
        algorithms: Vec::new(),
        introspection: None,
    };
    let rs = resource_server(&settings)
        .await
        .expect("the example discovers the keys");
    let notes = Notes::default();
    let example = HttpServer::new(move || {
        App::new()
            .wrap(latchkey_actix::SensitiveHeaders)
            .configure(configure(rs.clone(), &metadata(&settings), notes.clone()))
    })
    .workers(1)
    .disable_signals()
    .listen(rs_listener)
    .expect("listen")
    .run();
    std::thread::spawn(move || actix_web::rt::System::new().block_on(example));
    Running {
        issuer,
        base,
        resource,
        secret,
        engine,
        dir,
    }
}

impl Running {
    /// An access token from the token endpoint (`client_credentials`).
    async fn token(&self, resource: &str, scope: &str) -> String {
        let request = Request::new("POST", "/token").form(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT),
            ("client_secret", &self.secret),
            ("resource", resource),
            ("scope", scope),
        ]);
        let response = send(&self.issuer, &request).await;
        assert_eq!(response.status, 200, "{}", response.text());
        response.json()["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    /// A JSON-RPC request to the MCP endpoint.
    async fn mcp(
        &self,
        token: Option<&str>,
        origin: Option<&str>,
        method: &str,
        params: Value,
    ) -> Response {
        let body = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
        let mut request = Request::new("POST", "/mcp")
            .header("Accept", "application/json")
            .header("MCP-Protocol-Version", "2025-11-25")
            .json(&body);
        if let Some(token) = token {
            request = request.header("Authorization", &format!("Bearer {token}"));
        }
        if let Some(origin) = origin {
            request = request.header("Origin", origin);
        }
        send(&self.base, &request).await
    }

    async fn call_tool(&self, token: &str, name: &str, arguments: Value) -> Response {
        self.mcp(
            Some(token),
            None,
            "tools/call",
            json!({ "name": name, "arguments": arguments }),
        )
        .await
    }
}

fn challenges(response: &Response) -> Vec<Challenge> {
    response
        .header_all("www-authenticate")
        .into_iter()
        .flat_map(|value| parse_www_authenticate(value).expect("a valid challenge"))
        .collect()
}

#[tokio::test]
async fn r3_r4_without_a_token_401_names_metadata_whose_resource_is_the_url() {
    let running = start().await;
    let response = running.mcp(None, None, "tools/list", json!({})).await;
    assert_eq!(response.status, 401);
    let metadata_url = format!("{}/.well-known/oauth-protected-resource/mcp", running.base);
    let challenges = challenges(&response);
    assert!(!challenges.is_empty());
    for challenge in &challenges {
        assert_eq!(challenge.resource_metadata(), Some(metadata_url.as_str()));
        assert_eq!(challenge.param("scope"), Some("notes:read"));
        assert_eq!(challenge.error(), None);
    }

    // RFC 9728 section 3.3: `resource` is the URL clients use, byte for byte.
    let path = metadata_url.trim_start_matches(&running.base);
    let metadata = send(&running.base, &Request::new("GET", path)).await;
    assert_eq!(metadata.status, 200);
    let document = metadata.json();
    assert_eq!(document["resource"], running.resource.as_str());
    assert_eq!(document["authorization_servers"], json!([running.issuer]));
    assert_eq!(
        document["scopes_supported"],
        json!(["notes:read", "notes:write"])
    );
}

#[tokio::test]
async fn r5_a_token_for_this_server_calls_whoami() {
    let running = start().await;
    let token = running.token(&running.resource, "notes:read").await;
    let response = running.call_tool(&token, "whoami", json!({})).await;
    assert_eq!(response.status, 200, "{}", response.text());
    let who = &response.json()["result"]["structuredContent"];
    // Client credentials: the subject is the client (RFC 9068 section 2.2).
    assert_eq!(who["subject"], CLIENT, "{who}");
    assert_eq!(who["client_id"], CLIENT);
    assert_eq!(who["scope"], "notes:read");
}

#[tokio::test]
async fn r11_add_note_needs_notes_write_403_insufficient_scope_then_step_up() {
    let running = start().await;
    let read_only = running.token(&running.resource, "notes:read").await;
    let refused = running
        .call_tool(&read_only, "add_note", json!({ "text": "hello" }))
        .await;
    assert_eq!(refused.status, 403, "{}", refused.text());
    let bearer = &challenges(&refused)[0];
    assert_eq!(bearer.error_code(), Some(ErrorCode::InsufficientScope));
    assert_eq!(bearer.param("scope"), Some("notes:read notes:write"));
    assert_eq!(
        bearer.resource_metadata(),
        Some(format!("{}/.well-known/oauth-protected-resource/mcp", running.base).as_str())
    );

    // Step-up: a token with the scopes the challenge named.
    let read_write = running
        .token(&running.resource, "notes:read notes:write")
        .await;
    let added = running
        .call_tool(&read_write, "add_note", json!({ "text": "hello" }))
        .await;
    assert_eq!(added.status, 200, "{}", added.text());
    assert_eq!(added.json()["result"]["isError"], false, "{}", added.text());
    let listed = running.call_tool(&read_only, "list_notes", json!({})).await;
    assert_eq!(
        listed.json()["result"]["structuredContent"]["notes"],
        json!(["hello"])
    );
}

#[tokio::test]
async fn r6_r13_a_token_for_another_resource_is_401_invalid_token() {
    let running = start().await;
    let elsewhere = running.token(OTHER_RESOURCE, "calendar:read").await;
    let response = running.call_tool(&elsewhere, "whoami", json!({})).await;
    assert_eq!(response.status, 401);
    assert_eq!(
        challenges(&response)[0].error_code(),
        Some(ErrorCode::InvalidToken)
    );
}

#[tokio::test]
async fn r15_a_foreign_origin_is_403_and_an_allowed_one_passes() {
    let running = start().await;
    let token = running.token(&running.resource, "notes:read").await;
    let foreign = running
        .mcp(
            Some(&token),
            Some("https://evil.example"),
            "tools/list",
            json!({}),
        )
        .await;
    assert_eq!(foreign.status, 403);
    let allowed = running
        .mcp(Some(&token), Some(ALLOWED_ORIGIN), "tools/list", json!({}))
        .await;
    assert_eq!(allowed.status, 200, "{}", allowed.text());
}

#[tokio::test]
async fn a_rotated_signing_key_is_fetched_again_on_its_first_token() {
    let running = start().await;
    let before = running.token(&running.resource, "notes:read").await;
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(23);
    running
        .engine
        .rotate_signing_key(latchkey_server::now(), &mut rng)
        .await
        .expect("rotated");
    let after = running.token(&running.resource, "notes:read").await;
    assert_ne!(kid(&before), kid(&after));
    let response = running.call_tool(&after, "whoami", json!({})).await;
    assert_eq!(response.status, 200, "{}", response.text());
    // The old key is still published, so its tokens still pass.
    let response = running.call_tool(&before, "whoami", json!({})).await;
    assert_eq!(response.status, 200, "{}", response.text());
}

/// The `kid` of a token's JWS header.
fn kid(token: &str) -> Option<String> {
    let jws = latchkey_jose::CompactJws::parse(token, 8192).expect("a compact jws");
    jws.header().kid.clone()
}

#[tokio::test]
async fn the_json_rpc_handler_initializes_accepts_notifications_and_checks_the_version() {
    let running = start().await;
    let token = running.token(&running.resource, "notes:read").await;
    let initialized = running
        .mcp(
            Some(&token),
            None,
            "initialize",
            json!({ "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": { "name": "test", "version": "1" } }),
        )
        .await;
    assert_eq!(initialized.status, 200);
    assert_eq!(
        initialized.json()["result"]["protocolVersion"],
        "2025-11-25"
    );

    let notification = Request::new("POST", "/mcp")
        .header("Authorization", &format!("Bearer {token}"))
        .json(&json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }));
    assert_eq!(send(&running.base, &notification).await.status, 202);

    let old = Request::new("POST", "/mcp")
        .header("Authorization", &format!("Bearer {token}"))
        .header("MCP-Protocol-Version", "2024-01-01")
        .json(&json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/list" }));
    assert_eq!(send(&running.base, &old).await.status, 400);

    let batch = Request::new("POST", "/mcp")
        .header("Authorization", &format!("Bearer {token}"))
        .json(&json!([{ "jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": { "name": "add_note" } }]));
    let refused = send(&running.base, &batch).await;
    assert_eq!(
        refused.json()["error"]["code"],
        -32600,
        "{}",
        refused.text()
    );

    let stream = Request::new("GET", "/mcp").header("Authorization", &format!("Bearer {token}"));
    assert_eq!(send(&running.base, &stream).await.status, 405);
}
