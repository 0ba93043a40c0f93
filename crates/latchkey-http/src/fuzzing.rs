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

/// Form body and query decoding at the authorization server: never panics;
/// accepted pairs re-encode and decode to the same pairs; refusals, and
/// pairs `latchkey_engine::Params` refuses, map to `invalid_request`.
pub fn form_body(data: &[u8]) {
    match form_pairs(data) {
        Ok(pairs) => {
            let encoded = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs.iter())
                .finish();
            assert_eq!(form_pairs(encoded.as_bytes()).ok(), Some(pairs.clone()));
            if let Err(error) = latchkey_engine::Params::from_pairs(pairs) {
                assert_eq!(ErrorCode::from(&error), ErrorCode::InvalidRequest);
            }
        }
        Err(error) => assert_eq!(ErrorCode::from(&error), ErrorCode::InvalidRequest),
    }
}
