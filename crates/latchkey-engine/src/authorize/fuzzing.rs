//! Fuzz-target bodies for the front side of the engine (STYLE.md section 9):
//! the `fuzz/` binaries call these.
//!
//! The engine is async but over a [`MemoryStore`], whose futures complete on
//! their first poll, so the bodies drive them with a no-op waker instead of a
//! runtime, and use a deterministic RNG (fuzzing only: it is not secret).

use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Waker};

use latchkey_store::{ClientRecord, ClientStore, MemoryStore};
use latchkey_token::refresh::RotationKey;
use latchkey_types::{ClientId, ErrorCode, UnixTime};
use sha2::{Digest, Sha256};

use crate::authorize::{AuthorizationDecision, AuthorizeOutcome};
use crate::clients::NoMetadataFetcher;
use crate::config::EngineConfig;
use crate::engine::{Engine, EngineSecrets};
use crate::response::EndpointResponse;

const ISSUER: &str = "https://as.example.com";
const RESOURCE: &str = "https://mcp.example.com/mcp";
const CLIENT_ID: &str = "fuzz-client";
const REDIRECTS: [&str; 2] = ["https://client.example.org/cb", "http://127.0.0.1/callback"];
const NOW: UnixTime = UnixTime::from_secs(1_800_000_000);

/// `engine_authorization_request`: an authorization request as a query
/// string. Whatever the input, nothing is redirected unless `client_id` named
/// the registered client exactly once and the redirect URI matched one of its
/// registered URIs; every redirect carries a registered error code and `iss`
/// (RFC 9207); a valid request yields a pending authorization whose denial
/// redirects to the same URI with `access_denied` and `iss`.
pub fn engine_authorization_request(data: &[u8]) {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(data)
        .into_owned()
        .take(256)
        .collect();
    let client_once = pairs
        .iter()
        .filter(|(n, _)| n == "client_id")
        .map(|(_, v)| v.as_str())
        .collect::<Vec<_>>()
        == [CLIENT_ID];
    let engine = fixture();
    match block_on(engine.authorize_pairs(pairs, NOW)) {
        AuthorizeOutcome::ErrorPage { description, .. } => {
            assert!(description.chars().all(|c| (' '..='~').contains(&c)));
        }
        AuthorizeOutcome::Redirect(response) => {
            assert!(client_once, "redirected for an unverified client");
            let query = check_redirect(&response);
            let error = value(&query, "error").expect("an error redirect names its error");
            assert!(ErrorCode::parse(error).is_some());
        }
        AuthorizeOutcome::Interaction(pending) => {
            assert!(client_once);
            assert_eq!(pending.client_id().as_str(), CLIENT_ID);
            assert_eq!(pending.code_challenge().len(), 43);
            assert!(!pending.resources().is_empty());
            let state = pending.state().map(str::to_owned);
            let denied = block_on(engine.complete_authorization(
                pending,
                AuthorizationDecision::Deny,
                NOW,
                &mut FuzzRng(0),
            ));
            let query = check_redirect(&denied);
            assert_eq!(value(&query, "error"), Some("access_denied"));
            assert_eq!(value(&query, "state"), state.as_deref());
        }
    }
}

/// `engine_registration_bearer`: an `Authorization` header value for the RFC
/// 7592 endpoints. An accepted token is the header's tail, non-empty, in the
/// RFC 6750 `b64token` alphabet; anything else is refused.
pub fn engine_registration_bearer(data: &[u8]) {
    let Ok(header) = core::str::from_utf8(data) else {
        return;
    };
    let http = crate::request::HttpContext::new("GET", "https://as.example.com/register/x")
        .with_authorization(header.to_owned());
    if let Some(token) = crate::register::bearer_token(&http) {
        assert!(header.ends_with(token));
        assert!(!token.is_empty());
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b))
        );
    }
}

