//! latchkey-jose: JWS compact serialization, public JWKs and RFC 7638 thumbprints
//! over aws-lc-rs with pre-parsed keys.
//!
//! This crate signs and verifies JSON Web Signatures in compact form, for the JWT
//! access tokens of `latchkey-token` and the DPoP proofs of `latchkey-dpop`:
//!
//! - [`Algorithm`]: the closed set ES256 (default) and EdDSA (Ed25519).
//! - [`CompactJws`]: parse, then [`verify_with`](CompactJws::verify_with) a key.
//! - [`SigningKey`]: a private key, generated from the caller's RNG or read from
//!   PKCS#8, that signs compact JWSs.
//! - [`PublicJwk`] and [`Jwks`]: public keys and key sets, with RFC 7638 thumbprints.
//!
//! # Specifications
//!
//! - RFC 7515 section 2 (strict unpadded base64url), 4.1 (header parameters),
//!   4.1.11 (`crit`), 5.1 and 5.2 (producing and validating), 7.1 (compact form).
//! - RFC 7517 section 4 (JWK members), 5 (JWK Set; unusable keys are skipped).
//! - RFC 7518 section 3.4 (ES256, fixed 64-byte `R || S`), 6.2.1 (EC public keys).
//! - RFC 8037 section 2 (OKP keys) and 3.1 (EdDSA).
//! - RFC 7638 section 3 (JWK thumbprints).
//! - RFC 8725 section 3.1 (algorithm verification: the key decides the algorithm)
//!   and 3.10 (no `jku`/`x5u` dereferencing), with draft-ietf-oauth-rfc8725bis.
//!
//! # Design decisions
//!
//! - **No `jsonwebtoken`.** It re-parses the key on every call (about 40% of a
//!   signature), reads the system clock in its validation, and its `rust_crypto`
//!   backend is about ten times slower. JWS compact serialization is small, so this
//!   crate implements it over `aws-lc-rs` holding **pre-parsed keys**:
//!   `EcdsaKeyPair` / `Ed25519KeyPair` for signing and `ParsedPublicKey` for
//!   verification, built once when a key is loaded (measured per core: ES256 sign
//!   about 37,000/s, verify about 17,700/s).
//! - **Closed algorithm set.** `none`, `HS*`, `RS*`, `PS*` and everything else are
//!   refused while parsing; no type in this crate can express them.
//! - **Randomness comes from the caller.** Key generation takes a
//!   [`rand_core::CryptoRng`]. The one exception is the per-signature ECDSA nonce,
//!   which aws-lc draws inside the primitive (aws-lc-rs ignores an RNG argument to
//!   ECDSA signing); all protocol-level randomness comes from the caller.
//!
//! # Not done here
//!
//! No I/O, no clock, no JWT claim validation (that is `latchkey-token`), no JWE, no
//! JWS JSON serialization, no unencoded payloads (RFC 7797), no `crit` extensions,
//! no RSA, no symmetric keys, and no fetching of keys named by a header.
//!
//! # Example
//!
//! ```
//! use latchkey_jose::{Algorithm, CompactJws, JoseHeader, Jwks, SigningKey};
//! use rand_core::SeedableRng;
//!
//! let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
//! let key = SigningKey::generate(Algorithm::Es256, "2026-11".to_owned(), &mut rng);
//! let token = key.sign_compact(&JoseHeader::new(Algorithm::Es256).with_typ("at+jwt"), b"{}");
//!
//! let jwks = Jwks::new(vec![key.public_jwk()])?;
//! let jws = CompactJws::parse(&token, 8192)?;
//! let public = jwks.find(jws.header().kid.as_deref().unwrap_or_default()).unwrap();
//! jws.verify_with(public)?;
//! assert_eq!(jws.payload(), b"{}");
//! # Ok::<(), latchkey_jose::JoseError>(())
//! ```

mod alg;
mod b64;
mod jwk;
mod jwks;
mod jws;
mod key;
mod thumbprint;
mod wrap;

pub use alg::Algorithm;
pub use jwk::{MAX_KID_LEN, PublicJwk};
pub use jwks::Jwks;
pub use jws::{CompactJws, JoseHeader, SIGNATURE_LEN};
pub use key::SigningKey;
pub use thumbprint::JwkThumbprint;
pub use wrap::{KeyWrapKey, is_sealed};

use latchkey_types::ErrorCode;

