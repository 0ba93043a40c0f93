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
        key_wrap_key: None,
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

/// With a key wrap key, the stored private key is sealed (the store alone holds
/// no usable key), it loads again with the same wrap key, and without it or
/// with another one the engine refuses to start. A key stored plain before a
/// wrap key was set still loads, and a rotation then stores a sealed one.
#[tokio::test]
async fn signing_keys_are_sealed_at_rest_with_the_key_wrap_key() {
    use latchkey_engine::EngineError;
    use latchkey_store::MemoryStore;
    let mut rng = ChaCha20Rng::seed_from_u64(9);
    let store = std::sync::Arc::new(MemoryStore::new());
    let engine = start(&store, Some([1; 32]), &mut rng)
        .await
        .expect("test setup");
    let stored = store.signing_keys().await.expect("test setup");
    assert_eq!(stored.len(), 1);
    assert!(latchkey_jose::is_sealed(&stored[0].pkcs8));
    assert!(
        latchkey_jose::SigningKey::from_pkcs8(
            latchkey_jose::Algorithm::Es256,
            stored[0].kid.clone(),
            &stored[0].pkcs8
        )
        .is_err(),
        "the stored bytes are not a usable private key"
    );
    let kid = engine.keys().active().kid().to_owned();
    let again = start(&store, Some([1; 32]), &mut rng)
        .await
        .expect("test setup");
    assert_eq!(again.keys().active().kid(), kid);
    assert!(matches!(
        start(&store, None, &mut rng).await,
        Err(EngineError::Keys(_))
    ));
    assert!(matches!(
        start(&store, Some([2; 32]), &mut rng).await,
        Err(EngineError::Keys(_))
    ));

    // A key stored plain, then a wrap key: it still loads, and a rotation seals.
    let legacy = std::sync::Arc::new(MemoryStore::new());
    let plain = start(&legacy, None, &mut rng).await.expect("test setup");
    let plain_kid = plain.keys().active().kid().to_owned();
    let upgraded = start(&legacy, Some([3; 32]), &mut rng)
        .await
        .expect("test setup");
    assert_eq!(upgraded.keys().active().kid(), plain_kid);
    let new_kid = upgraded
        .rotate_signing_key(now(), &mut rng)
        .await
        .expect("test setup");
    let keys = legacy.signing_keys().await.expect("test setup");
    let sealed: Vec<bool> = keys
        .iter()
        .map(|k| latchkey_jose::is_sealed(&k.pkcs8))
        .collect();
    assert_eq!(keys.len(), 2);
    for key in &keys {
        assert_eq!(
            latchkey_jose::is_sealed(&key.pkcs8),
            key.kid == new_kid,
            "{sealed:?}"
        );
    }
}

/// An engine over `store` whose secrets carry `wrap` as the key wrap key.
async fn start(
    store: &std::sync::Arc<latchkey_store::MemoryStore>,
    wrap: Option<[u8; 32]>,
    rng: &mut ChaCha20Rng,
) -> Result<Engine<latchkey_store::MemoryStore>, latchkey_engine::EngineError> {
    let config = EngineConfig::new(ISSUER, ResourceUri::parse(RESOURCE).expect("test setup"))
        .expect("test setup");
    let secrets = EngineSecrets {
        rotation_key: RotationKey::new(&latchkey_types::SecretString::new(
            "rotation-key-for-the-sealing-test-0123".into(),
        ))
        .expect("test setup"),
        key_wrap_key: wrap.map(|bytes| latchkey_engine::KeyWrapKey::new(&bytes)),
        nonce_key: NonceKey::new(&[5; 32]).expect("test setup"),
    };
    Engine::new(
        std::sync::Arc::clone(store),
        config,
        secrets,
        NoMetadataFetcher,
        now(),
        rng,
    )
    .await
}
