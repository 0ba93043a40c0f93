//! The server's `allowed_origins` setting in front of the demo MCP endpoint
//! (MCP transports: Origin validation against DNS rebinding, R15), and the
//! favicon route that keeps browsers' automatic requests off protected routes.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use latchkey_server::config::ServerConfig;
use latchkey_server::serve;
use latchkey_store_sqlite::SqliteStore;
use rand_core::SeedableRng;
use tower::ServiceExt;

async fn app(allowed_origins: &str) -> axum::Router {
    let dir = std::env::temp_dir().join(format!(
        "latchkey-origins-{}-{}",
        std::process::id(),
        allowed_origins.len()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let database = dir.join("latchkey.db");
    let mut config = ServerConfig::default();
    config.apply_env(|name| match name {
        "LATCHKEY_DATABASE" => Some(database.display().to_string()),
        "LATCHKEY_ALLOWED_ORIGINS" => Some(allowed_origins.to_owned()),
        _ => None,
    });
    config.demo_user = false;
    assert!(config.problems().is_empty(), "{:?}", config.problems());
    let store = Arc::new(SqliteStore::open(&config.database).await.expect("store"));
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(3);
    serve::build(
        &config,
        store,
        latchkey_server::now(),
        &mut rng,
        &mut Vec::new(),
    )
    .await
    .expect("build")
}

fn mcp_request(origin: Option<&str>) -> Request<Body> {
    let mut request = Request::post("/mcp")
        .header("host", "127.0.0.1:8080")
        .header("content-type", "application/json");
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    request.body(Body::from("{}")).expect("request")
}

#[tokio::test]
async fn r15_configured_origins_pass_to_authentication_and_others_get_403() {
    let app = app("http://localhost:6274").await;
    let allowed = app
        .clone()
        .oneshot(mcp_request(Some("http://localhost:6274")))
        .await
        .unwrap();
    assert_eq!(
        allowed.status(),
        StatusCode::UNAUTHORIZED,
        "an allowed origin still needs a token"
    );
    let foreign = app
        .clone()
        .oneshot(mcp_request(Some("http://evil.example")))
        .await
        .unwrap();
    assert_eq!(foreign.status(), StatusCode::FORBIDDEN);
    let no_origin = app.oneshot(mcp_request(None)).await.unwrap();
    assert_eq!(
        no_origin.status(),
        StatusCode::UNAUTHORIZED,
        "non-browser clients send no Origin"
    );
}

#[tokio::test]
async fn r15_without_configured_origins_every_browser_origin_gets_403() {
    let app = app("").await;
    let response = app
        .oneshot(mcp_request(Some("http://localhost:6274")))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn favicon_is_answered_without_authentication() {
    let app = app("https://app.example.com").await;
    let request = Request::get("/favicon.ico")
        .body(Body::empty())
        .expect("request");
    let response = app.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
}
