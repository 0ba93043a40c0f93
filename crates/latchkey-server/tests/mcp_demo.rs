//! The demo MCP server (`latchkey_server::mcp_demo::router`) through HTTP
//! POST JSON-RPC: `initialize`, `tools/list`, `tools/call` of `whoami`,
//! `echo` and `time`, and the resource-server refusals in front of it
//! (MCP R3, R4, R11, R15).

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use latchkey_axum::ResourceServer;
use latchkey_jose::{Algorithm, SigningKey};
use latchkey_metadata::parse_www_authenticate;
use latchkey_server::mcp_demo::{MCP_PATH, router};
use latchkey_token::{AccessTokenClaims, AccessTokenValidator, Audience, KeySet};
use latchkey_types::{ClientId, ErrorCode, Scope, Subject, UnixTime};
use latchkey_uri::{AudienceMatch, ResourceUri};
use rand_core::SeedableRng;
use serde_json::{Value, json};
use tower::ServiceExt;

const ISSUER: &str = "https://as.example.com";
const RESOURCE: &str = "https://mcp.example.com/mcp";
const PRM: &str = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp";
const HOST: &str = "mcp.example.com";
const ORIGIN: &str = "https://app.example.com";
const VERSION: &str = "2025-11-25";

struct Fixture {
    keys: KeySet,
    app: Router,
    rng: rand_chacha::ChaCha20Rng,
}

fn fixture() -> Fixture {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
    let keys = KeySet::new(SigningKey::generate(
        Algorithm::Es256,
        "k1".to_owned(),
        &mut rng,
    ))
    .expect("key set");
    let validator = AccessTokenValidator::new(
        keys.jwks(),
        ISSUER.to_owned(),
        resource(),
        AudienceMatch::Exact,
    );
    let rs = Arc::new(
        ResourceServer::new(resource(), validator)
            .with_default_scopes(scope("mcp:tools"))
            .with_allowed_origins(vec![ORIGIN.to_owned()]),
    );
    Fixture {
        keys,
        app: router(rs),
        rng,
    }
}

fn resource() -> ResourceUri {
    ResourceUri::parse(RESOURCE).expect("resource")
}

fn scope(s: &str) -> Scope {
    Scope::parse(s).expect("scope")
}

fn now() -> UnixTime {
    latchkey_server::now()
}

impl Fixture {
    fn token(&mut self, scopes: &str) -> String {
        let claims = AccessTokenClaims::new(
            ISSUER.to_owned(),
            Subject::parse("alice").expect("subject"),
            ClientId::parse("https://client.example.com/cimd.json").expect("client id"),
            Audience::new(resource()),
            now(),
            &mut self.rng,
        )
        .with_scope(scope(scopes));
        self.keys.issue(&claims)
    }

    async fn post(&self, body: &Value, headers: &[(&str, &str)]) -> axum::response::Response {
        let mut builder = Request::builder()
            .method("POST")
            .uri(MCP_PATH)
            .header("host", HOST)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let request = builder.body(Body::from(body.to_string())).expect("request");
        self.app.clone().oneshot(request).await.expect("infallible")
    }

    /// A JSON-RPC call with a bearer token; the JSON-RPC response.
    async fn rpc(&self, token: &str, id: u64, method: &str, params: Value) -> Value {
        let auth = format!("Bearer {token}");
        let body = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
        let response = self
            .post(
                &body,
                &[("authorization", &auth), ("mcp-protocol-version", VERSION)],
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK, "{method}");
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(
            content_type.starts_with("application/json"),
            "{content_type}"
        );
        assert!(
            response.headers().get("mcp-session-id").is_none(),
            "stateless: no session"
        );
        let json = json_body(response).await;
        assert_eq!(json["id"], id, "{json}");
        json
    }
}

async fn json_body(response: axum::response::Response) -> Value {
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    serde_json::from_slice(&bytes).expect("json body")
}

fn initialize_params() -> Value {
    json!({
        "protocolVersion": VERSION,
        "capabilities": {},
        "clientInfo": { "name": "test", "version": "1.0" }
    })
}

fn challenges(response: &axum::response::Response) -> Vec<latchkey_metadata::Challenge> {
    response
        .headers()
        .get_all("www-authenticate")
        .iter()
        .flat_map(|v| parse_www_authenticate(v.to_str().expect("ascii")).expect("challenge"))
        .collect()
}

