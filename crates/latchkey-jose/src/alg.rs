use core::fmt;

use crate::JoseError;

/// A JWS signature algorithm Latchkey signs and verifies with (RFC 7518 section 3.1,
/// RFC 8037 section 3.1).
///
/// The set is closed: `none`, the HMAC family and every other registered name are
/// refused by [`Algorithm::parse`], so no code path can be talked into an unsigned or
/// symmetric token (RFC 8725 section 3.1 and 3.2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// ECDSA over P-256 with SHA-256 (RFC 7518 section 3.4); the default.
    #[default]
    Es256,
    /// EdDSA over Ed25519 (RFC 8037 section 3.1).
    EdDsa,
}

impl Algorithm {
    /// Parses a JWS `alg` value; the names are case-sensitive (RFC 7515 section 4.1.1).
    pub fn parse(s: &str) -> Result<Self, JoseError> {
        match s {
            "ES256" => Ok(Self::Es256),
            "EdDSA" => Ok(Self::EdDsa),
            _ => Err(JoseError::UnsupportedAlgorithm),
        }
    }

    /// The registered name (RFC 7518 section 7.1.2, RFC 8037 section 5).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
            Self::EdDsa => "EdDSA",
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_only_es256_and_eddsa_rfc_8725_section_3_1() {
        assert_eq!(Algorithm::parse("ES256"), Ok(Algorithm::Es256));
        assert_eq!(Algorithm::parse("EdDSA"), Ok(Algorithm::EdDsa));
        for refused in [
            "none", "None", "NONE", "HS256", "HS384", "HS512", "RS256", "PS256", "ES384", "ES512",
            "es256", "EDDSA", "Ed25519", "", " ES256",
        ] {
            assert_eq!(
                Algorithm::parse(refused),
                Err(JoseError::UnsupportedAlgorithm),
                "{refused}"
            );
        }
        assert_eq!(Algorithm::Es256.as_str(), "ES256");
        assert_eq!(Algorithm::EdDsa.to_string(), "EdDSA");
        assert_eq!(Algorithm::default(), Algorithm::Es256);
    }
}
