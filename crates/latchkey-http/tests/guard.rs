//! The guard through its tower layer over a plain `tower::service_fn` (no
//! framework): admission, challenges, DPoP server nonces at the resource
//! server, key refresh on an unknown `kid`, and the revocation check.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use latchkey_dpop::{DpopConfig, DpopNonces, NonceKey};
use latchkey_engine::{RevocationCheck, StatusFuture, TokenStatus};
use latchkey_http::{AccessToken, HttpError, RequestHead, RequireAccessTokenLayer, ResourceServer};
use latchkey_http_tests::dpop::DpopKey;
use latchkey_jose::{Algorithm, SigningKey};
use latchkey_metadata::parse_www_authenticate;
use latchkey_remote_keys::{KeySource, KeysFuture};
use latchkey_store::StoreError;
use latchkey_token::{AccessTokenClaims, AccessTokenValidator, Audience, KeySet, TokenError};
use latchkey_types::{ClientId, Scope, Subject, UnixTime};
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

fn key_set(seed: u64, kid: &str) -> KeySet {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
    KeySet::new(SigningKey::generate(
        Algorithm::Es256,
        kid.to_owned(),
        &mut rng,
    ))
    .expect("keys")
}

fn validator(keys: &KeySet) -> AccessTokenValidator {
    AccessTokenValidator::new(
        keys.jwks(),
        ISSUER.to_owned(),
        resource(),
        AudienceMatch::Exact,
    )
}

fn token(keys: &KeySet, bound: Option<&DpopKey>) -> String {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(9);
    let mut claims = AccessTokenClaims::new(
        ISSUER.to_owned(),
        Subject::parse("alice").expect("subject"),
        ClientId::parse("client-1").expect("client id"),
        Audience::new(resource()),
        now(),
        &mut rng,
    )
    .with_scope(scope("mcp:read"));
    if let Some(key) = bound {
        claims = claims.with_cnf_jkt(key.public_jwk().thumbprint());
    }
    keys.issue(&claims)
}