#[tokio::test]
async fn initialize_list_and_whoami_return_the_token_subject_client_and_scopes() {
    let mut f = fixture();
    let token = f.token("mcp:tools profile");

    let init = f.rpc(&token, 1, "initialize", initialize_params()).await;
    assert_eq!(init["result"]["protocolVersion"], VERSION, "{init}");
    assert_eq!(init["result"]["serverInfo"]["name"], "latchkey-demo");
    assert!(
        init["result"]["capabilities"]["tools"].is_object(),
        "{init}"
    );

    let list = f.rpc(&token, 2, "tools/list", json!({})).await;
    let names: Vec<&str> = list["result"]["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(names, vec!["whoami", "echo", "time"]);

    let call = f
        .rpc(
            &token,
            3,
            "tools/call",
            json!({ "name": "whoami", "arguments": {} }),
        )
        .await;
    let who = &call["result"]["structuredContent"];
    assert_eq!(who["subject"], "alice", "{call}");
    assert_eq!(who["client_id"], "https://client.example.com/cimd.json");
    assert_eq!(who["scopes"], json!(["mcp:tools", "profile"]));
    assert_eq!(who["scope"], "mcp:tools profile");
    assert_eq!(who["audience"], json!([RESOURCE]));
    assert_eq!(call["result"]["isError"], false);
}

#[tokio::test]
async fn echo_and_time_tools_answer() {
    let mut f = fixture();
    let token = f.token("mcp:tools");
    let echo = f
        .rpc(
            &token,
            4,
            "tools/call",
            json!({ "name": "echo", "arguments": { "text": "hello, mcp" } }),
        )
        .await;
    assert_eq!(
        echo["result"]["content"],
        json!([{ "type": "text", "text": "hello, mcp" }])
    );
    let time = f
        .rpc(
            &token,
            5,
            "tools/call",
            json!({ "name": "time", "arguments": {} }),
        )
        .await;
    let text = time["result"]["content"][0]["text"]
        .as_str()
        .expect("time text");
    assert!(text.ends_with('Z'), "{text}");
    let bad = f
        .rpc(
            &token,
            6,
            "tools/call",
            json!({ "name": "echo", "arguments": {} }),
        )
        .await;
    assert_eq!(
        bad["error"]["message"], "echo needs a string `text`",
        "{bad}"
    );
}

#[tokio::test]
async fn r3_r4_no_token_is_401_with_resource_metadata_and_scope() {
    let f = fixture();
    let body =
        json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": initialize_params() });
    let response = f.post(&body, &[]).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenges = challenges(&response);
    assert_eq!(challenges.len(), 2);
    for challenge in &challenges {
        assert_eq!(challenge.resource_metadata(), Some(PRM));
        assert_eq!(challenge.param("scope"), Some("mcp:tools"));
        assert_eq!(challenge.error(), None);
    }
}

#[tokio::test]
async fn r5_an_invalid_token_is_401_invalid_token() {
    let f = fixture();
    let body = json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {} });
    let response = f
        .post(&body, &[("authorization", "Bearer not-a-jwt")])
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenges(&response)[0].error_code(),
        Some(ErrorCode::InvalidToken)
    );
}

#[tokio::test]
async fn r11_a_token_without_the_scope_is_403_insufficient_scope() {
    let mut f = fixture();
    let token = f.token("profile");
    let auth = format!("Bearer {token}");
    let body = json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {} });
    let response = f.post(&body, &[("authorization", &auth)]).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let challenges = challenges(&response);
    assert_eq!(
        challenges[0].error_code(),
        Some(ErrorCode::InsufficientScope)
    );
    assert_eq!(challenges[0].param("scope"), Some("mcp:tools"));
    assert_eq!(challenges[0].resource_metadata(), Some(PRM));
}

