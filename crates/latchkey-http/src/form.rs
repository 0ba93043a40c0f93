//! Reading an authorization-server request: strict
//! `application/x-www-form-urlencoded` decoding, the media type, the one
//! `Authorization` header, the `DPoP` values and the size limits. Each rule
//! is written once here, for every adapter.

use http::HeaderMap;
use http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use latchkey_engine::HttpContext;

use crate::{DPOP, HttpError};

/// The largest form or JSON body read, in bytes (64 KiB). Adapters collect
/// at most this much and answer [`HttpError::BodyTooLarge`] beyond it.
pub const MAX_BODY_LEN: usize = 64 * 1024;
/// The largest authorization request query string read, in bytes (32 KiB).
pub const MAX_QUERY_LEN: usize = 32 * 1024;

/// The media type of the token, revocation and introspection endpoints
/// (OAuth 2.1 section 3.2.2, RFC 7009 section 2.1, RFC 7662 section 2.1).
pub const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";
/// The media type of the registration and client configuration endpoints
/// (RFC 7591 section 3.1, RFC 7592 section 2.2).
pub const JSON_CONTENT_TYPE: &str = "application/json";

/// Splits an `application/x-www-form-urlencoded` body or query string into
/// decoded name/value pairs (OAuth 2.1 appendix B; the WHATWG URL standard's
/// parser, `+` as space, empty sequences between `&` skipped), strictly: a
/// `%` not followed by two hexadecimal digits, or decoded bytes that are not
/// UTF-8, is [`HttpError::InvalidFormEncoding`], never a replacement
/// character. Repeats are left to `latchkey_engine::Params::from_pairs`,
/// which refuses them (OAuth 2.1 sections 3.1 and 3.2).
pub fn form_pairs(input: &[u8]) -> Result<Vec<(String, String)>, HttpError> {
    let mut pairs = Vec::new();
    for sequence in input.split(|&byte| byte == b'&') {
        if sequence.is_empty() {
            continue;
        }
        let mut halves = sequence.splitn(2, |&byte| byte == b'=');
        let name = halves.next().unwrap_or_default();
        let value = halves.next().unwrap_or_default();
        pairs.push((decode(name, true)?, decode(value, true)?));
    }
    Ok(pairs)
}

/// Whether a declared `Content-Length` is over [`MAX_BODY_LEN`], so that an
/// adapter refuses before reading anything.
pub fn declared_too_large(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok())
        .is_some_and(|len| len > MAX_BODY_LEN as u64)
}

/// Checks that the request has exactly one `Content-Type` whose media type
/// (parameters such as `charset` aside) is `expected`, compared
/// case-insensitively (RFC 9110 section 8.3.1).
pub(crate) fn require_content_type(
    headers: &HeaderMap,
    expected: &'static str,
) -> Result<(), HttpError> {
    let mut values = headers.get_all(CONTENT_TYPE).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(HttpError::UnsupportedContentType(expected));
    };
    let media_type = value
        .to_str()
        .ok()
        .and_then(|text| text.split(';').next())
        .map(str::trim);
    match media_type {
        Some(media_type) if media_type.eq_ignore_ascii_case(expected) => Ok(()),
        _ => Err(HttpError::UnsupportedContentType(expected)),
    }
}

/// The request facts the engine needs: `method`, the CONFIGURED endpoint URL
/// `uri` (the DPoP `htu`, RFC 9449 section 4.3; never built from `Host`), the
/// one `Authorization` header (OAuth 2.1 section 3.2: a repeated one is
/// refused) and every `DPoP` value in order (the engine refuses more than
/// one; a value that is not UTF-8 is passed lossily so that the engine
/// refuses it as malformed).
pub(crate) fn http_context(
    headers: &HeaderMap,
    method: &str,
    uri: &str,
) -> Result<HttpContext, HttpError> {
    let mut context = HttpContext::new(method, uri);
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let (first, second) = (values.next(), values.next());
    if second.is_some() {
        return Err(HttpError::RepeatedAuthorization);
    }
    if let Some(value) = first {
        let text = value
            .to_str()
            .map_err(|_| HttpError::MalformedAuthorization)?;
        context.authorization = Some(text.to_owned());
    }
    context.dpop = headers
        .get_all(&DPOP)
        .iter()
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
        .collect();
    Ok(context)
}

/// Percent-decodes one path segment (RFC 3986 section 2.1; `+` is itself),
/// strictly like [`form_pairs`].
pub(crate) fn path_segment(raw: &str) -> Result<String, HttpError> {
    decode(raw.as_bytes(), false)
}

