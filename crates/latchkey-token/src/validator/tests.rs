use core::time::Duration;

use latchkey_jose::{Algorithm, JoseError, JoseHeader, Jwks, SigningKey};
use latchkey_types::{ClientId, ErrorCode, Scope, Subject, UnixTime};
use latchkey_uri::{AudienceMatch, ResourceUri};
use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde_json::{Value, json};

use crate::code::JwkThumbprint;
use crate::{AccessTokenClaims, AccessTokenValidator, Audience, KeySet, TokenError};

const ISSUER: &str = "https://auth.example.com";
const RESOURCE: &str = "https://mcp.example.com/mcp";
const NOW: UnixTime = UnixTime::from_secs(1_800_000_000);

fn resource(s: &str) -> ResourceUri {
    ResourceUri::parse(s).unwrap()
}

fn rng() -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(11)
}

fn key(alg: Algorithm, kid: &str, seed: u64) -> SigningKey {
    SigningKey::generate(alg, kid.to_owned(), &mut ChaCha20Rng::seed_from_u64(seed))
}

fn validator_for(jwks: Jwks, alg: Algorithm) -> AccessTokenValidator {
    AccessTokenValidator::new(
        jwks,
        ISSUER.to_owned(),
        resource(RESOURCE),
        AudienceMatch::Exact,
    )
    .with_algorithms(&[alg])
    .unwrap()
}

fn claims() -> AccessTokenClaims {
    AccessTokenClaims::new(
        ISSUER.to_owned(),
        Subject::parse("alice").unwrap(),
        ClientId::parse("client-1").unwrap(),
        Audience::new(resource(RESOURCE)),
        NOW,
        &mut rng(),
    )
}

/// The JSON claims of a valid token, for tests that edit them.
fn claims_json() -> Value {
    json!({
        "iss": ISSUER, "sub": "alice", "aud": RESOURCE, "exp": NOW.as_secs() + 300,
        "iat": NOW.as_secs(), "jti": "id-1", "client_id": "client-1", "scope": "mcp:read"
    })
}

/// Signs arbitrary claims bytes with an `at+jwt` header.
fn sign_raw(key: &SigningKey, typ: Option<&str>, payload: &[u8]) -> String {
    let mut header = JoseHeader::new(key.algorithm());
    if let Some(typ) = typ {
        header = header.with_typ(typ);
    }
    key.sign_compact(&header, payload)
}

struct Fixture {
    key: SigningKey,
    validator: AccessTokenValidator,
}

impl Fixture {
    fn new(alg: Algorithm) -> Self {
        let key = key(alg, "k1", 1);
        let validator = validator_for(Jwks::new(vec![key.public_jwk()]).unwrap(), alg);
        Self { key, validator }
    }

    fn check(&self, claims: &Value) -> Result<crate::ValidatedAccessToken, TokenError> {
        let token = sign_raw(&self.key, Some("at+jwt"), claims.to_string().as_bytes());
        self.validator.validate(&token, NOW)
    }
}

#[test]
fn r5_issue_then_validate_returns_the_typed_claims_for_both_algorithms() {
    for alg in [Algorithm::Es256, Algorithm::EdDsa] {
        let keys = KeySet::new(key(alg, "k1", 1)).unwrap();
        let validator = validator_for(keys.jwks(), alg);
        let jkt = JwkThumbprint::parse("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I").unwrap();
        let mut issued = claims()
            .with_scope(Scope::parse("mcp:read mcp:write").unwrap())
            .with_cnf_jkt(jkt.clone())
            .with_auth_time(UnixTime::from_secs(NOW.as_secs() - 100));
        issued.nbf = Some(NOW);
        let token = keys.issue(&issued);
        let validated = validator.validate(&token, NOW).unwrap();
        assert_eq!(validated.claims(), &issued);
        assert_eq!(validated.kid(), Some("k1"));
        assert_eq!(validated.dpop_jkt(), Some(&jkt));
        assert_eq!(validated.into_claims(), issued);
    }
}

