//! What a deployment accepts: every knob explicit, with one strict default.

use latchkey_types::Scope;

use crate::metadata::{GrantType, ResponseType, TokenEndpointAuthMethod};

/// What a registration (or a client ID metadata document) may ask for.
///
/// Every field is public so a deployment can start from
/// [`strict_default`](Self::strict_default) and loosen one thing at a time;
/// the struct is `#[non_exhaustive]` so new knobs can be added without
/// breaking that pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RegistrationPolicy {
    /// Grant types a client may register.
    pub grant_types: Vec<GrantType>,
    /// Response types a client may register.
    pub response_types: Vec<ResponseType>,
    /// Token endpoint authentication methods a client may register. Confidential
    /// clients are allowed exactly when a method other than `none` is listed.
    pub auth_methods: Vec<TokenEndpointAuthMethod>,
    /// The scopes a client may register; a `scope` asking for anything else is
    /// refused with `invalid_client_metadata`, never clamped (RFC 7591 section 2
    /// allows either; refusing keeps the registration what the client asked
    /// for). Set it to the resource's `scopes_supported`.
    pub allowed_scopes: Scope,
    /// Whether loopback `http` redirect URIs (RFC 8252 section 7.3) are accepted.
    pub allow_loopback_redirects: bool,
    /// Whether private-use scheme redirect URIs (RFC 8252 section 7.1) are accepted.
    /// MCP A12 says redirect URIs are `localhost` or `https`, so this is off by default.
    pub allow_private_use_scheme_redirects: bool,
    /// Size limits.
    pub limits: Limits,
}

impl RegistrationPolicy {
    /// The strict default for an MCP authorization server:
    ///
    /// - grant types `authorization_code` and `refresh_token` (no
    ///   `client_credentials`: it is an MCP extension a deployment opts into);
    /// - response type `code`;
    /// - authentication `none`, `client_secret_basic`, `client_secret_post`
    ///   (no `private_key_jwt` until the deployment verifies client assertions);
    /// - no registrable scopes (set [`allowed_scopes`](Self::allowed_scopes));
    /// - loopback redirects allowed (MCP clients use them), private-use schemes
    ///   refused (A12);
    /// - [`Limits::strict_default`].
    pub fn strict_default() -> Self {
        Self {
            grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            response_types: vec![ResponseType::Code],
            auth_methods: vec![
                TokenEndpointAuthMethod::None,
                TokenEndpointAuthMethod::ClientSecretBasic,
                TokenEndpointAuthMethod::ClientSecretPost,
            ],
            allowed_scopes: Scope::empty(),
            allow_loopback_redirects: true,
            allow_private_use_scheme_redirects: false,
            limits: Limits::strict_default(),
        }
    }

    /// Whether the policy admits confidential clients (any method but `none`).
    pub fn allows_confidential_clients(&self) -> bool {
        self.auth_methods
            .iter()
            .any(|method| *method != TokenEndpointAuthMethod::None)
    }
}

/// Size limits that bound the parser's work and the stored record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest request body or document, in bytes, checked before parsing.
    pub max_body_bytes: usize,
    /// Most redirect URIs one client may register.
    pub max_redirect_uris: usize,
    /// Longest redirect URI or metadata URL (`client_uri`, `logo_uri`, ...), in bytes.
    pub max_uri_len: usize,
    /// Longest `client_name`, in bytes.
    pub max_client_name_len: usize,
    /// Longest `software_id` or `software_version`, in bytes.
    pub max_string_len: usize,
    /// Most `contacts`.
    pub max_contacts: usize,
    /// Longest single contact, in bytes.
    pub max_contact_len: usize,
}

impl Limits {
    /// No limits: for records that already passed a policy (see `ClientMetadata`'s `Deserialize`).
    pub(crate) const UNBOUNDED: Self = Self {
        max_body_bytes: usize::MAX,
        max_redirect_uris: usize::MAX,
        max_uri_len: usize::MAX,
        max_client_name_len: usize::MAX,
        max_string_len: usize::MAX,
        max_contacts: usize::MAX,
        max_contact_len: usize::MAX,
    };

    /// 16 KiB bodies, 10 redirect URIs, 2048-byte URIs, 200-byte names and
    /// strings, 5 contacts of at most 256 bytes.
    pub const fn strict_default() -> Self {
        Self {
            max_body_bytes: 16 * 1024,
            max_redirect_uris: 10,
            max_uri_len: 2048,
            max_client_name_len: 200,
            max_string_len: 200,
            max_contacts: 5,
            max_contact_len: 256,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_default_is_what_its_docs_say() {
        let policy = RegistrationPolicy::strict_default();
        assert_eq!(
            policy.grant_types,
            [GrantType::AuthorizationCode, GrantType::RefreshToken]
        );
        assert_eq!(policy.response_types, [ResponseType::Code]);
        assert_eq!(
            policy.auth_methods,
            [
                TokenEndpointAuthMethod::None,
                TokenEndpointAuthMethod::ClientSecretBasic,
                TokenEndpointAuthMethod::ClientSecretPost,
            ]
        );
        assert!(policy.allowed_scopes.is_empty());
        assert!(policy.allow_loopback_redirects);
        assert!(!policy.allow_private_use_scheme_redirects);
        let limits = policy.limits;
        assert_eq!(limits.max_body_bytes, 16 * 1024);
        assert_eq!(limits.max_redirect_uris, 10);
        assert_eq!(limits.max_uri_len, 2048);
        assert_eq!(limits.max_client_name_len, 200);
        assert_eq!(limits.max_string_len, 200);
        assert_eq!(limits.max_contacts, 5);
        assert_eq!(limits.max_contact_len, 256);
    }
}
