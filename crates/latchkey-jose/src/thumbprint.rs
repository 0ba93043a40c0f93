//! The JWK SHA-256 thumbprint (RFC 7638 section 3) that DPoP binds codes,
//! refresh families and access tokens to (RFC 9449 sections 6.1 and 10).

use core::fmt;

use base64ct::{Base64UrlUnpadded, Encoding};

use subtle::ConstantTimeEq;

use crate::JoseError;

/// A JWK SHA-256 thumbprint (RFC 7638 section 3), as carried by `dpop_jkt`
/// (RFC 9449 section 10) and the `jkt` confirmation member (RFC 9449 section 6.1).
///
/// It is always the unpadded base64url encoding of 32 bytes: 43 characters whose
/// last one leaves no stray bits, so two equal keys have one spelling and
/// comparison on the string is comparison on the digest. Equality is
/// constant-time.
#[derive(Clone, Eq)]
pub struct JwkThumbprint([u8; 32]);

impl JwkThumbprint {
    /// The length of a SHA-256 thumbprint in unpadded base64url.
    pub const ENCODED_LEN: usize = 43;

    /// Parses a `dpop_jkt` value (RFC 9449 section 10): exactly 43 base64url
    /// characters (RFC 4648 section 5, no padding) encoding 32 bytes canonically.
    pub fn parse(s: &str) -> Result<Self, JoseError> {
        if s.len() != Self::ENCODED_LEN {
            return Err(JoseError::ThumbprintMalformed);
        }
        decode_32(s.as_bytes())
            .map(Self)
            .ok_or(JoseError::ThumbprintMalformed)
    }

    /// Wraps a thumbprint the caller computed (the SHA-256 of the RFC 7638 JSON).
    pub const fn from_sha256(digest: [u8; 32]) -> Self {
        Self(digest)
    }

    /// The 32 digest bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The unpadded base64url form, as it travels in `dpop_jkt` and `cnf.jkt`.
    pub fn to_encoded(&self) -> String {
        Base64UrlUnpadded::encode_string(&self.0)
    }
}

impl PartialEq for JwkThumbprint {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Debug for JwkThumbprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JwkThumbprint({})", self.to_encoded())
    }
}

impl fmt::Display for JwkThumbprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_encoded())
    }
}

/// Decodes 43 unpadded base64url characters into 32 bytes, refusing any other
/// length and a last character with stray low bits (non-canonical spelling;
/// `base64ct` checks the trailing bits, in constant time).
fn decode_32(s: &[u8]) -> Option<[u8; 32]> {
    if s.len() != JwkThumbprint::ENCODED_LEN {
        return None;
    }
    let mut out = [0u8; 32];
    let decoded = Base64UrlUnpadded::decode(s, &mut out).ok()?.len();
    (decoded == out.len()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_9449_section_10_dpop_jkt_example_parses_and_round_trips() {
        let jkt = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";
        let parsed = JwkThumbprint::parse(jkt).unwrap();
        assert_eq!(parsed.to_encoded(), jkt);
        assert_eq!(parsed.to_string(), jkt);
        assert_eq!(JwkThumbprint::from_sha256(*parsed.as_bytes()), parsed);
        assert_eq!(format!("{parsed:?}"), format!("JwkThumbprint({jkt})"));
    }

    #[test]
    fn rfc_7638_section_3_1_thumbprint_example_parses() {
        let jkt = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";
        assert!(JwkThumbprint::parse(jkt).is_ok());
    }

    #[test]
    fn rfc_9449_section_10_thumbprint_rejects_wrong_length_alphabet_and_stray_bits() {
        let good = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";
        for bad in [
            "",
            &good[..42],
            &format!("{good}A"),
            &format!("{good}="),
            "NzbLsXh8uDCcd+6MNwXF4W_7noWXFZAfHkxZsRGC9Xs",
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xt",
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9X\u{e9}",
        ] {
            assert_eq!(
                JwkThumbprint::parse(bad),
                Err(JoseError::ThumbprintMalformed),
                "{bad:?}"
            );
        }
    }
}
