//! The DPoP replay cache of the resource-server layer gives each token holder
//! (`client_id` and `sub`) a bounded share: one holder sending proofs as fast
//! as it can is refused past its share (`503 temporarily_unavailable`) while
//! another holder's proofs are still accepted (RFC 9449 section 11.1).

use latchkey_axum::ResourceServerExt;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use axum::routing::get;
use latchkey_axum::ResourceServer;
use latchkey_http_tests::dpop::DpopKey;
use latchkey_jose::{Algorithm, SigningKey};
use latchkey_token::{AccessTokenClaims, AccessTokenValidator, Audience, KeySet};
use latchkey_types::{ClientId, Subject};
use latchkey_uri::{AudienceMatch, ResourceUri};
use rand_core::SeedableRng;
use tower::ServiceExt;

const ISSUER: &str = "https://as.example.com";
const RESOURCE: &str = "https://mcp.example.com/mcp";

fn bound_token(keys: &KeySet, client: &str, subject: &str, dpop: &DpopKey) -> String {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(5);
    let claims = AccessTokenClaims::new(
        ISSUER.to_owned(),
        Subject::parse(subject).expect("subject"),
        ClientId::parse(client).expect("client id"),
        Audience::new(ResourceUri::parse(RESOURCE).expect("resource")),
        latchkey_http_tests::now(),
        &mut rng,
    )
    .with_cnf_jkt(dpop.public_jwk().thumbprint());
    keys.issue(&claims)
}

async fn call(app: &Router, token: &str, key: &mut DpopKey) -> (u16, String) {
    let request = Request::get("/mcp")
        .header("host", "mcp.example.com")
        .header("authorization", format!("DPoP {token}"))
        .header("dpop", key.proof("GET", RESOURCE, Some(token)))
        .body(Body::empty())
        .expect("request");
    let response = app.clone().oneshot(request).await.expect("infallible");
    let status = response.status().as_u16();
    let body = axum::body::to_bytes(response.into_body(), 64 * 1024)
        .await
        .expect("body");
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn security_one_token_holder_cannot_fill_the_replay_cache_for_everyone() {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
    let keys = KeySet::new(SigningKey::generate(
        Algorithm::Es256,
        "k1".to_owned(),
        &mut rng,
    ))
    .expect("key set");
    let resource = ResourceUri::parse(RESOURCE).expect("resource");
    let validator = AccessTokenValidator::new(
        keys.jwks(),
        ISSUER.to_owned(),
        resource.clone(),
        AudienceMatch::Exact,
    );
    let rs = Arc::new(ResourceServer::new(resource, validator).with_replay_share(3));
    let app = Router::new()
        .route("/mcp", get(|| async { "ok" }))
        .layer(rs.require_access_token());

    let mut flooder_key = DpopKey::new(21);
    let flooder = bound_token(&keys, "client-a", "mallory", &flooder_key);
    for _ in 0..3 {
        assert_eq!(call(&app, &flooder, &mut flooder_key).await.0, 200);
    }
    let (status, body) = call(&app, &flooder, &mut flooder_key).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("temporarily_unavailable"), "{body}");

    // Another holder of the same client, and another client, still get in.
    for (client, subject, seed) in [("client-a", "alice", 22), ("client-b", "bob", 23)] {
        let mut key = DpopKey::new(seed);
        let token = bound_token(&keys, client, subject, &key);
        assert_eq!(
            call(&app, &token, &mut key).await.0,
            200,
            "{client} {subject}"
        );
    }
}