/// Calls `server`'s layer over a service answering `200` with the subject.
async fn call(server: &Arc<ResourceServer>, headers: &[(&str, &str)]) -> Response<Bytes> {
    let inner = tower::service_fn(|request: Request<Bytes>| async move {
        let sub = request
            .extensions()
            .get::<AccessToken>()
            .map(|token| token.claims().sub.as_str().to_owned())
            .unwrap_or_default();
        let sensitive = request
            .headers()
            .get("authorization")
            .is_none_or(http::HeaderValue::is_sensitive);
        assert!(
            sensitive,
            "the inner service sees credentials marked sensitive"
        );
        Ok::<_, Infallible>(Response::new(Bytes::from(sub)))
    });
    let service = RequireAccessTokenLayer::new(Arc::clone(server), now).layer(inner);
    let mut builder = Request::get("/mcp");
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let request = builder.body(Bytes::new()).expect("request");
    match service.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

fn header<'a>(response: &'a Response<Bytes>, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

fn challenges(response: &Response<Bytes>) -> Vec<latchkey_metadata::Challenge> {
    response
        .headers()
        .get_all("www-authenticate")
        .iter()
        .flat_map(|v| parse_www_authenticate(v.to_str().expect("ascii")).expect("challenge"))
        .collect()
}

#[tokio::test]
async fn tower_layer_admits_a_valid_token_into_any_service() {
    let keys = key_set(1, "k1");
    let server = Arc::new(ResourceServer::new(resource(), validator(&keys)));
    let token = token(&keys, None);
    let response = call(&server, &[("authorization", &format!("Bearer {token}"))]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.body().as_ref(), b"alice");
}

#[tokio::test]
async fn rfc_6750_section_3_and_rfc_9728_section_5_1_no_token_gets_both_challenges() {
    let keys = key_set(1, "k1");
    let server = Arc::new(
        ResourceServer::new(resource(), validator(&keys)).with_default_scopes(scope("mcp:read")),
    );
    let response = call(&server, &[]).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(header(&response, "cache-control"), Some("no-store"));
    let found = challenges(&response);
    assert_eq!(found.len(), 2);
    for challenge in &found {
        assert_eq!(
            challenge.param("resource_metadata"),
            Some("https://mcp.example.com/.well-known/oauth-protected-resource/mcp")
        );
        assert_eq!(challenge.param("scope"), Some("mcp:read"));
        assert_eq!(challenge.error(), None, "RFC 6750 section 3.1: no error");
    }
}

#[tokio::test]
async fn mcp_r15_a_foreign_origin_is_403_and_an_allowed_one_in_capitals_passes() {
    let keys = key_set(1, "k1");
    let server = Arc::new(
        ResourceServer::new(resource(), validator(&keys))
            .with_allowed_origins(["https://App.Example.com".to_owned()]),
    );
    let token = token(&keys, None);
    let bearer = format!("Bearer {token}");
    let foreign = call(
        &server,
        &[
            ("authorization", &bearer),
            ("origin", "https://evil.example"),
        ],
    )
    .await;
    assert_eq!(foreign.status(), StatusCode::FORBIDDEN);
    assert!(foreign.headers().get("www-authenticate").is_none());
    let capitals = call(
        &server,
        &[
            ("authorization", &bearer),
            ("origin", "HTTPS://APP.EXAMPLE.COM"),
        ],
    )
    .await;
    assert_eq!(capitals.status(), StatusCode::OK);
}

#[tokio::test]
async fn rfc_9449_section_9_resource_server_nonce_is_issued_then_required() {
    let keys = key_set(1, "k1");
    let mut dpop = DpopConfig::default();
    dpop.nonces = Some(DpopNonces::new(NonceKey::new(&[7; 32]).expect("nonce key")));
    let server = Arc::new(ResourceServer::new(resource(), validator(&keys)).with_dpop(dpop));
    let mut key = DpopKey::new(4);
    let token = token(&keys, Some(&key));
    let authorization = format!("DPoP {token}");

    let proof = key.proof("GET", RESOURCE, Some(&token));
    let first = call(
        &server,
        &[("authorization", &authorization), ("dpop", &proof)],
    )
    .await;
    assert_eq!(first.status(), StatusCode::UNAUTHORIZED);
    let dpop_challenge = challenges(&first)
        .into_iter()
        .find(|c| c.param("algs").is_some())
        .expect("dpop challenge");
    assert_eq!(dpop_challenge.error(), Some("use_dpop_nonce"));
    let nonce = header(&first, "dpop-nonce").expect("DPoP-Nonce").to_owned();

    let proof = key.proof_with_nonce("GET", RESOURCE, Some(&token), Some(&nonce));
    let second = call(
        &server,
        &[("authorization", &authorization), ("dpop", &proof)],
    )
    .await;
    assert_eq!(second.status(), StatusCode::OK);

    let proof = key.proof_with_nonce("GET", RESOURCE, Some(&token), Some("made-up"));
    let forged = call(
        &server,
        &[("authorization", &authorization), ("dpop", &proof)],
    )
    .await;
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
    assert!(header(&forged, "dpop-nonce").is_some());
}

struct Fixed(Option<TokenStatus>);

impl RevocationCheck for Fixed {
    fn status<'a>(&'a self, _jti: &'a str, _exp: UnixTime) -> StatusFuture<'a> {
        let answer = self
            .0
            .ok_or_else(|| StoreError::Backend("store down".into()));
        Box::pin(async move { answer })
    }
}

#[tokio::test]
async fn revocation_check_refuses_revoked_tokens_and_fails_closed() {
    let keys = key_set(1, "k1");
    let token = token(&keys, None);
    let bearer = format!("Bearer {token}");
    for (status, expected) in [
        (Some(TokenStatus::Active), StatusCode::OK),
        (Some(TokenStatus::Revoked), StatusCode::UNAUTHORIZED),
        (Some(TokenStatus::Unknown), StatusCode::UNAUTHORIZED),
        (None, StatusCode::SERVICE_UNAVAILABLE),
    ] {
        let server = Arc::new(
            ResourceServer::new(resource(), validator(&keys))
                .with_revocation_check(Arc::new(Fixed(status))),
        );
        let response = call(&server, &[("authorization", &bearer)]).await;
        assert_eq!(response.status(), expected, "{status:?}");
    }
}

struct Rotated(KeySet);

impl KeySource for Rotated {
    fn fetch_keys(&self) -> KeysFuture<'_> {
        let jwks = self.0.jwks();
        Box::pin(async move { Ok(jwks) })
    }
}

#[tokio::test]
async fn rfc_7517_section_4_5_an_unknown_kid_fetches_the_keys_once_more() {
    let old = key_set(1, "k1");
    let new = key_set(2, "k2");
    let token = token(&new, None);
    let plain = Arc::new(ResourceServer::new(resource(), validator(&old)));
    let head = Request::get("/mcp")
        .header("authorization", format!("Bearer {token}"))
        .body(())
        .expect("request")
        .into_parts()
        .0;
    assert_eq!(
        plain.check(RequestHead::from(&head), &Scope::empty(), now()),
        Err(HttpError::InvalidToken(TokenError::UnknownKey))
    );
    let refreshing = Arc::new(
        ResourceServer::new(resource(), validator(&old))
            .with_key_refresh(Arc::new(Rotated(new)), Duration::from_secs(60)),
    );
    let response = call(
        &refreshing,
        &[("authorization", &format!("Bearer {token}"))],
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
}
