use core::fmt;

use base64ct::{Base64UrlUnpadded, Encoding};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::{CodeVerifier, PkceError};

/// A PKCE code challenge (RFC 7636 section 4.2), always `S256`.
///
/// Public (it travels in the authorization request), so it is `Clone`,
/// `Debug` and `PartialEq`. It holds the 43-character string as received
/// and the 32-byte SHA-256 digest it encodes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeChallenge {
    encoded: String,
    digest: [u8; 32],
}

/// The `code_challenge_method` (RFC 7636 section 4.3): a closed set with only
/// `S256`. `plain` is refused (OAuth 2.1 section 4.1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CodeChallengeMethod {
    /// `S256`: `BASE64URL-ENCODE(SHA256(ASCII(code_verifier)))`.
    S256,
}

impl CodeChallenge {
    /// The length of an `S256` challenge: 32 bytes base64url-encoded without padding.
    pub const LEN: usize = 43;

    /// Parses the `code_challenge` and `code_challenge_method` parameters of an
    /// authorization request (RFC 7636 section 4.3).
    ///
    /// `method` is the parameter as received: `None` when it was missing.
    /// The method is checked first: a missing method is
    /// [`PkceError::ChallengeMethodMissing`] (no default to `plain`), `plain` is
    /// [`PkceError::ChallengeMethodPlain`]. The challenge must be exactly 43
    /// base64url characters in canonical form (RFC 7636 section 4.2).
    pub fn parse(challenge: &str, method: Option<&str>) -> Result<Self, PkceError> {
        let method = method.ok_or(PkceError::ChallengeMethodMissing)?;
        match CodeChallengeMethod::parse(method)? {
            CodeChallengeMethod::S256 => {}
        }
        if challenge.len() != Self::LEN {
            return Err(PkceError::ChallengeMalformed);
        }
        let mut digest = [0u8; 32];
        // base64ct refuses characters outside the URL-safe alphabet, padding,
        // and non-zero trailing bits, so each digest has exactly one encoding.
        let decoded = Base64UrlUnpadded::decode(challenge, &mut digest)
            .map_err(|_| PkceError::ChallengeMalformed)?;
        if decoded.len() != digest.len() {
            return Err(PkceError::ChallengeMalformed);
        }
        Ok(Self {
            encoded: challenge.to_owned(),
            digest,
        })
    }

    /// The challenge string (43 base64url characters).
    pub fn as_str(&self) -> &str {
        &self.encoded
    }

    /// The method: always [`CodeChallengeMethod::S256`].
    pub fn method(&self) -> CodeChallengeMethod {
        CodeChallengeMethod::S256
    }

    /// Whether `verifier` hashes to this challenge (RFC 7636 section 4.6).
    ///
    /// Compares the 32-byte SHA-256 digests in constant time.
    pub fn verify(&self, verifier: &CodeVerifier) -> bool {
        let digest = sha256(verifier.expose_secret());
        self.digest.ct_eq(&digest).into()
    }

    /// The `S256` challenge of `verifier` (RFC 7636 section 4.2).
    pub(crate) fn s256(verifier: &CodeVerifier) -> Self {
        let digest = sha256(verifier.expose_secret());
        Self {
            encoded: Base64UrlUnpadded::encode_string(&digest),
            digest,
        }
    }
}

impl fmt::Display for CodeChallenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.encoded)
    }
}

impl CodeChallengeMethod {
    /// Parses `code_challenge_method`: exactly `S256` (case-sensitive, RFC 7636
    /// section 4.3); `plain` and anything else are refused.
    pub fn parse(s: &str) -> Result<Self, PkceError> {
        match s {
            "S256" => Ok(Self::S256),
            "plain" => Err(PkceError::ChallengeMethodPlain),
            _ => Err(PkceError::ChallengeMethodUnknown),
        }
    }

    /// The parameter value, `S256`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::S256 => "S256",
        }
    }
}

