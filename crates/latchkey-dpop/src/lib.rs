//! DPoP (RFC 9449): proof validation, replay cache, server nonces, token binding.
//!
//! A client proves possession of a key by signing a small JWT, the DPoP proof,
//! for each HTTP request; the authorization server binds tokens to that key and
//! the resource server checks the binding. This crate holds the checks both
//! servers run:
//!
//! - [`validate_proof`]: every check of RFC 9449 section 4.3, each with its own
//!   [`DpopError`] variant, over the `DPoP` header values of one request; returns a
//!   [`ValidatedProof`] with the key, its thumbprint and the claims.
//! - [`Htu`]: the `htu` claim and the request URI, normalized per RFC 9449
//!   section 4.3 (RFC 3986 sections 6.2.2 and 6.2.3) so they compare as strings.
//! - [`ReplayCache`] and [`MemoryReplayCache`]: single use of each proof within its
//!   acceptance window (RFC 9449 section 11.1), failing closed when full, with a
//!   bounded share per token holder ([`ReplayPartition`]) so that one holder
//!   cannot fill it for everyone.
//! - [`DpopNonces`]: stateless server nonces from an HMAC key and a time slot
//!   (RFC 9449 sections 8 and 9); a missing or stale nonce is `use_dpop_nonce`
//!   with a fresh nonce to send ([`DpopError::fresh_nonce`]).
//! - [`check_key_binding`] and [`JwkThumbprint`]: the `cnf.jkt` check at the
//!   resource server and for refresh tokens and `dpop_jkt` at the token endpoint.
//!
//! Specifications implemented:
//!
//! - RFC 9449 section 4.1 (one `DPoP` header), 4.2 (proof syntax), 4.3 (checks),
//!   5 (token request; refresh token binding), 6.1 (`cnf.jkt`), 7 and 7.1 (`ath`,
//!   resource access, error codes), 8 and 9 (server nonces), 10 (`dpop_jkt`),
//!   11.1 (replay, time window)
//! - RFC 7638 section 3 (JWK thumbprint, through `latchkey_jose::PublicJwk::thumbprint`)
//! - RFC 3986 sections 6.2.2 and 6.2.3 (URI normalization for `htu`)
//!
//! Deliberately absent: no I/O, clock or OS randomness (`now` and `rng` are
//! arguments); no parsing of the `Authorization: DPoP` header or of access tokens
//! (the token crate and the adapters do that and hand over the token and its
//! `cnf.jkt`); no HMAC algorithms (`latchkey-jose` knows only ES256, ES384,
//! EdDSA, RS256 and PS256, so `none` and `HS*` cannot be configured; the default
//! allowlist is ES256 and EdDSA); no nonce state (nonces are derived, not
//! stored).
//!
//! Error codes: `From<&DpopError> for ErrorCode` gives the resource server's code
//! (`invalid_dpop_proof`, `use_dpop_nonce`, `invalid_token` for a key mismatch,
//! RFC 9449 section 7.1); [`DpopError::token_endpoint_code`] gives the token
//! endpoint's, which is `invalid_grant` for a key mismatch.
//!
//! ```
//! use latchkey_dpop::{validate_proof, DpopConfig, Htu, MemoryReplayCache, ProofExpectations};
//! use latchkey_types::{ErrorCode, UnixTime};
//!
//! // RFC 9449 section 4.1, Figure 2.
//! let proof = concat!(
//!     "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19",
//!     ".eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjYyNjE2fQ",
//!     ".2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg",
//! );
//! let uri = Htu::parse("https://server.example.com/token")?;
//! let expected = ProofExpectations::new("POST", &uri);
//! let now = UnixTime::from_secs(1_562_262_620);
//! let mut replay = MemoryReplayCache::new(10_000);
//! let config = DpopConfig::default();
//!
//! let proof_ok = validate_proof(&[proof], &expected, now, &mut replay, &config)?;
//! // RFC 9449 section 6.1, Figure 9: the thumbprint the token is bound to.
//! assert_eq!(proof_ok.jkt().to_encoded(), "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I");
//!
//! // The same proof a second time is a replay.
//! let again = validate_proof(&[proof], &expected, now, &mut replay, &config).unwrap_err();
//! assert_eq!(ErrorCode::from(&again), ErrorCode::InvalidDpopProof);
//! # Ok::<(), latchkey_dpop::DpopError>(())
//! ```

mod binding;
mod error;
mod htu;
mod nonce;
mod proof;
mod replay;

pub use binding::{JwkThumbprint, check_key_binding};
pub use error::DpopError;
pub use htu::Htu;
pub use nonce::{DpopNonce, DpopNonces, NonceCheck, NonceKey};
pub use proof::{DPOP_JWT_TYPE, DpopConfig, ProofExpectations, ValidatedProof, validate_proof};
pub use replay::{
    MemoryReplayCache, PartitionedReplayCache, ReplayCache, ReplayKey, ReplayOutcome,
    ReplayPartition,
};

#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
