//! DPoP key binding helpers for codes and refresh families (RFC 9449 sections
//! 5 and 10). The thumbprint type itself is `latchkey_jose::JwkThumbprint`.

use base64ct::{Base64UrlUnpadded, Encoding};

use super::JwkThumbprint;

/// Whether a presented key satisfies a binding: unbound accepts anything,
/// bound needs the very same thumbprint (RFC 9449 section 10 and 5).
pub(crate) fn binding_holds(
    bound: Option<&JwkThumbprint>,
    presented: Option<&JwkThumbprint>,
) -> bool {
    match (bound, presented) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(bound), Some(presented)) => bound == presented,
    }
}

/// Unpadded base64url (RFC 4648 section 5) of `bytes`.
pub(crate) fn encode(bytes: &[u8]) -> String {
    Base64UrlUnpadded::encode_string(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_4648_section_10_vectors_encode_unpadded() {
        let cases = [
            ("", ""),
            ("f", "Zg"),
            ("fo", "Zm8"),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg"),
            ("fooba", "Zm9vYmE"),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in cases {
            assert_eq!(encode(plain.as_bytes()), encoded);
        }
        assert_eq!(encode(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn rfc_9449_section_10_binding_needs_the_same_key_when_bound() {
        let a = JwkThumbprint::from_sha256([1; 32]);
        let b = JwkThumbprint::from_sha256([2; 32]);
        assert!(binding_holds(None, None));
        assert!(binding_holds(None, Some(&a)));
        assert!(binding_holds(Some(&a), Some(&a)));
        assert!(!binding_holds(Some(&a), Some(&b)));
        assert!(!binding_holds(Some(&a), None));
    }
}
