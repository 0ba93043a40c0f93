//! Values every Latchkey crate shares.
//!
//! This crate holds the small vocabulary the protocol crates speak in, so that
//! two crates never disagree about what a client id, a scope or an error code is:
//!
//! - [`UnixTime`]: an instant in whole seconds since the Unix epoch. Core crates
//!   never read the clock; callers pass `now: UnixTime` (STYLE.md section 6).
//! - [`ErrorCode`]: the closed set of registered OAuth error codes
//!   (RFC 6749 section 4.1.2.1 and 5.2, RFC 6750 section 3.1, RFC 7009 section 2.2.1,
//!   RFC 7591 section 3.2.2, RFC 8707 section 2, RFC 9449 sections 7.1 and 8),
//!   with the HTTP status each one travels with.
//! - [`ClientId`] (RFC 6749 section 2.2 and appendix A.1), [`Subject`] and
//!   [`Scope`] / [`ScopeToken`] (RFC 6749 section 3.3 and appendix A.4), and
//!   [`ScopeHierarchy`]: broader scopes implying narrower ones (MCP 2026-07-28
//!   "Step-Up Authorization Flow": "Servers **MUST** account for scope
//!   hierarchies, where a broader scope implies narrower ones").
//! - [`SecretString`] and [`TokenDigest`]: secrets that zeroize on drop, never
//!   print, and are compared and stored only as SHA-256 digests
//!   ([`secret_type!`] declares a named secret type on top of them).
//! - [`json::parse_object`] and [`json::StrictValue`]: JSON objects that name no
//!   member twice at any depth (RFC 8259 section 4), read from bounded bytes;
//!   the one reader of the metadata and registration documents
//!   (`latchkey-metadata`, `latchkey-registration`).
//!
//! It does no I/O, reads no clock and no OS randomness: generation takes the
//! caller's [`rand_core::CryptoRng`].
//!
//! ```
//! use latchkey_types::{ErrorCode, Scope, UnixTime};
//! use std::time::Duration;
//!
//! let granted = Scope::parse("mcp:read mcp:write")?;
//! let asked = Scope::parse("mcp:read")?;
//! assert!(asked.is_subset(&granted));
//! assert_eq!(granted.to_string(), "mcp:read mcp:write");
//!
//! let now = UnixTime::from_secs(1_700_000_000);
//! assert_eq!(now.checked_add(Duration::from_secs(600)), Some(UnixTime::from_secs(1_700_000_600)));
//! assert_eq!(ErrorCode::InvalidGrant.as_str(), "invalid_grant");
//! assert_eq!(ErrorCode::InvalidToken.http_status(), 401);
//! # Ok::<(), latchkey_types::TypesError>(())
//! ```

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
