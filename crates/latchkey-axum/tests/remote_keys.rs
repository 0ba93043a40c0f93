//! A resource server apart from its authorization server: `RemoteKeys`
//! discovery and fetching over real HTTP (RFC 8414 sections 3.1 and 3.3, RFC
//! 7517 section 5), and `ResourceServer::with_key_refresh` fetching the keys
//! again when a token names an unknown `kid`, at most once per interval.
#![cfg(feature = "remote-keys")]

use latchkey_axum::ResourceServerExt;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use latchkey_axum::{
    AccessToken, AuthorizationServer, KeysError, RemoteKeys, ResourceServer,
    authorization_server_routes,
};
use latchkey_http_tests::remote_keys::{CountingSource, ISSUER, key, resource, source, token};
use latchkey_jose::Jwks;
use latchkey_metadata::{MetadataError, parse_www_authenticate};
use latchkey_token::AccessTokenValidator;
use latchkey_types::{ErrorCode, UnixTime};
use latchkey_uri::AudienceMatch;
use tower::ServiceExt;

/// A resource server trusting only `k1`, with `source` (if any) and a
/// one-hour refresh interval, protecting `GET /mcp`.
fn server(source: Option<Arc<CountingSource>>) -> (Arc<ResourceServer>, Router) {
    let jwks = Jwks::new(vec![key("k1", 1).public_jwk()]).expect("jwks");
    let validator =
        AccessTokenValidator::new(jwks, ISSUER.to_owned(), resource(), AudienceMatch::Exact);
    let mut rs = ResourceServer::new(resource(), validator);
    if let Some(source) = source {
        rs = rs.with_key_refresh(source, Duration::from_secs(3600));
    }
    let rs = Arc::new(rs);
    let app = Router::new()
        .route(
            "/mcp",
            get(|token: AccessToken| async move { token.claims().sub.as_str().to_owned() }),
        )
        .layer(rs.require_access_token());
    (rs, app)
}

async fn call(app: &Router, token: &str) -> (StatusCode, Option<ErrorCode>) {
    let request = Request::get("/mcp")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .expect("request");
    let response = app.clone().oneshot(request).await.expect("infallible");
    let error = response
        .headers()
        .get("www-authenticate")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| parse_www_authenticate(value).ok())
        .and_then(|challenges| challenges.first().and_then(|c| c.error_code()));
    (response.status(), error)
}

#[tokio::test]
async fn rfc_7517_section_4_5_an_unknown_kid_fetches_the_keys_again_once() {
    let rotated =
        Jwks::new(vec![key("k2", 2).public_jwk(), key("k1", 1).public_jwk()]).expect("jwks");
    let source = source(Some(rotated.clone()));
    let (rs, app) = server(Some(Arc::clone(&source)));

    // A token signed by the key the server started with: no fetch.
    assert_eq!(
        call(&app, &token(key("k1", 1))).await,
        (StatusCode::OK, None)
    );
    assert_eq!(source.fetches(), 0);

    // A token signed by the rotated-in key: one fetch, then accepted.
    assert_eq!(
        call(&app, &token(key("k2", 2))).await,
        (StatusCode::OK, None)
    );
    assert_eq!(source.fetches(), 1);
    assert_eq!(rs.keys(), rotated);

    // A kid the issuer does not publish either: no second fetch within the interval.
    assert_eq!(
        call(&app, &token(key("k3", 3))).await,
        (StatusCode::UNAUTHORIZED, Some(ErrorCode::InvalidToken))
    );
    assert_eq!(source.fetches(), 1);
}

#[tokio::test]
async fn key_refresh_is_rate_limited_by_the_interval() {
    let jwks = Jwks::new(vec![key("k2", 2).public_jwk()]).expect("jwks");
    let source = source(Some(jwks));
    let (rs, _) = server(Some(Arc::clone(&source)));
    let start = UnixTime::from_secs(1_800_000_000);
    assert!(rs.refresh_keys(start).await);
    assert!(
        !rs.refresh_keys(start.saturating_add(Duration::from_secs(3599)))
            .await
    );
    assert_eq!(source.fetches(), 1);
    assert!(
        rs.refresh_keys(start.saturating_add(Duration::from_secs(3600)))
            .await
    );
    assert_eq!(source.fetches(), 2);
}

#[tokio::test]
async fn a_failed_fetch_keeps_the_keys_and_refuses_with_invalid_token() {
    let source = source(None);
    let (rs, app) = server(Some(Arc::clone(&source)));
    let before = rs.keys();
    assert_eq!(
        call(&app, &token(key("k2", 2))).await,
        (StatusCode::UNAUTHORIZED, Some(ErrorCode::InvalidToken))
    );
    assert_eq!(source.fetches(), 1);
    assert_eq!(rs.keys(), before);
    // Tokens of the known key still pass.
    assert_eq!(
        call(&app, &token(key("k1", 1))).await,
        (StatusCode::OK, None)
    );
}