/// Why a JWS, JWK, JWK Set or key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JoseError {
    /// A JWK thumbprint was not 43 base64url characters encoding 32 bytes
    /// (RFC 7638 section 3, RFC 9449 section 10).
    #[error("jwk thumbprint is malformed")]
    ThumbprintMalformed,
    /// The compact JWS is longer than the caller's limit.
    #[error("token is too long")]
    TokenTooLong,
    /// The compact JWS is not three dot-separated segments (RFC 7515 section 7.1).
    #[error("token is not a compact jws")]
    MalformedCompact,
    /// A segment is not strict unpadded base64url (RFC 7515 section 2).
    #[error("segment is not base64url")]
    BadBase64,
    /// The protected header is not a JSON object of the expected member types.
    #[error("jose header is malformed")]
    MalformedHeader,
    /// The protected header repeats a member name (RFC 7515 section 4).
    #[error("jose header has a duplicate member")]
    DuplicateHeaderMember,
    /// The protected header has no `alg` (RFC 7515 section 4.1.1).
    #[error("jose header has no alg")]
    MissingAlgorithm,
    /// The algorithm is not ES256 or EdDSA (RFC 8725 section 3.1).
    #[error("algorithm is not supported")]
    UnsupportedAlgorithm,
    /// The header has a `crit` member; no extension is understood (RFC 7515 section 4.1.11).
    #[error("critical header extension is not understood")]
    CriticalHeader,
    /// The signature is not 64 bytes.
    #[error("signature has the wrong length")]
    SignatureLength,
    /// The header's algorithm is not the key's (RFC 8725 section 3.1).
    #[error("algorithm does not match the key")]
    AlgorithmMismatch,
    /// The signature does not verify.
    #[error("signature does not verify")]
    BadSignature,
    /// A JWK is not an object with the members its key type requires.
    #[error("jwk is malformed")]
    MalformedJwk,
    /// A JWK's `kty` is not `EC` or `OKP`.
    #[error("jwk key type is not supported")]
    UnsupportedKeyType,
    /// A JWK's `crv` is not `P-256` (EC) or `Ed25519` (OKP).
    #[error("jwk curve is not supported")]
    UnsupportedCurve,
    /// A JWK carries private or symmetric key members where a public key belongs.
    #[error("jwk contains private key material")]
    PrivateKeyMaterial,
    /// A JWK's coordinates have the wrong length or are not a point on the curve.
    #[error("jwk is not a valid public key")]
    InvalidPublicKey,
    /// A JWK's `alg` member names another algorithm than its key type's.
    #[error("jwk alg does not match its key type")]
    JwkAlgorithmMismatch,
    /// A JWK's `use` member is not `sig` (RFC 7517 section 4.2).
    #[error("jwk is not for signatures")]
    KeyNotForSignature,
    /// A JWK Set document is not an object with a `keys` array, or is too large.
    #[error("jwk set is malformed")]
    MalformedJwks,
    /// A JWK Set holds more than [`Jwks::MAX_KEYS`] keys.
    #[error("jwk set has too many keys")]
    TooManyKeys,
    /// Two keys of a JWK Set share a key id.
    #[error("jwk set has a duplicate key id")]
    DuplicateKeyId,
    /// A private key document could not be read as a key of the requested algorithm.
    #[error("private key is invalid")]
    InvalidPrivateKey,
}

impl From<&JoseError> for ErrorCode {
    fn from(error: &JoseError) -> Self {
        match error {
            JoseError::TokenTooLong
            | JoseError::MalformedCompact
            | JoseError::BadBase64
            | JoseError::MalformedHeader
            | JoseError::DuplicateHeaderMember
            | JoseError::MissingAlgorithm
            | JoseError::UnsupportedAlgorithm
            | JoseError::CriticalHeader
            | JoseError::SignatureLength
            | JoseError::AlgorithmMismatch
            | JoseError::BadSignature
            | JoseError::MalformedJwk
            | JoseError::UnsupportedKeyType
            | JoseError::UnsupportedCurve
            | JoseError::PrivateKeyMaterial
            | JoseError::InvalidPublicKey
            | JoseError::JwkAlgorithmMismatch
            | JoseError::KeyNotForSignature => ErrorCode::InvalidToken,
            JoseError::ThumbprintMalformed => ErrorCode::InvalidRequest,
            // Key sets and private keys come from configuration, never from a client.
            JoseError::MalformedJwks
            | JoseError::TooManyKeys
            | JoseError::DuplicateKeyId
            | JoseError::InvalidPrivateKey => ErrorCode::ServerError,
        }
    }
}

/// Fuzz-target bodies, shared by `fuzz/` and the replay test below.
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing {
    use crate::{CompactJws, JoseHeader};
    use latchkey_types::ErrorCode;

    /// Parses arbitrary bytes as a compact JWS. Accepted input re-parses to the same
    /// header, payload and signature, and its header JSON parses alone to the same
    /// header; refused input maps to `invalid_token`.
    pub fn jws_compact(data: &[u8]) {
        let Ok(token) = core::str::from_utf8(data) else {
            return;
        };
        match CompactJws::parse(token, 16 * 1024) {
            Ok(jws) => {
                let again = CompactJws::parse(token, token.len()).expect("same input parses again");
                assert_eq!(again.header(), jws.header());
                assert_eq!(again.payload(), jws.payload());
                assert_eq!(again.signature(), jws.signature());
                assert!(token.as_bytes().starts_with(jws.signing_input()));
                let header_b64 = token
                    .split('.')
                    .next()
                    .expect("parsed tokens have a header");
                let header_json =
                    crate::b64::decode(header_b64.as_bytes()).expect("header decoded once");
                assert_eq!(
                    JoseHeader::from_json_bytes(&header_json).as_ref(),
                    Ok(jws.header())
                );
            }
            Err(error) => assert_eq!(ErrorCode::from(&error), ErrorCode::InvalidToken),
        }
    }

    #[cfg(test)]
    mod tests {
        fn replay(dir: &str, body: fn(&[u8])) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return;
            };
            for entry in entries {
                let path = entry.unwrap().path();
                body(&std::fs::read(&path).unwrap());
            }
        }

        #[test]
        fn replays_corpus_and_regressions() {
            let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz");
            assert!(std::fs::read_dir(format!("{root}/corpus/jws_compact")).is_ok());
            replay(&format!("{root}/corpus/jws_compact"), super::jws_compact);
            replay(
                &format!("{root}/regressions/jws_compact"),
                super::jws_compact,
            );
        }
    }
}
