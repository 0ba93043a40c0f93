//! Fuzz-target bodies (see the workspace `fuzz/` directory). Each takes
//! arbitrary bytes and asserts what must hold for every input.

mod token_request;

use std::sync::OnceLock;

use base64ct::{Base64, Encoding};
use latchkey_jose::{Algorithm, JoseHeader, Jwks, SigningKey};
use latchkey_store::ClientRecord;
use latchkey_types::json::parse_object;
use latchkey_types::{ClientId, ErrorCode, UnixTime};
use serde_json::Value;

use crate::authorize::fuzzing::FuzzRng;
use crate::client_auth::{
    JWT_BEARER_ASSERTION_TYPE, assertion_subject, check_assertion, parse_basic,
};
use crate::clients::ResolvedClient;
use crate::error::EngineError;
use crate::request::Params;
use crate::token::parse_grant_request;

pub use token_request::{TokenCall, engine_token_request};

/// `Authorization: Basic` credentials (RFC 6749 section 2.3.1): accepted
/// credentials re-encode and re-parse to the same id and secret; rejected ones
/// are `invalid_client`.
pub fn engine_basic_credentials(data: &[u8]) {
    let Ok(header) = core::str::from_utf8(data) else {
        return;
    };
    match parse_basic(header) {
        Ok((id, secret)) => {
            let encoded = format!("{}:{}", form_urlencode(&id), form_urlencode(&secret));
            let again = format!("Basic {}", Base64::encode_string(encoded.as_bytes()));
            assert_eq!(parse_basic(&again), Ok((id, secret)));
        }
        Err(reason) => {
            assert!(!reason.is_empty());
            let error = EngineError::AuthorizationHeaderMalformed;
            assert_eq!(ErrorCode::from(&error), ErrorCode::InvalidClient);
        }
    }
}

/// A token request body split into `name=value` pairs at `&` (as an adapter
/// would, without percent-decoding): accepted parameters rebuild to the same
/// `Params`; the grant parser never panics and refuses with a 4xx code.
pub fn engine_token_params(data: &[u8]) {
    let Ok(body) = core::str::from_utf8(data) else {
        return;
    };
    let pairs = body.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        (name.to_owned(), value.to_owned())
    });
    let params = match Params::from_pairs(pairs) {
        Ok(params) => params,
        Err(error) => {
            assert_eq!(ErrorCode::from(&error), ErrorCode::InvalidRequest);
            return;
        }
    };
    let rebuilt = Params::from_pairs(params.iter().map(|(n, v)| (n.to_owned(), v.to_owned())));
    assert_eq!(rebuilt.ok().as_ref(), Some(&params));
    if let Err(status) = parse_grant_request(&params) {
        assert!((400..500).contains(&status), "status {status}");
    }
}

/// The client `client_assertion` authenticates in the fuzz body.
const ASSERTING_CLIENT: &str = "fuzz-jwt-client";
/// The audiences the token endpoint accepts in the fuzz body: the issuer,
/// the token endpoint and the endpoint the request went to.
const ASSERTION_AUDIENCES: [&str; 3] = [
    "https://as.example.com",
    "https://as.example.com/token",
    "https://as.example.com/revoke",
];
/// The time the fuzz body checks assertions at.
const ASSERTION_NOW: u64 = 1_800_000_000;

/// The keys of `client_assertion_claims`: two registered (EdDSA `k1`, ES256
/// `k2`), one unregistered that claims to be `k1`, one with an unknown `kid`.
struct AssertionFixture {
    client: ResolvedClient,
    jwks: Jwks,
    signers: [SigningKey; 4],
}

fn assertion_fixture() -> &'static AssertionFixture {
    static FIXTURE: OnceLock<AssertionFixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let mut rng = FuzzRng(7);
        let k1 = SigningKey::generate(Algorithm::EdDsa, "k1".to_owned(), &mut rng);
        let k2 = SigningKey::generate(Algorithm::Es256, "k2".to_owned(), &mut rng);
        let impostor = SigningKey::generate(Algorithm::EdDsa, "k1".to_owned(), &mut rng);
        let stranger = SigningKey::generate(Algorithm::EdDsa, "k3".to_owned(), &mut rng);
        let jwks = Jwks::new(vec![k1.public_jwk(), k2.public_jwk()]).expect("two distinct keys");
        let metadata = serde_json::json!({
            "client_name": "Fuzz JWT",
            "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": jwks.to_json(),
        });
        let record = ClientRecord {
            client_id: ClientId::parse(ASSERTING_CLIENT).expect("a valid client id"),
            metadata: metadata.as_object().cloned().unwrap_or_default(),
            secret_digest: None,
            secret_expires_at: None,
            registration_token_digest: None,
            fingerprint: None,
            issued_at: UnixTime::from_secs(ASSERTION_NOW),
            first_used_at: None,
            may_introspect: false,
        };
        AssertionFixture {
            client: ResolvedClient::from_record(record).expect("valid client metadata"),
            jwks,
            signers: [k1, k2, impostor, stranger],
        }
    })
}

