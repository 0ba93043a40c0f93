//! Why a DPoP proof, nonce or key binding was refused.

use latchkey_types::ErrorCode;

use crate::DpopNonce;

/// Why a DPoP proof was refused, or a DPoP value could not be parsed.
///
/// The wire code is chosen in `From<&DpopError> for ErrorCode`, which gives the
/// resource server's answer (RFC 9449 section 7.1). The token endpoint answers
/// [`DpopError::token_endpoint_code`] instead, which differs only for a key
/// binding mismatch (`invalid_grant` rather than `invalid_token`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DpopError {
    /// The request carried no `DPoP` header field where one is required (RFC 9449 section 7.1).
    #[error("dpop header is missing")]
    MissingProof,
    /// The request carried more than one `DPoP` header field (RFC 9449 section 4.3 check 1).
    #[error("more than one dpop header")]
    MultipleProofs,
    /// The proof is longer than the configured limit.
    #[error("dpop proof is too long")]
    ProofTooLong,
    /// The proof is not a single well-formed compact JWS (RFC 9449 section 4.3 check 2).
    #[error("dpop proof is not a well-formed jwt")]
    MalformedJwt,
    /// The `typ` header is absent or not exactly `dpop+jwt` (RFC 9449 section 4.3 check 4).
    #[error("dpop proof typ is not dpop+jwt")]
    WrongType,
    /// The `alg` is `none`, symmetric, unsupported or not allowed by policy (RFC 9449 section 4.3 check 5).
    #[error("dpop proof alg is not allowed")]
    AlgorithmNotAllowed,
    /// The `jwk` header is absent (RFC 9449 section 4.2).
    #[error("dpop proof has no jwk header")]
    MissingJwk,
    /// The `jwk` header contains private key material (RFC 9449 section 4.3 check 7).
    #[error("dpop proof jwk contains a private key")]
    PrivateKeyInJwk,
    /// The `jwk` header is not a usable public key, or does not fit `alg`.
    #[error("dpop proof jwk is invalid")]
    InvalidJwk,
    /// The signature does not verify with the `jwk` header's key (RFC 9449 section 4.3 check 6).
    #[error("dpop proof signature does not verify")]
    BadSignature,
    /// The payload is not a JSON object of correctly typed claims.
    #[error("dpop proof claims are malformed")]
    MalformedClaims,
    /// A required claim is absent (RFC 9449 section 4.3 check 3); names the claim.
    #[error("dpop proof lacks the {0} claim")]
    MissingClaim(&'static str),
    /// The `jti` is empty or longer than the configured limit (RFC 9449 section 11.1).
    #[error("dpop proof jti has a bad length")]
    JtiLength,
    /// The `htm` claim is not the request's method (RFC 9449 section 4.3 check 8).
    #[error("dpop proof htm does not match the request method")]
    MethodMismatch,
    /// A URI is not an absolute `http(s)` URI (RFC 9449 section 4.2 `htu`).
    #[error("dpop htu is not a valid http uri")]
    HtuMalformed,
    /// The `htu` claim is not the request's URI after normalization (RFC 9449 section 4.3 check 9).
    #[error("dpop proof htu does not match the request uri")]
    UriMismatch,
    /// The `iat` is further in the future than the allowed clock skew (RFC 9449 section 11.1).
    #[error("dpop proof was issued in the future")]
    IssuedInFuture,
    /// The `iat` is older than the acceptance window (RFC 9449 section 4.3 check 11).
    #[error("dpop proof is too old")]
    ProofExpired,
    /// This proof was already used (RFC 9449 section 11.1).
    #[error("dpop proof was already used")]
    Replayed,
    /// The replay cache is full of live entries, so the proof is refused (fail closed).
    #[error("dpop replay cache is full")]
    ReplayCacheFull,
    /// The server requires a nonce and the proof has none; carries one to send (RFC 9449 section 8).
    #[error("dpop proof lacks the required nonce")]
    NonceMissing(DpopNonce),
    /// The proof's nonce is stale or not one this server issued; carries a fresh one (RFC 9449 section 8).
    #[error("dpop proof nonce is stale or unknown")]
    NonceMismatch(DpopNonce),
    /// An access token was presented but the proof has no `ath` (RFC 9449 section 7).
    #[error("dpop proof lacks the ath claim")]
    AthMissing,
    /// The `ath` is not the hash of the presented access token (RFC 9449 section 4.3 check 12).
    #[error("dpop proof ath does not match the access token")]
    AthMismatch,
    /// The proof's key is not the key the token or code is bound to (RFC 9449 sections 6.1, 7.1, 10).
    #[error("dpop key does not match the bound key")]
    KeyBindingMismatch,
    /// A nonce key is shorter than 32 bytes.
    #[error("dpop nonce key is too short")]
    NonceKeyTooShort,
}

impl DpopError {
    /// The fresh nonce to send in the `DPoP-Nonce` response header, if any
    /// (RFC 9449 sections 8 and 9).
    pub fn fresh_nonce(&self) -> Option<&DpopNonce> {
        match self {
            Self::NonceMissing(nonce) | Self::NonceMismatch(nonce) => Some(nonce),
            _ => None,
        }
    }

