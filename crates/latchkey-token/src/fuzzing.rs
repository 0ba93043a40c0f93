//! Fuzz-target bodies, shared by `fuzz/` and the replay test below.

use std::sync::OnceLock;

use latchkey_jose::{Algorithm, Jwks, PublicJwk};
use latchkey_types::{ErrorCode, UnixTime};
use latchkey_uri::{AudienceMatch, ResourceUri};

use crate::{AccessTokenValidator, TokenError};

/// The instant the fuzz validator runs at.
pub const FUZZ_NOW: UnixTime = UnixTime::from_secs(1_800_000_000);
/// The issuer the fuzz validator trusts.
pub const FUZZ_ISSUER: &str = "https://auth.example.com";
/// The resource the fuzz validator protects.
pub const FUZZ_RESOURCE: &str = "https://mcp.example.com/mcp";

/// The fuzz validator's keys: the RFC 8037 appendix A.2 Ed25519 public key, kid
/// `fuzz` (its private half, appendix A.1, is public too, so seeds can carry valid
/// tokens), and the RFC 7515 appendix A.2.1 RSA key, kid `rsa`, so RS256 and PS256
/// verification is reached.
fn validator() -> &'static AccessTokenValidator {
    static VALIDATOR: OnceLock<AccessTokenValidator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let jwk = serde_json::json!({
            "kty": "OKP", "crv": "Ed25519", "kid": "fuzz",
            "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
        });
        let rsa = serde_json::json!({
            "kty": "RSA", "kid": "rsa", "e": "AQAB",
            "n": "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ"
        });
        let jwks = Jwks::new(vec![
            PublicJwk::from_json(&jwk).expect("RFC 8037 key parses"),
            PublicJwk::from_json(&rsa).expect("RFC 7515 key parses"),
        ])
        .expect("two keys with distinct ids");
        let resource = ResourceUri::parse(FUZZ_RESOURCE).expect("valid resource");
        AccessTokenValidator::new(
            jwks,
            FUZZ_ISSUER.to_owned(),
            resource,
            AudienceMatch::PathPrefix,
        )
        .with_algorithms(&[
            Algorithm::EdDsa,
            Algorithm::Es256,
            Algorithm::Rs256,
            Algorithm::Ps256,
        ])
        .expect("non-empty allowlist")
    })
}

/// Validates arbitrary bytes against a fixed validator. Never panics; a refusal
/// maps to `invalid_token`; an acceptance is a token whose claims meet every rule
/// and which validates again to the same claims.
pub fn access_token(data: &[u8]) {
    let Ok(token) = core::str::from_utf8(data) else {
        return;
    };
    let validator = validator();
    match validator.validate(token, FUZZ_NOW) {
        Ok(validated) => {
            let claims = validated.claims();
            assert_eq!(claims.iss, FUZZ_ISSUER);
            let resource = ResourceUri::parse(FUZZ_RESOURCE).expect("valid resource");
            assert!(
                claims
                    .aud
                    .iter()
                    .any(|a| a.covers(&resource, AudienceMatch::PathPrefix))
            );
            assert!(
                FUZZ_NOW
                    < claims
                        .exp
                        .saturating_add(AccessTokenValidator::DEFAULT_LEEWAY)
            );
            assert_eq!(validator.validate(token, FUZZ_NOW).as_ref(), Ok(&validated));
        }
        Err(error) => {
            let error: TokenError = error;
            assert_eq!(ErrorCode::from(&error), ErrorCode::InvalidToken);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replay(dir: &str, body: fn(&[u8])) -> usize {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return 0;
        };
        let mut count = 0;
        for entry in entries {
            body(&std::fs::read(entry.unwrap().path()).unwrap());
            count += 1;
        }
        count
    }

    #[test]
    fn replays_corpus_and_regressions() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz");
        assert!(replay(&format!("{root}/corpus/access_token"), access_token) > 0);
        replay(&format!("{root}/regressions/access_token"), access_token);
    }

    /// The RFC 8037 appendix A.1 Ed25519 private key as PKCS#8 v1 (RFC 8410 section 7).
    fn rfc8037_signing_key() -> latchkey_jose::SigningKey {
        let mut der = vec![
            0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22,
            0x04, 0x20,
        ];
        der.extend_from_slice(&[
            0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec,
            0x2c, 0xc4, 0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32, 0x69, 0x19, 0x70, 0x3b, 0xac, 0x03,
            0x1c, 0xae, 0x7f, 0x60,
        ]);
        latchkey_jose::SigningKey::from_pkcs8(Algorithm::EdDsa, "fuzz".to_owned(), &der).unwrap()
    }

    /// The seed token, issued exactly as `valid_eddsa` holds it (Ed25519 is deterministic).
    pub(crate) fn seed_token() -> String {
        use latchkey_types::{ClientId, Scope, Subject};
        let keys = crate::KeySet::new(rfc8037_signing_key()).unwrap();
        let mut claims = crate::AccessTokenClaims::new(
            FUZZ_ISSUER.to_owned(),
            Subject::parse("alice").unwrap(),
            ClientId::parse("client-1").unwrap(),
            crate::Audience::new(ResourceUri::parse(FUZZ_RESOURCE).unwrap()),
            UnixTime::from_secs(FUZZ_NOW.as_secs() - 10),
            &mut <rand_chacha::ChaCha20Rng as rand_core::SeedableRng>::seed_from_u64(1),
        )
        .with_scope(Scope::parse("mcp:read").unwrap());
        claims.exp = UnixTime::from_secs(4_000_000_000);
        keys.issue(&claims)
    }

    #[test]
    fn corpus_holds_a_genuinely_valid_token() {
        assert_eq!(
            rfc8037_signing_key().public_jwk().thumbprint().to_encoded(),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fuzz/corpus/access_token/valid_eddsa"
        );
        let token = std::fs::read_to_string(path).unwrap();
        assert_eq!(token, seed_token());
        let validated = validator().validate(&token, FUZZ_NOW).unwrap();
        assert_eq!(validated.claims().sub.as_str(), "alice");
    }
}
