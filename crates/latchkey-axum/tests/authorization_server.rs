//! Authorization-server routing without a socket: the interaction handler's
//! two answers, the query-size limit, and sensitive headers.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{Request, StatusCode};
use axum::response::Response;
use axum::routing::get;
use latchkey_axum::{
    AuthorizationServer, Interaction, InteractionHandler, MAX_QUERY_LEN,
    authorization_server_routes, with_sensitive_headers,
};
use latchkey_engine::authorize::PendingAuthorization;
use latchkey_http_tests::cases::{CHALLENGE, REDIRECT_URI};
use latchkey_http_tests::client::{form_encode, percent_encode};
use latchkey_types::UnixTime;
use tower::ServiceExt;

const BASE: &str = "http://127.0.0.1:9";

/// Shows a consent page and remembers what it was asked.
#[derive(Default)]
struct ConsentPage {
    seen: Mutex<Vec<String>>,
}

impl InteractionHandler for ConsentPage {
    fn interact<'a>(
        &'a self,
        pending: PendingAuthorization,
        _request: &'a Parts,
        _now: UnixTime,
    ) -> Pin<Box<dyn Future<Output = Interaction> + Send + 'a>> {
        Box::pin(async move {
            self.seen
                .lock()
                .expect("not poisoned")
                .push(pending.client_id().as_str().to_owned());
            Interaction::Respond(Response::new(axum::body::Bytes::from_static(
                b"consent page",
            )))
        })
    }
}

async fn call(router: Router, request: Request<Body>) -> Response {
    router.oneshot(request).await.expect("infallible")
}

/// Registers a public client directly through the engine's HTTP route.
async fn registered_client(router: &Router) -> String {
    let body = serde_json::json!({
        "redirect_uris": [REDIRECT_URI],
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code"],
    });
    let response = call(
        router.clone(),
        Request::post("/register")
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .expect("request"),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .expect("body");
    let json: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
    json["client_id"].as_str().expect("client_id").to_owned()
}

#[tokio::test]
async fn oauth_2_1_section_4_1_1_interaction_handler_answers_verified_requests() {
    let engine = latchkey_http_tests::fixture_engine(BASE).await;
    let handler = Arc::new(ConsentPage::default());
    let router =
        authorization_server_routes(Arc::new(AuthorizationServer::new(engine, handler.clone())));
    let client_id = registered_client(&router).await;
    let query = form_encode(&[
        ("response_type", "code"),
        ("client_id", &client_id),
        ("redirect_uri", REDIRECT_URI),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]);
    let response = call(
        router,
        Request::get(format!("/authorize?{query}"))
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body = axum::body::to_bytes(response.into_body(), 1024)
        .await
        .expect("body");
    assert_eq!(&body[..], b"consent page");
    assert_eq!(*handler.seen.lock().expect("not poisoned"), vec![client_id]);
}

#[tokio::test]
async fn an_oversized_authorization_query_is_an_error_page_not_a_redirect() {
    let engine = latchkey_http_tests::fixture_engine(BASE).await;
    let handler = Arc::new(ConsentPage::default());
    let router =
        authorization_server_routes(Arc::new(AuthorizationServer::new(engine, handler.clone())));
    let target = format!(
        "/authorize?redirect_uri={}&x={}",
        percent_encode(REDIRECT_URI),
        "a".repeat(MAX_QUERY_LEN)
    );
    let response = call(
        router,
        Request::get(target).body(Body::empty()).expect("request"),
    )
    .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.headers().get("location").is_none());
    assert_eq!(
        response.headers().get("content-type").map(|v| v.as_bytes()),
        Some(&b"text/html; charset=utf-8"[..])
    );
    assert!(handler.seen.lock().expect("not poisoned").is_empty());
}

#[tokio::test]
async fn credentials_are_sensitive_for_every_layer_inside_with_sensitive_headers() {
    async fn inspect(request: Request<Body>) -> String {
        let h = request.headers();
        format!(
            "{} {} {} {}",
            h.get("authorization").is_some_and(|v| v.is_sensitive()),
            h.get("dpop").is_some_and(|v| v.is_sensitive()),
            h.get("cookie").is_some_and(|v| v.is_sensitive()),
            h.get("accept").is_some_and(|v| v.is_sensitive()),
        )
    }
    let router = with_sensitive_headers(Router::new().route("/", get(inspect)));
    let response = call(
        router,
        Request::get("/")
            .header("authorization", "Bearer x")
            .header("dpop", "p")
            .header("cookie", "c")
            .header("accept", "*/*")
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    let body = axum::body::to_bytes(response.into_body(), 1024)
        .await
        .expect("body");
    assert_eq!(&body[..], b"true true true false");
}
