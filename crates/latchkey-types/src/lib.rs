#![doc = include_str!("../README.md")]

mod client;
mod error_code;
pub mod json;
mod scope;
mod secret;
mod unix_time;

#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;

pub use client::{ClientId, Subject};
pub use error_code::ErrorCode;
pub use scope::{Scope, ScopeHierarchy, ScopeToken};
pub use secret::{SecretString, TokenDigest};
pub use unix_time::UnixTime;

/// Re-exported so that [`secret_type!`] expands without extra dependencies.
#[doc(hidden)]
pub use rand_core;

/// Why a shared value could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TypesError {
    /// A client id was empty.
    #[error("client id is empty")]
    ClientIdEmpty,
    /// A client id was longer than [`ClientId::MAX_LEN`].
    #[error("client id is too long")]
    ClientIdTooLong,
    /// A client id held a character outside VSCHAR (RFC 6749 appendix A.1).
    #[error("client id contains a character outside %x20-7E")]
    ClientIdBadChar,
    /// A subject was empty.
    #[error("subject is empty")]
    SubjectEmpty,
    /// A subject was longer than [`Subject::MAX_LEN`].
    #[error("subject is too long")]
    SubjectTooLong,
    /// A subject held a character outside VSCHAR.
    #[error("subject contains a character outside %x20-7E")]
    SubjectBadChar,
    /// A scope string was empty, or had a leading, trailing or doubled space.
    #[error("scope has an empty scope token")]
    ScopeEmptyToken,
    /// A scope token held a character outside NQCHAR (RFC 6749 appendix A.4).
    #[error("scope token contains a character outside NQCHAR")]
    ScopeBadChar,
    /// A scope string was longer than [`Scope::MAX_LEN`].
    #[error("scope is too long")]
    ScopeTooLong,
    /// A scope hierarchy pair names the same scope as broader and narrower.
    #[error("scope {0} cannot imply itself")]
    ScopeImpliesItself(ScopeToken),
    /// A scope hierarchy where a scope implies itself through others (a cycle).
    #[error("scope {0} implies itself through a cycle")]
    ScopeHierarchyCycle(ScopeToken),
    /// A scope hierarchy of more than [`ScopeHierarchy::MAX_PAIRS`] pairs.
    #[error("scope hierarchy has more than {max} pairs", max = ScopeHierarchy::MAX_PAIRS)]
    ScopeHierarchyTooLarge,
}

impl From<&TypesError> for ErrorCode {
    fn from(error: &TypesError) -> Self {
        match error {
            TypesError::ClientIdEmpty
            | TypesError::ClientIdTooLong
            | TypesError::ClientIdBadChar
            | TypesError::SubjectEmpty
            | TypesError::SubjectTooLong
            | TypesError::SubjectBadChar => ErrorCode::InvalidRequest,
            TypesError::ScopeEmptyToken | TypesError::ScopeBadChar | TypesError::ScopeTooLong => {
                ErrorCode::InvalidScope
            }
            // Configuration, never a client's request.
            TypesError::ScopeImpliesItself(_)
            | TypesError::ScopeHierarchyCycle(_)
            | TypesError::ScopeHierarchyTooLarge => ErrorCode::ServerError,
        }
    }
}
