//! Fuzz-target bodies, shared by `fuzz/` and the replay test below.

use latchkey_types::{ErrorCode, UnixTime};

use crate::{DpopConfig, DpopError, Htu, MemoryReplayCache, ProofExpectations, validate_proof};

/// The request every fuzzed proof is checked against: RFC 9449 Figure 2's.
const HTU: &str = "https://server.example.com/token";
/// Four seconds after Figure 2's `iat`.
const NOW: u64 = 1_562_262_620;

/// `dpop_proof`: `data` is the value of one `DPoP` header field.
///
/// An accepted proof must name the expected request, and a second use must be a
/// replay; a refused one must map to a DPoP error code.
pub fn dpop_proof(data: &[u8]) {
    check(data);
}

/// The body of [`dpop_proof`]; tells whether the proof was accepted.
fn check(data: &[u8]) -> bool {
    let Ok(uri) = Htu::parse(HTU) else {
        return false;
    };
    let expected = ProofExpectations::new("POST", &uri);
    let now = UnixTime::from_secs(NOW);
    let config = DpopConfig::default();
    let mut replay = MemoryReplayCache::new(4);
    let accepted = match validate_proof(&[data], &expected, now, &mut replay, &config) {
        Ok(proof) => {
            assert_eq!(proof.htu(), &uri);
            assert_eq!(proof.htm(), "POST");
            assert_eq!(proof.jkt(), &proof.public_key().thumbprint());
            let again = validate_proof(&[data], &expected, now, &mut replay, &config);
            assert_eq!(again.map(|_| ()), Err(DpopError::Replayed));
            true
        }
        Err(error) => {
            let code = ErrorCode::from(&error);
            assert!(
                matches!(code, ErrorCode::InvalidDpopProof | ErrorCode::UseDpopNonce),
                "{error:?} -> {code:?}"
            );
            false
        }
    };
    // The `htu` normalizer on the same bytes: idempotent when it accepts.
    if let Ok(text) = core::str::from_utf8(data)
        && let Ok(htu) = Htu::parse(text)
    {
        assert_eq!(Htu::parse(htu.as_str()).as_ref(), Ok(&htu));
    }
    accepted
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    #[test]
    fn replays_corpus_and_regressions() {
        let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz"));
        let mut accepted = Vec::new();
        let mut replayed = 0;
        for dir in ["corpus/dpop_proof", "regressions/dpop_proof"] {
            let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
                continue;
            };
            for entry in entries {
                let path = entry.unwrap().path();
                if super::check(&std::fs::read(&path).unwrap()) {
                    accepted.push(path.file_name().unwrap().to_string_lossy().into_owned());
                }
                replayed += 1;
            }
        }
        assert!(replayed > 0, "no corpus files found");
        // The seeds that must take the accepting path: RFC 9449 Figure 2 and an
        // EdDSA proof whose `htu` needs normalization.
        accepted.sort();
        assert_eq!(
            accepted,
            [
                "eddsa_token_request_unnormalized_htu",
                "rfc9449_figure2_token_request"
            ]
        );
    }
}