#[tokio::test]
async fn without_a_key_source_an_unknown_kid_is_invalid_token() {
    let (rs, app) = server(None);
    assert_eq!(
        call(&app, &token(key("k2", 2))).await,
        (StatusCode::UNAUTHORIZED, Some(ErrorCode::InvalidToken))
    );
    assert!(!rs.refresh_keys(latchkey_http_tests::now()).await);
}

struct NoInteraction;

impl latchkey_axum::InteractionHandler for NoInteraction {
    fn interact<'a>(
        &'a self,
        _pending: latchkey_engine::authorize::PendingAuthorization,
        _request: &'a axum::http::request::Parts,
        _now: UnixTime,
    ) -> std::pin::Pin<Box<dyn Future<Output = latchkey_axum::Interaction> + Send + 'a>> {
        Box::pin(async {
            latchkey_axum::Interaction::Decide(
                latchkey_engine::authorize::AuthorizationDecision::Deny,
            )
        })
    }
}

#[tokio::test]
async fn rfc_8414_discovery_then_the_jwks_of_a_running_authorization_server() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let engine = latchkey_http_tests::fixture_engine(&base).await;
    let app = authorization_server_routes(Arc::new(AuthorizationServer::new(
        Arc::clone(&engine),
        Arc::new(NoInteraction),
    )));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });

    let remote = RemoteKeys::discover(&base).await.expect("discovered");
    assert_eq!(remote.issuer(), base);
    assert_eq!(remote.jwks_uri(), format!("{base}/jwks"));
    assert_eq!(remote.fetch().await.expect("fetched"), engine.keys().jwks());

    // RFC 8414 section 3.3: the issuer must be the document's byte for byte.
    let port = base.rsplit(':').next().expect("port");
    let other_spelling = format!("http://localhost:{port}");
    assert_eq!(
        RemoteKeys::discover(&other_spelling).await.unwrap_err(),
        KeysError::Metadata(MetadataError::IssuerMismatch)
    );
    // A path-inserted URL the server does not serve.
    assert_eq!(
        RemoteKeys::discover(&format!("{base}/tenant"))
            .await
            .unwrap_err(),
        KeysError::Status(404)
    );
}

#[tokio::test]
async fn malformed_oversized_or_empty_documents_are_refused() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let metadata = |tenant: &str, jwks_uri: &str| {
        serde_json::json!({
            "issuer": format!("{base}/{tenant}"),
            "response_types_supported": ["code"],
            "jwks_uri": jwks_uri,
        })
        .to_string()
    };
    let (empty, big, junk, remote) = (
        metadata("empty", &format!("{base}/jwks-empty")),
        metadata("big", &format!("{base}/jwks-big")),
        metadata("junk", &format!("{base}/jwks-junk")),
        // Plain http is for a loopback issuer's own loopback keys only.
        metadata("remote", "http://as.example.com/jwks"),
    );
    let app = Router::new()
        .route(
            "/.well-known/oauth-authorization-server/empty",
            get(move || async move { empty }),
        )
        .route(
            "/.well-known/oauth-authorization-server/big",
            get(move || async move { big }),
        )
        .route(
            "/.well-known/oauth-authorization-server/junk",
            get(move || async move { junk }),
        )
        .route(
            "/.well-known/oauth-authorization-server/notjson",
            get(|| async { "not json" }),
        )
        .route(
            "/.well-known/oauth-authorization-server/remote",
            get(move || async move { remote }),
        )
        .route("/jwks-empty", get(|| async { r#"{"keys":[]}"# }))
        .route("/jwks-big", get(|| async { " ".repeat(Jwks::MAX_LEN + 1) }))
        .route("/jwks-junk", get(|| async { r#"{"keys":{}}"# }));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let fetch = |tenant: &'static str| {
        let issuer = format!("{base}/{tenant}");
        async move {
            match RemoteKeys::discover(&issuer).await {
                Ok(remote) => remote.fetch().await.map(|_| ()),
                Err(error) => Err(error),
            }
        }
    };
    assert_eq!(fetch("empty").await, Err(KeysError::Empty));
    assert_eq!(fetch("big").await, Err(KeysError::TooLarge));
    assert_eq!(
        fetch("junk").await,
        Err(KeysError::Malformed(
            latchkey_jose::JoseError::MalformedJwks
        ))
    );
    assert_eq!(
        fetch("notjson").await,
        Err(KeysError::Metadata(MetadataError::InvalidJson))
    );
    assert_eq!(fetch("remote").await, Err(KeysError::JwksUri));
}
