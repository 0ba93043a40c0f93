//! Fuzz-target bodies (STYLE.md section 9): the `fuzz/` binaries call these.

use latchkey_types::ErrorCode;

use crate::{CallbackParams, IdTokenClaims, Reason};

/// `upstream_callback`: parses arbitrary bytes as a callback query. Accepted
/// input names no parameter twice and keeps `code`, `state` and `iss` within
/// their grammar; refused input is a bad callback, answered `invalid_request`.
pub fn upstream_callback(data: &[u8]) {
    let Ok(query) = core::str::from_utf8(data) else {
        return;
    };
    match CallbackParams::parse(query) {
        Ok(params) => {
            let mut names: Vec<String> = url::form_urlencoded::parse(data)
                .map(|(name, _)| name.into_owned())
                .collect();
            let count = names.len();
            names.sort();
            names.dedup();
            assert_eq!(names.len(), count, "a repeated parameter was accepted");
            if let Some(iss) = params.iss() {
                assert!(!iss.is_empty() && iss.bytes().all(|b| (0x20..=0x7e).contains(&b)));
            }
        }
        Err(error) => {
            assert_eq!(error.reason(), Reason::BadCallback, "{error:?}");
            assert_eq!(ErrorCode::from(&error), ErrorCode::InvalidRequest);
        }
    }
}

/// `upstream_id_token_claims`: parses arbitrary bytes as ID token claims.
/// Accepted claims have a printable `sub` of at most 255 bytes and at least
/// one audience, and their JSON written back out parses to the same claims;
/// refused claims are a bad ID token.
pub fn upstream_id_token_claims(data: &[u8]) {
    match IdTokenClaims::parse(data) {
        Ok(claims) => {
            assert!(!claims.aud.is_empty());
            assert!(claims.sub.as_str().len() <= 255);
            let again = serde_json::to_vec(&claims.all).expect("a map always serializes");
            assert_eq!(IdTokenClaims::parse(&again).as_ref(), Ok(&claims));
        }
        Err(error) => assert_eq!(error.reason(), Reason::BadIdToken, "{error:?}"),
    }
}

#[cfg(test)]
mod tests {
    use latchkey_types::fuzzing::replay;

    #[test]
    fn replays_upstream_callback_corpus() {
        assert!(replay("upstream_callback", super::upstream_callback) >= 3);
    }

    #[test]
    fn replays_upstream_id_token_claims_corpus() {
        assert!(replay("upstream_id_token_claims", super::upstream_id_token_claims) >= 3);
    }
}