    /// The error code the token endpoint answers with.
    ///
    /// Identical to `From<&DpopError> for ErrorCode` except that a proof whose key
    /// does not match the key a refresh token (RFC 9449 section 5) or an
    /// authorization code's `dpop_jkt` (section 10) is bound to is `invalid_grant`
    /// (RFC 6749 section 5.2: the grant is "bound to another client"): the grant,
    /// not an access token, is what failed there.
    pub fn token_endpoint_code(&self) -> ErrorCode {
        match self {
            Self::KeyBindingMismatch => ErrorCode::InvalidGrant,
            other => ErrorCode::from(other),
        }
    }
}

impl From<&DpopError> for ErrorCode {
    /// The resource server's code (RFC 9449 section 7.1): `invalid_dpop_proof`
    /// for the proof, `use_dpop_nonce` for nonces, `invalid_token` for a key
    /// binding mismatch.
    fn from(error: &DpopError) -> Self {
        match error {
            DpopError::MissingProof
            | DpopError::MultipleProofs
            | DpopError::ProofTooLong
            | DpopError::MalformedJwt
            | DpopError::WrongType
            | DpopError::AlgorithmNotAllowed
            | DpopError::MissingJwk
            | DpopError::PrivateKeyInJwk
            | DpopError::InvalidJwk
            | DpopError::BadSignature
            | DpopError::MalformedClaims
            | DpopError::MissingClaim(_)
            | DpopError::JtiLength
            | DpopError::MethodMismatch
            | DpopError::HtuMalformed
            | DpopError::UriMismatch
            | DpopError::IssuedInFuture
            | DpopError::ProofExpired
            | DpopError::Replayed
            | DpopError::AthMissing
            | DpopError::AthMismatch => Self::InvalidDpopProof,
            DpopError::NonceMissing(_) | DpopError::NonceMismatch(_) => Self::UseDpopNonce,
            DpopError::KeyBindingMismatch => Self::InvalidToken,
            // Fail closed under load: the client may retry later.
            DpopError::ReplayCacheFull => Self::TemporarilyUnavailable,
            // A `dpop_jkt` request parameter that is not a thumbprint (RFC 9449 section 10).
            // Server misconfiguration, never the client's fault.
            DpopError::NonceKeyTooShort => Self::ServerError,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_9449_section_7_1_codes() {
        assert_eq!(
            ErrorCode::from(&DpopError::BadSignature),
            ErrorCode::InvalidDpopProof
        );
        assert_eq!(
            ErrorCode::from(&DpopError::Replayed),
            ErrorCode::InvalidDpopProof
        );
        assert_eq!(
            ErrorCode::from(&DpopError::AthMismatch),
            ErrorCode::InvalidDpopProof
        );
        assert_eq!(
            ErrorCode::from(&DpopError::KeyBindingMismatch),
            ErrorCode::InvalidToken
        );
        assert_eq!(
            ErrorCode::from(&DpopError::ReplayCacheFull),
            ErrorCode::TemporarilyUnavailable
        );
        assert_eq!(
            ErrorCode::from(&DpopError::NonceKeyTooShort),
            ErrorCode::ServerError
        );
    }

    #[test]
    fn rfc_9449_section_8_nonce_errors_are_use_dpop_nonce_and_carry_a_nonce() {
        let nonce = crate::DpopNonces::new(crate::NonceKey::new(&[1; 32]).unwrap())
            .issue(latchkey_types::UnixTime::from_secs(0));
        for error in [
            DpopError::NonceMissing(nonce.clone()),
            DpopError::NonceMismatch(nonce.clone()),
        ] {
            assert_eq!(ErrorCode::from(&error), ErrorCode::UseDpopNonce);
            assert_eq!(error.fresh_nonce(), Some(&nonce));
        }
        assert_eq!(DpopError::Replayed.fresh_nonce(), None);
    }

    #[test]
    fn rfc_9449_section_5_token_endpoint_answers_invalid_grant_for_a_key_mismatch() {
        assert_eq!(
            DpopError::KeyBindingMismatch.token_endpoint_code(),
            ErrorCode::InvalidGrant
        );
        assert_eq!(
            DpopError::BadSignature.token_endpoint_code(),
            ErrorCode::InvalidDpopProof
        );
    }

    #[test]
    fn display_is_lowercase_without_trailing_period() {
        let nonce = crate::DpopNonces::new(crate::NonceKey::new(&[1; 32]).unwrap())
            .issue(latchkey_types::UnixTime::from_secs(0));
        for error in [
            DpopError::MissingClaim("jti"),
            DpopError::NonceMissing(nonce),
            DpopError::KeyBindingMismatch,
            DpopError::ReplayCacheFull,
        ] {
            let text = error.to_string();
            assert!(!text.ends_with('.'));
            assert_eq!(text, text.to_lowercase());
            assert!(!text.contains("AAAA"));
        }
    }
}
