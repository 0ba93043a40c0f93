//! Fixtures for the adapters' key-refresh tests (`tests/remote_keys.rs` of
//! `latchkey-axum` and `latchkey-actix`): signing keys, tokens for one
//! resource, and a [`KeySource`] that answers with a fixed set and counts.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use latchkey_jose::{Algorithm, Jwks, SigningKey};
use latchkey_remote_keys::{KeySource, KeysError, KeysFuture};
use latchkey_token::{AccessTokenClaims, Audience, KeySet};
use latchkey_types::{ClientId, Scope, Subject};
use latchkey_uri::ResourceUri;
use rand_core::SeedableRng;

/// The issuer the tokens name.
pub const ISSUER: &str = "https://as.example.com";
/// The resource the tokens are for.
pub const RESOURCE: &str = "https://mcp.example.com/mcp";

/// An ES256 key with `kid`, the same for the same `seed`.
pub fn key(kid: &str, seed: u64) -> SigningKey {
    SigningKey::generate(
        Algorithm::Es256,
        kid.to_owned(),
        &mut rand_chacha::ChaCha20Rng::seed_from_u64(seed),
    )
}

/// [`RESOURCE`] parsed.
pub fn resource() -> ResourceUri {
    ResourceUri::parse(RESOURCE).expect("resource")
}

/// An access token for [`RESOURCE`] with scope `mcp:read`, signed by `signer`.
pub fn token(signer: SigningKey) -> String {
    let claims = AccessTokenClaims::new(
        ISSUER.to_owned(),
        Subject::parse("alice").expect("subject"),
        ClientId::parse("client-1").expect("client id"),
        Audience::new(resource()),
        crate::now(),
        &mut rand_chacha::ChaCha20Rng::seed_from_u64(5),
    )
    .with_scope(Scope::parse("mcp:read").expect("scope"));
    KeySet::new(signer).expect("key set").issue(&claims)
}

/// A key source answering with a fixed set (or failing) and counting fetches.
pub struct CountingSource {
    jwks: Option<Jwks>,
    fetches: AtomicUsize,
}

impl CountingSource {
    /// How many times the keys were asked for.
    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

impl KeySource for CountingSource {
    fn fetch_keys(&self) -> KeysFuture<'_> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        let result = self.jwks.clone().ok_or(KeysError::Connection);
        Box::pin(std::future::ready(result))
    }
}

/// A source answering with `jwks`, or failing when it is `None`.
pub fn source(jwks: Option<Jwks>) -> Arc<CountingSource> {
    Arc::new(CountingSource {
        jwks,
        fetches: AtomicUsize::new(0),
    })
}
