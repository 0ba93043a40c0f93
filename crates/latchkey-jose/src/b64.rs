//! Strict unpadded base64url (RFC 7515 section 2 and appendix C).

use base64ct::{Base64UrlUnpadded, Encoding};

use crate::JoseError;

/// Decodes unpadded base64url, refusing padding, other alphabets, whitespace and
/// non-canonical trailing bits (so one byte string has exactly one encoding).
pub(crate) fn decode(s: &[u8]) -> Result<Vec<u8>, JoseError> {
    Base64UrlUnpadded::decode_vec(core::str::from_utf8(s).map_err(|_| JoseError::BadBase64)?)
        .map_err(|_| JoseError::BadBase64)
}

/// Decodes into a fixed-size array, refusing any other decoded length.
pub(crate) fn decode_array<const N: usize>(s: &[u8]) -> Result<[u8; N], JoseError> {
    let mut out = [0u8; N];
    let decoded = Base64UrlUnpadded::decode(s, &mut out).map_err(|_| JoseError::BadBase64)?;
    if decoded.len() != N {
        return Err(JoseError::BadBase64);
    }
    Ok(out)
}

/// Decodes into the front of `out`, returning the decoded length; refuses input
/// that does not fit.
pub(crate) fn decode_into(s: &[u8], out: &mut [u8]) -> Result<usize, JoseError> {
    Base64UrlUnpadded::decode(s, out)
        .map(|decoded| decoded.len())
        .map_err(|_| JoseError::BadBase64)
}

/// Encodes as unpadded base64url.
pub(crate) fn encode(bytes: &[u8]) -> String {
    Base64UrlUnpadded::encode_string(bytes)
}

/// Appends the unpadded base64url encoding of `bytes` to `out`.
pub(crate) fn encode_into(bytes: &[u8], out: &mut String) {
    out.push_str(&Base64UrlUnpadded::encode_string(bytes));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_padding_other_alphabets_and_non_canonical_bits_rfc_7515_section_2() {
        assert_eq!(decode(b"AQAB").unwrap(), vec![1, 0, 1]);
        assert_eq!(decode(b"_-8").unwrap(), vec![0xff, 0xef]);
        assert_eq!(decode(b"AQ==").unwrap_err(), JoseError::BadBase64);
        assert_eq!(decode(b"/+8").unwrap_err(), JoseError::BadBase64);
        assert_eq!(decode(b"AQ B").unwrap_err(), JoseError::BadBase64);
        assert_eq!(decode(b"A").unwrap_err(), JoseError::BadBase64);
        // "AR" carries the same first byte as "AQ" with a non-zero trailing bit.
        assert_eq!(decode(b"AR").unwrap_err(), JoseError::BadBase64);
        assert_eq!(decode_array::<2>(b"AQ").unwrap_err(), JoseError::BadBase64);
        assert_eq!(decode_array::<1>(b"AQ").unwrap(), [1]);
        assert_eq!(encode(&[0xff, 0xef]), "_-8");
    }
}