impl fmt::Display for CodeChallengeMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn sha256(s: &str) -> [u8; 32] {
    Sha256::digest(s.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    /// RFC 7636 appendix B.
    const B_VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const B_CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn verifier(s: &str) -> CodeVerifier {
        CodeVerifier::parse(s.to_owned()).unwrap()
    }

    #[test]
    fn rfc7636_appendix_b_vector() {
        let v = verifier(B_VERIFIER);
        let computed = v.challenge();
        assert_eq!(computed.as_str(), B_CHALLENGE);
        let parsed = CodeChallenge::parse(B_CHALLENGE, Some("S256")).unwrap();
        assert_eq!(parsed, computed);
        assert_eq!(parsed.method(), CodeChallengeMethod::S256);
        assert!(parsed.verify(&v));
        assert_eq!(parsed.to_string(), B_CHALLENGE);
    }

    #[test]
    fn rfc7636_4_6_wrong_verifier_does_not_verify() {
        let parsed = CodeChallenge::parse(B_CHALLENGE, Some("S256")).unwrap();
        let other = verifier("eBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
        assert!(!parsed.verify(&other));
        // `plain` would compare the verifier itself; S256 never does.
        let plain_like = verifier(B_CHALLENGE);
        assert!(!parsed.verify(&plain_like));
    }

    #[test]
    fn oauth21_4_1_1_method_missing_is_refused() {
        assert_eq!(
            CodeChallenge::parse(B_CHALLENGE, None).unwrap_err(),
            PkceError::ChallengeMethodMissing
        );
    }

    #[test]
    fn oauth21_4_1_1_method_plain_is_refused() {
        assert_eq!(
            CodeChallenge::parse(B_VERIFIER, Some("plain")).unwrap_err(),
            PkceError::ChallengeMethodPlain
        );
        assert_eq!(
            CodeChallengeMethod::parse("plain").unwrap_err(),
            PkceError::ChallengeMethodPlain
        );
    }

    #[test]
    fn rfc7636_4_3_method_is_case_sensitive_and_closed() {
        for method in ["s256", "S-256", "SHA256", "S512", "", " S256", "S256 "] {
            assert_eq!(
                CodeChallenge::parse(B_CHALLENGE, Some(method)).unwrap_err(),
                PkceError::ChallengeMethodUnknown,
                "{method:?}"
            );
        }
        assert_eq!(
            CodeChallengeMethod::parse("S256"),
            Ok(CodeChallengeMethod::S256)
        );
        assert_eq!(CodeChallengeMethod::S256.as_str(), "S256");
        assert_eq!(CodeChallengeMethod::S256.to_string(), "S256");
    }

    #[test]
    fn rfc7636_4_2_challenge_is_exactly_43_base64url_chars() {
        let malformed = [
            "",
            &B_CHALLENGE[..42],
            &format!("{B_CHALLENGE}A"),
            &format!("{B_CHALLENGE}="),
            // Standard base64 alphabet instead of base64url.
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw/cM",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw.cM",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw cM",
            // Non-zero trailing bits: a second spelling of the same digest.
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cN",
            // A 43-character verifier sent as if it were the challenge is fine
            // syntactically only if it is base64url; 43 `~` is not.
            &"~".repeat(43),
        ];
        for challenge in malformed {
            assert_eq!(
                CodeChallenge::parse(challenge, Some("S256")).unwrap_err(),
                PkceError::ChallengeMalformed,
                "{challenge:?}"
            );
        }
    }

    proptest! {
        #[test]
        fn generated_verifier_verifies_its_own_challenge_only(seed in any::<u64>()) {
            let mut rng = ChaCha20Rng::seed_from_u64(seed);
            let mine = CodeVerifier::generate(&mut rng);
            let theirs = CodeVerifier::generate(&mut rng);
            let challenge = CodeChallenge::parse(mine.challenge().as_str(), Some("S256")).unwrap();
            prop_assert!(challenge.verify(&mine));
            prop_assert!(!challenge.verify(&theirs));
        }

        #[test]
        fn any_valid_verifier_verifies_its_own_challenge_only(
            a in "[A-Za-z0-9._~-]{43,128}",
            b in "[A-Za-z0-9._~-]{43,128}",
        ) {
            let va = verifier(&a);
            let vb = verifier(&b);
            let challenge = CodeChallenge::parse(va.challenge().as_str(), Some("S256")).unwrap();
            prop_assert_eq!(challenge.as_str().len(), CodeChallenge::LEN);
            prop_assert!(challenge.verify(&va));
            prop_assert_eq!(challenge.verify(&vb), a == b);
        }

        #[test]
        fn challenge_parse_never_panics(s in ".{0,64}", method in prop::option::of(".{0,8}")) {
            let _ = CodeChallenge::parse(&s, method.as_deref());
        }
    }
}
