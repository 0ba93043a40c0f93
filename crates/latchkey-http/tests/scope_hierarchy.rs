//! MCP 2026-07-28, Authorization, "Step-Up Authorization Flow": "Servers
//! **MUST** account for scope hierarchies, where a broader scope implies
//! narrower ones, when deciding whether a token is sufficient for an
//! operation." At the resource server, through the tower layer.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use latchkey_http::{RequireAccessTokenLayer, ResourceServer};
use latchkey_jose::{Algorithm, SigningKey};
use latchkey_metadata::parse_www_authenticate;
use latchkey_token::{AccessTokenClaims, AccessTokenValidator, Audience, KeySet};
use latchkey_types::{ClientId, Scope, ScopeHierarchy, ScopeToken, Subject, UnixTime};
use latchkey_uri::{AudienceMatch, ResourceUri};
use rand_core::SeedableRng;
use tower::{Layer, ServiceExt};

const ISSUER: &str = "https://as.example.com";
const RESOURCE: &str = "https://mcp.example.com/mcp";

fn now() -> UnixTime {
    latchkey_http_tests::now()
}

fn resource() -> ResourceUri {
    ResourceUri::parse(RESOURCE).expect("resource")
}

fn scope(s: &str) -> Scope {
    Scope::parse(s).expect("scope")
}

/// `notes` implies `notes:write`, which implies `notes:read`.
fn notes() -> ScopeHierarchy {
    let token = |s| ScopeToken::parse(s).expect("scope token");
    ScopeHierarchy::new([
        (token("notes"), token("notes:write")),
        (token("notes:write"), token("notes:read")),
    ])
    .expect("hierarchy")
}

fn keys() -> KeySet {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
    KeySet::new(SigningKey::generate(
        Algorithm::Es256,
        "k1".to_owned(),
        &mut rng,
    ))
    .expect("keys")
}

fn server(keys: &KeySet, hierarchy: ScopeHierarchy) -> Arc<ResourceServer> {
    let validator = AccessTokenValidator::new(
        keys.jwks(),
        ISSUER.to_owned(),
        resource(),
        AudienceMatch::Exact,
    );
    Arc::new(ResourceServer::new(resource(), validator).with_scope_hierarchy(hierarchy))
}

fn token(keys: &KeySet, granted: &str) -> String {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(9);
    let claims = AccessTokenClaims::new(
        ISSUER.to_owned(),
        Subject::parse("alice").expect("subject"),
        ClientId::parse("client-1").expect("client id"),
        Audience::new(resource()),
        now(),
        &mut rng,
    )
    .with_scope(scope(granted));
    keys.issue(&claims)
}

/// Calls a route needing `required` with a bearer token granted `granted`.
async fn call(server: &Arc<ResourceServer>, token: &str, required: &str) -> Response<Bytes> {
    let inner = tower::service_fn(|_: Request<Bytes>| async {
        Ok::<_, Infallible>(Response::new(Bytes::from_static(b"ok")))
    });
    let service = RequireAccessTokenLayer::new(Arc::clone(server), now)
        .require_scopes(scope(required))
        .layer(inner);
    let request = Request::get("/mcp")
        .header("authorization", format!("Bearer {token}"))
        .body(Bytes::new())
        .expect("request");
    match service.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

fn bearer_challenge(response: &Response<Bytes>) -> latchkey_metadata::Challenge {
    response
        .headers()
        .get_all("www-authenticate")
        .iter()
        .flat_map(|v| parse_www_authenticate(v.to_str().expect("ascii")).expect("challenge"))
        .find(|c| *c.scheme() == latchkey_metadata::AuthScheme::Bearer)
        .expect("a Bearer challenge")
}

#[tokio::test]
async fn mcp_2026_07_28_step_up_broader_scope_implies_narrower_at_the_resource_server() {
    let keys = keys();
    let server = server(&keys, notes());
    for (granted, required) in [
        ("notes", "notes:read"),
        ("notes", "notes:read notes:write"),
        ("notes:write", "notes:read"),
        ("notes:read", "notes:read"),
    ] {
        let response = call(&server, &token(&keys, granted), required).await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "{granted} for {required}"
        );
    }
    // Without the hierarchy the same token is refused.
    let flat = self::server(&keys, ScopeHierarchy::empty());
    let response = call(&flat, &token(&keys, "notes"), "notes:read").await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn mcp_2026_07_28_step_up_narrower_scope_never_implies_broader_at_the_resource_server() {
    let keys = keys();
    let server = server(&keys, notes());
    for (granted, required) in [
        ("notes:read", "notes"),
        ("notes:read", "notes:write"),
        ("notes:write", "notes"),
        ("notes", "notes:read other"),
    ] {
        let response = call(&server, &token(&keys, granted), required).await;
        assert_eq!(
            response.status(),
            StatusCode::FORBIDDEN,
            "{granted} for {required}"
        );
        // MCP 2026-07-28 "Runtime Insufficient Scope Errors": the challenge
        // names the scopes the operation requires, whatever the hierarchy.
        let challenge = bearer_challenge(&response);
        assert_eq!(challenge.error(), Some("insufficient_scope"));
        assert_eq!(
            challenge.param("scope"),
            Some(scope(required).to_string().as_str())
        );
    }
}