/// Percent-decodes one name or value (`+` as space when `plus_as_space`);
/// strict (see [`form_pairs`]).
fn decode(raw: &[u8], plus_as_space: bool) -> Result<String, HttpError> {
    let mut out = Vec::with_capacity(raw.len());
    let mut bytes = raw.iter();
    while let Some(&byte) = bytes.next() {
        match byte {
            b'+' if plus_as_space => out.push(b' '),
            b'%' => {
                let high = bytes.next().and_then(|&b| hex(b));
                let low = bytes.next().and_then(|&b| hex(b));
                let (Some(high), Some(low)) = (high, low) else {
                    return Err(HttpError::InvalidFormEncoding);
                };
                out.push(high << 4 | low);
            }
            other => out.push(other),
        }
    }
    String::from_utf8(out).map_err(|_| HttpError::InvalidFormEncoding)
}

fn hex(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderName, HeaderValue};

    fn headers(list: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in list {
            map.append(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        map
    }

    fn owned(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn oauth_2_1_appendix_b_form_pairs_decode_like_the_whatwg_parser() {
        assert_eq!(
            form_pairs(b"a=b%20c&d=%2B+e&&f&=g&h=%C3%A9"),
            Ok(owned(&[
                ("a", "b c"),
                ("d", "+ e"),
                ("f", ""),
                ("", "g"),
                ("h", "\u{e9}"),
            ]))
        );
        assert_eq!(form_pairs(b""), Ok(Vec::new()));
        assert_eq!(form_pairs(b"a=1=2"), Ok(owned(&[("a", "1=2")])));
    }

    #[test]
    fn invalid_percent_encoding_and_non_utf8_are_refused_not_replaced() {
        for input in [
            &b"a=%FF"[..],
            b"a=\xff",
            b"a=%zz",
            b"a=%4",
            b"a%=1",
            b"a=%C3",
            b"\xc3=1",
        ] {
            assert_eq!(
                form_pairs(input),
                Err(HttpError::InvalidFormEncoding),
                "{input:?}"
            );
        }
        // A replacement character sent as such is data, not an error.
        assert_eq!(
            form_pairs("a=\u{FFFD}".as_bytes()),
            Ok(owned(&[("a", "\u{FFFD}")]))
        );
    }

    #[test]
    fn rfc_9110_section_8_3_1_media_type_is_compared_without_parameters() {
        let form = FORM_CONTENT_TYPE;
        let ok = headers(&[(
            "content-type",
            "Application/X-WWW-Form-Urlencoded; charset=UTF-8",
        )]);
        assert_eq!(require_content_type(&ok, form), Ok(()));
        let json = headers(&[("content-type", "application/json")]);
        let refused = Err(HttpError::UnsupportedContentType(form));
        assert_eq!(require_content_type(&json, form), refused);
        assert_eq!(require_content_type(&HeaderMap::new(), form), refused);
        let twice = headers(&[("content-type", form), ("content-type", form)]);
        assert_eq!(require_content_type(&twice, form), refused);
    }

    #[test]
    fn oauth_2_1_section_3_2_repeated_authorization_is_refused() {
        let twice = headers(&[("authorization", "Basic a"), ("authorization", "Basic b")]);
        assert_eq!(
            http_context(&twice, "POST", "https://as.example/token"),
            Err(HttpError::RepeatedAuthorization)
        );
        let mut odd = HeaderMap::new();
        odd.insert(
            AUTHORIZATION,
            HeaderValue::from_bytes(b"Bearer \xff").expect("header bytes"),
        );
        assert_eq!(
            http_context(&odd, "POST", "https://as.example/token"),
            Err(HttpError::MalformedAuthorization)
        );
    }

    #[test]
    fn rfc_9449_section_4_3_every_dpop_value_and_the_configured_uri() {
        let map = headers(&[
            ("host", "evil.example"),
            ("authorization", "Basic a"),
            ("dpop", "a.b.c"),
            ("dpop", "d.e.f"),
        ]);
        let context = http_context(&map, "POST", "https://as.example/token").expect("context");
        assert_eq!(context.uri, "https://as.example/token");
        assert_eq!(context.dpop, vec!["a.b.c".to_owned(), "d.e.f".to_owned()]);
        assert_eq!(context.authorization.as_deref(), Some("Basic a"));
    }

    #[test]
    fn a_declared_length_over_64_kib_is_too_large() {
        assert!(declared_too_large(&headers(&[(
            "content-length",
            "1000000"
        )])));
        assert!(!declared_too_large(&headers(&[(
            "content-length",
            "65536"
        )])));
        assert!(!declared_too_large(&HeaderMap::new()));
    }
}
