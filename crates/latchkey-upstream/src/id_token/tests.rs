//! OIDC Core 1.0 section 3.1.3.7, step by step, with tokens signed here.

use std::sync::OnceLock;

use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair, RSA_PKCS1_SHA256, RSA_PSS_SHA256, RsaEncoding};
use latchkey_jose::{JoseHeader, SigningKey};
use serde_json::json;

use super::*;
use crate::ProviderId;
use crate::testing::{ISSUER, T0, discovery_json, oidc_endpoints, oidc_provider, rng};

const NONCE: &str = "n-0S6_WzA2Mj";
const ACCESS_TOKEN: &str = "upstream-access-token";

fn es256() -> SigningKey {
    SigningKey::generate(Algorithm::Es256, "ec-1".to_owned(), &mut rng(21))
}

fn jwks_of(keys: &[&SigningKey]) -> Jwks {
    Jwks::new(keys.iter().map(|k| k.public_jwk()).collect()).unwrap()
}

fn claims() -> Value {
    json!({
        "iss": ISSUER,
        "sub": "24400320",
        "aud": "latchkey",
        "exp": T0.as_secs() + 300,
        "iat": T0.as_secs(),
        "nonce": NONCE,
        "email": "ada@example.com",
        "email_verified": true,
        "name": "Ada Lovelace",
    })
}

fn sign(key: &SigningKey, claims: &Value) -> String {
    key.sign_compact(
        &JoseHeader::new(key.algorithm()).with_typ("JWT"),
        claims.to_string().as_bytes(),
    )
}

fn tokens(id_token: &str) -> TokenResponse {
    let body = json!({"access_token": ACCESS_TOKEN, "token_type": "Bearer", "id_token": id_token});
    TokenResponse::parse(crate::ProviderKind::Oidc, 200, body.to_string().as_bytes()).unwrap()
}

fn expected() -> Expected {
    Expected {
        provider: ProviderId::parse("corp").unwrap(),
        nonce: Some(TokenDigest::of(NONCE.as_bytes())),
    }
}

fn validate_at(token: &str, jwks: &Jwks, now: UnixTime) -> Result<UpstreamIdentity, UpstreamError> {
    validate_id_token(
        &oidc_provider(),
        &oidc_endpoints(),
        jwks,
        &tokens(token),
        &expected(),
        now,
        &UpstreamPolicy::default(),
    )
}

fn validate(token: &str, jwks: &Jwks) -> Result<UpstreamIdentity, UpstreamError> {
    validate_at(token, jwks, UnixTime::from_secs(T0.as_secs() + 10))
}

/// Signs `claims` with `key` after changing them with `edit`, and validates.
fn with_claims(edit: impl FnOnce(&mut Value)) -> Result<UpstreamIdentity, UpstreamError> {
    let key = es256();
    let mut claims = claims();
    edit(&mut claims);
    validate(&sign(&key, &claims), &jwks_of(&[&key]))
}

// --- RSA, which latchkey-jose verifies but does not sign --------------------

fn rsa_key() -> &'static RsaKeyPair {
    static KEY: OnceLock<RsaKeyPair> = OnceLock::new();
    KEY.get_or_init(|| RsaKeyPair::generate(KeySize::Rsa2048).unwrap())
}

fn rsa_jwk(kid: &str) -> PublicJwk {
    let public = rsa_key().public_key();
    PublicJwk::from_json(&json!({
        "kty": "RSA",
        "kid": kid,
        "n": Base64UrlUnpadded::encode_string(public.modulus().big_endian_without_leading_zero()),
        "e": Base64UrlUnpadded::encode_string(public.exponent().big_endian_without_leading_zero()),
    }))
    .unwrap()
}

