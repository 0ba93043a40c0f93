//! `docs/openapi.json` against the routes `latchkey serve` really serves:
//! the description's paths and operations equal `serve::routes` (both ways),
//! and the running router answers every described operation (never `404` or
//! `405`) and refuses every other method on those paths. A route added to or
//! removed from the server without the description fails here.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use latchkey_http::CLIENT_ID_PLACEHOLDER;
use latchkey_server::config::ServerConfig;
use latchkey_server::serve;
use latchkey_store_sqlite::SqliteStore;
use rand_core::SeedableRng;
use serde_json::Value;
use tower::ServiceExt;

const ISSUER: &str = "http://127.0.0.1:8080";
const OPERATIONS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];
/// The methods sent to every path to see what it refuses.
const PROBES: [Method; 5] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::PATCH,
];

fn description() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");
    let text = std::fs::read_to_string(path).expect("docs/openapi.json");
    serde_json::from_str(&text).expect("docs/openapi.json is JSON")
}

/// `(path, METHOD)` of every operation in the description.
fn described(description: &Value) -> BTreeSet<(String, String)> {
    let paths = description["paths"].as_object().expect("paths");
    let mut operations = BTreeSet::new();
    for (path, item) in paths {
        let item = item.as_object().expect("path item");
        for key in item.keys() {
            if OPERATIONS.contains(&key.as_str()) {
                operations.insert((path.clone(), key.to_uppercase()));
            }
        }
    }
    operations
}

fn config() -> ServerConfig {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!("latchkey-openapi-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let database = dir.join(format!("{}.db", COUNTER.fetch_add(1, Ordering::Relaxed)));
    let mut config = ServerConfig::default();
    config
        .apply_toml("demo_user = false\n[rate_limits]\nenabled = false")
        .expect("toml");
    config.apply_env(|name| match name {
        "LATCHKEY_ISSUER" => Some(ISSUER.to_owned()),
        "LATCHKEY_DATABASE" => Some(database.display().to_string()),
        _ => None,
    });
    assert!(config.problems().is_empty(), "{:?}", config.problems());
    config
}

/// `(path, METHOD)` of every route the server builds for `config`.
fn served(config: &ServerConfig) -> BTreeSet<(String, String)> {
    let engine_config = config.engine_config().expect("engine config");
    serve::routes(&engine_config)
        .into_iter()
        .flat_map(|route| {
            route
                .methods
                .into_iter()
                .map(move |method| (route.path.clone(), method.as_str().to_owned()))
        })
        .collect()
}

async fn app(config: &ServerConfig) -> Router {
    let store = Arc::new(SqliteStore::open(&config.database).await.expect("store"));
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(13);
    serve::build(
        config,
        store,
        latchkey_server::now(),
        &mut rng,
        &mut Vec::new(),
    )
    .await
    .expect("build")
}

/// The status of `method path`, and whether the answer is one of the
/// server's own pages (a `404` page for an unknown identity provider is a
/// served route's answer; the router's fallback `404` has no page).
async fn status(app: &Router, method: &Method, path: &str) -> (StatusCode, bool) {
    let uri = path
        .replace(CLIENT_ID_PLACEHOLDER, "some-client")
        .replace("{id}", "no-such-provider");
    let request = Request::builder()
        .method(method.clone())
        .uri(uri)
        .header("host", "127.0.0.1:8080")
        .body(Body::empty())
        .expect("request");
    let response = app.clone().oneshot(request).await.expect("infallible");
    let is_page = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("text/html"));
    (response.status(), is_page)
}

#[test]
fn openapi_describes_exactly_the_served_routes() {
    let description = description();
    assert_eq!(description["openapi"], "3.1.0");
    let described = described(&description);
    let served = served(&config());
    let undescribed: Vec<_> = served.difference(&described).collect();
    let not_served: Vec<_> = described.difference(&served).collect();
    assert!(
        undescribed.is_empty() && not_served.is_empty(),
        "docs/openapi.json and serve::routes differ.\n\
         Served but not described: {undescribed:?}\n\
         Described but not served: {not_served:?}"
    );
}

#[test]
fn openapi_paths_use_the_client_id_placeholder_of_the_route_table() {
    let described = described(&description());
    assert!(
        described
            .iter()
            .any(|(path, _)| path.ends_with(CLIENT_ID_PLACEHOLDER)),
        "the RFC 7592 client configuration path is described"
    );
}

#[tokio::test]
async fn the_router_serves_every_described_operation_and_refuses_other_methods() {
    let config = config();
    let app = app(&config).await;
    let described = described(&description());
    let paths: BTreeSet<&String> = described.iter().map(|(path, _)| path).collect();
    for path in paths {
        for method in &PROBES {
            let (status, is_page) = status(&app, method, path).await;
            let is_described = described.contains(&(path.clone(), method.as_str().to_owned()));
            if is_described {
                assert!(
                    (status != StatusCode::NOT_FOUND || is_page)
                        && status != StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {path} is described but answered {status}"
                );
            } else {
                // The protected MCP endpoint checks the token before the method.
                let refused = status == StatusCode::METHOD_NOT_ALLOWED
                    || (path == "/mcp" && status == StatusCode::UNAUTHORIZED);
                assert!(
                    refused,
                    "{method} {path} is not described but answered {status}"
                );
            }
        }
    }
}

/// Regression: the demo MCP router's guards were `layer`s, which also wrap
/// its fallback; merged into the application, every unknown path answered
/// `401` with a challenge naming `/mcp`'s resource metadata.
#[tokio::test]
async fn security_a_path_outside_the_description_is_not_found_not_challenged() {
    let app = app(&config()).await;
    for path in [
        "/admin",
        "/.well-known/oauth-protected-resource/other",
        "/latchkey/logout",
    ] {
        assert_eq!(
            status(&app, &Method::GET, path).await.0,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
}
