#![doc = include_str!("../README.md")]

mod redirect;
mod resource;

#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;

use core::fmt;

use latchkey_types::ErrorCode;

pub use redirect::{RedirectUri, RedirectUriKind};
pub use resource::{AudienceMatch, ResourceUri, normalize_percent_encoding};

/// The longest URI either type accepts, in bytes (input and canonical form).
///
/// Parsers bound their own work; 2048 bytes is far above any real resource or
/// redirect URI and below common HTTP request-line limits.
pub const MAX_URI_LEN: usize = 2048;

/// Which kind of URI an error is about, so that it maps to the right wire code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UriRole {
    /// A `resource` parameter or audience ([`ResourceUri`]); errors are `invalid_target`.
    Resource,
    /// A redirect URI ([`RedirectUri`]); errors are `invalid_redirect_uri`.
    Redirect,
}

impl UriRole {
    /// The role in words, as used in error messages.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Resource => "resource uri",
            Self::Redirect => "redirect uri",
        }
    }

    /// The wire code for a problem with a URI in this role.
    const fn error_code(self) -> ErrorCode {
        match self {
            Self::Resource => ErrorCode::InvalidTarget,
            Self::Redirect => ErrorCode::InvalidRedirectUri,
        }
    }
}

impl fmt::Display for UriRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a resource or redirect URI was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UriError {
    /// The URI was empty.
    #[error("{0} is empty")]
    Empty(UriRole),
    /// The URI was longer than [`MAX_URI_LEN`] bytes.
    #[error("{0} is too long")]
    TooLong(UriRole),
    /// The URI held a space, a control character or a backslash (or, for a redirect URI, a non-ASCII character).
    #[error("{0} contains a character not allowed in a uri")]
    InvalidCharacter(UriRole),
    /// The URI had no scheme: it was relative (RFC 3986 section 4.3).
    #[error("{0} is not an absolute uri")]
    NotAbsolute(UriRole),
    /// An `http`/`https` URI had no `//` authority or an empty host.
    #[error("{0} has no host")]
    MissingHost(UriRole),
    /// The host was not a valid domain name, IPv4 or IPv6 literal (or a redirect host not in canonical form).
    #[error("{0} has an invalid host")]
    InvalidHost(UriRole),
    /// The port was not a number from 0 to 65535.
    #[error("{0} has an invalid port")]
    InvalidPort(UriRole),
    /// The URI could not be parsed for another reason.
    #[error("{0} is malformed")]
    Malformed(UriRole),
    /// The URI had a fragment (RFC 8707 section 2, OAuth 2.1 section 2.3).
    #[error("{0} has a fragment")]
    FragmentNotAllowed(UriRole),
    /// The URI had a userinfo component (`user@`), which only serves to mislead.
    #[error("{0} has userinfo")]
    UserinfoNotAllowed(UriRole),
    /// A resource URI had a query component (RFC 8707 section 2 SHOULD NOT; Latchkey refuses).
    #[error("resource uri has a query")]
    QueryNotAllowed,
    /// A resource URI used a scheme other than `https` or `http`.
    #[error("resource uri scheme is not https or http")]
    UnsupportedScheme,
    /// A resource URI path held a `%` not followed by two hex digits (RFC 3986 section 2.1).
    #[error("resource uri has an invalid percent-encoding")]
    InvalidPercentEncoding,
    /// A redirect URI used `http` with a host other than `127.0.0.1`, `[::1]` or `localhost` (RFC 8252 section 8.3, MCP A12).
    #[error("redirect uri uses http for a host that is not loopback")]
    HttpNotLoopback,
    /// A redirect URI used a scheme that can run code or is not a redirect target (`javascript`, `data`, `file`, ...).
    #[error("redirect uri scheme is forbidden")]
    ForbiddenScheme,
    /// A private-use redirect scheme was not a reverse domain name with a `.` (RFC 8252 section 7.1, OAuth 2.1 section 2.3.1).
    #[error("redirect uri private-use scheme is not a reverse domain name")]
    SchemeNotReverseDomain,
}

impl UriError {
    /// Which kind of URI the error is about.
    pub const fn role(&self) -> UriRole {
        match self {
            Self::Empty(role)
            | Self::TooLong(role)
            | Self::InvalidCharacter(role)
            | Self::NotAbsolute(role)
            | Self::MissingHost(role)
            | Self::InvalidHost(role)
            | Self::InvalidPort(role)
            | Self::Malformed(role)
            | Self::FragmentNotAllowed(role)
            | Self::UserinfoNotAllowed(role) => *role,
            Self::QueryNotAllowed | Self::UnsupportedScheme | Self::InvalidPercentEncoding => {
                UriRole::Resource
            }
            Self::HttpNotLoopback | Self::ForbiddenScheme | Self::SchemeNotReverseDomain => {
                UriRole::Redirect
            }
        }
    }
}

