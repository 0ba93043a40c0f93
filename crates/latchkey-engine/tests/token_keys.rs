//! Signing keys: generated once, loaded on restart, rotated without breaking
//! tokens already issued (RFC 7517 section 5, RFC 9068 section 4).

mod common;

use common::*;
use latchkey_dpop::NonceKey;
use latchkey_engine::{Engine, EngineConfig, EngineSecrets, NoMetadataFetcher};
use latchkey_store::KeyStore;
use latchkey_token::refresh::RotationKey;
use latchkey_uri::ResourceUri;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

fn kid_of(token: &str) -> String {
    let header = token.split('.').next().expect("a header");
    let decoded =
        <base64ct::Base64UrlUnpadded as base64ct::Encoding>::decode_vec(header).expect("base64url");
    let json: serde_json::Value = serde_json::from_slice(&decoded).expect("json");
    assert_eq!(json["typ"], "at+jwt", "RFC 9068 section 2.1");
    json["kid"].as_str().expect("a kid").to_owned()
}

#[tokio::test]
async fn a_key_is_generated_once_and_reloaded_on_restart() {
    let h = harness().await;
    let keys = h.store().signing_keys().await.expect("keys");
    assert_eq!(keys.len(), 1);
    let kid = h.engine.keys().active().kid().to_owned();
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let config =
        EngineConfig::new(ISSUER, ResourceUri::parse(RESOURCE).expect("uri")).expect("config");
    let secrets = EngineSecrets {
        rotation_key: RotationKey::generate(&mut rng),
        nonce_key: NonceKey::generate(&mut rng),
    };
    let restarted = Engine::new(
        std::sync::Arc::clone(h.store()),
        config,
        secrets,
        NoMetadataFetcher,
        now(),
        &mut rng,
    )
    .await
    .expect("engine");
    assert_eq!(restarted.keys().active().kid(), kid);
    assert_eq!(h.store().signing_keys().await.expect("keys").len(), 1);
}

#[tokio::test]
async fn rotation_signs_with_the_new_key_and_old_tokens_still_verify() {
    let mut h = harness().await;
    let auth = || post_token().with_authorization(basic(BASIC, SECRET));
    let before = body(
        &h.token(&[("grant_type", "client_credentials")], auth())
            .await,
    )["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let old_kid = kid_of(&before);
    let mut rng = ChaCha20Rng::seed_from_u64(6);
    let new_kid = h
        .engine
        .rotate_signing_key(now(), &mut rng)
        .await
        .expect("rotate");
    assert_ne!(new_kid, old_kid);
    let after = body(
        &h.token(&[("grant_type", "client_credentials")], auth())
            .await,
    )["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    assert_eq!(kid_of(&after), new_kid);
    let jwks = h.engine.keys().jwks();
    assert!(jwks.find(&old_kid).is_some() && jwks.find(&new_kid).is_some());
    // Introspection still accepts the token signed by the previous key.
    let http = post_to(INTROSPECTION_ENDPOINT).with_authorization(basic(RS, SECRET));
    let response = h
        .engine
        .introspect(&params(&[("token", &before)]), &http, now())
        .await;
    assert_eq!(body(&response)["active"], true);
}