/// `client_assertion_claims`: `private_key_jwt` client authentication (RFC
/// 7523 sections 2.2 and 3) past the signature. The first byte picks the
/// signer (a registered key, the other registered key, an unregistered key
/// with a registered `kid`, an unknown `kid`), whether the
/// `client_assertion_type` is right and whether the signature is tampered
/// with; the rest is the claims payload, signed as it is. The verdict is
/// checked against a model of the rules: only a registered signer, the
/// right type and an intact signature can pass, and then exactly when the
/// payload is one JSON object without repeated members whose `iss` and
/// `sub` are the client id, whose `aud` (a string, or an array holding a
/// string) names one of this server's audiences, whose `exp` is at most
/// 600 s ahead and not more than 60 s past, whose `nbf` and `iat` (when
/// present) are at most 60 s ahead, and whose `jti` is 1 to 256 bytes. An
/// accepted assertion names its client through `sub` when no `client_id` is
/// sent, keeps its `jti` until `exp` plus the leeway, and gets the replay
/// key of its client and `jti` whatever else it holds.
pub fn client_assertion_claims(data: &[u8]) {
    let Some((&choice, payload)) = data.split_first() else {
        return;
    };
    let fixture = assertion_fixture();
    let signer = usize::from(choice & 3);
    let right_type = choice & 4 == 0;
    let tamper = choice & 8 != 0;
    let mut assertion = fixture.signers[signer].sign_compact(
        &JoseHeader::new(fixture.signers[signer].algorithm()),
        payload,
    );
    if tamper {
        // The signature's first character, changed to another base64url one.
        let at = assertion.rfind('.').map_or(0, |dot| dot + 1);
        if let Some(c) = assertion.get(at..=at) {
            let other = if c == "A" { "B" } else { "A" };
            assertion.replace_range(at..=at, other);
        }
    }
    let assertion_type = if right_type {
        JWT_BEARER_ASSERTION_TYPE
    } else {
        "urn:ietf:params:oauth:client-assertion-type:saml2-bearer"
    };
    let params = Params::from_pairs([
        ("grant_type".to_owned(), "client_credentials".to_owned()),
        (
            "client_assertion_type".to_owned(),
            assertion_type.to_owned(),
        ),
        ("client_assertion".to_owned(), assertion.clone()),
    ])
    .expect("three distinct parameters");
    let now = UnixTime::from_secs(ASSERTION_NOW);
    let result = check_assertion(
        &fixture.client,
        &fixture.jwks,
        &params,
        &ASSERTION_AUDIENCES,
        now,
    );
    let fits = assertion.len() <= 8192;
    let verdict = fits && right_type && !tamper && signer < 2 && claims_model(payload);
    match result {
        Ok(checked) => {
            assert!(verdict, "accepted against the rules: {payload:?}");
            assert_eq!(
                assertion_subject(&params).as_deref(),
                Some(ASSERTING_CLIENT)
            );
            let doc = parse_object(payload, usize::MAX).expect("the model read it");
            let exp = doc.get("exp").and_then(Value::as_u64).expect("an exp");
            assert_eq!(checked.expires_at, UnixTime::from_secs(exp + 60));
            // The replay key depends on the client and `jti` only.
            let jti = doc.get("jti").and_then(Value::as_str).expect("a jti");
            let minimal = serde_json::json!({
                "iss": ASSERTING_CLIENT,
                "sub": ASSERTING_CLIENT,
                "aud": ASSERTION_AUDIENCES[0],
                "exp": ASSERTION_NOW + 60,
                "jti": jti,
            });
            let again = fixture.signers[0].sign_compact(
                &JoseHeader::new(Algorithm::EdDsa),
                minimal.to_string().as_bytes(),
            );
            let params = Params::from_pairs([
                (
                    "client_assertion_type".to_owned(),
                    JWT_BEARER_ASSERTION_TYPE.to_owned(),
                ),
                ("client_assertion".to_owned(), again),
            ])
            .expect("two distinct parameters");
            let twin = check_assertion(
                &fixture.client,
                &fixture.jwks,
                &params,
                &ASSERTION_AUDIENCES,
                now,
            )
            .map(|twin| twin.replay_key);
            assert_eq!(twin.ok(), Some(checked.replay_key));
        }
        Err(reason) => {
            assert!(
                !verdict,
                "refused a valid assertion ({reason}): {payload:?}"
            );
            assert!(!reason.is_empty());
            assert_eq!(
                ErrorCode::from(&EngineError::ClientAuthenticationFailed),
                ErrorCode::InvalidClient
            );
        }
    }
}