#[test]
fn rfc_9068_section_2_issued_tokens_carry_typ_kid_and_required_claims() {
    let keys = KeySet::new(key(Algorithm::Es256, "k1", 1)).unwrap();
    let token = keys.issue(&claims());
    let jws = latchkey_jose::CompactJws::parse(&token, 8192).unwrap();
    assert_eq!(jws.header().typ.as_deref(), Some("at+jwt"));
    assert_eq!(jws.header().kid.as_deref(), Some("k1"));
    let payload: Value = serde_json::from_slice(jws.payload()).unwrap();
    for claim in ["iss", "exp", "aud", "sub", "client_id", "iat", "jti"] {
        assert!(payload.get(claim).is_some(), "{claim}");
    }
    assert_eq!(
        payload["aud"], RESOURCE,
        "one audience is a string (RFC 7519 section 4.1.3)"
    );
    assert!(payload.get("scope").is_none(), "an empty scope is left out");
    assert!(payload.get("cnf").is_none());

    let mut two = claims();
    two.aud = Audience::from_vec(vec![
        resource(RESOURCE),
        resource("https://other.example.com"),
    ])
    .unwrap();
    let jws_token = keys.issue(&two);
    let jws = latchkey_jose::CompactJws::parse(&jws_token, 8192).unwrap();
    let payload: Value = serde_json::from_slice(jws.payload()).unwrap();
    assert_eq!(
        payload["aud"],
        json!([RESOURCE, "https://other.example.com"])
    );
}

#[test]
fn rfc_9068_section_4_step_1_typ_must_be_at_jwt() {
    let f = Fixture::new(Algorithm::Es256);
    let payload = claims_json().to_string();
    for typ in [
        "at+jwt",
        "application/at+jwt",
        "AT+JWT",
        "Application/At+Jwt",
    ] {
        let token = sign_raw(&f.key, Some(typ), payload.as_bytes());
        assert!(f.validator.validate(&token, NOW).is_ok(), "{typ}");
    }
    for typ in [
        None,
        Some("JWT"),
        Some("jwt"),
        Some("dpop+jwt"),
        Some("at+jwt "),
        Some(""),
    ] {
        let token = sign_raw(&f.key, typ, payload.as_bytes());
        assert_eq!(
            f.validator.validate(&token, NOW),
            Err(TokenError::WrongType),
            "{typ:?}"
        );
    }
}

