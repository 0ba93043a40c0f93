//! Fuzz-target bodies, run by the `fuzz/` workspace through the adapters'
//! targets and replayed by their tests.

use latchkey_types::ErrorCode;

use crate::{Scheme, form_pairs, parse_authorization};

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
