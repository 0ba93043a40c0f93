//! Tokens from other authorization servers: RS256, PS256 and ES384 signatures,
//! RSA keys, `typ`, `aud` and `scp` as other issuers send them.

use std::sync::OnceLock;

use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair, RSA_PKCS1_SHA256, RSA_PSS_SHA256, RsaEncoding};
use base64ct::{Base64UrlUnpadded, Encoding};
use latchkey_jose::{Algorithm, JoseError, JoseHeader, Jwks, PublicJwk, SigningKey};
use latchkey_types::{ErrorCode, Scope, UnixTime};
use latchkey_uri::{AudienceMatch, ResourceUri};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde_json::{Value, json};

use crate::{AccessTokenValidator, TokenError};

const ISSUER: &str = "https://login.example.org/tenant-1/v2.0";
const RESOURCE: &str = "https://mcp.example.com/mcp";
const NOW: UnixTime = UnixTime::from_secs(1_800_000_000);

fn b64(bytes: &[u8]) -> String {
    Base64UrlUnpadded::encode_string(bytes)
}

/// One RSA-2048 key made by aws-lc for every test here (generation is slow).
fn rsa_key() -> &'static RsaKeyPair {
    static KEY: OnceLock<RsaKeyPair> = OnceLock::new();
    KEY.get_or_init(|| RsaKeyPair::generate(KeySize::Rsa2048).unwrap())
}

/// The RSA key's JWK as an issuer publishes it, with `kid` and optional `alg`.
fn rsa_jwk_json(kid: &str, alg: Option<&str>) -> Value {
    let public = rsa_key().public_key();
    let mut jwk = json!({
        "kty": "RSA", "use": "sig", "kid": kid,
        "n": b64(public.modulus().big_endian_without_leading_zero()),
        "e": b64(public.exponent().big_endian_without_leading_zero()),
    });
    if let Some(alg) = alg {
        jwk["alg"] = json!(alg);
    }
    jwk
}

/// A token signed by the RSA key, with any header.
#[expect(
    clippy::disallowed_types,
    reason = "aws-lc-rs RSA signing takes an RNG argument it ignores; tests only"
)]
fn rsa_token(header: &Value, claims: &Value) -> String {
    let alg = header["alg"].as_str().unwrap();
    let padding: &'static dyn RsaEncoding = match alg {
        "PS256" => &RSA_PSS_SHA256,
        _ => &RSA_PKCS1_SHA256,
    };
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

/// A token with any header and any signature bytes.
fn forged(header: &Value, claims: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes()),
        b64(signature)
    )
}

/// Access-token claims as another issuer sends them: `aud` an array.
fn claims() -> Value {
    json!({
        "iss": ISSUER, "sub": "user-7", "aud": ["https://api.example.org", RESOURCE],
        "exp": NOW.as_secs() + 600, "iat": NOW.as_secs() - 10, "nbf": NOW.as_secs() - 10,
        "jti": "b3f1", "client_id": "app-42", "scope": "files.read mcp"
    })
}

fn validator(jwks: Vec<Value>, algorithms: &[Algorithm]) -> AccessTokenValidator {
    let keys = jwks
        .iter()
        .map(|jwk| PublicJwk::from_json(jwk).unwrap())
        .collect();
    AccessTokenValidator::new(
        Jwks::new(keys).unwrap(),
        ISSUER.to_owned(),
        ResourceUri::parse(RESOURCE).unwrap(),
        AudienceMatch::Exact,
    )
    .with_algorithms(algorithms)
    .unwrap()
}

fn rsa_validator() -> AccessTokenValidator {
    validator(
        vec![rsa_jwk_json("rsa-1", None)],
        &[Algorithm::Rs256, Algorithm::Ps256],
    )
}

#[test]
fn rfc_7518_section_3_3_rs256_token_from_another_issuer_validates() {
    let token = rsa_token(
        &json!({"alg": "RS256", "typ": "at+jwt", "kid": "rsa-1"}),
        &claims(),
    );
    let validated = rsa_validator().validate(&token, NOW).unwrap();
    let claims = validated.claims();
    assert_eq!(claims.iss, ISSUER);
    assert_eq!(claims.sub.as_str(), "user-7");
    assert_eq!(claims.client_id.as_str(), "app-42");
    assert_eq!(claims.scope, Scope::parse("files.read mcp").unwrap());
    assert_eq!(claims.aud.as_slice().len(), 2);
    assert_eq!(validated.kid(), Some("rsa-1"));
}