#[test]
fn rfc_9068_section_4_step_2_algorithm_allowlist_rfc_8725_section_3_1() {
    // An EdDSA token at a validator that allows only ES256 (the default).
    let ed = key(Algorithm::EdDsa, "k1", 1);
    let validator = AccessTokenValidator::new(
        Jwks::new(vec![ed.public_jwk()]).unwrap(),
        ISSUER.to_owned(),
        resource(RESOURCE),
        AudienceMatch::Exact,
    );
    let token = sign_raw(&ed, Some("at+jwt"), claims_json().to_string().as_bytes());
    assert_eq!(
        validator.validate(&token, NOW),
        Err(TokenError::AlgorithmNotAllowed)
    );

    // none and HS256: refused by the closed algorithm set before any key is used.
    let f = Fixture::new(Algorithm::Es256);
    let b64 =
        |s: &str| <base64ct::Base64UrlUnpadded as base64ct::Encoding>::encode_string(s.as_bytes());
    let payload = b64(&claims_json().to_string());
    let none = format!("{}.{payload}.", b64(r#"{"alg":"none","typ":"at+jwt"}"#));
    assert_eq!(
        f.validator.validate(&none, NOW),
        Err(TokenError::AlgorithmNotAllowed)
    );
    let hs = format!(
        "{}.{payload}.{}",
        b64(r#"{"alg":"HS256","typ":"at+jwt","kid":"k1"}"#),
        b64("x")
    );
    assert_eq!(
        f.validator.validate(&hs, NOW),
        Err(TokenError::AlgorithmNotAllowed)
    );
}

#[test]
fn rfc_8725bis_section_3_1_key_algorithm_must_match_header() {
    // The JWK Set has an EdDSA key under kid k1; a token signed by an ES256 key
    // under the same kid must not be checked with it.
    let ed = key(Algorithm::EdDsa, "k1", 1);
    let es = key(Algorithm::Es256, "k1", 2);
    let validator = validator_for(Jwks::new(vec![ed.public_jwk()]).unwrap(), Algorithm::Es256)
        .with_algorithms(&[Algorithm::Es256, Algorithm::EdDsa])
        .unwrap();
    let token = sign_raw(&es, Some("at+jwt"), claims_json().to_string().as_bytes());
    assert_eq!(
        validator.validate(&token, NOW),
        Err(TokenError::KeyAlgorithmMismatch)
    );
}

#[test]
fn key_lookup_by_kid_and_the_single_key_fallback() {
    let f = Fixture::new(Algorithm::Es256);
    let stranger = key(Algorithm::Es256, "k2", 2);
    let token = sign_raw(
        &stranger,
        Some("at+jwt"),
        claims_json().to_string().as_bytes(),
    );
    assert_eq!(
        f.validator.validate(&token, NOW),
        Err(TokenError::UnknownKey)
    );

    // No kid: the one key of a one-key set is tried.
    let anonymous = key(Algorithm::Es256, "", 3);
    let single = validator_for(
        Jwks::new(vec![anonymous.public_jwk()]).unwrap(),
        Algorithm::Es256,
    );
    let token = sign_raw(
        &anonymous,
        Some("at+jwt"),
        claims_json().to_string().as_bytes(),
    );
    assert!(single.validate(&token, NOW).is_ok());
    // ... but never one of several.
    let two = validator_for(
        Jwks::new(vec![anonymous.public_jwk(), f.key.public_jwk()]).unwrap(),
        Algorithm::Es256,
    );
    assert_eq!(two.validate(&token, NOW), Err(TokenError::UnknownKey));
}

#[test]
fn rfc_7517_section_5_a_fetched_again_jwks_replaces_the_keys_and_keeps_the_settings() {
    let f = Fixture::new(Algorithm::Es256);
    let rotated = key(Algorithm::Es256, "k2", 2);
    let token = sign_raw(
        &rotated,
        Some("at+jwt"),
        claims_json().to_string().as_bytes(),
    );
    assert_eq!(
        f.validator.validate(&token, NOW),
        Err(TokenError::UnknownKey)
    );
    let jwks = Jwks::new(vec![rotated.public_jwk(), f.key.public_jwk()]).unwrap();
    let refreshed = f.validator.clone().with_jwks(jwks.clone());
    assert_eq!(refreshed.jwks(), &jwks);
    assert!(refreshed.validate(&token, NOW).is_ok());
    // Issuer, audience and algorithms are unchanged.
    let mut other_issuer = claims_json();
    other_issuer["iss"] = json!("https://other.example.com");
    let token = sign_raw(
        &rotated,
        Some("at+jwt"),
        other_issuer.to_string().as_bytes(),
    );
    assert_eq!(
        refreshed.validate(&token, NOW),
        Err(TokenError::WrongIssuer)
    );
}

#[test]
fn rfc_8725_section_3_10_keys_named_or_embedded_by_the_token_are_never_used() {
    let f = Fixture::new(Algorithm::Es256);
    let attacker = key(Algorithm::Es256, "", 66);
    let header = JoseHeader::new(Algorithm::Es256)
        .with_typ("at+jwt")
        .with_jwk(attacker.public_jwk());
    let payload = claims_json().to_string();
    // No kid, the attacker's key embedded: the configured key is tried, and fails.
    let token = attacker.sign_compact(&header, payload.as_bytes());
    assert_eq!(
        f.validator.validate(&token, NOW),
        Err(TokenError::BadSignature)
    );
    // A jku pointing elsewhere changes nothing either.
    let b64 =
        |s: &str| <base64ct::Base64UrlUnpadded as base64ct::Encoding>::encode_string(s.as_bytes());
    let jku = format!(
        "{}.{}.{}",
        b64(r#"{"alg":"ES256","typ":"at+jwt","kid":"evil","jku":"https://evil.example/jwks"}"#),
        b64(&payload),
        b64(&"s".repeat(64))
    );
    assert_eq!(f.validator.validate(&jku, NOW), Err(TokenError::UnknownKey));
}

#[test]
fn error_messages_are_lowercase_without_trailing_period() {
    for error in [
        TokenError::Malformed(JoseError::BadBase64),
        TokenError::MissingClaim("exp"),
        TokenError::WrongAudience,
        TokenError::LeewayTooLarge,
    ] {
        let text = error.to_string();
        assert!(!text.ends_with('.'), "{text}");
        assert_eq!(text, text.to_lowercase(), "{text}");
    }
}

#[test]
fn rfc_9068_section_4_step_5_signature_must_verify() {
    let f = Fixture::new(Algorithm::Es256);
    let token = sign_raw(&f.key, Some("at+jwt"), claims_json().to_string().as_bytes());
    let (head, rest) = token.split_once('.').unwrap();
    let (_, sig) = rest.split_once('.').unwrap();
    let mut forged_claims = claims_json();
    forged_claims["sub"] = json!("mallory");
    let forged_payload = <base64ct::Base64UrlUnpadded as base64ct::Encoding>::encode_string(
        forged_claims.to_string().as_bytes(),
    );
    let forged = format!("{head}.{forged_payload}.{sig}");
    assert_eq!(
        f.validator.validate(&forged, NOW),
        Err(TokenError::BadSignature)
    );

    // Same kid, other key.
    let impostor = key(Algorithm::Es256, "k1", 99);
    let token = sign_raw(
        &impostor,
        Some("at+jwt"),
        claims_json().to_string().as_bytes(),
    );
    assert_eq!(
        f.validator.validate(&token, NOW),
        Err(TokenError::BadSignature)
    );
}

#[test]
fn rfc_9068_section_4_step_3_issuer_must_match_exactly() {
    let f = Fixture::new(Algorithm::Es256);
    for iss in [
        "https://auth.example.com/",
        "https://AUTH.example.com",
        "https://evil.example.com",
        "",
    ] {
        let mut c = claims_json();
        c["iss"] = json!(iss);
        assert_eq!(
            f.check(&c).map(|_| ()),
            Err(TokenError::WrongIssuer),
            "{iss}"
        );
    }
}

#[test]
fn r6_r13_rfc_9068_section_4_step_4_audience_must_cover_this_resource() {
    let f = Fixture::new(Algorithm::Es256);
    for aud in [
        json!("https://other.example.com/mcp"),
        json!(["https://other.example.com"]),
        json!("https://mcp.example.com/mcp-other"),
        json!("https://mcp.example.com"),
    ] {
        let mut c = claims_json();
        c["aud"] = aud.clone();
        assert_eq!(
            f.check(&c).map(|_| ()),
            Err(TokenError::WrongAudience),
            "{aud}"
        );
    }
    // One of several is enough; the spelling is canonicalized (RFC 3986 section 6.2.2.1).
    for aud in [
        json!(["https://other.example.com", RESOURCE]),
        json!("HTTPS://MCP.example.com:443/mcp/"),
    ] {
        let mut c = claims_json();
        c["aud"] = aud.clone();
        assert!(f.check(&c).is_ok(), "{aud}");
    }
    // Values that are not resource URIs next to ours make the token malformed.
    let mut c = claims_json();
    c["aud"] = json!([RESOURCE, "not a uri"]);
    assert_eq!(
        f.check(&c).map(|_| ()),
        Err(TokenError::MalformedClaim("aud"))
    );
    for aud in [json!([]), json!(7), json!([RESOURCE, 7])] {
        let mut c = claims_json();
        c["aud"] = aud.clone();
        assert_eq!(
            f.check(&c).map(|_| ()),
            Err(TokenError::MalformedClaim("aud")),
            "{aud}"
        );
    }
    let mut c = claims_json();
    c["aud"] = json!(vec![RESOURCE; Audience::MAX_LEN + 1]);
    assert_eq!(
        f.check(&c).map(|_| ()),
        Err(TokenError::MalformedClaim("aud"))
    );
}

#[test]
fn r6_path_prefix_matching_covers_sub_paths_only_when_configured() {
    let key = key(Algorithm::Es256, "k1", 1);
    let jwks = Jwks::new(vec![key.public_jwk()]).unwrap();
    let prefix = AccessTokenValidator::new(
        jwks.clone(),
        ISSUER.to_owned(),
        resource(RESOURCE),
        AudienceMatch::PathPrefix,
    );
    let exact = AccessTokenValidator::new(
        jwks,
        ISSUER.to_owned(),
        resource(RESOURCE),
        AudienceMatch::Exact,
    );
    let mut c = claims_json();
    c["aud"] = json!("https://mcp.example.com");
    let token = sign_raw(&key, Some("at+jwt"), c.to_string().as_bytes());
    assert!(prefix.validate(&token, NOW).is_ok());
    assert_eq!(
        exact.validate(&token, NOW).map(|_| ()),
        Err(TokenError::WrongAudience)
    );
}

#[test]
fn rfc_9068_section_4_step_7_expiry_with_bounded_leeway() {
    let f = Fixture::new(Algorithm::Es256);
    let leeway = AccessTokenValidator::DEFAULT_LEEWAY.as_secs();
    let at = |exp: u64| {
        let mut c = claims_json();
        c["exp"] = json!(exp);
        c["iat"] = json!(NOW.as_secs() - 1000);
        f.check(&c).map(|_| ())
    };
    assert_eq!(at(NOW.as_secs() - leeway), Err(TokenError::Expired));
    assert_eq!(at(NOW.as_secs() - leeway - 1), Err(TokenError::Expired));
    assert_eq!(at(0), Err(TokenError::Expired));
    assert_eq!(at(NOW.as_secs() - leeway + 1), Ok(()));

    // Without leeway, a token expires at exp exactly.
    let strict = Fixture::new(Algorithm::Es256);
    let strict = Fixture {
        validator: strict.validator.with_leeway(Duration::ZERO).unwrap(),
        ..strict
    };
    let mut c = claims_json();
    c["exp"] = json!(NOW.as_secs());
    assert_eq!(strict.check(&c).map(|_| ()), Err(TokenError::Expired));
    c["exp"] = json!(NOW.as_secs() + 1);
    assert!(strict.check(&c).is_ok());
    // A fractional exp counts down (RFC 7519 section 2 NumericDate).
    c["exp"] = json!(NOW.as_secs() as f64 + 0.5);
    assert_eq!(strict.check(&c).map(|_| ()), Err(TokenError::Expired));
}

#[test]
fn rfc_7519_section_4_1_5_nbf_and_4_1_6_iat_not_in_the_future() {
    let f = Fixture::new(Algorithm::Es256);
    let leeway = AccessTokenValidator::DEFAULT_LEEWAY.as_secs();
    let mut c = claims_json();
    c["nbf"] = json!(NOW.as_secs() + leeway + 1);
    assert_eq!(f.check(&c).map(|_| ()), Err(TokenError::NotYetValid));
    c["nbf"] = json!(NOW.as_secs() + leeway);
    assert!(f.check(&c).is_ok());
    let mut c = claims_json();
    c["iat"] = json!(NOW.as_secs() + leeway + 1);
    assert_eq!(f.check(&c).map(|_| ()), Err(TokenError::IssuedInFuture));
    c["iat"] = json!(NOW.as_secs() as f64 + leeway as f64 + 0.5);
    assert_eq!(f.check(&c).map(|_| ()), Err(TokenError::IssuedInFuture));
    c["iat"] = json!(NOW.as_secs() + leeway);
    assert!(f.check(&c).is_ok());
}

#[test]
fn rfc_9068_section_2_2_required_claims_must_be_present() {
    let f = Fixture::new(Algorithm::Es256);
    for claim in ["iss", "sub", "aud", "exp", "iat", "jti", "client_id"] {
        let mut c = claims_json();
        c.as_object_mut().unwrap().remove(claim);
        assert_eq!(
            f.check(&c).map(|_| ()),
            Err(TokenError::MissingClaim(claim)),
            "{claim}"
        );
    }
    // scope is optional (RFC 9068 section 2.2.3).
    let mut c = claims_json();
    c.as_object_mut().unwrap().remove("scope");
    assert!(f.check(&c).unwrap().claims().scope.is_empty());
}

#[test]
fn claims_with_the_wrong_type_or_grammar_are_refused() {
    let f = Fixture::new(Algorithm::Es256);
    let cases = [
        ("exp", json!("1800000300"), "exp"),
        ("exp", json!(-1), "exp"),
        ("iat", json!(true), "iat"),
        ("nbf", json!(1e300), "nbf"),
        ("iss", json!(["a"]), "iss"),
        ("sub", json!(""), "sub"),
        ("sub", json!("a\u{7}b"), "sub"),
        ("client_id", json!(""), "client_id"),
        ("jti", json!(""), "jti"),
        ("jti", json!("a b"), "jti"),
        ("scope", json!("a  b"), "scope"),
        ("scope", json!(["a"]), "scope"),
        ("cnf", json!({"jkt": "short"}), "cnf"),
        ("cnf", json!("jkt"), "cnf"),
        ("auth_time", json!("now"), "auth_time"),
    ];
    for (claim, value, name) in cases {
        let mut c = claims_json();
        c[claim] = value.clone();
        assert_eq!(
            f.check(&c).map(|_| ()),
            Err(TokenError::MalformedClaim(name)),
            "{claim}: {value}"
        );
    }
}

#[test]
fn rfc_7519_section_4_duplicate_claims_are_refused() {
    let f = Fixture::new(Algorithm::Es256);
    let json = claims_json().to_string();
    for extra in [
        r#","exp":1}"#,
        r#","iss":"https://auth.example.com"}"#,
        r#","x":1,"x":2}"#,
    ] {
        let payload = format!("{}{extra}", json.strip_suffix('}').unwrap());
        let token = sign_raw(&f.key, Some("at+jwt"), payload.as_bytes());
        assert_eq!(
            f.validator.validate(&token, NOW),
            Err(TokenError::DuplicateClaim),
            "{extra}"
        );
    }
}

#[test]
fn claims_set_must_be_one_json_object_in_utf_8() {
    let f = Fixture::new(Algorithm::Es256);
    let json = claims_json().to_string();
    let trailing = format!("{json} {{}}");
    let too_many: String = (0..70).map(|i| format!(r#","c{i}":0"#)).collect();
    let many = format!("{}{too_many}}}", json.strip_suffix('}').unwrap());
    for payload in [
        &b"[]"[..],
        b"null",
        b"",
        trailing.as_bytes(),
        b"{\"\xff\":1}",
        many.as_bytes(),
    ] {
        let token = sign_raw(&f.key, Some("at+jwt"), payload);
        assert_eq!(
            f.validator.validate(&token, NOW),
            Err(TokenError::MalformedClaims),
            "{}",
            String::from_utf8_lossy(payload)
        );
    }
    // RFC 8725bis section 3.7: UTF-8 only; a bad byte inside a claim names the claim.
    let token = sign_raw(&f.key, Some("at+jwt"), b"{\"iss\":\"\xff\"}");
    assert_eq!(
        f.validator.validate(&token, NOW),
        Err(TokenError::MalformedClaim("iss"))
    );
}

#[test]
fn rfc_9449_section_6_1_only_jkt_confirmation_is_accepted() {
    let f = Fixture::new(Algorithm::Es256);
    let jkt = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";
    let mut c = claims_json();
    c["cnf"] = json!({ "jkt": jkt });
    let validated = f.check(&c).unwrap();
    assert_eq!(validated.dpop_jkt().unwrap().to_encoded(), jkt);
    for cnf in [
        json!({"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}),
        json!({}),
        json!({"jkt": jkt, "jwk": {}}),
    ] {
        let mut c = claims_json();
        c["cnf"] = cnf.clone();
        assert_eq!(
            f.check(&c).map(|_| ()),
            Err(TokenError::UnsupportedConfirmation),
            "{cnf}"
        );
    }
    // Without cnf the token is a bearer token.
    assert_eq!(f.check(&claims_json()).unwrap().dpop_jkt(), None);
}

#[test]
fn oversized_and_malformed_tokens_are_refused_before_any_key_work() {
    let f = Fixture::new(Algorithm::Es256);
    let token = sign_raw(&f.key, Some("at+jwt"), claims_json().to_string().as_bytes());
    let short = f.validator.clone().with_max_token_len(token.len() - 1);
    assert_eq!(short.validate(&token, NOW), Err(TokenError::TooLong));
    assert_eq!(
        f.validator.validate("", NOW),
        Err(TokenError::Malformed(JoseError::MalformedCompact))
    );
    assert_eq!(
        f.validator.validate("a.b", NOW),
        Err(TokenError::Malformed(JoseError::MalformedCompact))
    );
    assert_eq!(
        f.validator.validate(&format!("{{{token}}}"), NOW),
        Err(TokenError::Malformed(JoseError::BadBase64))
    );
    let b64 =
        |s: &str| <base64ct::Base64UrlUnpadded as base64ct::Encoding>::encode_string(s.as_bytes());
    let crit = format!(
        "{}.{}.{}",
        b64(r#"{"alg":"ES256","typ":"at+jwt","kid":"k1","crit":["exp"]}"#),
        b64(&claims_json().to_string()),
        b64(&"s".repeat(64))
    );
    assert_eq!(
        f.validator.validate(&crit, NOW),
        Err(TokenError::Malformed(JoseError::CriticalHeader))
    );
}

#[test]
fn validator_configuration_is_bounded() {
    let f = Fixture::new(Algorithm::Es256);
    assert_eq!(
        f.validator
            .clone()
            .with_leeway(Duration::from_secs(301))
            .map(|_| ()),
        Err(TokenError::LeewayTooLarge)
    );
    assert!(
        f.validator
            .clone()
            .with_leeway(AccessTokenValidator::MAX_LEEWAY)
            .is_ok()
    );
    assert_eq!(
        f.validator.clone().with_algorithms(&[]).map(|_| ()),
        Err(TokenError::NoAlgorithms)
    );
}

#[test]
fn r7_every_validation_failure_is_invalid_token_with_401() {
    let validation_errors = [
        TokenError::TooLong,
        TokenError::Malformed(JoseError::BadBase64),
        TokenError::WrongType,
        TokenError::AlgorithmNotAllowed,
        TokenError::UnknownKey,
        TokenError::KeyAlgorithmMismatch,
        TokenError::BadSignature,
        TokenError::MalformedClaims,
        TokenError::DuplicateClaim,
        TokenError::MissingClaim("exp"),
        TokenError::MalformedClaim("aud"),
        TokenError::WrongIssuer,
        TokenError::WrongAudience,
        TokenError::Expired,
        TokenError::NotYetValid,
        TokenError::IssuedInFuture,
        TokenError::UnsupportedConfirmation,
    ];
    for error in validation_errors {
        assert_eq!(
            ErrorCode::from(&error),
            ErrorCode::InvalidToken,
            "{error:?}"
        );
        assert_eq!(ErrorCode::from(&error).http_status(), 401);
    }
    for error in [
        TokenError::NoAlgorithms,
        TokenError::LeewayTooLarge,
        TokenError::LifetimeZero,
        TokenError::LifetimeTooLong,
        TokenError::EmptyKeyId,
        TokenError::DuplicateKeyId,
        TokenError::TooManyKeys,
        TokenError::RetiringActiveKey,
        TokenError::KeyNotFound,
    ] {
        assert_eq!(ErrorCode::from(&error), ErrorCode::ServerError, "{error:?}");
    }
    assert_eq!(
        TokenError::MissingClaim("exp").to_string(),
        "access token lacks the exp claim"
    );
}

#[test]
fn key_rotation_keeps_old_tokens_valid_until_retired() {
    let mut keys = KeySet::new(key(Algorithm::Es256, "2026-10", 1)).unwrap();
    let old_token = keys.issue(&claims());
    keys.rotate(key(Algorithm::Es256, "2026-11", 2)).unwrap();
    assert_eq!(keys.active().kid(), "2026-11");
    let new_token = keys.issue(&claims());
    assert!(new_token.len() > 10);
    let validator = validator_for(keys.jwks(), Algorithm::Es256);
    assert_eq!(
        validator.validate(&new_token, NOW).unwrap().kid(),
        Some("2026-11")
    );
    assert_eq!(
        validator.validate(&old_token, NOW).unwrap().kid(),
        Some("2026-10")
    );
    assert_eq!(keys.jwks().keys().first().unwrap().kid(), Some("2026-11"));

    assert_eq!(
        keys.retire("2026-11").map(|_| ()),
        Err(TokenError::RetiringActiveKey)
    );
    assert_eq!(
        keys.retire("nope").map(|_| ()),
        Err(TokenError::KeyNotFound)
    );
    assert_eq!(keys.retire("2026-10").unwrap().kid(), "2026-10");
    let validator = validator_for(keys.jwks(), Algorithm::Es256);
    assert_eq!(
        validator.validate(&old_token, NOW),
        Err(TokenError::UnknownKey)
    );
    assert!(validator.validate(&new_token, NOW).is_ok());
}

#[test]
fn key_set_refuses_empty_and_duplicate_key_ids() {
    assert_eq!(
        KeySet::new(key(Algorithm::Es256, "", 1)).map(|_| ()),
        Err(TokenError::EmptyKeyId)
    );
    let mut keys = KeySet::new(key(Algorithm::Es256, "a", 1)).unwrap();
    assert_eq!(
        keys.rotate(key(Algorithm::EdDsa, "a", 2)),
        Err(TokenError::DuplicateKeyId)
    );
    assert_eq!(
        keys.rotate(key(Algorithm::EdDsa, "", 2)),
        Err(TokenError::EmptyKeyId)
    );
    keys.rotate(key(Algorithm::EdDsa, "b", 2)).unwrap();
    assert_eq!(keys.algorithms(), vec![Algorithm::Es256, Algorithm::EdDsa]);
    for i in 2..KeySet::MAX_KEYS {
        keys.rotate(key(Algorithm::EdDsa, &format!("k{i}"), 2))
            .unwrap();
    }
    assert_eq!(
        keys.rotate(key(Algorithm::EdDsa, "full", 2)),
        Err(TokenError::TooManyKeys)
    );
}

#[test]
fn published_key_set_holds_public_keys_only() {
    let mut keys = KeySet::new(key(Algorithm::Es256, "a", 1)).unwrap();
    keys.rotate(key(Algorithm::EdDsa, "b", 2)).unwrap();
    let json = keys.jwks().to_json();
    let text = json.to_string();
    assert!(!text.contains("\"d\""), "{text}");
    assert_eq!(json["keys"].as_array().unwrap().len(), 2);
    assert_eq!(Jwks::parse(text.as_bytes()).unwrap(), keys.jwks());
    assert!(format!("{keys:?}").contains("SigningKey(..)"));
}

#[test]
fn a9_access_tokens_are_short_lived() {
    let c = claims();
    assert_eq!(
        c.exp.duration_since(c.iat),
        Some(AccessTokenClaims::DEFAULT_LIFETIME)
    );
    assert!(AccessTokenClaims::DEFAULT_LIFETIME <= Duration::from_secs(600));
    let hour = claims()
        .with_lifetime(AccessTokenClaims::MAX_LIFETIME)
        .unwrap();
    assert_eq!(hour.exp.as_secs(), NOW.as_secs() + 3600);
    assert_eq!(
        claims()
            .with_lifetime(Duration::from_secs(3601))
            .map(|_| ()),
        Err(TokenError::LifetimeTooLong)
    );
    assert_eq!(
        claims().with_lifetime(Duration::ZERO).map(|_| ()),
        Err(TokenError::LifetimeZero)
    );
}

#[test]
fn jti_is_fresh_per_token_and_parsed_strictly() {
    let mut rng = rng();
    let a = crate::TokenId::generate(&mut rng);
    let b = crate::TokenId::generate(&mut rng);
    assert_ne!(a, b);
    assert_eq!(a.as_str().len(), 22);
    assert_eq!(crate::TokenId::parse(a.as_str()).unwrap(), a);
    assert_eq!(
        crate::TokenId::parse(&"x".repeat(256)),
        Err(TokenError::MalformedClaim("jti"))
    );
    assert!(Audience::from_vec(vec![]).is_none());
    assert_eq!(
        Audience::from_vec(vec![resource(RESOURCE), resource(RESOURCE)])
            .unwrap()
            .as_slice()
            .len(),
        1
    );
}

proptest! {
    #[test]
    fn validation_of_arbitrary_input_never_panics_and_is_invalid_token(s in "\\PC{0,300}") {
        let f = Fixture::new(Algorithm::Es256);
        let error = f.validator.validate(&s, NOW).unwrap_err();
        prop_assert_eq!(ErrorCode::from(&error), ErrorCode::InvalidToken);
    }

    #[test]
    fn any_single_character_change_to_a_valid_token_is_refused(index in 0usize..400, replacement in "[A-Za-z0-9_.-]") {
        let f = Fixture::new(Algorithm::EdDsa);
        let token = sign_raw(&f.key, Some("at+jwt"), claims_json().to_string().as_bytes());
        let index = index % token.len();
        let mut bytes = token.clone().into_bytes();
        bytes[index] = replacement.as_bytes()[0];
        let changed = String::from_utf8(bytes).unwrap();
        prop_assume!(changed != token);
        prop_assert!(f.validator.validate(&changed, NOW).is_err());
    }
}