#[expect(
    clippy::disallowed_types,
    reason = "aws-lc-rs RSA signing takes an RNG argument it ignores; tests only"
)]
fn rsa_sign(alg: &str, padding: &'static dyn RsaEncoding, kid: &str, claims: &Value) -> String {
    let header = json!({"alg": alg, "kid": kid, "typ": "JWT"});
    let signing_input = format!(
        "{}.{}",
        Base64UrlUnpadded::encode_string(header.to_string().as_bytes()),
        Base64UrlUnpadded::encode_string(claims.to_string().as_bytes())
    );
    let key = rsa_key();
    let mut signature = vec![0; key.public_modulus_len()];
    key.sign(
        padding,
        &aws_lc_rs::rand::SystemRandom::new(),
        signing_input.as_bytes(),
        &mut signature,
    )
    .unwrap();
    format!(
        "{signing_input}.{}",
        Base64UrlUnpadded::encode_string(&signature)
    )
}

fn unsigned(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}.{}",
        Base64UrlUnpadded::encode_string(header.to_string().as_bytes()),
        Base64UrlUnpadded::encode_string(claims.to_string().as_bytes()),
        Base64UrlUnpadded::encode_string(&[7u8; 64])
    )
}

// --- The happy path ---------------------------------------------------------

#[test]
fn oidc_core_3_1_3_7_a_valid_id_token_yields_the_identity() {
    let person = with_claims(|_| {}).unwrap();
    assert_eq!(person.provider().as_str(), "corp");
    assert_eq!(person.subject().as_str(), "24400320");
    assert_eq!(person.local_subject().as_str(), "corp:24400320");
    assert_eq!(person.email(), Some("ada@example.com"));
    assert!(person.email_verified());
    assert_eq!(person.name(), Some("Ada Lovelace"));
}

