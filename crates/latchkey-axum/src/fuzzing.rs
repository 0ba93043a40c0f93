//! Fuzz-target bodies (see the fuzzing convention in the workspace notes).

/// The resource server's `Authorization` parser (in `latchkey-http`, shared
/// with `latchkey-actix`).
pub fn axum_authorization_header(data: &[u8]) {
    latchkey_http::fuzzing::authorization_header(data);
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
