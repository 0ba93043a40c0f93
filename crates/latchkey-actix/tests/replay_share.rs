//! The DPoP replay cache of the resource-server middleware gives each token
//! holder (`client_id` and `sub`) a bounded share: one holder sending proofs
//! as fast as it can is refused past its share (`503
//! temporarily_unavailable`) while another holder's proofs are still
//! accepted (RFC 9449 section 11.1).

#![expect(
    clippy::unwrap_used,
    reason = "test fixtures: a failed unwrap is a failed test"
)]

use std::sync::Arc;

use actix_web::{App, HttpResponse, test, web};
use latchkey_actix::{RequireAccessToken, ResourceServer};
use latchkey_http_tests::dpop::DpopKey;
use latchkey_jose::{Algorithm, SigningKey};
use latchkey_token::{AccessTokenClaims, AccessTokenValidator, Audience, KeySet};
use latchkey_types::{ClientId, Subject};
use latchkey_uri::{AudienceMatch, ResourceUri};
use rand_core::SeedableRng;

const ISSUER: &str = "https://as.example.com";
const RESOURCE: &str = "https://mcp.example.com/mcp";

fn bound_token(keys: &KeySet, client: &str, subject: &str, dpop: &DpopKey) -> String {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(5);
    let claims = AccessTokenClaims::new(
        ISSUER.to_owned(),
        Subject::parse(subject).unwrap(),
        ClientId::parse(client).unwrap(),
        Audience::new(ResourceUri::parse(RESOURCE).unwrap()),
        latchkey_actix::now(),
        &mut rng,
    )
    .with_cnf_jkt(dpop.public_jwk().thumbprint());
    keys.issue(&claims)
}

#[actix_web::test]
async fn security_one_token_holder_cannot_fill_the_replay_cache_for_everyone() {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
    let keys = KeySet::new(SigningKey::generate(
        Algorithm::Es256,
        "k1".to_owned(),
        &mut rng,
    ))
    .unwrap();
    let resource = ResourceUri::parse(RESOURCE).unwrap();
    let validator = AccessTokenValidator::new(
        keys.jwks(),
        ISSUER.to_owned(),
        resource.clone(),
        AudienceMatch::Exact,
    );
    let rs = Arc::new(ResourceServer::new(resource, validator).with_replay_share(3));
    let app = test::init_service(
        App::new().service(
            web::resource("/mcp")
                .wrap(RequireAccessToken::new(Arc::clone(&rs)))
                .route(web::get().to(|| async { HttpResponse::Ok().finish() })),
        ),
    )
    .await;
    let request = |token: &str, key: &mut DpopKey| {
        test::TestRequest::get()
            .uri("/mcp")
            .insert_header(("Authorization", format!("DPoP {token}")))
            .insert_header(("DPoP", key.proof("GET", RESOURCE, Some(token))))
            .to_request()
    };

    let mut flooder_key = DpopKey::new(21);
    let flooder = bound_token(&keys, "client-a", "mallory", &flooder_key);
    for _ in 0..3 {
        let response = test::call_service(&app, request(&flooder, &mut flooder_key)).await;
        assert_eq!(response.status(), 200);
    }
    let refused = test::call_service(&app, request(&flooder, &mut flooder_key)).await;
    assert_eq!(refused.status(), 503);
    let body: serde_json::Value = test::read_body_json(refused).await;
    assert_eq!(body["error"], "temporarily_unavailable");

    // Another holder of the same client, and another client, still get in.
    for (client, subject, seed) in [("client-a", "alice", 22), ("client-b", "bob", 23)] {
        let mut key = DpopKey::new(seed);
        let token = bound_token(&keys, client, subject, &key);
        let response = test::call_service(&app, request(&token, &mut key)).await;
        assert_eq!(response.status(), 200, "{client} {subject}");
    }
}