/// The claim rules of RFC 7523 section 3 as `client_assertion_claims`
/// states them, over the strict JSON reader.
fn claims_model(payload: &[u8]) -> bool {
    let Ok(doc) = parse_object(payload, usize::MAX) else {
        return false;
    };
    let now = ASSERTION_NOW;
    let is_client = |name: &str| doc.get(name).and_then(Value::as_str) == Some(ASSERTING_CLIENT);
    let string_or_null =
        |name: &str| matches!(doc.get(name), None | Some(Value::Null | Value::String(_)));
    let time = |name: &str| match doc.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value.as_u64().map(Some).ok_or(()),
    };
    let audience = match doc.get("aud") {
        Some(Value::String(aud)) => ASSERTION_AUDIENCES.contains(&aud.as_str()),
        Some(Value::Array(values)) => values.iter().any(|v| {
            v.as_str()
                .is_some_and(|aud| ASSERTION_AUDIENCES.contains(&aud))
        }),
        _ => false,
    };
    let (Ok(exp), Ok(nbf), Ok(iat)) = (time("exp"), time("nbf"), time("iat")) else {
        return false;
    };
    let jti_ok = doc
        .get("jti")
        .and_then(Value::as_str)
        .is_some_and(|jti| !jti.is_empty() && jti.len() <= 256);
    is_client("iss")
        && is_client("sub")
        && string_or_null("jti")
        && audience
        && exp.is_some_and(|exp| now < exp.saturating_add(60) && exp <= now + 600)
        && nbf.is_none_or(|nbf| nbf <= now + 60)
        && iat.is_none_or(|iat| iat <= now + 60)
        && jti_ok
}

fn form_urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'*') {
            out.push(char::from(b));
        } else if b == b' ' {
            out.push('+');
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replay(target: &str, body: fn(&[u8])) {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz");
        let mut seen = 0;
        for dir in ["corpus", "regressions"] {
            let Ok(entries) = std::fs::read_dir(format!("{root}/{dir}/{target}")) else {
                assert_ne!(dir, "corpus", "the corpus of {target} is missing");
                continue;
            };
            for entry in entries {
                let path = entry.unwrap().path();
                body(&std::fs::read(&path).unwrap());
                seen += 1;
            }
        }
        assert!(seen > 0, "no seed inputs for {target}");
    }

    #[test]
    fn corpus_engine_basic_credentials() {
        replay("engine_basic_credentials", engine_basic_credentials);
    }

    #[test]
    fn corpus_client_assertion_claims() {
        replay("client_assertion_claims", client_assertion_claims);
    }

    /// The seed that must pass does pass (so the corpus exercises the
    /// accepting side), and RFC 7519 section 7.2 step 10: the claims are a
    /// JSON object, so the same values as an array are refused.
    #[test]
    fn the_valid_seed_is_accepted_and_an_array_of_claims_is_not() {
        let fixture = assertion_fixture();
        let check = |payload: &str| {
            let assertion = fixture.signers[0]
                .sign_compact(&JoseHeader::new(Algorithm::EdDsa), payload.as_bytes());
            let params = Params::from_pairs([
                (
                    "client_assertion_type".to_owned(),
                    JWT_BEARER_ASSERTION_TYPE.to_owned(),
                ),
                ("client_assertion".to_owned(), assertion),
            ])
            .unwrap();
            check_assertion(
                &fixture.client,
                &fixture.jwks,
                &params,
                &ASSERTION_AUDIENCES,
                UnixTime::from_secs(ASSERTION_NOW),
            )
            .map(|_| ())
        };
        let seed = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fuzz/corpus/client_assertion_claims/valid"
        ))
        .unwrap();
        assert_eq!(check(&seed[1..]), Ok(()));
        assert_eq!(
            check(
                r#"["fuzz-jwt-client","fuzz-jwt-client","https://as.example.com",1800000060,null,null,"j1"]"#
            ),
            Err("assertion claims malformed")
        );
    }

    #[test]
    fn corpus_engine_token_params() {
        replay("engine_token_params", engine_token_params);
    }
}
