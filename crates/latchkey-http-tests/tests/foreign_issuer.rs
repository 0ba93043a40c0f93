//! Resource servers of both adapters in front of an authorization server
//! that is not Latchkey: node-oidc-provider (`e2e/foreign-issuer/`), found by
//! discovery (its `openid-configuration`), signing RFC 9068 access tokens
//! with RS256 in one run and PS256 in the other, and introspecting its
//! opaque tokens (RFC 7662). Each adapter accepts the provider's token for
//! its own resource and refuses one for another audience, one from another
//! issuer, a tampered one, an `alg: none` one, an expired one and a revoked
//! opaque one.
//!
//! The tests start `node` themselves; without Node or `npm ci` in
//! `e2e/foreign-issuer` they print why and pass, except under `CI`, where
//! they fail.

use std::sync::Arc;
use std::time::Duration;

use latchkey_http::{Introspection, IntrospectionMode, RequestHead, ResourceServer};
use latchkey_http_tests::client::{Request, send};
use latchkey_http_tests::foreign_issuer::{
    ForeignIssuer, INTROSPECTION_CLIENT, expiry, tampered, unsigned,
};
use latchkey_jose::Algorithm;
use latchkey_remote_keys::{RemoteIntrospection, RemoteKeys};
use latchkey_token::AccessTokenValidator;
use latchkey_types::{ClientId, Scope, SecretString, UnixTime};
use latchkey_uri::{AudienceMatch, ResourceUri};

const OTHER_RESOURCE: &str = "http://127.0.0.1:1/other";

/// A resource server for `resource` trusting `issuer`: its keys discovered,
/// RS256 and PS256 allowed, opaque tokens introspected with no cache (so a
/// revocation shows at once).
async fn resource_server(issuer: &ForeignIssuer, resource: &ResourceUri) -> ResourceServer {
    let keys = RemoteKeys::discover(&issuer.issuer)
        .await
        .expect("the provider's metadata is found");
    let jwks = keys.fetch().await.expect("the provider's keys");
    let validator = AccessTokenValidator::new(
        jwks,
        issuer.issuer.clone(),
        resource.clone(),
        AudienceMatch::Exact,
    )
    .with_algorithms(&[Algorithm::Rs256, Algorithm::Ps256])
    .expect("algorithms");
    let (client, secret) = INTROSPECTION_CLIENT;
    let introspection = RemoteIntrospection::discover(
        &issuer.issuer,
        ClientId::parse(client).expect("client id"),
        &SecretString::new(secret.to_owned()),
    )
    .await
    .expect("the provider's introspection endpoint is found");
    ResourceServer::new(resource.clone(), validator)
        .with_key_refresh(Arc::new(keys), Duration::from_secs(60))
        .with_introspection(
            Introspection::new(
                Arc::new(introspection),
                issuer.issuer.clone(),
                IntrospectionMode::ForOpaqueTokens,
            )
            .with_cache(Duration::ZERO, 0),
        )
}

