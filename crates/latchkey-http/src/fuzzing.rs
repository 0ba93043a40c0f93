//! Fuzz-target bodies, run by the `fuzz/` workspace through the adapters'
//! targets and replayed by their tests.

use latchkey_types::ErrorCode;

use std::time::Duration;

use http::HeaderMap;
use http::header::{CACHE_CONTROL, HeaderValue};

use crate::{Scheme, cache_ttl, form_pairs, parse_authorization};

/// `Authorization` parsing at the resource server: never panics; an accepted
/// token is non-empty, holds no whitespace, ends the value and parses back
/// the same under the canonical scheme name; a refusal maps to an `ErrorCode`.
pub fn authorization_header(data: &[u8]) {
    let Ok(value) = core::str::from_utf8(data) else {
        return;
    };
    match parse_authorization(value) {
        Ok(Some((scheme, token))) => {
            assert!(!token.is_empty() && !token.contains([' ', '\t']));
            assert!(value.trim_end_matches(' ').ends_with(token));
            let name = match scheme {
                Scheme::Bearer => "Bearer",
                Scheme::Dpop => "DPoP",
            };
            let canonical = format!("{name} {token}");
            assert_eq!(parse_authorization(&canonical), Ok(Some((scheme, token))));
        }
        Ok(None) => {}
        Err(error) => assert_eq!(ErrorCode::from(&error), ErrorCode::InvalidRequest),
    }
}

/// Form body and query decoding at the authorization server (one function
/// for both adapters, so `axum_form_body` and `actix_form_body` reach the
/// same code): never panics; accepted pairs are the pairs the WHATWG
/// decoder reads (differential), and re-encode and decode to the same pairs
/// (round trip); a refusal is an input with a `%` not followed by two
/// hexadecimal digits or with escapes that decode to non-UTF-8 (where the
/// WHATWG decoder substitutes U+FFFD); refusals, and pairs
/// `latchkey_engine::Params` refuses, map to `invalid_request`.
pub fn form_body(data: &[u8]) {
    let reference: Vec<(String, String)> = url::form_urlencoded::parse(data)
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect();
    match form_pairs(data) {
        Ok(pairs) => {
            assert_eq!(pairs, reference);
            let encoded = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs.iter())
                .finish();
            assert_eq!(form_pairs(encoded.as_bytes()).ok(), Some(pairs.clone()));
            if let Err(error) = latchkey_engine::Params::from_pairs(pairs) {
                assert_eq!(ErrorCode::from(&error), ErrorCode::InvalidRequest);
            }
        }
        Err(error) => {
            assert_eq!(ErrorCode::from(&error), ErrorCode::InvalidRequest);
            let substituted = reference
                .iter()
                .any(|(name, value)| name.contains('\u{FFFD}') || value.contains('\u{FFFD}'));
            assert!(bad_escape(data) || substituted);
        }
    }
}

/// Whether `data` holds a `%` not followed by two hexadecimal digits.
fn bad_escape(data: &[u8]) -> bool {
    data.iter().enumerate().any(|(at, &byte)| {
        byte == b'%'
            && !data
                .get(at + 1..at + 3)
                .is_some_and(|pair| pair.iter().all(u8::is_ascii_hexdigit))
    })
}

/// `cache_control`: the metadata fetcher's `Cache-Control` reader over
/// header values (one per input line). Never panics; a lifetime is never
/// zero and never above the cap; the directive names are case-insensitive
/// (the upper-cased values give the same answer); `max-age=0` or `no-store`
/// added at the end always means "do not keep", and `max-age=7` added at the
/// end of values that could be kept means seven seconds (the last `max-age`
/// wins, RFC 9111 section 5.2.2.1).
pub fn cache_control(data: &[u8]) {
    let default = Duration::from_secs(300);
    let max = Duration::from_secs(3600);
    let lines: Vec<&[u8]> = data.split(|&byte| byte == b'\n').collect();
    let ttl = |suffix: &[u8], upper: bool| {
        let mut headers = HeaderMap::new();
        let last = lines.len().saturating_sub(1);
        for (at, line) in lines.iter().enumerate() {
            let mut value = line.to_vec();
            if upper {
                value.make_ascii_uppercase();
            }
            if at == last {
                value.extend_from_slice(suffix);
            }
            if let Ok(value) = HeaderValue::from_bytes(&value) {
                headers.append(CACHE_CONTROL, value);
            }
        }
        cache_ttl(&headers, default, max)
    };
    let plain = ttl(b"", false);
    assert!(plain.is_none_or(|ttl| !ttl.is_zero() && ttl <= max));
    assert_eq!(ttl(b"", true), plain);
    // A suffix that turns a value unreadable (a bare `\r`, say) drops it.
    let readable = lines
        .last()
        .is_some_and(|line| HeaderValue::from_bytes(line).is_ok_and(|v| v.to_str().is_ok()));
    if readable {
        assert_eq!(ttl(b", max-age=0", false), None);
        assert_eq!(ttl(b", no-store", false), None);
        if plain.is_some() {
            assert_eq!(ttl(b", max-age=7", false), Some(Duration::from_secs(7)));
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn corpus_and_regressions_replay_cache_control() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz");
        let mut count = 0;
        for dir in ["corpus", "regressions"] {
            let Ok(entries) = std::fs::read_dir(format!("{root}/{dir}/cache_control")) else {
                assert_eq!(dir, "regressions", "the corpus exists");
                continue;
            };
            for entry in entries.flatten() {
                let data = std::fs::read(entry.path()).expect("readable corpus file");
                super::cache_control(&data);
                count += 1;
            }
        }
        assert!(count > 0);
    }
}