/// A `302` to a registered redirect URI with `iss`; its query pairs.
fn check_redirect(response: &EndpointResponse) -> Vec<(String, String)> {
    assert_eq!(response.status, 302);
    let location = response.header("location").expect("a Location");
    let url = url::Url::parse(location).expect("an absolute Location");
    let registered = REDIRECTS.iter().any(|r| {
        latchkey_uri::RedirectUri::parse(r).is_ok_and(|uri| {
            let mut base = url.clone();
            base.set_query(None);
            uri.matches(base.as_str())
        })
    });
    assert!(registered, "redirect to an unregistered uri");
    let query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    assert_eq!(value(&query, "iss"), Some(ISSUER));
    query
}

fn value<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// One engine with one public client, shared by every run.
fn fixture() -> &'static Engine<MemoryStore> {
    static ENGINE: OnceLock<Engine<MemoryStore>> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut rng = FuzzRng(1);
        let resource = latchkey_uri::ResourceUri::parse(RESOURCE).expect("a valid resource");
        let mut config = EngineConfig::new(ISSUER, resource).expect("a valid configuration");
        config.resources[0].scopes_supported =
            latchkey_types::Scope::parse("mcp:read mcp:write").expect("a valid scope");
        let secrets = EngineSecrets {
            rotation_key: RotationKey::generate(&mut rng),
            key_wrap_key: None,
            nonce_key: latchkey_dpop::NonceKey::generate(&mut rng),
        };
        let store = Arc::new(MemoryStore::new());
        let metadata = serde_json::json!({
            "client_name": "Fuzz",
            "redirect_uris": REDIRECTS,
            "token_endpoint_auth_method": "none",
        });
        let record = ClientRecord {
            client_id: ClientId::parse(CLIENT_ID).expect("a valid client id"),
            metadata: metadata.as_object().cloned().unwrap_or_default(),
            secret_digest: None,
            secret_expires_at: None,
            registration_token_digest: None,
            fingerprint: None,
            issued_at: NOW,
            first_used_at: None,
            may_introspect: false,
        };
        block_on(store.register_client(&record, 10)).expect("the memory store registers");
        block_on(Engine::new(
            store,
            config,
            secrets,
            NoMetadataFetcher,
            NOW,
            &mut rng,
        ))
        .expect("the fuzz engine starts")
    })
}

/// Polls a future that completes without waiting (the memory store's).
pub(crate) fn block_on<T>(future: impl Future<Output = T>) -> T {
    let mut future = pin!(future);
    let mut context = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(value) = future.as_mut().poll(&mut context) {
            return value;
        }
    }
}

/// A deterministic generator for fuzzing only: SHA-256 of a counter.
pub(crate) struct FuzzRng(pub(crate) u64);

impl rand_core::TryRng for FuzzRng {
    type Error = core::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut bytes = [0u8; 4];
        self.try_fill_bytes(&mut bytes)?;
        Ok(u32::from_le_bytes(bytes))
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut bytes = [0u8; 8];
        self.try_fill_bytes(&mut bytes)?;
        Ok(u64::from_le_bytes(bytes))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for chunk in dst.chunks_mut(32) {
            self.0 = self.0.wrapping_add(1);
            let block = Sha256::digest(self.0.to_le_bytes());
            for (out, byte) in chunk.iter_mut().zip(block.iter()) {
                *out = *byte;
            }
        }
        Ok(())
    }
}

impl rand_core::TryCryptoRng for FuzzRng {}

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
    fn replay_engine_authorization_request_corpus() {
        assert!(
            replay(
                "engine_authorization_request",
                super::engine_authorization_request
            ) >= 5
        );
    }

    #[test]
    fn the_valid_seed_reaches_the_consent_step() {
        let data = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fuzz/corpus/engine_authorization_request/valid_request"
        ))
        .unwrap();
        let pairs = url::form_urlencoded::parse(&data).into_owned().collect();
        let outcome = super::block_on(super::fixture().authorize_pairs(pairs, super::NOW));
        assert!(
            matches!(outcome, super::AuthorizeOutcome::Interaction(_)),
            "{outcome:?}"
        );
    }

    #[test]
    fn replay_engine_registration_bearer_corpus() {
        assert!(
            replay(
                "engine_registration_bearer",
                super::engine_registration_bearer
            ) >= 3
        );
    }
}
