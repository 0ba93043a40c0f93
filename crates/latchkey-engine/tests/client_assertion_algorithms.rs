//! `private_key_jwt` client assertions signed with RSA (RFC 7523 section 3,
//! OAuth 2.1 section 2.4.1, RFC 7518 sections 3.3 and 3.5).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::OnceLock;

use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair, RSA_PKCS1_SHA256, RSA_PSS_SHA256, RsaEncoding};
use base64ct::{Base64UrlUnpadded, Encoding};
use common::*;
use latchkey_engine::JWT_BEARER_ASSERTION_TYPE;
use latchkey_store::{ClientRecord, ClientStore};
use latchkey_types::{ClientId, UnixTime};
use serde_json::{Value, json};

const CC: (&str, &str) = ("grant_type", "client_credentials");

fn b64(bytes: &[u8]) -> String {
    Base64UrlUnpadded::encode_string(bytes)
}

/// One RSA-2048 client key, made by aws-lc (generation is slow).
fn rsa_key() -> &'static RsaKeyPair {
    static KEY: OnceLock<RsaKeyPair> = OnceLock::new();
    KEY.get_or_init(|| RsaKeyPair::generate(KeySize::Rsa2048).unwrap())
}

fn rsa_jwk(alg: Option<&str>) -> Value {
    let public = rsa_key().public_key();
    let mut jwk = json!({
        "kty": "RSA", "kid": "rsa-1", "use": "sig",
        "n": b64(public.modulus().big_endian_without_leading_zero()),
        "e": b64(public.exponent().big_endian_without_leading_zero()),
    });
    if let Some(alg) = alg {
        jwk["alg"] = json!(alg);
    }
    jwk
}

/// Registers a `private_key_jwt` client whose `jwks` is `keys`.
async fn register(h: &Harness, id: &str, keys: Vec<Value>) {
    let Value::Object(metadata) = json!({
        "client_name": "RSA client",
        "token_endpoint_auth_method": "private_key_jwt",
        "grant_types": ["client_credentials"],
        "scope": "mcp:read",
        "jwks": { "keys": keys },
    }) else {
        unreachable!("a JSON object literal")
    };
    let record = ClientRecord {
        client_id: ClientId::parse(id).unwrap(),
        metadata,
        secret_digest: None,
        secret_expires_at: None,
        registration_token_digest: None,
        fingerprint: None,
        issued_at: UnixTime::from_secs(NOW - 10),
        first_used_at: None,
        may_introspect: false,
    };
    h.store().register_client(&record, 1000).await.unwrap();
}

/// A client assertion for `client` signed by the RSA key with `alg`.
#[expect(
    clippy::disallowed_types,
    reason = "aws-lc-rs RSA signing takes an RNG argument it ignores; tests only"
)]
fn rsa_assertion(alg: &str, client: &str, jti: &str) -> String {
    let padding: &'static dyn RsaEncoding = match alg {
        "PS256" => &RSA_PSS_SHA256,
        _ => &RSA_PKCS1_SHA256,
    };
    let header = json!({"alg": alg, "kid": "rsa-1"});
    let claims = json!({
        "iss": client, "sub": client, "aud": TOKEN_ENDPOINT,
        "exp": NOW + 60, "iat": NOW, "jti": jti,
    });
    let signing_input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let mut signature = vec![0; rsa_key().public_modulus_len()];
    rsa_key()
        .sign(
            padding,
            &aws_lc_rs::rand::SystemRandom::new(),
            signing_input.as_bytes(),
            &mut signature,
        )
        .unwrap();
    format!("{signing_input}.{}", b64(&signature))
}

async fn authenticate(h: &mut Harness, assertion: &str) -> latchkey_engine::EndpointResponse {
    h.token(
        &[
            CC,
            ("client_assertion_type", JWT_BEARER_ASSERTION_TYPE),
            ("client_assertion", assertion),
        ],
        post_token(),
    )
    .await
}

#[tokio::test]
async fn rfc_7523_section_3_rs256_and_ps256_client_assertions_authenticate() {
    let mut h = harness().await;
    register(&h, "rsa-client", vec![rsa_jwk(None)]).await;
    for (alg, jti) in [("RS256", "a1"), ("PS256", "a2")] {
        let ok = authenticate(&mut h, &rsa_assertion(alg, "rsa-client", jti)).await;
        assert_eq!(ok.status, 200, "{alg}: {:?}", ok.body);
        assert_eq!(
            jwt_claims(body(&ok)["access_token"].as_str().unwrap())["client_id"],
            "rsa-client",
            "{alg}"
        );
    }
}

#[tokio::test]
async fn rfc_8725_section_3_1_an_rsa_key_published_for_rs256_does_not_verify_ps256() {
    let mut h = harness().await;
    register(&h, "rs-only", vec![rsa_jwk(Some("RS256"))]).await;
    let refused = authenticate(&mut h, &rsa_assertion("PS256", "rs-only", "b1")).await;
    assert_eq!(refused.status, 401);
    assert_eq!(error(&refused), "invalid_client");
    let ok = authenticate(&mut h, &rsa_assertion("RS256", "rs-only", "b2")).await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
}

#[tokio::test]
async fn rfc_7523_section_3_none_hs256_and_weak_rsa_assertions_are_invalid_client() {
    let mut h = harness().await;
    register(&h, "rsa-client", vec![rsa_jwk(None)]).await;
    let valid = rsa_assertion("RS256", "rsa-client", "c1");
    let (_, rest) = valid.split_once('.').unwrap();
    let (payload, _) = rest.split_once('.').unwrap();
    for header in [
        json!({"alg": "none", "kid": "rsa-1"}),
        json!({"alg": "HS256", "kid": "rsa-1"}),
        json!({"alg": "RS512", "kid": "rsa-1"}),
    ] {
        let forged = format!(
            "{}.{payload}.{}",
            b64(header.to_string().as_bytes()),
            b64(&[7; 32])
        );
        let refused = authenticate(&mut h, &forged).await;
        assert_eq!(refused.status, 401, "{header}");
        assert_eq!(error(&refused), "invalid_client", "{header}");
    }
    // A client whose only key is 1024-bit RSA has no usable key at all.
    let weak = json!({"kty": "RSA", "kid": "rsa-1", "e": "AQAB", "n": b64(&[0xff; 128])});
    register(&h, "weak-client", vec![weak]).await;
    let refused = authenticate(&mut h, &rsa_assertion("RS256", "weak-client", "c2")).await;
    assert_eq!(error(&refused), "invalid_client");
}

#[tokio::test]
async fn rfc_8414_section_2_discovery_advertises_the_assertion_algorithms() {
    let h = harness().await;
    let response = h.engine.authorization_server_metadata();
    let doc = body(&response);
    for member in [
        "token_endpoint_auth_signing_alg_values_supported",
        "revocation_endpoint_auth_signing_alg_values_supported",
        "introspection_endpoint_auth_signing_alg_values_supported",
    ] {
        assert_eq!(
            doc[member],
            json!(["ES256", "EdDSA", "RS256", "PS256"]),
            "{member}"
        );
    }
}
