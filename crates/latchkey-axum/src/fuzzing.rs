//! Fuzz-target bodies (see the fuzzing convention in the workspace notes).

/// The resource server's `Authorization` parser (in `latchkey-http`, shared
/// with `latchkey-actix`).
pub fn axum_authorization_header(data: &[u8]) {
    latchkey_http::fuzzing::authorization_header(data);
}

/// The form-body and query decoder of the authorization server
/// (`latchkey_http::form_pairs`, the one function `latchkey-actix` calls
/// too): differential against the WHATWG decoder and round trip.
pub fn axum_form_body(data: &[u8]) {
    latchkey_http::fuzzing::form_body(data);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replay(target: &str, body: fn(&[u8])) {
        for dir in ["corpus", "regressions"] {
            let path =
                concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/").to_owned() + dir + "/" + target;
            let Ok(entries) = std::fs::read_dir(&path) else {
                assert_eq!(dir, "regressions", "the corpus exists");
                continue;
            };
            for entry in entries.flatten() {
                let data = std::fs::read(entry.path()).expect("readable corpus file");
                body(&data);
            }
        }
    }

    #[test]
    fn corpus_and_regressions_replay() {
        replay("axum_authorization_header", axum_authorization_header);
    }

    #[test]
    fn corpus_and_regressions_replay_axum_form_body() {
        replay("axum_form_body", axum_form_body);
    }
}
