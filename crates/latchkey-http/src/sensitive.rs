//! Header hygiene: the request and response headers that carry credentials,
//! marked sensitive so that `Debug` output and trace layers redact them
//! (OAuth 2.1 section 7, RFC 9449 section 4.1). The one list both adapters use.

use http::HeaderMap;
use http::header::{AUTHORIZATION, COOKIE, HeaderName, SET_COOKIE};

use crate::DPOP;

/// The headers that carry credentials: `Authorization`, `DPoP`, `Cookie` and
/// `Set-Cookie`, as lowercase names (for frameworks with header types of
/// their own).
pub const SENSITIVE_HEADERS: [&str; 4] = ["authorization", "dpop", "cookie", "set-cookie"];

/// Whether header `name` carries credentials (never logged).
pub fn is_sensitive(name: &HeaderName) -> bool {
    *name == AUTHORIZATION || *name == DPOP || *name == COOKIE || *name == SET_COOKIE
}

/// Marks every value of every [`SENSITIVE_HEADERS`] field of `headers`
/// sensitive, keeping the values and their order.
pub fn mark_sensitive(headers: &mut HeaderMap) {
    for (name, value) in headers.iter_mut() {
        if is_sensitive(name) {
            value.set_sensitive(true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn oauth_2_1_section_7_credentials_do_not_appear_in_debug_output() {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("authorization", "Bearer s3cr3t-token"),
            ("dpop", "proof-one"),
            ("dpop", "proof-two"),
            ("cookie", "sid=abc"),
            ("set-cookie", "sid=def"),
            ("accept", "text/plain"),
        ] {
            headers.append(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        mark_sensitive(&mut headers);
        let debug = format!("{headers:?}");
        for secret in [
            "s3cr3t-token",
            "proof-one",
            "proof-two",
            "sid=abc",
            "sid=def",
        ] {
            assert!(!debug.contains(secret), "{secret} in {debug}");
        }
        assert!(debug.contains("text/plain"));
        let dpop: Vec<&[u8]> = headers
            .get_all(&DPOP)
            .iter()
            .map(HeaderValue::as_bytes)
            .collect();
        assert_eq!(dpop, vec![&b"proof-one"[..], &b"proof-two"[..]]);
        for name in SENSITIVE_HEADERS {
            assert!(is_sensitive(&HeaderName::from_static(name)), "{name}");
        }
    }
}
