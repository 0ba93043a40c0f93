//! Resource-server protection without a socket: each MCP R rule against
//! `ResourceServer::check` (exact `HttpError`) and through the layers with
//! `tower::ServiceExt::oneshot`.

use latchkey_axum::ResourceServerExt;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use latchkey_axum::{AccessToken, HttpError, ResourceServer, protected_resource_metadata_routes};
use latchkey_dpop::DpopError;
use latchkey_http::RequestHead;
use latchkey_http_tests::dpop::DpopKey;
use latchkey_jose::{Algorithm, SigningKey};
use latchkey_metadata::{ProtectedResourceMetadata, parse_www_authenticate};
use latchkey_token::{AccessTokenClaims, AccessTokenValidator, Audience, KeySet, TokenError};
use latchkey_types::{ClientId, ErrorCode, Scope, Subject, UnixTime};
use latchkey_uri::{AudienceMatch, ResourceUri};
use rand_core::SeedableRng;
use tower::ServiceExt;

const ISSUER: &str = "https://as.example.com";
const RESOURCE: &str = "https://mcp.example.com/mcp";
const PRM: &str = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp";
const ORIGIN: &str = "https://app.example.com";

struct Fixture {
    keys: KeySet,
    server: Arc<ResourceServer>,
    rng: rand_chacha::ChaCha20Rng,
}

fn fixture() -> Fixture {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(3);
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
    let server = Arc::new(
        ResourceServer::new(resource(), validator)
            .with_default_scopes(scope("mcp:read"))
            .with_allowed_origins(vec![ORIGIN.to_owned()]),
    );
    Fixture { keys, server, rng }
}

fn resource() -> ResourceUri {
    ResourceUri::parse(RESOURCE).expect("resource")
}

fn scope(s: &str) -> Scope {
    Scope::parse(s).expect("scope")
}

fn now() -> UnixTime {
    latchkey_http_tests::now()
}

impl Fixture {
    fn claims(&mut self, audience: &str, scopes: &str, issued: UnixTime) -> AccessTokenClaims {
        AccessTokenClaims::new(
            ISSUER.to_owned(),
            Subject::parse("alice").expect("subject"),
            ClientId::parse("client-1").expect("client id"),
            Audience::new(ResourceUri::parse(audience).expect("audience")),
            issued,
            &mut self.rng,
        )
        .with_scope(scope(scopes))
    }

    fn token(&mut self, scopes: &str) -> String {
        let claims = self.claims(RESOURCE, scopes, now());
        self.keys.issue(&claims)
    }

    fn bound_token(&mut self, key: &DpopKey) -> String {
        let claims = self
            .claims(RESOURCE, "mcp:read", now())
            .with_cnf_jkt(key.public_jwk().thumbprint());
        self.keys.issue(&claims)
    }

    fn check(&self, parts: &Parts, scopes: &str) -> Result<latchkey_http::AccessToken, HttpError> {
        self.server
            .check(RequestHead::from(parts), &scope(scopes), now())
    }
}

