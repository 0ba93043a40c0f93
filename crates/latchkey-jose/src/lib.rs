#![doc = include_str!("../README.md")]

mod alg;
mod b64;
mod jwk;
mod jwks;
mod jws;
mod key;
mod thumbprint;
mod wrap;

pub use alg::Algorithm;
pub use jwk::{MAX_KID_LEN, PublicJwk};
pub use jwks::Jwks;
pub use jws::{CompactJws, JoseHeader, MAX_SIGNATURE_LEN, SIGNATURE_LEN};
pub use key::SigningKey;
pub use thumbprint::JwkThumbprint;
pub use wrap::{KeyWrapKey, is_sealed};

use latchkey_types::ErrorCode;

/// The shortest RSA modulus accepted, in bits (RFC 7518 sections 3.3 and 3.5: "A
/// key of size 2048 bits or larger MUST be used").
pub const MIN_RSA_BITS: usize = 2048;
/// The longest RSA modulus accepted, in bits: aws-lc's verification limit, and a
/// bound on the work one signature check costs.
pub const MAX_RSA_BITS: usize = 8192;

/// Why a JWS, JWK, JWK Set or key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JoseError {
    /// A JWK thumbprint was not 43 base64url characters encoding 32 bytes
    /// (RFC 7638 section 3, RFC 9449 section 10).
    #[error("jwk thumbprint is malformed")]
    ThumbprintMalformed,
    /// The compact JWS is longer than the caller's limit.
    #[error("token is too long")]
    TokenTooLong,
    /// The compact JWS is not three dot-separated segments (RFC 7515 section 7.1).
    #[error("token is not a compact jws")]
    MalformedCompact,
    /// A segment is not strict unpadded base64url (RFC 7515 section 2).
    #[error("segment is not base64url")]
    BadBase64,
    /// The protected header is not a JSON object of the expected member types.
    #[error("jose header is malformed")]
    MalformedHeader,
    /// The protected header repeats a member name (RFC 7515 section 4).
    #[error("jose header has a duplicate member")]
    DuplicateHeaderMember,
    /// The protected header has no `alg` (RFC 7515 section 4.1.1).
    #[error("jose header has no alg")]
    MissingAlgorithm,
    /// The algorithm is not ES256, ES384, EdDSA, RS256 or PS256 (RFC 8725 section 3.1).
    #[error("algorithm is not supported")]
    UnsupportedAlgorithm,
    /// The header has a `crit` member; no extension is understood (RFC 7515 section 4.1.11).
    #[error("critical header extension is not understood")]
    CriticalHeader,
    /// The signature's length does not fit its algorithm (RFC 7518 section 3).
    #[error("signature has the wrong length")]
    SignatureLength,
    /// The header's algorithm is not the key's (RFC 8725 section 3.1).
    #[error("algorithm does not match the key")]
    AlgorithmMismatch,
    /// The signature does not verify.
    #[error("signature does not verify")]
    BadSignature,
    /// A JWK is not an object with the members its key type requires.
    #[error("jwk is malformed")]
    MalformedJwk,
    /// A JWK's `kty` is not `EC`, `OKP` or `RSA`.
    #[error("jwk key type is not supported")]
    UnsupportedKeyType,
    /// A JWK's `crv` is not `P-256` or `P-384` (EC), or `Ed25519` (OKP).
    #[error("jwk curve is not supported")]
    UnsupportedCurve,
    /// A JWK carries private or symmetric key members where a public key belongs.
    #[error("jwk contains private key material")]
    PrivateKeyMaterial,
    /// A JWK's coordinates have the wrong length or are not a point on the curve.
    #[error("jwk is not a valid public key")]
    InvalidPublicKey,
    /// A JWK's `alg` member names an algorithm its key type cannot verify.
    #[error("jwk alg does not match its key type")]
    JwkAlgorithmMismatch,
    /// A JWK's `use` member is not `sig` (RFC 7517 section 4.2), or its `key_ops`
    /// lack `verify` or contradict `use` (section 4.3).
    #[error("jwk is not for signatures")]
    KeyNotForSignature,
    /// An RSA JWK's modulus is shorter than [`MIN_RSA_BITS`] (RFC 7518 sections
    /// 3.3 and 3.5).
    #[error("rsa key is shorter than 2048 bits")]
    RsaKeyTooShort,
    /// An RSA JWK's modulus is longer than [`MAX_RSA_BITS`].
    #[error("rsa key is longer than 8192 bits")]
    RsaKeyTooLong,
    /// A JWK Set document is not an object with a `keys` array, or is too large.
    #[error("jwk set is malformed")]
    MalformedJwks,
    /// A JWK Set holds more than [`Jwks::MAX_KEYS`] keys.
    #[error("jwk set has too many keys")]
    TooManyKeys,
    /// Two keys of a JWK Set share a key id.
    #[error("jwk set has a duplicate key id")]
    DuplicateKeyId,
    /// A private key document could not be read as a key of the requested algorithm.
    #[error("private key is invalid")]
    InvalidPrivateKey,
}

