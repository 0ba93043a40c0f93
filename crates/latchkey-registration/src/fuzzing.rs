//! Fuzz-target bodies, shared by `fuzz/` and the replay tests below.

use latchkey_types::{ErrorCode, UnixTime};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use crate::{
    CimdPolicy, ClientIdMetadataUrl, ClientRegistrationResponse, RegistrationEndpoint,
    RegistrationPolicy, validate_client_id_metadata_document, validate_registration,
};

/// `registration_json`: a registration request body under the strict policy
/// (plus `client_credentials` and `private_key_jwt`, to reach more rules).
/// Accepted metadata re-serializes and re-validates to the same fingerprint,
/// and the issued response is a JSON object; a refusal maps to an error code.
pub fn registration_json(data: &[u8]) {
    let mut policy = RegistrationPolicy::strict_default();
    policy.grant_types.push(crate::GrantType::ClientCredentials);
    policy
        .auth_methods
        .push(crate::TokenEndpointAuthMethod::PrivateKeyJwt);
    policy.allow_private_use_scheme_redirects = true;
    match validate_registration(data, &policy) {
        Ok(registration) => {
            let again =
                serde_json::to_vec(registration.metadata()).expect("metadata always serializes");
            let back = validate_registration(&again, &policy)
                .expect("accepted metadata re-validates once serialized");
            assert_eq!(back.fingerprint(), registration.fingerprint());
            let endpoint = RegistrationEndpoint::parse("https://as.example/register")
                .expect("constant endpoint is valid");
            let issued = ClientRegistrationResponse::issue(
                &registration,
                &endpoint,
                UnixTime::from_secs(1_700_000_000),
                &mut ChaCha20Rng::seed_from_u64(0),
            );
            let body: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(issued.to_json().expose_secret())
                    .expect("the response is a JSON object");
            assert_eq!(
                body.get("client_id").and_then(|v| v.as_str()),
                Some(issued.client_id().as_str())
            );
        }
        Err(error) => {
            let _ = ErrorCode::from(&error);
            assert!(!error.to_string().is_empty());
        }
    }
}

/// `client_id_metadata_document`: the first line is the document URL, the
/// rest the document. An accepted URL prints back as itself; an accepted
/// document's metadata, with its `client_id`, re-validates to the same
/// fingerprint; refusals map to an error code.
pub fn client_id_metadata_document(data: &[u8]) {
    let (first, body) = match data.iter().position(|&b| b == b'\n') {
        Some(at) => (
            data.get(..at).unwrap_or_default(),
            data.get(at + 1..).unwrap_or_default(),
        ),
        None => (data, &[][..]),
    };
    let Ok(first) = core::str::from_utf8(first) else {
        return;
    };
    let policy = CimdPolicy::strict_default().danger_allow_loopback_http_urls();
    let url = match ClientIdMetadataUrl::parse_with(first, &policy) {
        Ok(url) => url,
        Err(error) => {
            let _ = ErrorCode::from(&error);
            return;
        }
    };
    assert_eq!(url.as_str(), first);
    assert_eq!(
        ClientIdMetadataUrl::parse_with(url.as_str(), &policy).as_ref(),
        Ok(&url)
    );
    match validate_client_id_metadata_document(&url, body, &policy) {
        Ok(client) => {
            let mut object = client.metadata().to_json_object();
            object.insert("client_id".into(), url.as_str().into());
            let again = serde_json::to_vec(&object).expect("a map always serializes");
            let back = validate_client_id_metadata_document(&url, &again, &policy)
                .expect("accepted document re-validates once serialized");
            assert_eq!(back.fingerprint(), client.fingerprint());
        }
        Err(error) => {
            let _ = ErrorCode::from(&error);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use latchkey_types::fuzzing::replay;
    use proptest::prelude::*;

    #[test]
    fn registration_json_corpus_replays() {
        assert!(replay("registration_json", super::registration_json) >= 4);
    }

    #[test]
    fn client_id_metadata_document_corpus_replays() {
        assert!(
            replay(
                "client_id_metadata_document",
                super::client_id_metadata_document
            ) >= 4
        );
    }

    fn seeds(target: &str) -> Vec<Vec<u8>> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fuzz/corpus")
            .join(target);
        let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| std::fs::read(entry.unwrap().path()).unwrap())
            .collect();
        seeds.sort();
        seeds
    }

    /// Replaces bytes of a seed at a few positions: a small stand-in for the
    /// fuzzer that runs on stable with every `cargo test`.
    fn mutate(seed: &[u8], edits: &[(usize, u8)]) -> Vec<u8> {
        let mut data = seed.to_vec();
        for &(at, byte) in edits {
            if !data.is_empty() {
                let at = at % data.len();
                data[at] = byte;
            }
        }
        data
    }

    proptest! {
        #[test]
        fn registration_json_survives_mutated_seeds(
            pick in any::<prop::sample::Index>(),
            edits in prop::collection::vec((any::<usize>(), prop::sample::select(b"{}[]\",:0a9 \\".to_vec())), 1..4),
        ) {
            let seeds = seeds("registration_json");
            super::registration_json(&mutate(pick.get::<Vec<u8>>(&seeds), &edits));
        }

        #[test]
        fn client_id_metadata_document_survives_mutated_seeds(
            pick in any::<prop::sample::Index>(),
            edits in prop::collection::vec((any::<usize>(), prop::sample::select(b"{}[]\",:0a9 \\/.#?%\n".to_vec())), 1..4),
        ) {
            let seeds = seeds("client_id_metadata_document");
            super::client_id_metadata_document(&mutate(pick.get::<Vec<u8>>(&seeds), &edits));
        }
    }
}
