//! Fuzz-target bodies (STYLE.md section 9): the `fuzz/` binaries call these.

use latchkey_types::ErrorCode;

use crate::{CodeChallenge, CodeVerifier};

/// `pkce`: the first byte selects what the rest is parsed as.
///
/// - `0 mod 4`: a code verifier. Accepted: it keeps its value, its challenge
///   re-parses and verifies it. Refused: `invalid_grant`.
/// - `1 mod 4`: a challenge with method `S256`; `2 mod 4`: with no method;
///   `3 mod 4`: `method challenge` separated by the first space. Accepted:
///   it keeps its string and re-parses to the same value. Refused: `invalid_request`.
pub fn pkce(data: &[u8]) {
    let Some((selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(s) = core::str::from_utf8(rest) else {
        return;
    };
    if selector % 4 == 0 {
        match CodeVerifier::parse(s.to_owned()) {
            Ok(verifier) => {
                assert_eq!(verifier.expose_secret(), s);
                let challenge = verifier.challenge();
                let method = Some(challenge.method().as_str());
                let reparsed = CodeChallenge::parse(challenge.as_str(), method);
                assert_eq!(reparsed.as_ref(), Ok(&challenge));
                assert!(challenge.verify(&verifier));
            }
            Err(error) => assert_eq!(ErrorCode::from(&error), ErrorCode::InvalidGrant),
        }
        return;
    }
    let (challenge, method) = match selector % 4 {
        1 => (s, Some("S256")),
        2 => (s, None),
        _ => match s.split_once(' ') {
            Some((method, challenge)) => (challenge, Some(method)),
            None => (s, Some("")),
        },
    };
    match CodeChallenge::parse(challenge, method) {
        Ok(parsed) => {
            assert_eq!(parsed.as_str(), challenge);
            assert_eq!(method, Some("S256"));
            let again = CodeChallenge::parse(parsed.as_str(), Some(parsed.method().as_str()));
            assert_eq!(again.as_ref(), Ok(&parsed));
        }
        Err(error) => assert_eq!(ErrorCode::from(&error), ErrorCode::InvalidRequest),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    #[test]
    fn replay_pkce_corpus() {
        let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz"));
        let mut count = 0;
        for dir in [root.join("corpus/pkce"), root.join("regressions/pkce")] {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries {
                super::pkce(&std::fs::read(entry.unwrap().path()).unwrap());
                count += 1;
            }
        }
        assert!(count >= 5);
    }
}
