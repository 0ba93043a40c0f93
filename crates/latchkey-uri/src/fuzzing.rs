//! Fuzz-target bodies (STYLE.md section 9): the `fuzz/` binaries call these.

use latchkey_types::ErrorCode;

use crate::{RedirectUri, ResourceUri, UriRole};

/// `resource_uri`: accepted input is canonical after one round (parsing the
/// canonical form gives the same value), never ends in `/`, and covers itself;
/// rejected input maps to `invalid_target`.
pub fn resource_uri(data: &[u8]) {
    let Ok(s) = core::str::from_utf8(data) else {
        return;
    };
    match ResourceUri::parse(s) {
        Ok(uri) => {
            assert_eq!(ResourceUri::parse(uri.as_str()).as_ref(), Ok(&uri));
            assert!(!uri.as_str().ends_with('/'));
            assert!(uri.covers(&uri, crate::AudienceMatch::PathPrefix));
            assert!(uri.as_str().len() <= crate::MAX_URI_LEN);
        }
        Err(error) => {
            assert_eq!(error.role(), UriRole::Resource);
            assert_eq!(ErrorCode::from(&error), ErrorCode::InvalidTarget);
        }
    }
}

/// `redirect_uri`: accepted input keeps its exact string, re-parses to the same
/// value and matches itself; rejected input maps to `invalid_redirect_uri`.
pub fn redirect_uri(data: &[u8]) {
    let Ok(s) = core::str::from_utf8(data) else {
        return;
    };
    match RedirectUri::parse(s) {
        Ok(uri) => {
            assert_eq!(uri.as_str(), s);
            assert_eq!(RedirectUri::parse(uri.as_str()).as_ref(), Ok(&uri));
            assert!(uri.matches(s));
            assert!(!s.contains('#'));
        }
        Err(error) => {
            assert_eq!(error.role(), UriRole::Redirect);
            assert_eq!(ErrorCode::from(&error), ErrorCode::InvalidRedirectUri);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    fn replay(target: &str, body: fn(&[u8])) -> usize {
        let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz"));
        let mut count = 0;
        for dir in [
            root.join("corpus").join(target),
            root.join("regressions").join(target),
        ] {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries {
                let path = entry.unwrap().path();
                body(&std::fs::read(&path).unwrap());
                count += 1;
            }
        }
        count
    }

    #[test]
    fn replay_resource_uri_corpus() {
        assert!(replay("resource_uri", super::resource_uri) >= 5);
    }

    #[test]
    fn replay_redirect_uri_corpus() {
        assert!(replay("redirect_uri", super::redirect_uri) >= 5);
    }
}