#[tokio::test]
async fn r15_a_foreign_origin_is_403_and_an_allowed_one_passes() {
    let mut f = fixture();
    let token = f.token("mcp:tools");
    let auth = format!("Bearer {token}");
    let body =
        json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": initialize_params() });
    let foreign = f
        .post(
            &body,
            &[("authorization", &auth), ("origin", "https://evil.example")],
        )
        .await;
    assert_eq!(foreign.status(), StatusCode::FORBIDDEN);
    // The Origin check runs before the token check: no token, still 403.
    let foreign_no_token = f.post(&body, &[("origin", "https://evil.example")]).await;
    assert_eq!(foreign_no_token.status(), StatusCode::FORBIDDEN);
    let allowed = f
        .post(&body, &[("authorization", &auth), ("origin", ORIGIN)])
        .await;
    assert_eq!(allowed.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_foreign_host_header_is_refused_by_the_mcp_transport() {
    let mut f = fixture();
    let token = f.token("mcp:tools");
    let auth = format!("Bearer {token}");
    let body =
        json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": initialize_params() });
    let request = Request::builder()
        .method("POST")
        .uri(MCP_PATH)
        .header("host", "rebound.attacker.example")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("authorization", auth)
        .body(Body::from(body.to_string()))
        .expect("request");
    let response = f.app.clone().oneshot(request).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn over_a_socket_initialize_and_whoami_work_with_the_real_host_header() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let resource = ResourceUri::parse(&format!("{base}/mcp")).expect("resource");
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(8);
    let keys = KeySet::new(SigningKey::generate(
        Algorithm::Es256,
        "k1".to_owned(),
        &mut rng,
    ))
    .expect("key set");
    let validator = AccessTokenValidator::new(
        keys.jwks(),
        ISSUER.to_owned(),
        resource.clone(),
        AudienceMatch::Exact,
    );
    let rs = Arc::new(ResourceServer::new(resource.clone(), validator));
    tokio::spawn(async move {
        let _ = axum::serve(listener, router(rs)).await;
    });
    let claims = AccessTokenClaims::new(
        ISSUER.to_owned(),
        Subject::parse("bob").expect("subject"),
        ClientId::parse("client-2").expect("client id"),
        Audience::new(resource),
        now(),
        &mut rng,
    )
    .with_scope(scope("mcp:tools"));
    let auth = format!("Bearer {}", keys.issue(&claims));
    let send = |id: u64, method: &str, params: Value| {
        let request = latchkey_http_tests::client::Request::new("POST", MCP_PATH)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", VERSION)
            .header("authorization", &auth)
            .body(
                json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params })
                    .to_string()
                    .into_bytes(),
            );
        let base = base.clone();
        async move { latchkey_http_tests::client::send(&base, &request).await }
    };
    let init = send(1, "initialize", initialize_params()).await;
    assert_eq!(init.status, 200, "{}", init.text());
    assert_eq!(init.json()["result"]["protocolVersion"], VERSION);
    let who = send(
        2,
        "tools/call",
        json!({ "name": "whoami", "arguments": {} }),
    )
    .await;
    assert_eq!(who.status, 200, "{}", who.text());
    let content = who.json()["result"]["structuredContent"].clone();
    assert_eq!(content["subject"], "bob");
    assert_eq!(content["client_id"], "client-2");
    assert_eq!(content["scopes"], json!(["mcp:tools"]));
}

#[tokio::test]
async fn mcp_2026_07_28_stateless_call_without_initialize_returns_whoami() {
    let mut f = fixture();
    let token = f.token("mcp:tools");
    let auth = format!("Bearer {token}");
    let body = json!({
        "jsonrpc": "2.0",
        "id": 9,
        "method": "tools/call",
        "params": {
            "name": "whoami",
            "arguments": {},
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientInfo": { "name": "test", "version": "1.0" },
                "io.modelcontextprotocol/clientCapabilities": {}
            }
        }
    });
    let response = f
        .post(
            &body,
            &[
                ("authorization", &auth),
                ("mcp-protocol-version", "2026-07-28"),
                ("mcp-method", "tools/call"),
                ("mcp-name", "whoami"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get("mcp-session-id").is_none());
    let json = json_body(response).await;
    assert_eq!(
        json["result"]["structuredContent"]["subject"], "alice",
        "{json}"
    );
}

#[tokio::test]
async fn a_body_over_64_kib_is_413() {
    let mut f = fixture();
    let token = f.token("mcp:tools");
    let auth = format!("Bearer {token}");
    let text = "x".repeat(latchkey_axum::MAX_BODY_LEN + 1);
    let body = json!({
        "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": { "name": "echo", "arguments": { "text": text } }
    });
    let response = f
        .post(
            &body,
            &[("authorization", &auth), ("mcp-protocol-version", VERSION)],
        )
        .await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
}