impl From<&JoseError> for ErrorCode {
    fn from(error: &JoseError) -> Self {
        match error {
            JoseError::TokenTooLong
            | JoseError::MalformedCompact
            | JoseError::BadBase64
            | JoseError::MalformedHeader
            | JoseError::DuplicateHeaderMember
            | JoseError::MissingAlgorithm
            | JoseError::UnsupportedAlgorithm
            | JoseError::CriticalHeader
            | JoseError::SignatureLength
            | JoseError::AlgorithmMismatch
            | JoseError::BadSignature
            | JoseError::MalformedJwk
            | JoseError::UnsupportedKeyType
            | JoseError::UnsupportedCurve
            | JoseError::PrivateKeyMaterial
            | JoseError::InvalidPublicKey
            | JoseError::JwkAlgorithmMismatch
            | JoseError::KeyNotForSignature
            | JoseError::RsaKeyTooShort
            | JoseError::RsaKeyTooLong => ErrorCode::InvalidToken,
            JoseError::ThumbprintMalformed => ErrorCode::InvalidRequest,
            // Key sets and private keys come from configuration, never from a client.
            JoseError::MalformedJwks
            | JoseError::TooManyKeys
            | JoseError::DuplicateKeyId
            | JoseError::InvalidPrivateKey => ErrorCode::ServerError,
        }
    }
}

