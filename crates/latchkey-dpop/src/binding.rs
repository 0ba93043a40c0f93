//! Binding tokens and codes to a DPoP key (RFC 9449 sections 6.1, 7.1 and 10).

use core::fmt;

use base64ct::{Base64UrlUnpadded, Encoding};
use subtle::ConstantTimeEq;

use crate::{DpopError, ValidatedProof};

/// A JWK SHA-256 thumbprint (RFC 7638 section 3), base64url without padding:
/// the `cnf.jkt` confirmation (RFC 9449 section 6.1) and the `dpop_jkt`
/// authorization request parameter (RFC 9449 section 10).
///
/// Equality is constant-time.
#[derive(Clone, Debug, Eq)]
pub struct JwkThumbprint(String);

impl JwkThumbprint {
    /// Parses a thumbprint: exactly 43 base64url characters encoding 32 bytes.
    pub fn parse(s: &str) -> Result<Self, DpopError> {
        let mut digest = [0u8; 32];
        if s.len() != 43 {
            return Err(DpopError::ThumbprintMalformed);
        }
        match Base64UrlUnpadded::decode(s, &mut digest) {
            Ok(decoded) if decoded.len() == 32 => Ok(Self(s.to_owned())),
            _ => Err(DpopError::ThumbprintMalformed),
        }
    }

    /// Wraps a thumbprint `PublicJwk::thumbprint` computed.
    pub(crate) fn from_computed(thumbprint: String) -> Self {
        Self(thumbprint)
    }

    /// The thumbprint as sent in `cnf.jkt` or `dpop_jkt`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl PartialEq for JwkThumbprint {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl core::hash::Hash for JwkThumbprint {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl fmt::Display for JwkThumbprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks that the proof's key is the key a token or code is bound to.
///
/// RFC 9449 section 6.1 and 7.1: a resource server MUST confirm that the
/// thumbprint of the proof's `jwk` equals the access token's `cnf.jkt`.
/// Section 5: the token endpoint MUST check that a refresh token bound to a key
/// is presented with a proof for that same key; section 10: that the proof's key
/// matches the `dpop_jkt` of the authorization request.
///
/// A mismatch is [`DpopError::KeyBindingMismatch`]: `invalid_token` through
/// `From<&DpopError> for ErrorCode` (the resource server, section 7.1 Figure 16),
/// `invalid_grant` through [`DpopError::token_endpoint_code`].
pub fn check_key_binding(proof: &ValidatedProof, bound: &JwkThumbprint) -> Result<(), DpopError> {
    if proof.jkt() == bound {
        Ok(())
    } else {
        Err(DpopError::KeyBindingMismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_9449_section_6_1_figure_9_jkt_parses() {
        let jkt = JwkThumbprint::parse("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I").unwrap();
        assert_eq!(jkt.as_str(), "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I");
        assert_eq!(jkt.to_string(), jkt.as_str());
        // Section 10 Figure 25's dpop_jkt.
        assert!(JwkThumbprint::parse("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs").is_ok());
    }

    #[test]
    fn malformed_thumbprints_are_refused() {
        for bad in [
            "",
            "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4",
            "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I=",
            "0ZcOCORZNYy+DWpqq30jZyJGHTN0d2HglBV3uiguA4I",
            "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4J",
        ] {
            assert_eq!(
                JwkThumbprint::parse(bad),
                Err(DpopError::ThumbprintMalformed),
                "{bad:?}"
            );
        }
    }
}
