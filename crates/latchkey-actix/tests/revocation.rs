//! The revocation check of the resource-server middleware: asked after the
//! JWT checks, a revoked token is `401 invalid_token` (RFC 6750 section 3.1)
//! and a check that cannot answer is `503` (fail closed), never a pass.

#![expect(
    clippy::unwrap_used,
    reason = "test fixtures: a failed unwrap is a failed test"
)]

use std::sync::Arc;

use actix_web::{App, HttpResponse, test, web};
use latchkey_actix::{AccessToken, RequireAccessToken, ResourceServer};
use latchkey_engine::{RevocationCheck, StatusFuture, TokenStatus};
use latchkey_jose::{Algorithm, SigningKey};
use latchkey_metadata::{AuthScheme, parse_www_authenticate};
use latchkey_store::StoreError;
use latchkey_token::{AccessTokenClaims, AccessTokenValidator, Audience, KeySet};
use latchkey_types::{ClientId, ErrorCode, Scope, Subject, UnixTime};
use latchkey_uri::{AudienceMatch, ResourceUri};
use rand_core::SeedableRng;

const ISSUER: &str = "https://as.example.com";
const RESOURCE: &str = "https://mcp.example.com/mcp";

/// Answers from a fixed `jti`: `live` is active, `gone` revoked, anything
/// else a store failure.
struct Fixed;

impl RevocationCheck for Fixed {
    fn status<'a>(&'a self, jti: &'a str, _exp: UnixTime) -> StatusFuture<'a> {
        Box::pin(async move {
            match jti {
                "live" => Ok(TokenStatus::Active),
                "gone" => Ok(TokenStatus::Revoked),
                _ => Err(StoreError::Backend(Box::new(std::io::Error::other("down")))),
            }
        })
    }
}

fn token(keys: &KeySet, jti: &str) -> String {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(3);
    let mut claims = AccessTokenClaims::new(
        ISSUER.to_owned(),
        Subject::parse("alice").unwrap(),
        ClientId::parse("client-1").unwrap(),
        Audience::new(ResourceUri::parse(RESOURCE).unwrap()),
        latchkey_actix::now(),
        &mut rng,
    )
    .with_scope(Scope::parse("mcp:read").unwrap());
    claims.jti = latchkey_token::TokenId::parse(jti).unwrap();
    keys.issue(&claims)
}

#[actix_web::test]
async fn revoked_tokens_are_401_invalid_token_and_a_failing_check_is_503() {
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
    let rs =
        Arc::new(ResourceServer::new(resource, validator).with_revocation_check(Arc::new(Fixed)));
    let app = test::init_service(
        App::new().service(
            web::resource("/mcp")
                .wrap(RequireAccessToken::new(Arc::clone(&rs)))
                .route(web::get().to(|token: AccessToken| async move {
                    HttpResponse::Ok().body(token.claims().jti.as_str().to_owned())
                })),
        ),
    )
    .await;
    let call = |jti: &str| {
        test::TestRequest::get()
            .uri("/mcp")
            .insert_header(("Authorization", format!("Bearer {}", token(&keys, jti))))
            .to_request()
    };

    let live = test::call_service(&app, call("live")).await;
    assert_eq!(live.status(), 200);

    let gone = test::call_service(&app, call("gone")).await;
    assert_eq!(gone.status(), 401);
    let bearer = gone
        .headers()
        .get_all("www-authenticate")
        .flat_map(|value| parse_www_authenticate(value.to_str().unwrap()).unwrap())
        .find(|challenge| *challenge.scheme() == AuthScheme::Bearer)
        .unwrap();
    assert_eq!(bearer.error_code(), Some(ErrorCode::InvalidToken));

    let down = test::call_service(&app, call("unanswerable")).await;
    assert_eq!(down.status(), 503);
    assert!(down.headers().get("www-authenticate").is_none());
    let body: serde_json::Value = test::read_body_json(down).await;
    assert_eq!(body["error"], "temporarily_unavailable");
}
