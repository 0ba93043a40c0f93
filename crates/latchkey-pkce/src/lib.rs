#![doc = include_str!("../README.md")]

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
