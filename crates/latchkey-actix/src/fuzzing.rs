//! Fuzz-target bodies (run by the `fuzz/` workspace and replayed by the tests
//! below): the adapter's own parsers.

/// `Authorization` header parsing at the resource server (in
/// `latchkey-http`, shared with `latchkey-axum`).
pub fn actix_authorization_header(data: &[u8]) {
    latchkey_http::fuzzing::authorization_header(data);
}

/// Form body decoding (in `latchkey-http`, shared with `latchkey-axum`).
pub fn actix_form_body(data: &[u8]) {
    latchkey_http::fuzzing::form_body(data);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replay(target: &str, body: fn(&[u8])) {
        for kind in ["corpus", "regressions"] {
            let dir = format!("{}/../../fuzz/{kind}/{target}", env!("CARGO_MANIFEST_DIR"));
            let Ok(entries) = std::fs::read_dir(&dir) else {
                assert_eq!(kind, "regressions", "missing {dir}");
                continue;
            };
            for entry in entries {
                let path = entry.unwrap().path();
                body(&std::fs::read(&path).unwrap());
            }
        }
    }

    #[test]
    fn corpus_replays_actix_authorization_header() {
        replay("actix_authorization_header", actix_authorization_header);
    }

    #[test]
    fn corpus_replays_actix_form_body() {
        replay("actix_form_body", actix_form_body);
    }
}
