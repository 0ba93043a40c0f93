//! PKCE, Proof Key for Code Exchange, with `S256` only.
//!
//! The client keeps a secret [`CodeVerifier`] and sends its SHA-256
//! [`CodeChallenge`] with the authorization request; the authorization server
//! stores the challenge with the code and, at the token endpoint, accepts the
//! code only with a verifier that hashes to it ([`CodeChallenge::verify`]).
//!
//! Sections implemented:
//!
//! - RFC 7636 section 4.1: `code-verifier = 43*128unreserved`; generation from
//!   32 random bytes, base64url-encoded (43 characters, 256 bits).
//! - RFC 7636 section 4.2 and 4.3: `S256`, `code_challenge = BASE64URL(SHA256(ASCII(code_verifier)))`;
//!   a challenge is exactly 43 base64url characters (a 32-byte digest).
//! - RFC 7636 section 4.6: verification, here constant-time over the 32 digest bytes.
//! - OAuth 2.1 section 4.1.1: PKCE is required, and `S256` is the method
//!   (a server that supports it must refuse `plain` once a client uses it;
//!   Latchkey refuses `plain` always); section 7.5 (authorization code injection).
//! - RFC 7636 appendix B: the published vector is a test.
//!
//! What it deliberately does not do: no `plain` method and no default method
//! when `code_challenge_method` is missing (OAuth 2.1 section 4.1.1 would
//! default to `plain`; Latchkey returns [`PkceError::ChallengeMethodMissing`]);
//! no storage and no I/O; no OS randomness (generation takes the caller's
//! [`rand_core::CryptoRng`]).
//!
//! Wire codes ([`From<&PkceError>`](PkceError) for [`ErrorCode`]): challenge and
//! method problems arise at the authorization endpoint and are `invalid_request`
//! (RFC 7636 section 4.4.1); verifier problems arise at the token endpoint and
//! are `invalid_grant` (RFC 7636 section 4.6), like a verifier that does not match.
//!
//! ```
//! use latchkey_pkce::{CodeChallenge, CodeVerifier};
//!
//! // RFC 7636 appendix B.
//! let verifier = CodeVerifier::parse("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".to_owned())?;
//! let challenge = CodeChallenge::parse("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", Some("S256"))?;
//! assert_eq!(verifier.challenge(), challenge);
//! assert!(challenge.verify(&verifier));
//! # Ok::<(), latchkey_pkce::PkceError>(())
//! ```

mod challenge;
mod verifier;

#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;

use latchkey_types::ErrorCode;

pub use challenge::{CodeChallenge, CodeChallengeMethod};
pub use verifier::CodeVerifier;

/// Why a PKCE value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PkceError {
    /// The code verifier was shorter than 43 characters (RFC 7636 section 4.1).
    #[error("code verifier is shorter than 43 characters")]
    VerifierTooShort,
    /// The code verifier was longer than 128 characters (RFC 7636 section 4.1).
    #[error("code verifier is longer than 128 characters")]
    VerifierTooLong,
    /// The code verifier held a character outside `[A-Za-z0-9-._~]` (RFC 7636 section 4.1).
    #[error("code verifier contains a character outside the unreserved set")]
    VerifierBadChar,
    /// `code_challenge_method` was absent; Latchkey does not default to `plain`.
    #[error("code challenge method is missing")]
    ChallengeMethodMissing,
    /// `code_challenge_method` was `plain`, which Latchkey never accepts (OAuth 2.1 section 4.1.1).
    #[error("code challenge method plain is not supported")]
    ChallengeMethodPlain,
    /// `code_challenge_method` was neither `S256` nor `plain` (it is case-sensitive).
    #[error("code challenge method is unknown")]
    ChallengeMethodUnknown,
    /// The code challenge was not exactly 43 base64url characters encoding 32 bytes (RFC 7636 section 4.2).
    #[error("code challenge is not 43 base64url characters")]
    ChallengeMalformed,
}

/// Challenge problems are `invalid_request` (RFC 7636 section 4.4.1), verifier
/// problems `invalid_grant` (RFC 7636 section 4.6).
impl From<&PkceError> for ErrorCode {
    fn from(error: &PkceError) -> Self {
        match error {
            PkceError::VerifierTooShort
            | PkceError::VerifierTooLong
            | PkceError::VerifierBadChar => ErrorCode::InvalidGrant,
            PkceError::ChallengeMethodMissing
            | PkceError::ChallengeMethodPlain
            | PkceError::ChallengeMethodUnknown
            | PkceError::ChallengeMalformed => ErrorCode::InvalidRequest,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [PkceError; 7] = [
        PkceError::VerifierTooShort,
        PkceError::VerifierTooLong,
        PkceError::VerifierBadChar,
        PkceError::ChallengeMethodMissing,
        PkceError::ChallengeMethodPlain,
        PkceError::ChallengeMethodUnknown,
        PkceError::ChallengeMalformed,
    ];

    #[test]
    fn rfc7636_4_4_1_and_4_6_error_codes() {
        for error in &ALL[..3] {
            assert_eq!(ErrorCode::from(error), ErrorCode::InvalidGrant, "{error:?}");
        }
        for error in &ALL[3..] {
            assert_eq!(
                ErrorCode::from(error),
                ErrorCode::InvalidRequest,
                "{error:?}"
            );
        }
    }

    #[test]
    fn display_is_lowercase_without_period() {
        for error in ALL {
            let text = error.to_string();
            assert_eq!(text, text.to_lowercase());
            assert!(!text.ends_with('.'));
        }
    }
}
