use core::fmt;

/// The closed set of registered OAuth error codes Latchkey sends or receives.
///
/// Sources: RFC 6749 section 4.1.2.1 (authorization errors) and 5.2 (token
/// errors), RFC 6750 section 3.1 (resource errors), RFC 7009 section 2.2.1,
/// RFC 7591 section 3.2.2 (registration errors), RFC 8707 section 2
/// (`invalid_target`), RFC 9449 sections 7.1 and 8 (DPoP) and OpenID Connect
/// Core 1.0 section 3.1.2.6 (`prompt=none` errors). Each crate maps its
/// own error enum onto this one in a single exhaustive `match`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// The request is missing a parameter, repeats one, or is otherwise malformed.
    InvalidRequest,
    /// Client authentication failed (RFC 6749 section 5.2).
    InvalidClient,
    /// The grant or refresh token is invalid, expired, revoked or misbound.
    InvalidGrant,
    /// The client may not use this grant or response type.
    UnauthorizedClient,
    /// The grant type is not supported.
    UnsupportedGrantType,
    /// The requested scope is invalid, unknown or exceeds what was granted.
    InvalidScope,
    /// The resource owner or the server denied the request.
    AccessDenied,
    /// The response type is not supported.
    UnsupportedResponseType,
    /// An unexpected condition; details go to the log, never to the client.
    ServerError,
    /// The server is temporarily unable to handle the request.
    TemporarilyUnavailable,
    /// The access token is expired, revoked, malformed or for someone else (RFC 6750 section 3.1).
    InvalidToken,
    /// The access token lacks a scope the request needs (RFC 6750 section 3.1).
    InsufficientScope,
    /// The token type is not supported for revocation (RFC 7009 section 2.2.1).
    UnsupportedTokenType,
    /// A redirect URI in a registration request is invalid (RFC 7591 section 3.2.2).
    InvalidRedirectUri,
    /// A field of client metadata is invalid (RFC 7591 section 3.2.2).
    InvalidClientMetadata,
    /// The software statement is invalid (RFC 7591 section 3.2.2).
    InvalidSoftwareStatement,
    /// The software statement is not approved (RFC 7591 section 3.2.2).
    UnapprovedSoftwareStatement,
    /// The `resource` is invalid, unknown or not granted (RFC 8707 section 2).
    InvalidTarget,
    /// The DPoP proof is invalid (RFC 9449 section 7.1).
    InvalidDpopProof,
    /// The server requires a DPoP nonce in the proof (RFC 9449 section 8).
    UseDpopNonce,
    /// `prompt=none`, but the end-user must sign in first (OpenID Connect
    /// Core 1.0 section 3.1.2.6).
    LoginRequired,
    /// `prompt=none`, but the end-user must consent first (OpenID Connect
    /// Core 1.0 section 3.1.2.6).
    ConsentRequired,
    /// `prompt=none`, but the request needs some other interaction with the
    /// end-user (OpenID Connect Core 1.0 section 3.1.2.6).
    InteractionRequired,
}

impl ErrorCode {
    /// Every code, in declaration order.
    pub const ALL: [Self; 23] = [
        Self::InvalidRequest,
        Self::InvalidClient,
        Self::InvalidGrant,
        Self::UnauthorizedClient,
        Self::UnsupportedGrantType,
        Self::InvalidScope,
        Self::AccessDenied,
        Self::UnsupportedResponseType,
        Self::ServerError,
        Self::TemporarilyUnavailable,
        Self::InvalidToken,
        Self::InsufficientScope,
        Self::UnsupportedTokenType,
        Self::InvalidRedirectUri,
        Self::InvalidClientMetadata,
        Self::InvalidSoftwareStatement,
        Self::UnapprovedSoftwareStatement,
        Self::InvalidTarget,
        Self::InvalidDpopProof,
        Self::UseDpopNonce,
        Self::LoginRequired,
        Self::ConsentRequired,
        Self::InteractionRequired,
    ];