/// Fuzz-target bodies, shared by `fuzz/` and the replay test below.
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing {
    use crate::jws::{MAX_SIGNATURE_LEN, SIGNATURE_LEN};
    use crate::{Algorithm, CompactJws, JoseError, JoseHeader, Jwks, PublicJwk};
    use latchkey_types::ErrorCode;

    /// Parses arbitrary bytes as a JWK Set, and each of its entries as a JWK
    /// (EC, OKP and RSA). An accepted set keeps only keys that are public, of a
    /// supported type, and RSA of 2048 to 8192 bits; it and each key round-trip
    /// through `to_json` to an equal value with the same RFC 7638 thumbprint.
    /// Refusals map to `server_error` for a set (configuration) and
    /// `invalid_token` for a key.
    pub fn jwk_set(data: &[u8]) {
        match Jwks::parse(data) {
            Ok(jwks) => {
                let again = Jwks::parse(jwks.to_json().to_string().as_bytes())
                    .expect("a parsed set re-parses");
                assert_eq!(again, jwks);
                for (key, same) in jwks.keys().iter().zip(again.keys()) {
                    assert_eq!(key.thumbprint(), same.thumbprint());
                    assert!(key.allows(key.algorithm()));
                    let json = key.to_json();
                    assert!(json.get("d").is_none());
                    if json["kty"] == "RSA" {
                        let n = json["n"].as_str().expect("n is a string");
                        let n = crate::b64::decode(n.as_bytes()).expect("n re-decodes");
                        let bits = n.len() * 8;
                        assert!((crate::MIN_RSA_BITS..=crate::MAX_RSA_BITS + 7).contains(&bits));
                        assert_ne!(n.first(), Some(&0));
                    }
                }
            }
            Err(error) => assert!(
                matches!(
                    ErrorCode::from(&error),
                    ErrorCode::ServerError | ErrorCode::InvalidToken
                ),
                "{error:?}"
            ),
        }
        let Ok(serde_json::Value::Object(doc)) = serde_json::from_slice(data) else {
            return;
        };
        let Some(serde_json::Value::Array(entries)) = doc.get("keys") else {
            return;
        };
        for entry in entries.iter().take(Jwks::MAX_KEYS) {
            match PublicJwk::from_json(entry) {
                Ok(key) => {
                    let back = PublicJwk::from_json(&key.to_json()).expect("round trip");
                    assert_eq!(back, key);
                    assert_eq!(back.thumbprint(), key.thumbprint());
                }
                Err(error) => {
                    assert_eq!(ErrorCode::from(&error), ErrorCode::InvalidToken);
                    assert_ne!(error, JoseError::MalformedJwks);
                }
            }
        }
    }

    /// Parses arbitrary bytes as a compact JWS. Accepted input re-parses to the same
    /// header, payload and signature, and its header JSON parses alone to the same
    /// header; refused input maps to `invalid_token`.
    pub fn jws_compact(data: &[u8]) {
        let Ok(token) = core::str::from_utf8(data) else {
            return;
        };
        match CompactJws::parse(token, 16 * 1024) {
            Ok(jws) => {
                let again = CompactJws::parse(token, token.len()).expect("same input parses again");
                assert_eq!(again.header(), jws.header());
                assert_eq!(again.payload(), jws.payload());
                assert_eq!(again.signature(), jws.signature());
                assert!(token.as_bytes().starts_with(jws.signing_input()));
                let header_b64 = token
                    .split('.')
                    .next()
                    .expect("parsed tokens have a header");
                let header_json =
                    crate::b64::decode(header_b64.as_bytes()).expect("header decoded once");
                assert_eq!(
                    JoseHeader::from_json_bytes(&header_json).as_ref(),
                    Ok(jws.header())
                );
            }
            Err(error) => assert_eq!(ErrorCode::from(&error), ErrorCode::InvalidToken),
        }
    }

    /// One header member the structure-aware target may write.
    enum Member {
        Alg(&'static str),
        EscapedAlg(&'static str),
        Typ(&'static str),
        Kid(usize),
        Crit,
        Ignored(&'static str),
    }

    /// Structure-aware JWS headers and claims: the input is read as choices
    /// (which header members in which order, `alg` values supported or not,
    /// `\u0061lg` spelled with an escape, a `kid` around [`crate::MAX_KID_LEN`],
    /// `crit`, ignored members such as `jku`, a claims object, a signature of
    /// a length around each algorithm's) and a well-formed compact JWS is
    /// built from them, so every input gets past base64url and JSON to the
    /// header rules. The parse is checked against a model of RFC 7515 section
    /// 4 as Latchkey applies it: accepted exactly when the decoded member
    /// names are unique, the one `alg` is supported, no `crit` is present, the
    /// `kid` is at most `MAX_KID_LEN` bytes and the signature has a length
    /// some algorithm produces; an accepted token gives back the `alg`, `typ`,
    /// `kid` and claims it was built with.
    pub fn jws_structured(data: &[u8]) {
        const ALGS: [&str; 9] = [
            "ES256", "EdDSA", "ES384", "RS256", "PS256", "none", "HS256", "es256", "RS384",
        ];
        const SIGNATURE_LENS: [usize; 11] = [0, 63, 64, 65, 96, 255, 256, 384, 512, 1024, 1025];
        let mut choices = data.iter().copied();
        let mut next = move || choices.next().unwrap_or(0);
        let mut members = Vec::new();
        for _ in 0..next() % 7 {
            let pick = usize::from(next());
            let alg = ALGS
                .get(usize::from(next()) % ALGS.len())
                .copied()
                .unwrap_or("ES256");
            members.push(match pick % 6 {
                0 => Member::Alg(alg),
                1 => Member::EscapedAlg(alg),
                2 => Member::Typ(if next() % 2 == 0 { "JWT" } else { "at+jwt" }),
                3 => Member::Kid(crate::MAX_KID_LEN + 2 - usize::from(next() % 4)),
                4 => Member::Crit,
                _ => Member::Ignored(if next() % 2 == 0 { "jku" } else { "x5u" }),
            });
        }
        let mut claims = serde_json::Map::new();
        for name in ["iss", "sub", "aud", "exp", "iat", "jti"] {
            match next() % 4 {
                0 => {}
                1 => drop(claims.insert(name.to_owned(), serde_json::json!("value"))),
                2 => drop(claims.insert(name.to_owned(), serde_json::json!(next()))),
                _ => drop(claims.insert(name.to_owned(), serde_json::json!(["a", "b"]))),
            }
        }
        let signature_len = SIGNATURE_LENS
            .get(usize::from(next()) % SIGNATURE_LENS.len())
            .copied()
            .unwrap_or(64);

        // The header text, and what the model expects of it.
        let mut header = String::from("{");
        let mut seen: Vec<&str> = Vec::new();
        let mut header_ok = true;
        let (mut alg, mut typ, mut kid) = (None, None, None);
        for (at, member) in members.iter().enumerate() {
            if at > 0 {
                header.push(',');
            }
            let (name, text) = match member {
                Member::Alg(value) => ("alg", format!(r#""alg":"{value}""#)),
                Member::EscapedAlg(value) => ("alg", format!(r#""\u0061lg":"{value}""#)),
                Member::Typ(value) => ("typ", format!(r#""typ":"{value}""#)),
                Member::Kid(len) => ("kid", format!(r#""kid":"{}""#, "k".repeat(*len))),
                Member::Crit => ("crit", r#""crit":["exp"]"#.to_owned()),
                Member::Ignored(name) => (*name, format!(r#""{name}":"https://example.com""#)),
            };
            header.push_str(&text);
            if !header_ok {
                continue;
            }
            if seen.contains(&name) {
                header_ok = false;
                continue;
            }
            seen.push(name);
            match member {
                Member::Alg(value) | Member::EscapedAlg(value) => match Algorithm::parse(value) {
                    Ok(parsed) => alg = Some(parsed),
                    Err(_) => header_ok = false,
                },
                Member::Typ(value) => typ = Some((*value).to_owned()),
                Member::Kid(len) if *len <= crate::MAX_KID_LEN => kid = Some("k".repeat(*len)),
                Member::Kid(_) | Member::Crit => header_ok = false,
                Member::Ignored(_) => {}
            }
        }
        header.push('}');
        let payload = serde_json::Value::Object(claims).to_string();
        let token = format!(
            "{}.{}.{}",
            crate::b64::encode(header.as_bytes()),
            crate::b64::encode(payload.as_bytes()),
            crate::b64::encode(&vec![7u8; signature_len]),
        );
        let expected_ok = header_ok
            && alg.is_some()
            && matches!(signature_len, SIGNATURE_LEN | 96 | 256..=MAX_SIGNATURE_LEN);
        match CompactJws::parse(&token, 16 * 1024) {
            Ok(jws) => {
                assert!(
                    expected_ok,
                    "accepted {header} with a {signature_len}-byte signature"
                );
                assert_eq!(Some(jws.header().alg), alg);
                assert_eq!(jws.header().typ, typ);
                assert_eq!(jws.header().kid, kid);
                assert_eq!(jws.payload(), payload.as_bytes());
                assert_eq!(jws.signature().len(), signature_len);
            }
            Err(error) => {
                assert!(!expected_ok, "refused {header}: {error:?}");
                assert_eq!(ErrorCode::from(&error), ErrorCode::InvalidToken);
            }
        }
    }

    #[cfg(test)]
    mod tests {
        fn replay(dir: &str, body: fn(&[u8])) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return;
            };
            for entry in entries {
                let path = entry.unwrap().path();
                body(&std::fs::read(&path).unwrap());
            }
        }

        #[test]
        fn replays_corpus_and_regressions() {
            let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz");
            assert!(std::fs::read_dir(format!("{root}/corpus/jws_compact")).is_ok());
            replay(&format!("{root}/corpus/jws_compact"), super::jws_compact);
            replay(
                &format!("{root}/regressions/jws_compact"),
                super::jws_compact,
            );
            assert!(std::fs::read_dir(format!("{root}/corpus/jwk_set")).is_ok());
            replay(&format!("{root}/corpus/jwk_set"), super::jwk_set);
            replay(&format!("{root}/regressions/jwk_set"), super::jwk_set);
            assert!(std::fs::read_dir(format!("{root}/corpus/jws_structured")).is_ok());
            replay(
                &format!("{root}/corpus/jws_structured"),
                super::jws_structured,
            );
            replay(
                &format!("{root}/regressions/jws_structured"),
                super::jws_structured,
            );
        }
    }
}
