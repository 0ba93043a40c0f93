use core::fmt;

use latchkey_types::SecretString;
use rand_core::CryptoRng;

use crate::{CodeChallenge, PkceError};

/// A PKCE code verifier (RFC 7636 section 4.1): the client's secret.
///
/// Single-use and secret: not `Clone`, no `Display` or `PartialEq`, zeroized
/// on drop ([`SecretString`]), and `Debug` prints `CodeVerifier(..)`.
pub struct CodeVerifier(SecretString);

impl CodeVerifier {
    /// The shortest verifier, in characters (RFC 7636 section 4.1).
    pub const MIN_LEN: usize = 43;
    /// The longest verifier, in characters (RFC 7636 section 4.1).
    pub const MAX_LEN: usize = 128;

    /// Parses a verifier received at the token endpoint:
    /// `code-verifier = 43*128unreserved` (RFC 7636 section 4.1).
    pub fn parse(s: String) -> Result<Self, PkceError> {
        // Wrap first, so a refused verifier is zeroized too.
        let secret = SecretString::new(s);
        let value = secret.expose_secret();
        if value.len() > Self::MAX_LEN {
            return Err(PkceError::VerifierTooLong);
        }
        if !value.bytes().all(is_unreserved) {
            return Err(PkceError::VerifierBadChar);
        }
        // All bytes are ASCII from here, so bytes are characters.
        if value.len() < Self::MIN_LEN {
            return Err(PkceError::VerifierTooShort);
        }
        Ok(Self(secret))
    }

    /// Generates a verifier from 32 random bytes, base64url-encoded: 43
    /// characters carrying 256 bits (RFC 7636 section 4.1, 7.1).
    pub fn generate(rng: &mut impl CryptoRng) -> Self {
        Self(SecretString::generate(rng, SecretString::MIN_RANDOM_BYTES))
    }

    /// The verifier itself, to send in the token request.
    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }

    /// The `S256` challenge for this verifier (RFC 7636 section 4.2).
    pub fn challenge(&self) -> CodeChallenge {
        CodeChallenge::s256(self)
    }
}

impl fmt::Debug for CodeVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CodeVerifier(..)")
    }
}

/// `unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~"` (RFC 3986 section 2.3).
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    fn parse(s: &str) -> Result<CodeVerifier, PkceError> {
        CodeVerifier::parse(s.to_owned())
    }

    #[test]
    fn rfc7636_4_1_length_bounds() {
        assert_eq!(
            parse(&"a".repeat(42)).unwrap_err(),
            PkceError::VerifierTooShort
        );
        assert_eq!(parse("").unwrap_err(), PkceError::VerifierTooShort);
        assert_eq!(parse(&"a".repeat(43)).unwrap().expose_secret().len(), 43);
        assert_eq!(parse(&"a".repeat(128)).unwrap().expose_secret().len(), 128);
        assert_eq!(
            parse(&"a".repeat(129)).unwrap_err(),
            PkceError::VerifierTooLong
        );
    }

    #[test]
    fn rfc7636_4_1_unreserved_characters_only() {
        let all = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";
        assert_eq!(parse(all).unwrap().expose_secret(), all);
        for bad in ['+', '/', '=', ' ', '%', '\0', '\u{e9}', '!'] {
            let s = format!("{}{bad}", "a".repeat(43));
            assert_eq!(
                parse(&s).unwrap_err(),
                PkceError::VerifierBadChar,
                "{bad:?}"
            );
        }
        // 43 characters but 44 bytes: refused for the character, not the length.
        let multibyte = format!("{}\u{e9}", "a".repeat(41));
        assert_eq!(parse(&multibyte).unwrap_err(), PkceError::VerifierBadChar);
    }

    #[test]
    fn rfc7636_4_1_generated_verifiers_have_256_bits() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let a = CodeVerifier::generate(&mut rng);
        let b = CodeVerifier::generate(&mut rng);
        assert_eq!(a.expose_secret().len(), 43);
        assert_ne!(a.expose_secret(), b.expose_secret());
        let reparsed = parse(a.expose_secret()).unwrap();
        assert_eq!(reparsed.challenge(), a.challenge());
    }

    #[test]
    fn debug_never_shows_the_verifier() {
        let v = parse("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk").unwrap();
        assert_eq!(format!("{v:?}"), "CodeVerifier(..)");
    }
}