#[test]
fn rfc_7518_section_3_5_ps256_token_from_another_issuer_validates() {
    let token = rsa_token(
        &json!({"alg": "PS256", "typ": "at+jwt", "kid": "rsa-1"}),
        &claims(),
    );
    assert!(rsa_validator().validate(&token, NOW).is_ok());
    // A key published with alg RS256 is not used for a PS256 token.
    let rs_only = validator(
        vec![rsa_jwk_json("rsa-1", Some("RS256"))],
        &[Algorithm::Rs256, Algorithm::Ps256],
    );
    assert_eq!(
        rs_only.validate(&token, NOW),
        Err(TokenError::KeyAlgorithmMismatch)
    );
}

#[test]
fn rfc_7518_section_3_4_es384_token_validates() {
    let key = SigningKey::generate(
        Algorithm::Es384,
        "p384".to_owned(),
        &mut ChaCha20Rng::seed_from_u64(5),
    );
    let token = key.sign_compact(
        &JoseHeader::new(Algorithm::Es384).with_typ("at+jwt"),
        claims().to_string().as_bytes(),
    );
    let v = validator(vec![key.public_jwk().to_json()], &[Algorithm::Es384]);
    assert!(v.validate(&token, NOW).is_ok());
    // ES384 is not allowed by default.
    let default = AccessTokenValidator::new(
        v.jwks().clone(),
        ISSUER.to_owned(),
        ResourceUri::parse(RESOURCE).unwrap(),
        AudienceMatch::Exact,
    );
    assert_eq!(
        default.validate(&token, NOW),
        Err(TokenError::AlgorithmNotAllowed)
    );
}

#[test]
fn rfc_7515_appendix_a_2_rs256_signature_verifies_before_the_claims_are_read() {
    // The RFC's token carries no typ and no access-token claims: its signature
    // verifies, then the claims are refused.
    let jwk = json!({"kty":"RSA","e":"AQAB",
        "n":"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ"});
    let token = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw";
    let v = validator(vec![jwk], &[Algorithm::Rs256]).danger_accept_plain_jwt_typ();
    assert_eq!(v.validate(token, NOW), Err(TokenError::MissingClaim("sub")));
    let tampered = token.replacen(".eyJpc3MiOiJqb2Ui", ".eyJpc3MiOiJqb2Ki", 1);
    assert_eq!(v.validate(&tampered, NOW), Err(TokenError::BadSignature));
}

#[test]
fn rfc_7518_section_3_3_rsa_keys_under_2048_bits_never_verify() {
    let weak = json!({"kty":"RSA","e":"AQAB","kid":"weak","n": b64(&[0xff; 128])});
    assert_eq!(
        PublicJwk::from_json(&weak).unwrap_err(),
        JoseError::RsaKeyTooShort
    );
    // An issuer's JWK Set that lists one is read without it (RFC 7517 section 5).
    let set = json!({"keys": [weak, rsa_jwk_json("rsa-1", None)]});
    let jwks = Jwks::parse(set.to_string().as_bytes()).unwrap();
    assert_eq!(jwks.len(), 1);
    let v = AccessTokenValidator::new(
        jwks,
        ISSUER.to_owned(),
        ResourceUri::parse(RESOURCE).unwrap(),
        AudienceMatch::Exact,
    )
    .with_algorithms(&[Algorithm::Rs256])
    .unwrap();
    let header = json!({"alg": "RS256", "typ": "at+jwt", "kid": "weak"});
    let token = forged(&header, &claims(), &[7; 128]);
    assert_eq!(
        v.validate(&token, NOW),
        Err(TokenError::Malformed(JoseError::SignatureLength))
    );
    let token = forged(&header, &claims(), &[7; 256]);
    assert_eq!(v.validate(&token, NOW), Err(TokenError::UnknownKey));
}

#[test]
fn rfc_8725_section_3_1_none_and_hs256_are_refused_even_with_every_algorithm_allowed() {
    let v = rsa_validator()
        .with_algorithms(&Algorithm::ALL)
        .unwrap()
        .danger_accept_plain_jwt_typ();
    let none = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"at+jwt"}"#),
        b64(claims().to_string().as_bytes())
    );
    assert_eq!(v.validate(&none, NOW), Err(TokenError::AlgorithmNotAllowed));
    // HS256 keyed with the RSA public key's bytes: the classic confusion attack.
    let header = json!({"alg": "HS256", "typ": "at+jwt", "kid": "rsa-1"});
    let hs = forged(&header, &claims(), &[7; 32]);
    assert_eq!(v.validate(&hs, NOW), Err(TokenError::AlgorithmNotAllowed));
    for alg in ["HS384", "HS512", "RS512", "PS384", "ES512", "None"] {
        let header = json!({"alg": alg, "typ": "at+jwt", "kid": "rsa-1"});
        let token = forged(&header, &claims(), &[7; 256]);
        assert_eq!(
            v.validate(&token, NOW),
            Err(TokenError::AlgorithmNotAllowed),
            "{alg}"
        );
    }
}