    /// The code as it appears on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::AccessDenied => "access_denied",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
            Self::UnsupportedTokenType => "unsupported_token_type",
            Self::InvalidRedirectUri => "invalid_redirect_uri",
            Self::InvalidClientMetadata => "invalid_client_metadata",
            Self::InvalidSoftwareStatement => "invalid_software_statement",
            Self::UnapprovedSoftwareStatement => "unapproved_software_statement",
            Self::InvalidTarget => "invalid_target",
            Self::InvalidDpopProof => "invalid_dpop_proof",
            Self::UseDpopNonce => "use_dpop_nonce",
            Self::LoginRequired => "login_required",
            Self::ConsentRequired => "consent_required",
            Self::InteractionRequired => "interaction_required",
        }
    }

    /// The code whose wire form is `s`, if it is one Latchkey knows.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|code| code.as_str() == s)
    }

    /// The HTTP status a JSON error response with this code carries.
    ///
    /// RFC 6749 section 5.2: 400, except `invalid_client` which is 401 when the
    /// client authenticated through the `Authorization` header (adapters use 401
    /// throughout, which RFC 6749 allows). RFC 6750 section 3.1: `invalid_token`
    /// 401, `insufficient_scope` 403. RFC 9449 section 7.1 answers a resource's
    /// `invalid_dpop_proof` and `use_dpop_nonce` with 401; at the token endpoint
    /// (section 5 and 8) they are 400, which adapters choose by endpoint.
    /// OpenID Connect Core 1.0 section 3.1.2.6's `login_required`,
    /// `consent_required` and `interaction_required` travel in a redirect;
    /// shown on a page they are 400.
    pub const fn http_status(self) -> u16 {
        match self {
            Self::InvalidClient | Self::InvalidToken => 401,
            Self::InsufficientScope | Self::AccessDenied => 403,
            Self::ServerError => 500,
            Self::TemporarilyUnavailable => 503,
            Self::InvalidRequest
            | Self::InvalidGrant
            | Self::UnauthorizedClient
            | Self::UnsupportedGrantType
            | Self::InvalidScope
            | Self::UnsupportedResponseType
            | Self::UnsupportedTokenType
            | Self::InvalidRedirectUri
            | Self::InvalidClientMetadata
            | Self::InvalidSoftwareStatement
            | Self::UnapprovedSoftwareStatement
            | Self::InvalidTarget
            | Self::InvalidDpopProof
            | Self::UseDpopNonce
            | Self::LoginRequired
            | Self::ConsentRequired
            | Self::InteractionRequired => 400,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_through_its_wire_form() {
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(code.as_str()), Some(code));
        }
        assert_eq!(ErrorCode::parse("invalid_Request"), None);
        assert_eq!(ErrorCode::parse(""), None);
    }

    #[test]
    fn wire_forms_are_distinct_and_match_the_registry_grammar() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            assert!(seen.insert(code.as_str()), "duplicate {code}");
            // RFC 6749 section 5.2: error = 1*NQSCHAR; registered codes are lowercase words.
            assert!(
                code.as_str()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_')
            );
        }
    }

    #[test]
    fn statuses_follow_rfc_6749_and_rfc_6750() {
        assert_eq!(ErrorCode::InvalidGrant.http_status(), 400);
        assert_eq!(ErrorCode::InvalidClient.http_status(), 401);
        assert_eq!(ErrorCode::InvalidToken.http_status(), 401);
        assert_eq!(ErrorCode::InsufficientScope.http_status(), 403);
        assert_eq!(ErrorCode::InvalidTarget.http_status(), 400);
        assert_eq!(ErrorCode::ServerError.http_status(), 500);
    }

    #[test]
    fn openid_connect_core_section_3_1_2_6_prompt_none_errors() {
        for (code, wire) in [
            (ErrorCode::LoginRequired, "login_required"),
            (ErrorCode::ConsentRequired, "consent_required"),
            (ErrorCode::InteractionRequired, "interaction_required"),
        ] {
            assert_eq!(code.as_str(), wire);
            assert_eq!(ErrorCode::parse(wire), Some(code));
            assert_eq!(code.http_status(), 400);
        }
    }

    #[test]
    fn serializes_as_its_wire_form() {
        let json = serde_json::to_string(&ErrorCode::InvalidDpopProof).unwrap();
        assert_eq!(json, "\"invalid_dpop_proof\"");
    }
}