/// Resource errors are `invalid_target` (RFC 8707 section 2), redirect errors
/// `invalid_redirect_uri` (RFC 7591 section 3.2.2).
///
/// At `/authorize` an invalid redirect URI must not be redirected to (OAuth 2.1
/// section 4.1.2.1): the caller shows an error page instead, whatever the code.
impl From<&UriError> for ErrorCode {
    fn from(error: &UriError) -> Self {
        error.role().error_code()
    }
}

/// Splits `s` after `scheme://` into (authority, rest), where the authority
/// runs to the first `/`, `?` or `#`. `None` when there is no `://`.
fn split_authority(s: &str) -> Option<(usize, &str)> {
    let (scheme, after) = s.split_once("://")?;
    if scheme.is_empty() || !scheme.bytes().all(is_scheme_char) {
        return None;
    }
    let start = scheme.len().checked_add(3)?;
    let end = after.find(['/', '?', '#']).unwrap_or(after.len());
    Some((start, after.get(..end)?))
}

/// `scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )` (RFC 3986 section 3.1), minus the first-letter rule.
fn is_scheme_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')
}

/// Bytes `url` would silently strip or drop: C0 controls, space, DEL, and `\`
/// (which `url` reads as `/` in `http(s)` URIs). Refusing them keeps what we
/// parse identical to what the caller sent.
fn has_confusing_byte(s: &str) -> bool {
    s.bytes().any(|b| b <= b' ' || b == 0x7f || b == b'\\')
}

/// Maps a `url` parse error to ours.
fn from_url_error(error: url::ParseError, role: UriRole) -> UriError {
    match error {
        url::ParseError::RelativeUrlWithoutBase
        | url::ParseError::RelativeUrlWithCannotBeABaseBase => UriError::NotAbsolute(role),
        url::ParseError::EmptyHost => UriError::MissingHost(role),
        url::ParseError::InvalidPort => UriError::InvalidPort(role),
        url::ParseError::IdnaError
        | url::ParseError::InvalidIpv4Address
        | url::ParseError::InvalidIpv6Address
        | url::ParseError::InvalidDomainCharacter => UriError::InvalidHost(role),
        _ => UriError::Malformed(role),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_errors_are_invalid_target_and_redirect_errors_invalid_redirect_uri() {
        let resource = ResourceUri::parse("https://x.example#f").unwrap_err();
        assert_eq!(resource, UriError::FragmentNotAllowed(UriRole::Resource));
        assert_eq!(ErrorCode::from(&resource), ErrorCode::InvalidTarget);
        let redirect = RedirectUri::parse("https://x.example/cb#f").unwrap_err();
        assert_eq!(redirect, UriError::FragmentNotAllowed(UriRole::Redirect));
        assert_eq!(ErrorCode::from(&redirect), ErrorCode::InvalidRedirectUri);
        assert_eq!(
            ErrorCode::from(&UriError::QueryNotAllowed),
            ErrorCode::InvalidTarget
        );
        assert_eq!(
            ErrorCode::from(&UriError::HttpNotLoopback),
            ErrorCode::InvalidRedirectUri
        );
    }

    #[test]
    fn display_is_lowercase_without_period() {
        let errors = [
            UriError::Empty(UriRole::Resource),
            UriError::TooLong(UriRole::Redirect),
            UriError::InvalidCharacter(UriRole::Redirect),
            UriError::NotAbsolute(UriRole::Resource),
            UriError::MissingHost(UriRole::Resource),
            UriError::InvalidHost(UriRole::Resource),
            UriError::InvalidPort(UriRole::Resource),
            UriError::Malformed(UriRole::Resource),
            UriError::FragmentNotAllowed(UriRole::Resource),
            UriError::UserinfoNotAllowed(UriRole::Redirect),
            UriError::QueryNotAllowed,
            UriError::UnsupportedScheme,
            UriError::InvalidPercentEncoding,
            UriError::HttpNotLoopback,
            UriError::ForbiddenScheme,
            UriError::SchemeNotReverseDomain,
        ];
        for error in errors {
            let text = error.to_string();
            assert_eq!(text, text.to_lowercase());
            assert!(!text.ends_with('.'));
        }
        assert_eq!(
            UriError::FragmentNotAllowed(UriRole::Redirect).to_string(),
            "redirect uri has a fragment"
        );
    }
}