#[test]
fn rfc_9068_section_4_step_2_an_algorithm_outside_the_allowlist_is_refused() {
    let rs_only = validator(vec![rsa_jwk_json("rsa-1", None)], &[Algorithm::Rs256]);
    let ps = rsa_token(
        &json!({"alg": "PS256", "typ": "at+jwt", "kid": "rsa-1"}),
        &claims(),
    );
    assert_eq!(
        rs_only.validate(&ps, NOW),
        Err(TokenError::AlgorithmNotAllowed)
    );
    // Latchkey's own default allows ES256 only.
    let default = AccessTokenValidator::new(
        rs_only.jwks().clone(),
        ISSUER.to_owned(),
        ResourceUri::parse(RESOURCE).unwrap(),
        AudienceMatch::Exact,
    );
    let rs = rsa_token(
        &json!({"alg": "RS256", "typ": "at+jwt", "kid": "rsa-1"}),
        &claims(),
    );
    assert_eq!(
        default.validate(&rs, NOW),
        Err(TokenError::AlgorithmNotAllowed)
    );
}

#[test]
fn rfc_8725_section_3_1_algorithm_and_key_type_must_match() {
    // The issuer's set has an EC key under kid k1; an RS256 token names k1.
    let ec = SigningKey::generate(
        Algorithm::Es256,
        "k1".to_owned(),
        &mut ChaCha20Rng::seed_from_u64(6),
    );
    let v = validator(
        vec![ec.public_jwk().to_json(), rsa_jwk_json("rsa-1", None)],
        &[Algorithm::Es256, Algorithm::Rs256],
    );
    let rs = rsa_token(
        &json!({"alg": "RS256", "typ": "at+jwt", "kid": "k1"}),
        &claims(),
    );
    assert_eq!(v.validate(&rs, NOW), Err(TokenError::KeyAlgorithmMismatch));
    // And an ES256 token naming the RSA key.
    let header = json!({"alg": "ES256", "typ": "at+jwt", "kid": "rsa-1"});
    let es = forged(&header, &claims(), &[7; 64]);
    assert_eq!(v.validate(&es, NOW), Err(TokenError::KeyAlgorithmMismatch));
}

#[test]
fn rfc_9068_section_4_step_1_plain_jwt_typ_needs_the_danger_opt_in() {
    let strict = rsa_validator();
    let relaxed = rsa_validator().danger_accept_plain_jwt_typ();
    for typ in [Some("JWT"), Some("jwt"), Some("application/jwt"), None] {
        let mut header = json!({"alg": "RS256", "kid": "rsa-1"});
        if let Some(typ) = typ {
            header["typ"] = json!(typ);
        }
        let token = rsa_token(&header, &claims());
        assert_eq!(
            strict.validate(&token, NOW),
            Err(TokenError::WrongType),
            "{typ:?}"
        );
        assert!(relaxed.validate(&token, NOW).is_ok(), "{typ:?}");
    }
    for typ in ["dpop+jwt", "JOSE", "id_token+jwt", "", "JWT "] {
        let header = json!({"alg": "RS256", "kid": "rsa-1", "typ": typ});
        let token = rsa_token(&header, &claims());
        assert_eq!(
            relaxed.validate(&token, NOW),
            Err(TokenError::WrongType),
            "{typ}"
        );
    }
    // at+jwt stays accepted with the opt-in.
    let token = rsa_token(
        &json!({"alg": "RS256", "typ": "at+jwt", "kid": "rsa-1"}),
        &claims(),
    );
    assert!(relaxed.validate(&token, NOW).is_ok());
}

#[test]
fn rfc_9068_section_4_step_4_aud_array_without_this_resource_is_refused() {
    let v = rsa_validator();
    let header = json!({"alg": "RS256", "typ": "at+jwt", "kid": "rsa-1"});
    for aud in [
        json!(["https://api.example.org", "https://mcp.example.com/other"]),
        json!(["app-42"]),
        json!("https://api.example.org"),
    ] {
        let mut c = claims();
        c["aud"] = aud.clone();
        assert_eq!(
            v.validate(&rsa_token(&header, &c), NOW),
            Err(TokenError::WrongAudience),
            "{aud}"
        );
    }
    let mut c = claims();
    c["aud"] = json!(RESOURCE);
    assert!(v.validate(&rsa_token(&header, &c), NOW).is_ok());
}

