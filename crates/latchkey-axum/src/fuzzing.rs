//! Fuzz-target bodies (see the fuzzing convention in the workspace notes).

use crate::resource_server::{Scheme, parse_authorization};

/// The resource server's `Authorization` parser: an accepted value is a known
/// scheme, one space run and a non-empty token without spaces that the value
/// ends with; re-parsing `"{scheme} {token}"` gives the same result.
pub fn axum_authorization_header(data: &[u8]) {
    let Ok(value) = core::str::from_utf8(data) else {
        return;
    };
    let Some((scheme, token)) = parse_authorization(value) else {
        return;
    };
    assert!(!token.is_empty() && !token.contains(' '));
    assert!(value.ends_with(token));
    let name = match scheme {
        Scheme::Bearer => "Bearer",
        Scheme::Dpop => "DPoP",
    };
    let canonical = format!("{name} {token}");
    assert_eq!(parse_authorization(&canonical), Some((scheme, token)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corpus_and_regressions_replay() {
        for dir in ["corpus", "regressions"] {
            let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/").to_owned()
                + dir
                + "/axum_authorization_header";
            let Ok(entries) = std::fs::read_dir(&path) else {
                assert_eq!(dir, "regressions", "the corpus exists");
                continue;
            };
            for entry in entries.flatten() {
                let data = std::fs::read(entry.path()).expect("readable corpus file");
                axum_authorization_header(&data);
            }
        }
    }
}
