//! The Latchkey OAuth 2.1 authorization server as functions from typed,
//! already-parsed requests to typed responses.
//!
//! An [`Engine`] holds the configuration, the signing keys and the server
//! secrets, and reaches storage only through the `latchkey_store::Store`
//! traits. Every endpoint is a method taking the request's [`Params`] and
//! [`HttpContext`], the current time and an RNG, and returning an
//! [`EndpointResponse`] that an HTTP adapter copies onto the wire. The adapter
//! holds no OAuth rule.
//!
//! Sections implemented here (the token side; the authorization, registration
//! and discovery endpoints live in [`authorize`], [`register`], [`discovery`]):
//!
//! - OAuth 2.1 (draft-ietf-oauth-v2-1) section 2.4 (client authentication),
//!   3.1 and 3.2 (parameters sent at most once, empty means absent),
//!   3.2.3 and 3.2.4 (token response and error response), 4.1.3 (code
//!   redemption, replay revokes what the code issued), 4.2 (client
//!   credentials), 4.3 (refresh with rotation), 7 (security considerations).
//! - RFC 7523 sections 2.2 and 3 (`private_key_jwt` client assertions).
//! - RFC 8707 section 2.2 (`resource` at the token endpoint).
//! - RFC 9449 sections 5, 8 and 10 (DPoP at the token endpoint, nonces, bound codes).
//! - RFC 7009 (revocation) and RFC 7662 (introspection); [`RevocationCheck`]
//!   carries revocation to a resource server beside the engine.
//! - RFC 9700 sections 2.1.1 and 4.14 (refresh-token protection), MCP A9, A10, A18.
//!
//! What it deliberately does not do: no HTTP, sockets, clock or OS RNG (time
//! and randomness are arguments); no `jwks_uri` fetching for `private_key_jwt`
//! clients (their keys must be registered inline as `jwks`); no `password` or
//! implicit grants (they do not exist in OAuth 2.1).
//!
//! ```
//! use std::sync::Arc;
//!
//! use latchkey_engine::{Engine, EngineConfig, EngineSecrets, HttpContext, NoMetadataFetcher, Params};
//! use latchkey_store::{ClientRecord, ClientStore, MemoryStore};
//! use latchkey_types::{ClientId, TokenDigest, UnixTime};
//! use latchkey_uri::ResourceUri;
//! use rand_core::SeedableRng;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1); // the OS RNG in production
//! let now = UnixTime::from_secs(1_700_000_000); // the adapter reads the clock once per request
//! let config = EngineConfig::new(
//!     "https://as.example.com",
//!     ResourceUri::parse("https://mcp.example.com/mcp").expect("valid"),
//! )?;
//! let store = Arc::new(MemoryStore::new());
//! // A confidential client, as an administrator would register it.
//! let serde_json::Value::Object(metadata) = serde_json::json!({
//!     "token_endpoint_auth_method": "client_secret_post",
//!     "grant_types": ["client_credentials"],
//! }) else { unreachable!() };
//! store.register_client(&ClientRecord {
//!     client_id: ClientId::parse("backend")?,
//!     metadata,
//!     secret_digest: Some(TokenDigest::of(b"s3cret")),
//!     secret_expires_at: None,
//!     registration_token_digest: None,
//!     fingerprint: None,
//!     issued_at: now,
//!     first_used_at: None,
//!     may_introspect: false,
//! }, 100).await?;
//! let secrets = EngineSecrets {
//!     rotation_key: latchkey_token::refresh::RotationKey::generate(&mut rng),
//!     key_wrap_key: None,
//!     nonce_key: latchkey_dpop::NonceKey::generate(&mut rng),
//! };
//! let engine = Engine::new(store, config, secrets, NoMetadataFetcher, now, &mut rng).await?;
//!
//! let params = Params::from_pairs([
//!     ("grant_type".to_owned(), "client_credentials".to_owned()),
//!     ("client_id".to_owned(), "backend".to_owned()),
//!     ("client_secret".to_owned(), "s3cret".to_owned()),
//! ])?;
//! let http = HttpContext::new("POST", "https://as.example.com/token");
//! let response = engine.token(&params, &http, now, &mut rng).await;
//! assert_eq!(response.status, 200);
//! assert_eq!(response.header("cache-control"), Some("no-store"));
//! assert!(response.json_body().expect("json").contains("\"token_type\":\"Bearer\""));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

pub mod authorize;
pub mod discovery;
pub mod register;

#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;

mod client_auth;
mod clients;
mod config;
mod engine;
mod error;
mod events;
mod introspect;
mod request;
mod response;
mod revoke;
mod status;
mod token;

pub use client_auth::JWT_BEARER_ASSERTION_TYPE;
pub use clients::{ClientSource, FetchError, MetadataFetcher, NoMetadataFetcher, ResolvedClient};
pub use config::{EngineConfig, McpProfile, RegistrationSettings, ResourceConfig};
pub use engine::{Engine, EngineSecrets};
pub use error::{EndpointOutcome, EngineError};
pub use events::{SECURITY_TARGET, SecurityEvent, emit};
pub use latchkey_jose::KeyWrapKey;
pub use request::{HttpContext, Params};
pub use response::{DPOP_NONCE, EndpointResponse, ResponseBody};
pub use status::{
    RevocationCheck, RevocationRefusal, StatusFuture, StoreRevocationCheck, TokenStatus,
    check_revocation,
};
pub use token::{TokenOutcome, TokenRefused};