#[test]
fn scp_array_is_the_scope_and_malformed_scp_is_refused() {
    let v = rsa_validator();
    let header = json!({"alg": "RS256", "typ": "at+jwt", "kid": "rsa-1"});
    let with_scp = |scp: Value| {
        let mut c = claims();
        c.as_object_mut().unwrap().remove("scope");
        c["scp"] = scp;
        v.validate(&rsa_token(&header, &c), NOW)
            .map(|t| t.claims().scope.clone())
    };
    assert_eq!(
        with_scp(json!(["mcp", "files.read", "mcp"])),
        Ok(Scope::parse("files.read mcp").unwrap())
    );
    assert_eq!(
        with_scp(json!("files.read mcp")),
        Ok(Scope::parse("mcp files.read").unwrap())
    );
    assert_eq!(with_scp(json!([])), Ok(Scope::empty()));
    for bad in [
        json!(["files read"]),
        json!([""]),
        json!(["mcp", 7]),
        json!([["mcp"]]),
        json!(7),
        json!(["quote\"d"]),
        json!("mcp  files.read"),
        json!(vec!["s"; 257]),
        json!(vec!["s".repeat(300); 14]),
    ] {
        assert_eq!(
            with_scp(bad.clone()),
            Err(TokenError::MalformedClaim("scp")),
            "{}",
            bad.to_string().chars().take(40).collect::<String>()
        );
    }
    // scope and scp together could disagree: refused.
    let mut c = claims();
    c["scp"] = json!(["admin"]);
    assert_eq!(
        v.validate(&rsa_token(&header, &c), NOW),
        Err(TokenError::MalformedClaim("scp"))
    );
}

#[test]
fn rfc_7519_section_4_1_5_nbf_beyond_the_leeway_is_refused() {
    let v = rsa_validator();
    let header = json!({"alg": "RS256", "typ": "at+jwt", "kid": "rsa-1"});
    let leeway = AccessTokenValidator::DEFAULT_LEEWAY.as_secs();
    let at = |nbf: u64| {
        let mut c = claims();
        c["nbf"] = json!(nbf);
        v.validate(&rsa_token(&header, &c), NOW).map(|_| ())
    };
    assert_eq!(at(NOW.as_secs() + leeway + 1), Err(TokenError::NotYetValid));
    assert_eq!(at(NOW.as_secs() + leeway), Ok(()));
    let strict = rsa_validator()
        .with_leeway(core::time::Duration::from_secs(5))
        .unwrap();
    let mut c = claims();
    c["nbf"] = json!(NOW.as_secs() + 6);
    assert_eq!(
        strict.validate(&rsa_token(&header, &c), NOW),
        Err(TokenError::NotYetValid)
    );
}

#[test]
fn rfc_9068_section_4_step_3_iss_must_equal_the_configured_issuer() {
    let v = rsa_validator();
    let header = json!({"alg": "RS256", "typ": "at+jwt", "kid": "rsa-1"});
    for iss in [
        "https://login.example.org/tenant-1/v2.0/",
        "https://login.example.org/tenant-2/v2.0",
        "https://login.example.org/TENANT-1/v2.0",
    ] {
        let mut c = claims();
        c["iss"] = json!(iss);
        assert_eq!(
            v.validate(&rsa_token(&header, &c), NOW),
            Err(TokenError::WrongIssuer),
            "{iss}"
        );
    }
}

#[test]
fn advertised_algorithms_narrow_the_allowlist_and_never_widen_it() {
    let v = rsa_validator()
        .with_advertised_algorithms(&["RS256", "RS512", "HS256", "none"])
        .unwrap();
    assert_eq!(v.algorithms(), &[Algorithm::Rs256]);
    let ps = rsa_token(
        &json!({"alg": "PS256", "typ": "at+jwt", "kid": "rsa-1"}),
        &claims(),
    );
    assert_eq!(v.validate(&ps, NOW), Err(TokenError::AlgorithmNotAllowed));
    // ES256 is advertised but was never allowed: still not allowed.
    let v = rsa_validator()
        .with_advertised_algorithms(&["ES256".to_owned(), "PS256".to_owned()])
        .unwrap();
    assert_eq!(v.algorithms(), &[Algorithm::Ps256]);
    assert!(v.validate(&ps, NOW).is_ok());
    assert_eq!(
        rsa_validator()
            .with_advertised_algorithms(&["ES256", "HS256"])
            .map(|_| ()),
        Err(TokenError::NoAlgorithms)
    );
    let none: [&str; 0] = [];
    assert_eq!(
        rsa_validator()
            .with_advertised_algorithms(&none)
            .map(|_| ()),
        Err(TokenError::NoAlgorithms)
    );
}

#[test]
fn every_refusal_of_a_foreign_token_is_invalid_token() {
    let v = rsa_validator();
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": "rsa-1"});
    let error = v.validate(&rsa_token(&header, &claims()), NOW).unwrap_err();
    assert_eq!(ErrorCode::from(&error), ErrorCode::InvalidToken);
    let weak =
        PublicJwk::from_json(&json!({"kty":"RSA","e":"AQAB","n": b64(&[0xff; 128])})).unwrap_err();
    assert_eq!(ErrorCode::from(&weak), ErrorCode::InvalidToken);
}
