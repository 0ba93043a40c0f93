//! Fuzz-target bodies (see the workspace `fuzz/` directory). Each takes
//! arbitrary bytes and asserts what must hold for every input.

use base64ct::{Base64, Encoding};
use latchkey_types::ErrorCode;

use crate::client_auth::parse_basic;
use crate::error::EngineError;
use crate::request::Params;
use crate::token::parse_grant_request;

/// `Authorization: Basic` credentials (RFC 6749 section 2.3.1): accepted
/// credentials re-encode and re-parse to the same id and secret; rejected ones
/// are `invalid_client`.
pub fn engine_basic_credentials(data: &[u8]) {
    let Ok(header) = core::str::from_utf8(data) else {
        return;
    };
    match parse_basic(header) {
        Ok((id, secret)) => {
            let encoded = format!("{}:{}", form_urlencode(&id), form_urlencode(&secret));
            let again = format!("Basic {}", Base64::encode_string(encoded.as_bytes()));
            assert_eq!(parse_basic(&again), Ok((id, secret)));
        }
        Err(reason) => {
            assert!(!reason.is_empty());
            let error = EngineError::AuthorizationHeaderMalformed;
            assert_eq!(ErrorCode::from(&error), ErrorCode::InvalidClient);
        }
    }
}

/// A token request body split into `name=value` pairs at `&` (as an adapter
/// would, without percent-decoding): accepted parameters rebuild to the same
/// `Params`; the grant parser never panics and refuses with a 4xx code.
pub fn engine_token_params(data: &[u8]) {
    let Ok(body) = core::str::from_utf8(data) else {
        return;
    };
    let pairs = body.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        (name.to_owned(), value.to_owned())
    });
    let params = match Params::from_pairs(pairs) {
        Ok(params) => params,
        Err(error) => {
            assert_eq!(ErrorCode::from(&error), ErrorCode::InvalidRequest);
            return;
        }
    };
    let rebuilt = Params::from_pairs(params.iter().map(|(n, v)| (n.to_owned(), v.to_owned())));
    assert_eq!(rebuilt.ok().as_ref(), Some(&params));
    if let Err(status) = parse_grant_request(&params) {
        assert!((400..500).contains(&status), "status {status}");
    }
}

fn form_urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'*') {
            out.push(char::from(b));
        } else if b == b' ' {
            out.push('+');
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replay(target: &str, body: fn(&[u8])) {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz");
        let mut seen = 0;
        for dir in ["corpus", "regressions"] {
            let Ok(entries) = std::fs::read_dir(format!("{root}/{dir}/{target}")) else {
                assert_ne!(dir, "corpus", "the corpus of {target} is missing");
                continue;
            };
            for entry in entries {
                let path = entry.unwrap().path();
                body(&std::fs::read(&path).unwrap());
                seen += 1;
            }
        }
        assert!(seen > 0, "no seed inputs for {target}");
    }

    #[test]
    fn corpus_engine_basic_credentials() {
        replay("engine_basic_credentials", engine_basic_credentials);
    }

    #[test]
    fn corpus_engine_token_params() {
        replay("engine_token_params", engine_token_params);
    }
}
