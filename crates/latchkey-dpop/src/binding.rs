//! Binding tokens and codes to a DPoP key (RFC 9449 sections 6.1, 7.1 and 10).

use crate::{DpopError, ValidatedProof};

pub use latchkey_jose::JwkThumbprint;

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
        assert_eq!(
            jkt.to_encoded(),
            "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
        );
        assert_eq!(jkt.to_string(), jkt.to_encoded());
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
                Err(latchkey_jose::JoseError::ThumbprintMalformed),
                "{bad:?}"
            );
        }
    }
}
