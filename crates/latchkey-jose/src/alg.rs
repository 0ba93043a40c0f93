use core::fmt;

use crate::JoseError;

/// A JWS signature algorithm Latchkey verifies (RFC 7518 section 3.1, RFC 8037
/// section 3.1).
///
/// The set is closed: `none`, the HMAC family and every other registered name are
/// refused by [`Algorithm::parse`], so no code path can be talked into an unsigned or
/// symmetric token (RFC 8725 section 3.1 and 3.2). Latchkey signs with ES256,
/// ES384 and EdDSA; RS256 and PS256 are verified only, for tokens and client
/// assertions signed by other parties.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// ECDSA over P-256 with SHA-256 (RFC 7518 section 3.4); the default.
    #[default]
    Es256,
    /// EdDSA over Ed25519 (RFC 8037 section 3.1).
    EdDsa,
    /// ECDSA over P-384 with SHA-384 (RFC 7518 section 3.4).
    Es384,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 section 3.3), keys of at least
    /// 2048 bits.
    Rs256,
    /// RSASSA-PSS with SHA-256, MGF1 with SHA-256 and a 32-byte salt (RFC 7518
    /// section 3.5), keys of at least 2048 bits.
    Ps256,
}

impl Algorithm {
    /// Every algorithm, in the order Latchkey prefers them.
    pub const ALL: [Self; 5] = [
        Self::Es256,
        Self::EdDsa,
        Self::Es384,
        Self::Ps256,
        Self::Rs256,
    ];

    /// Parses a JWS `alg` value; the names are case-sensitive (RFC 7515 section 4.1.1).
    pub fn parse(s: &str) -> Result<Self, JoseError> {
        match s {
            "ES256" => Ok(Self::Es256),
            "EdDSA" => Ok(Self::EdDsa),
            "ES384" => Ok(Self::Es384),
            "RS256" => Ok(Self::Rs256),
            "PS256" => Ok(Self::Ps256),
            _ => Err(JoseError::UnsupportedAlgorithm),
        }
    }

    /// The registered name (RFC 7518 section 7.1.2, RFC 8037 section 5).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
            Self::EdDsa => "EdDSA",
            Self::Es384 => "ES384",
            Self::Rs256 => "RS256",
            Self::Ps256 => "PS256",
        }
    }

    /// Whether a signature of `len` bytes has the form this algorithm produces:
    /// 64 bytes for ES256 and Ed25519, 96 for ES384 (`R || S`, RFC 7518 section
    /// 3.4, RFC 8032 section 5.1.6), and the modulus length for RSA, between 2048
    /// and 8192 bits (RFC 7518 sections 3.3 and 3.5, RFC 8017 section 8).
    pub(crate) const fn signature_len_fits(self, len: usize) -> bool {
        match self {
            Self::Es256 | Self::EdDsa => len == 64,
            Self::Es384 => len == 96,
            Self::Rs256 | Self::Ps256 => {
                len >= crate::MIN_RSA_BITS / 8 && len <= crate::MAX_RSA_BITS / 8
            }
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
    fn parses_only_the_five_asymmetric_algorithms_rfc_8725_section_3_1() {
        for alg in Algorithm::ALL {
            assert_eq!(Algorithm::parse(alg.as_str()), Ok(alg));
            assert_eq!(alg.to_string(), alg.as_str());
        }
        assert_eq!(Algorithm::parse("RS256"), Ok(Algorithm::Rs256));
        assert_eq!(Algorithm::parse("PS256"), Ok(Algorithm::Ps256));
        assert_eq!(Algorithm::parse("ES384"), Ok(Algorithm::Es384));
        for refused in [
            "none", "None", "NONE", "HS256", "HS384", "HS512", "RS384", "RS512", "PS384", "PS512",
            "ES512", "ES256K", "es256", "rs256", "EDDSA", "Ed25519", "", " ES256", "RS256 ",
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

    #[test]
    fn signature_lengths_follow_rfc_7518_section_3() {
        assert!(Algorithm::Es256.signature_len_fits(64));
        assert!(!Algorithm::Es256.signature_len_fits(96));
        assert!(Algorithm::Es384.signature_len_fits(96));
        assert!(!Algorithm::Es384.signature_len_fits(64));
        assert!(Algorithm::EdDsa.signature_len_fits(64));
        for rsa in [Algorithm::Rs256, Algorithm::Ps256] {
            assert!(!rsa.signature_len_fits(128), "1024-bit signatures");
            assert!(rsa.signature_len_fits(256));
            assert!(rsa.signature_len_fits(512));
            assert!(rsa.signature_len_fits(1024));
            assert!(!rsa.signature_len_fits(1025));
        }
    }
}
