//! A resource server apart from its authorization server: `RemoteKeys`
//! discovery and fetching over real HTTP (RFC 8414 sections 3.1 and 3.3, RFC
//! 7517 section 5), and `ResourceServer::with_key_refresh` fetching the keys
//! again when a token names an unknown `kid`, at most once per interval.
#![cfg(feature = "remote-keys")]

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, test, web};
use latchkey_actix::{
    AccessToken, AuthorizationServer, Interaction, InteractionHandler, KeysError, RemoteKeys,
    RequireAccessToken, ResourceServer, authorization_server_routes,
};
use latchkey_engine::authorize::{AuthorizationDecision, PendingAuthorization};
use latchkey_http_tests::remote_keys::{CountingSource, ISSUER, key, resource, source, token};
use latchkey_jose::Jwks;
use latchkey_metadata::{MetadataError, parse_www_authenticate};
use latchkey_token::AccessTokenValidator;
use latchkey_types::{ErrorCode, UnixTime};
use latchkey_uri::AudienceMatch;

/// A resource server trusting only `k1`, with `source` (if any) and a
/// one-hour refresh interval.
fn server(source: Option<Arc<CountingSource>>) -> Arc<ResourceServer> {
    let jwks = Jwks::new(vec![key("k1", 1).public_jwk()]).expect("jwks");
    let validator =
        AccessTokenValidator::new(jwks, ISSUER.to_owned(), resource(), AudienceMatch::Exact);
    let mut rs = ResourceServer::new(resource(), validator);
    if let Some(source) = source {
        rs = rs.with_key_refresh(source, Duration::from_secs(3600));
    }
    Arc::new(rs)
}

/// `GET /mcp` through `RequireAccessToken`: the status and the challenge's error.
async fn call(rs: &Arc<ResourceServer>, token: &str) -> (u16, Option<ErrorCode>) {
    let app = test::init_service(
        App::new().service(
            web::resource("/mcp")
                .wrap(RequireAccessToken::new(Arc::clone(rs)))
                .route(web::get().to(|token: AccessToken| async move {
                    HttpResponse::Ok().body(token.claims().sub.as_str().to_owned())
                })),
        ),
    )
    .await;
    let request = test::TestRequest::get()
        .uri("/mcp")
        .insert_header(("authorization", format!("Bearer {token}")))
        .to_request();
    let response = test::call_service(&app, request).await;
    let error = response
        .headers()
        .get("www-authenticate")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| parse_www_authenticate(value).ok())
        .and_then(|challenges| challenges.first().and_then(|c| c.error_code()));
    (response.status().as_u16(), error)
}

#[actix_web::test]
async fn rfc_7517_section_4_5_an_unknown_kid_fetches_the_keys_again_once() {
    let rotated =
        Jwks::new(vec![key("k2", 2).public_jwk(), key("k1", 1).public_jwk()]).expect("jwks");
    let source = source(Some(rotated.clone()));
    let rs = server(Some(Arc::clone(&source)));

    // A token signed by the key the server started with: no fetch.
    assert_eq!(call(&rs, &token(key("k1", 1))).await, (200, None));
    assert_eq!(source.fetches(), 0);

    // A token signed by the rotated-in key: one fetch, then accepted.
    assert_eq!(call(&rs, &token(key("k2", 2))).await, (200, None));
    assert_eq!(source.fetches(), 1);
    assert_eq!(rs.keys(), rotated);

    // A kid the issuer does not publish either: no second fetch within the interval.
    assert_eq!(
        call(&rs, &token(key("k3", 3))).await,
        (401, Some(ErrorCode::InvalidToken))
    );
    assert_eq!(source.fetches(), 1);
}

#[actix_web::test]
async fn key_refresh_is_rate_limited_by_the_interval() {
    let jwks = Jwks::new(vec![key("k2", 2).public_jwk()]).expect("jwks");
    let source = source(Some(jwks));
    let rs = server(Some(Arc::clone(&source)));
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

#[actix_web::test]
async fn a_failed_fetch_keeps_the_keys_and_refuses_with_invalid_token() {
    let source = source(None);
    let rs = server(Some(Arc::clone(&source)));
    let before = rs.keys();
    assert_eq!(
        call(&rs, &token(key("k2", 2))).await,
        (401, Some(ErrorCode::InvalidToken))
    );
    assert_eq!(source.fetches(), 1);
    assert_eq!(rs.keys(), before);
    assert_eq!(call(&rs, &token(key("k1", 1))).await, (200, None));
}

#[actix_web::test]
async fn without_a_key_source_an_unknown_kid_is_invalid_token() {
    let rs = server(None);
    assert_eq!(
        call(&rs, &token(key("k2", 2))).await,
        (401, Some(ErrorCode::InvalidToken))
    );
    assert!(!rs.refresh_keys(latchkey_actix::now()).await);
}

/// Refuses every authorization request (the test needs only discovery and keys).
struct Deny;

impl InteractionHandler for Deny {
    fn interact<'a>(
        &'a self,
        _pending: PendingAuthorization,
        _request: &'a http::request::Parts,
        _now: UnixTime,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Interaction> + Send + 'a>> {
        Box::pin(async { Interaction::Decide(AuthorizationDecision::Deny) })
    }
}

#[actix_web::test]
async fn rfc_8414_discovery_then_the_jwks_of_a_running_authorization_server() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let base = format!("http://127.0.0.1:{port}");
    let engine = latchkey_http_tests::fixture_engine(&base).await;
    let published = engine.keys().jwks();
    let authorization = Arc::new(AuthorizationServer::new(engine, Arc::new(Deny)));
    let server = HttpServer::new(move || {
        App::new().configure(authorization_server_routes(Arc::clone(&authorization)))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .expect("listen")
    .run();
    std::thread::spawn(move || actix_web::rt::System::new().block_on(server));

    let remote = RemoteKeys::discover(&base).await.expect("discovered");
    assert_eq!(remote.issuer(), base);
    assert_eq!(remote.jwks_uri(), format!("{base}/jwks"));
    assert_eq!(remote.fetch().await.expect("fetched"), published);

    // RFC 8414 section 3.3: the issuer must be the document's byte for byte.
    assert_eq!(
        RemoteKeys::discover(&format!("http://localhost:{port}"))
            .await
            .expect_err("another spelling of the issuer"),
        KeysError::Metadata(MetadataError::IssuerMismatch)
    );
    assert_eq!(
        RemoteKeys::discover(&format!("{base}/tenant"))
            .await
            .expect_err("no metadata there"),
        KeysError::Status(404)
    );
    assert_eq!(
        RemoteKeys::discover("http://as.example.com")
            .await
            .expect_err("plain http off loopback"),
        KeysError::IssuerUnusable
    );
}