fn parts(target: &str, headers: &[(&str, &str)]) -> Parts {
    let mut builder = Request::builder().method("GET").uri(target);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(()).expect("request").into_parts().0
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn err(result: Result<latchkey_http::AccessToken, HttpError>) -> HttpError {
    match result {
        Ok(_) => panic!("expected a refusal"),
        Err(error) => error,
    }
}

#[test]
fn r5_a_valid_token_with_the_scope_is_accepted() {
    let mut f = fixture();
    let token = f.token("mcp:read mcp:write");
    let accepted = f
        .check(
            &parts("/mcp", &[("authorization", &bearer(&token))]),
            "mcp:read",
        )
        .expect("accepted");
    assert_eq!(accepted.claims().sub.as_str(), "alice");
}

#[test]
fn r3_missing_token_is_missing_token() {
    let f = fixture();
    assert_eq!(
        err(f.check(&parts("/mcp", &[]), "mcp:read")),
        HttpError::MissingToken
    );
    let basic = parts("/mcp", &[("authorization", "Basic YTpi")]);
    assert_eq!(err(f.check(&basic, "mcp:read")), HttpError::MissingToken);
}

#[test]
fn r7_expired_token_is_invalid_token() {
    let mut f = fixture();
    let claims = f.claims(RESOURCE, "mcp:read", UnixTime::from_secs(1_000_000_000));
    let token = f.keys.issue(&claims);
    let refused = f.check(
        &parts("/mcp", &[("authorization", &bearer(&token))]),
        "mcp:read",
    );
    assert_eq!(err(refused), HttpError::InvalidToken(TokenError::Expired));
}

#[test]
fn r6_r13_token_for_another_resource_is_invalid_token() {
    let mut f = fixture();
    let claims = f.claims("https://other.example.com/mcp", "mcp:read", now());
    let token = f.keys.issue(&claims);
    let refused = f.check(
        &parts("/mcp", &[("authorization", &bearer(&token))]),
        "mcp:read",
    );
    assert_eq!(
        err(refused),
        HttpError::InvalidToken(TokenError::WrongAudience)
    );
}

#[test]
fn r8_token_signed_by_another_key_is_invalid_token() {
    let f = fixture();
    let mut other = fixture();
    other.keys = KeySet::new(SigningKey::generate(
        Algorithm::Es256,
        "k1".to_owned(),
        &mut rand_chacha::ChaCha20Rng::seed_from_u64(99),
    ))
    .expect("key set");
    let token = other.token("mcp:read");
    let refused = f.check(
        &parts("/mcp", &[("authorization", &bearer(&token))]),
        "mcp:read",
    );
    assert_eq!(
        err(refused),
        HttpError::InvalidToken(TokenError::BadSignature)
    );
}

#[test]
fn r11_missing_scope_is_insufficient_scope() {
    let mut f = fixture();
    let token = f.token("mcp:read");
    let refused = f.check(
        &parts("/mcp", &[("authorization", &bearer(&token))]),
        "mcp:read mcp:write",
    );
    assert_eq!(err(refused), HttpError::InsufficientScope);
}

#[test]
fn oauth_2_1_section_5_1_2_query_token_is_refused_even_with_a_header() {
    let mut f = fixture();
    let token = f.token("mcp:read");
    let target = format!("/mcp?access_token={token}");
    assert_eq!(
        err(f.check(&parts(&target, &[]), "mcp:read")),
        HttpError::TokenInQuery
    );
    let both = parts(&target, &[("authorization", &bearer(&token))]);
    assert_eq!(err(f.check(&both, "mcp:read")), HttpError::TokenInQuery);
}

#[test]
fn repeated_authorization_is_refused() {
    let mut f = fixture();
    let token = f.token("mcp:read");
    let value = bearer(&token);
    let twice = parts(
        "/mcp",
        &[("authorization", &value), ("authorization", &value)],
    );
    assert_eq!(
        err(f.check(&twice, "mcp:read")),
        HttpError::RepeatedAuthorization
    );
}

#[test]
fn rfc_9449_section_7_1_bound_token_as_bearer_is_refused() {
    let mut f = fixture();
    let key = DpopKey::new(1);
    let token = f.bound_token(&key);
    let refused = f.check(
        &parts("/mcp", &[("authorization", &bearer(&token))]),
        "mcp:read",
    );
    assert_eq!(err(refused), HttpError::BoundTokenAsBearer);
}

#[test]
fn rfc_9449_section_7_1_unbound_token_as_dpop_is_refused() {
    let mut f = fixture();
    let mut key = DpopKey::new(1);
    let token = f.token("mcp:read");
    let proof = key.proof("GET", RESOURCE, Some(&token));
    let request = parts(
        "/mcp",
        &[
            ("authorization", &format!("DPoP {token}")),
            ("dpop", &proof),
        ],
    );
    assert_eq!(
        err(f.check(&request, "mcp:read")),
        HttpError::UnboundTokenAsDpop
    );
}

#[test]
fn rfc_9449_section_4_3_proof_checks_htu_ath_key_and_replay() {
    let mut f = fixture();
    let mut key = DpopKey::new(2);
    let token = f.bound_token(&key);
    let auth = format!("DPoP {token}");
    let request = |proof: &str| parts("/mcp", &[("authorization", &auth), ("dpop", proof)]);

    let good = key.proof("GET", RESOURCE, Some(&token));
    assert!(f.check(&request(&good), "mcp:read").is_ok());
    assert_eq!(
        err(f.check(&request(&good), "mcp:read")),
        HttpError::Dpop(DpopError::Replayed)
    );
    let wrong_uri = key.proof("GET", "https://mcp.example.com/other", Some(&token));
    assert_eq!(
        err(f.check(&request(&wrong_uri), "mcp:read")),
        HttpError::Dpop(DpopError::UriMismatch)
    );
    let no_ath = key.proof("GET", RESOURCE, None);
    assert_eq!(
        err(f.check(&request(&no_ath), "mcp:read")),
        HttpError::Dpop(DpopError::AthMissing)
    );
    let other_key = DpopKey::new(3).proof("GET", RESOURCE, Some(&token));
    assert_eq!(
        err(f.check(&request(&other_key), "mcp:read")),
        HttpError::Dpop(DpopError::KeyBindingMismatch)
    );
    let no_proof = parts("/mcp", &[("authorization", &auth)]);
    assert_eq!(
        err(f.check(&no_proof, "mcp:read")),
        HttpError::Dpop(DpopError::MissingProof)
    );
}

#[test]
fn error_codes_of_every_refusal() {
    let cases = [
        (
            HttpError::RepeatedAuthorization,
            ErrorCode::InvalidRequest,
            400,
        ),
        (HttpError::TokenInQuery, ErrorCode::InvalidRequest, 400),
        (HttpError::MissingToken, ErrorCode::InvalidRequest, 401),
        (HttpError::BoundTokenAsBearer, ErrorCode::InvalidToken, 401),
        (
            HttpError::Dpop(DpopError::Replayed),
            ErrorCode::InvalidDpopProof,
            401,
        ),
        (
            HttpError::InsufficientScope,
            ErrorCode::InsufficientScope,
            403,
        ),
        (HttpError::ForbiddenOrigin, ErrorCode::AccessDenied, 403),
    ];
    for (error, code, status) in cases {
        assert_eq!(ErrorCode::from(&error), code, "{error}");
        assert_eq!(error.http_status(), status, "{error}");
    }
}

async fn hello(token: AccessToken) -> String {
    token.claims().sub.as_str().to_owned()
}

fn app(f: &Fixture) -> Router {
    let admin = Router::new().route("/mcp/admin", get(hello)).layer(
        f.server
            .require_access_token()
            .require_scopes(scope("mcp:read mcp:write")),
    );
    Router::new()
        .route("/mcp", get(hello))
        .layer(f.server.require_access_token())
        .merge(admin)
        .layer(f.server.origin_layer())
}

async fn call(router: Router, request: Request<Body>) -> axum::response::Response {
    router.oneshot(request).await.expect("infallible")
}

fn get_request(target: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut builder = Request::builder().method("GET").uri(target);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Body::empty()).expect("request")
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
async fn r3_r4_rfc_9728_section_5_1_401_challenges_carry_resource_metadata_and_scope() {
    let f = fixture();
    let response = call(app(&f), get_request("/mcp", &[])).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenges = challenges(&response);
    assert_eq!(challenges.len(), 2);
    for challenge in &challenges {
        assert_eq!(challenge.resource_metadata(), Some(PRM));
        assert_eq!(challenge.param("scope"), Some("mcp:read"));
        assert_eq!(challenge.error(), None, "RFC 6750 section 3.1");
    }
    assert_eq!(challenges[1].algs(), Some(vec!["ES256", "EdDSA"]));
}

#[tokio::test]
async fn r11_403_names_every_scope_the_route_needs() {
    let mut f = fixture();
    let token = f.token("mcp:read");
    let response = call(
        app(&f),
        get_request("/mcp/admin", &[("authorization", &bearer(&token))]),
    )
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let challenges = challenges(&response);
    assert_eq!(
        challenges[0].error_code(),
        Some(ErrorCode::InsufficientScope)
    );
    assert_eq!(challenges[0].param("scope"), Some("mcp:read mcp:write"));
    assert_eq!(challenges[0].resource_metadata(), Some(PRM));
    let ok = call(
        app(&f),
        get_request("/mcp", &[("authorization", &bearer(&token))]),
    )
    .await;
    assert_eq!(ok.status(), StatusCode::OK);
}

#[tokio::test]
async fn r15_origin_present_and_not_allowed_is_403() {
    let mut f = fixture();
    let token = f.token("mcp:read");
    let auth = bearer(&token);
    let foreign = get_request(
        "/mcp",
        &[("origin", "https://evil.example"), ("authorization", &auth)],
    );
    assert_eq!(call(app(&f), foreign).await.status(), StatusCode::FORBIDDEN);
    let allowed = get_request("/mcp", &[("origin", ORIGIN), ("authorization", &auth)]);
    assert_eq!(call(app(&f), allowed).await.status(), StatusCode::OK);
    let absent = get_request("/mcp", &[("authorization", &auth)]);
    assert_eq!(call(app(&f), absent).await.status(), StatusCode::OK);
    let twice = get_request(
        "/mcp",
        &[
            ("origin", ORIGIN),
            ("origin", ORIGIN),
            ("authorization", &auth),
        ],
    );
    assert_eq!(call(app(&f), twice).await.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn rfc_9449_section_9_use_dpop_nonce_gets_a_fresh_nonce_header() {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(5);
    let mut f = fixture();
    let mut dpop = latchkey_dpop::DpopConfig::default();
    dpop.nonces = Some(latchkey_dpop::DpopNonces::new(
        latchkey_dpop::NonceKey::generate(&mut rng),
    ));
    let validator = AccessTokenValidator::new(
        f.keys.jwks(),
        ISSUER.to_owned(),
        resource(),
        AudienceMatch::Exact,
    );
    f.server = Arc::new(
        ResourceServer::new(resource(), validator)
            .with_dpop(dpop)
            .with_replay_capacity(100),
    );
    let mut key = DpopKey::new(4);
    let token = f.bound_token(&key);
    let proof = key.proof("GET", RESOURCE, Some(&token));
    let response = call(
        app(&f),
        get_request(
            "/mcp",
            &[
                ("authorization", &format!("DPoP {token}")),
                ("dpop", &proof),
            ],
        ),
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.headers().get("dpop-nonce").is_some());
    let challenges = challenges(&response);
    assert_eq!(challenges[1].error_code(), Some(ErrorCode::UseDpopNonce));
}

#[tokio::test]
async fn the_extractor_without_the_layer_is_a_generic_500() {
    let router = Router::new().route("/open", get(hello));
    let response = call(router, get_request("/open", &[])).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
}

#[tokio::test]
async fn r1_r3_prime_metadata_at_path_inserted_and_root_urls() {
    let mut document = ProtectedResourceMetadata::new(RESOURCE);
    document.authorization_servers = Some(vec![ISSUER.to_owned()]);
    for path in [
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-protected-resource",
    ] {
        let response = call(
            protected_resource_metadata_routes(&document),
            get_request(path, &[]),
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .expect("body");
        let json: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(json["resource"], RESOURCE);
        assert_eq!(json["authorization_servers"][0], ISSUER);
    }
}

#[tokio::test]
async fn rfc_9449_section_4_3_htu_keeps_the_prefix_of_a_nested_router() {
    let mut f = fixture();
    let nested = ResourceUri::parse("https://mcp.example.com/api/mcp").expect("resource");
    let validator = AccessTokenValidator::new(
        f.keys.jwks(),
        ISSUER.to_owned(),
        nested.clone(),
        AudienceMatch::Exact,
    );
    let server = Arc::new(ResourceServer::new(nested, validator));
    let mut key = DpopKey::new(6);
    let claims = f
        .claims("https://mcp.example.com/api/mcp", "mcp:read", now())
        .with_cnf_jkt(key.public_jwk().thumbprint());
    let token = f.keys.issue(&claims);
    let router = Router::new().nest(
        "/api",
        Router::new()
            .route("/mcp", get(hello))
            .layer(server.require_access_token()),
    );
    let proof = key.proof("GET", "https://mcp.example.com/api/mcp", Some(&token));
    let request = get_request(
        "/api/mcp",
        &[
            ("authorization", &format!("DPoP {token}")),
            ("dpop", &proof),
        ],
    );
    assert_eq!(call(router, request).await.status(), StatusCode::OK);
}