/// The axum adapter serving `GET /mcp` behind the token layer; its base URL.
async fn start_axum(issuer: &ForeignIssuer) -> String {
    use latchkey_axum::ResourceServerExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let resource = ResourceUri::parse(&format!("{base}/mcp")).expect("resource");
    let rs = Arc::new(resource_server(issuer, &resource).await);
    let app = axum::Router::new()
        .route("/mcp", axum::routing::get(|| async { "ok" }))
        .layer(rs.require_access_token());
    let app = latchkey_axum::with_sensitive_headers(app);
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

/// The actix adapter serving `GET /mcp` behind its middleware; its base URL.
async fn start_actix(issuer: &ForeignIssuer) -> String {
    use actix_web::{App, HttpResponse, HttpServer, web};
    use latchkey_actix::{RequireAccessToken, SensitiveHeaders};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let resource = ResourceUri::parse(&format!("{base}/mcp")).expect("resource");
    let rs = Arc::new(resource_server(issuer, &resource).await);
    let server = HttpServer::new(move || {
        App::new().wrap(SensitiveHeaders).service(
            web::resource("/mcp")
                .wrap(RequireAccessToken::new(Arc::clone(&rs)))
                .route(web::get().to(|| async { HttpResponse::Ok().body("ok") })),
        )
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .expect("listen")
    .run();
    std::thread::spawn(move || actix_web::rt::System::new().block_on(server));
    base
}

/// The status and the `error` of the challenge for `GET /mcp` with `token`.
async fn call(base: &str, token: &str) -> (u16, String) {
    let response = send(
        base,
        &Request::new("GET", "/mcp").header("Authorization", &format!("Bearer {token}")),
    )
    .await;
    let error = response
        .header("www-authenticate")
        .and_then(|challenge| challenge.split("error=\"").nth(1))
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default()
        .to_owned();
    (response.status, error)
}

fn refused() -> (u16, String) {
    (401, "invalid_token".to_owned())
}

async fn node_oidc_provider_tokens_at_both_adapters(alg: &str) {
    let Some(provider) = ForeignIssuer::start(alg).await else {
        return;
    };
    let other = ForeignIssuer::start(alg)
        .await
        .expect("a second provider starts when the first did");
    let targets = [
        ("axum", start_axum(&provider).await),
        ("actix", start_actix(&provider).await),
    ];
    for (adapter, base) in &targets {
        let resource = format!("{base}/mcp");
        let token = provider.token("jwt-client", &resource, "notes:read").await;
        let header = token.split('.').next().expect("header");
        assert!(
            header.len() > 10 && token.split('.').count() == 3,
            "{adapter}: a JWT access token"
        );
        assert_eq!(
            call(base, &token).await,
            (200, String::new()),
            "{adapter} {alg}: own token"
        );

        let foreign_audience = provider
            .token("jwt-client", OTHER_RESOURCE, "notes:read")
            .await;
        assert_eq!(
            call(base, &foreign_audience).await,
            refused(),
            "{adapter} {alg}: audience"
        );
        let other_issuer = other.token("jwt-client", &resource, "notes:read").await;
        assert_eq!(
            call(base, &other_issuer).await,
            refused(),
            "{adapter} {alg}: issuer"
        );
        assert_eq!(
            call(base, &tampered(&token)).await,
            refused(),
            "{adapter} {alg}: tampered"
        );
        assert_eq!(
            call(base, &unsigned(&token)).await,
            refused(),
            "{adapter} {alg}: alg none"
        );

        let opaque = provider
            .token("opaque-client", &resource, "notes:read")
            .await;
        assert!(!opaque.contains('.'), "{adapter}: an opaque token");
        assert_eq!(
            call(base, &opaque).await,
            (200, String::new()),
            "{adapter}: introspected"
        );
        let opaque_elsewhere = provider
            .token("opaque-client", OTHER_RESOURCE, "notes:read")
            .await;
        assert_eq!(
            call(base, &opaque_elsewhere).await,
            refused(),
            "{adapter}: opaque audience"
        );
        provider.revoke("opaque-client", &opaque).await;
        assert_eq!(call(base, &opaque).await, refused(), "{adapter}: revoked");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc_9068_node_oidc_provider_rs256_tokens_at_both_adapters() {
    node_oidc_provider_tokens_at_both_adapters("RS256").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc_9068_node_oidc_provider_ps256_tokens_at_both_adapters() {
    node_oidc_provider_tokens_at_both_adapters("PS256").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc_9068_section_4_an_expired_node_oidc_provider_token_is_refused() {
    let Some(provider) = ForeignIssuer::start("PS256").await else {
        return;
    };
    let resource = ResourceUri::parse("http://127.0.0.1:3000/mcp").expect("resource");
    let rs = resource_server(&provider, &resource).await;
    let token = provider
        .token("jwt-client", resource.as_str(), "notes:read")
        .await;
    let opaque = provider
        .token("opaque-client", resource.as_str(), "notes:read")
        .await;
    let exp = UnixTime::from_secs(expiry(&token));
    let scopes = Scope::parse("notes:read").expect("scope");
    // Within its lifetime, then past `exp` and the 60-second leeway.
    for (at, expected) in [
        (exp.saturating_sub(Duration::from_secs(1)), 200),
        (exp.saturating_add(Duration::from_secs(61)), 401),
    ] {
        for token in [&token, &opaque] {
            let (parts, ()) = http::Request::get("/mcp")
                .header("authorization", format!("Bearer {token}"))
                .body(())
                .expect("request")
                .into_parts();
            let status = match rs.guard(RequestHead::from(&parts), &scopes, at).await {
                Ok(_) => 200,
                Err(response) => response.status().as_u16(),
            };
            assert_eq!(status, expected, "{at:?}");
        }
    }
}