#[test]
fn oidc_core_3_1_3_7_step_6_rs256_ps256_es256_and_eddsa_verify() {
    let claims = claims();
    let rsa = Jwks::new(vec![rsa_jwk("rsa-1")]).unwrap();
    for (alg, padding) in [
        ("RS256", &RSA_PKCS1_SHA256 as &'static dyn RsaEncoding),
        ("PS256", &RSA_PSS_SHA256),
    ] {
        let token = rsa_sign(alg, padding, "rsa-1", &claims);
        assert!(validate(&token, &rsa).is_ok(), "{alg}");
    }
    for alg in [Algorithm::Es256, Algorithm::EdDsa] {
        let key = SigningKey::generate(alg, "k".to_owned(), &mut rng(22));
        assert!(
            validate(&sign(&key, &claims), &jwks_of(&[&key])).is_ok(),
            "{alg}"
        );
    }
}

// --- Step 6: the signature ---------------------------------------------------

#[test]
fn oidc_core_3_1_3_7_step_6_a_tampered_id_token_is_refused() {
    let key = es256();
    let token = sign(&key, &claims());
    let mut parts: Vec<&str> = token.split('.').collect();
    let mut forged = claims();
    forged["sub"] = json!("admin");
    let forged = Base64UrlUnpadded::encode_string(forged.to_string().as_bytes());
    parts[1] = &forged;
    assert_eq!(
        validate(&parts.join("."), &jwks_of(&[&key])).unwrap_err(),
        UpstreamError::IdTokenBadSignature
    );
}

#[test]
fn oidc_core_3_1_3_7_step_6_a_key_the_provider_does_not_publish_is_refused() {
    // Same kid, another key: an ID token minted by someone else.
    let published = es256();
    let attacker = SigningKey::generate(Algorithm::Es256, "ec-1".to_owned(), &mut rng(99));
    assert_eq!(
        validate(&sign(&attacker, &claims()), &jwks_of(&[&published])).unwrap_err(),
        UpstreamError::IdTokenBadSignature
    );
}

#[test]
fn oidc_core_10_1_1_an_unknown_kid_asks_for_one_key_refresh() {
    let old = es256();
    let rotated = SigningKey::generate(Algorithm::Es256, "ec-2".to_owned(), &mut rng(23));
    let token = sign(&rotated, &claims());
    assert_eq!(
        validate(&token, &jwks_of(&[&old])).unwrap_err(),
        UpstreamError::IdTokenUnknownKey
    );
    // After the caller refetches the JWK Set.
    assert!(validate(&token, &jwks_of(&[&old, &rotated])).is_ok());
}

#[test]
fn oidc_core_3_1_3_7_step_6_without_kid_the_one_usable_key_is_used() {
    let key = SigningKey::generate(Algorithm::Es256, String::new(), &mut rng(24));
    let token = sign(&key, &claims());
    assert!(validate(&token, &jwks_of(&[&key])).is_ok());
    let other = SigningKey::generate(Algorithm::Es256, "x".to_owned(), &mut rng(25));
    assert_eq!(
        validate(&token, &jwks_of(&[&key, &other])).unwrap_err(),
        UpstreamError::IdTokenUnknownKey
    );
}

#[test]
fn rfc_8725_section_3_1_the_key_decides_the_algorithm() {
    // A PS256 header naming the provider's EC key.
    let key = es256();
    let token = rsa_sign("PS256", &RSA_PSS_SHA256, "ec-1", &claims());
    assert_eq!(
        validate(&token, &jwks_of(&[&key])).unwrap_err(),
        UpstreamError::IdTokenBadSignature
    );
}

// --- Steps 7 and 8: algorithms ------------------------------------------------

#[test]
fn oidc_core_3_1_3_7_step_7_an_algorithm_the_provider_does_not_advertise_is_refused() {
    let mut doc = discovery_json();
    doc["id_token_signing_alg_values_supported"] = json!(["RS256"]);
    let endpoints =
        Endpoints::from_discovery(&oidc_provider(), doc.to_string().as_bytes()).unwrap();
    let key = es256();
    let result = validate_id_token(
        &oidc_provider(),
        &endpoints,
        &jwks_of(&[&key]),
        &tokens(&sign(&key, &claims())),
        &expected(),
        T0,
        &UpstreamPolicy::default(),
    );
    assert_eq!(
        result.unwrap_err(),
        UpstreamError::IdTokenAlgorithmNotAllowed
    );
}

#[test]
fn oidc_core_3_1_3_7_step_7_es384_is_outside_the_allow_list() {
    let mut doc = discovery_json();
    doc["id_token_signing_alg_values_supported"] = json!(["ES384", "ES256"]);
    let endpoints =
        Endpoints::from_discovery(&oidc_provider(), doc.to_string().as_bytes()).unwrap();
    let key = SigningKey::generate(Algorithm::Es384, "k".to_owned(), &mut rng(26));
    let result = validate_id_token(
        &oidc_provider(),
        &endpoints,
        &jwks_of(&[&key]),
        &tokens(&sign(&key, &claims())),
        &expected(),
        T0,
        &UpstreamPolicy::default(),
    );
    assert_eq!(
        result.unwrap_err(),
        UpstreamError::IdTokenAlgorithmNotAllowed
    );
}

#[test]
fn oidc_core_3_1_3_7_step_8_none_and_mac_algorithms_are_refused() {
    let key = es256();
    for alg in ["none", "HS256", "HS384", "HS512"] {
        let token = unsigned(&json!({"alg": alg, "kid": "ec-1"}), &claims());
        assert_eq!(
            validate(&token, &jwks_of(&[&key])).unwrap_err(),
            UpstreamError::IdTokenMalformed(JoseError::UnsupportedAlgorithm),
            "{alg}"
        );
    }
}

#[test]
fn oidc_core_3_1_3_7_step_1_an_encrypted_id_token_is_refused() {
    let key = es256();
    assert_eq!(
        validate("eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d", &jwks_of(&[&key])).unwrap_err(),
        UpstreamError::IdTokenMalformed(JoseError::MalformedCompact)
    );
}

#[test]
fn rfc_8725_section_3_11_a_token_typed_as_something_else_is_refused() {
    let key = es256();
    let token = key.sign_compact(
        &JoseHeader::new(Algorithm::Es256).with_typ("at+jwt"),
        claims().to_string().as_bytes(),
    );
    assert_eq!(
        validate(&token, &jwks_of(&[&key])).unwrap_err(),
        UpstreamError::IdTokenType
    );
    let untyped = key.sign_compact(
        &JoseHeader::new(Algorithm::Es256),
        claims().to_string().as_bytes(),
    );
    assert!(validate(&untyped, &jwks_of(&[&key])).is_ok());
}

// --- Steps 2 to 5: issuer and audience ----------------------------------------

#[test]
fn oidc_core_3_1_3_7_step_2_an_id_token_from_another_issuer_is_refused() {
    for iss in [
        "https://evil.example.com",
        "https://login.example.com/",
        "https://LOGIN.example.com",
    ] {
        assert_eq!(
            with_claims(|c| c["iss"] = json!(iss)).unwrap_err(),
            UpstreamError::IdTokenIssuerMismatch,
            "{iss}"
        );
    }
}

#[test]
fn oidc_core_3_1_3_7_step_3_aud_must_contain_client_id() {
    assert_eq!(
        with_claims(|c| c["aud"] = json!("someone-else")).unwrap_err(),
        UpstreamError::IdTokenAudienceMismatch
    );
    assert_eq!(
        with_claims(|c| c["aud"] = json!(["someone-else"])).unwrap_err(),
        UpstreamError::IdTokenAudienceMismatch
    );
    assert_eq!(
        with_claims(|c| c["aud"] = json!("Latchkey")).unwrap_err(),
        UpstreamError::IdTokenAudienceMismatch
    );
    assert!(with_claims(|c| c["aud"] = json!(["latchkey"])).is_ok());
}

#[test]
fn oidc_core_3_1_3_7_step_3_additional_untrusted_audiences_are_refused() {
    assert_eq!(
        with_claims(|c| {
            c["aud"] = json!(["latchkey", "other-client"]);
            c["azp"] = json!("latchkey");
        })
        .unwrap_err(),
        UpstreamError::IdTokenUntrustedAudience
    );
}

#[test]
fn oidc_core_3_1_3_7_step_4_several_audiences_require_azp() {
    assert_eq!(
        with_claims(|c| c["aud"] = json!(["latchkey", "other-client"])).unwrap_err(),
        UpstreamError::IdTokenAuthorizedPartyMissing
    );
}

#[test]
fn oidc_core_3_1_3_7_step_5_azp_when_present_must_be_client_id() {
    assert_eq!(
        with_claims(|c| c["azp"] = json!("other-client")).unwrap_err(),
        UpstreamError::IdTokenAuthorizedPartyMismatch
    );
    assert!(with_claims(|c| c["azp"] = json!("latchkey")).is_ok());
}

// --- Steps 9 and 10: time -------------------------------------------------------

#[test]
fn oidc_core_3_1_3_7_step_9_an_expired_id_token_is_refused() {
    let key = es256();
    let jwks = jwks_of(&[&key]);
    let token = sign(&key, &claims());
    let exp = T0.as_secs() + 300;
    // Leeway 60 s: valid until exp + 59, refused from exp + 60.
    assert!(validate_at(&token, &jwks, UnixTime::from_secs(exp + 59)).is_ok());
    assert_eq!(
        validate_at(&token, &jwks, UnixTime::from_secs(exp + 60)).unwrap_err(),
        UpstreamError::IdTokenExpired
    );
    assert_eq!(
        with_claims(|c| c["exp"] = json!(T0.as_secs() - 3600)).unwrap_err(),
        UpstreamError::IdTokenExpired
    );
}

#[test]
fn oidc_core_3_1_3_7_step_10_iat_neither_in_the_future_nor_too_old() {
    assert_eq!(
        with_claims(|c| c["iat"] = json!(T0.as_secs() + 10 + 61)).unwrap_err(),
        UpstreamError::IdTokenIssuedInFuture
    );
    assert!(with_claims(|c| c["iat"] = json!(T0.as_secs() + 10 + 60)).is_ok());
    assert_eq!(
        with_claims(|c| {
            c["iat"] = json!(T0.as_secs() - 1000);
            c["exp"] = json!(T0.as_secs() + 3600);
        })
        .unwrap_err(),
        UpstreamError::IdTokenTooOld
    );
}

#[test]
fn rfc_7519_section_2_numeric_dates_may_have_fractions_but_not_signs_or_strings() {
    assert!(with_claims(|c| c["exp"] = json!(T0.as_secs() as f64 + 300.5)).is_ok());
    for bad in [json!(-1), json!("1700000300"), json!(null), json!(1e300)] {
        assert_eq!(
            with_claims(|c| c["exp"] = bad.clone()).unwrap_err(),
            UpstreamError::IdTokenClaimInvalid("exp"),
            "{bad}"
        );
    }
}

// --- Step 11: nonce ---------------------------------------------------------------

#[test]
fn oidc_core_3_1_3_7_step_11_a_wrong_nonce_is_refused() {
    assert_eq!(
        with_claims(|c| c["nonce"] = json!("n-other")).unwrap_err(),
        UpstreamError::IdTokenNonceMismatch
    );
    assert_eq!(
        with_claims(|c| {
            c.as_object_mut().unwrap().remove("nonce");
        })
        .unwrap_err(),
        UpstreamError::IdTokenClaimMissing("nonce")
    );
}

// --- Section 2: required claims ------------------------------------------------------

#[test]
fn oidc_core_2_required_claims_and_the_sub_limit() {
    for claim in ["iss", "sub", "aud", "exp", "iat"] {
        assert_eq!(
            with_claims(|c| {
                c.as_object_mut().unwrap().remove(claim);
            })
            .unwrap_err(),
            UpstreamError::IdTokenClaimMissing(claim),
            "{claim}"
        );
    }
    assert_eq!(
        with_claims(|c| c["sub"] = json!("s".repeat(256))).unwrap_err(),
        UpstreamError::IdTokenClaimInvalid("sub")
    );
    assert!(with_claims(|c| c["sub"] = json!("s".repeat(255))).is_ok());
    assert_eq!(
        with_claims(|c| c["sub"] = json!("caf\u{e9}")).unwrap_err(),
        UpstreamError::IdTokenClaimInvalid("sub")
    );
    assert_eq!(
        with_claims(|c| c["aud"] = json!([])).unwrap_err(),
        UpstreamError::IdTokenClaimInvalid("aud")
    );
    assert_eq!(
        with_claims(|c| c["nonce"] = json!(1)).unwrap_err(),
        UpstreamError::IdTokenClaimInvalid("nonce")
    );
}

#[test]
fn rfc_7519_section_4_a_repeated_claim_is_refused() {
    let key = es256();
    let payload = format!(
        r#"{{"iss":"{ISSUER}","sub":"a","sub":"b","aud":"latchkey","exp":{},"iat":{},"nonce":"{NONCE}"}}"#,
        T0.as_secs() + 300,
        T0.as_secs()
    );
    let token = key.sign_compact(&JoseHeader::new(Algorithm::Es256), payload.as_bytes());
    assert_eq!(
        validate(&token, &jwks_of(&[&key])).unwrap_err(),
        UpstreamError::IdTokenClaimsJson(latchkey_types::json::JsonError::DuplicateMember)
    );
}

// --- Section 3.1.3.8: at_hash ---------------------------------------------------------

#[test]
fn oidc_core_3_1_3_8_at_hash_when_present_must_match_the_access_token() {
    let good = access_token_hash(Algorithm::Es256, ACCESS_TOKEN);
    assert!(with_claims(|c| c["at_hash"] = json!(good)).is_ok());
    assert_eq!(
        with_claims(|c| c["at_hash"] = json!(access_token_hash(Algorithm::Es256, "other")))
            .unwrap_err(),
        UpstreamError::AccessTokenHashMismatch
    );
    let ed = SigningKey::generate(Algorithm::EdDsa, "ed".to_owned(), &mut rng(27));
    let mut claims = claims();
    claims["at_hash"] = json!(access_token_hash(Algorithm::EdDsa, ACCESS_TOKEN));
    assert!(validate(&sign(&ed, &claims), &jwks_of(&[&ed])).is_ok());
}

#[test]
fn oidc_core_3_2_2_9_at_hash_example_vector() {
    // OIDC Core 1.0 appendix A.4 uses access token "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"
    // with RS256 and at_hash "77QmUPtjPfzWtF2AnpK9RQ".
    assert_eq!(
        access_token_hash(
            Algorithm::Rs256,
            "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"
        ),
        "77QmUPtjPfzWtF2AnpK9RQ"
    );
}
