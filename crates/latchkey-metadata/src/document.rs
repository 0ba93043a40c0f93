//! The two metadata documents: RFC 8414 section 2 (authorization server, with
//! the OpenID Connect Discovery fields MCP 2025-11-25 reads) and RFC 9728
//! section 2 (protected resource).

use latchkey_types::json::{self, JsonError};
use serde::de::Deserializer;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::MetadataError;

/// The largest metadata document [`AuthorizationServerMetadata::parse`] and
/// [`ProtectedResourceMetadata::parse`] read, in bytes; bounds the parser's work.
pub const MAX_DOCUMENT_LEN: usize = 64 * 1024;

/// The PKCE method MCP clients insist on (MCP 2025-11-25, "Authorization Code
/// Protection"; RFC 7636 section 4.2).
const S256: &str = "S256";

/// Authorization server metadata (RFC 8414 section 2), as served at
/// `/.well-known/oauth-authorization-server` or, for OpenID Connect Discovery
/// 1.0, at `/.well-known/openid-configuration`.
///
/// Every member RFC 8414 section 2 marks OPTIONAL (or "REQUIRED unless") is an
/// `Option`; `issuer` and `response_types_supported` are REQUIRED. Members this
/// type does not know are kept in [`extra`](Self::extra) and written back out
/// unchanged, so a document survives a parse and re-emit. URLs keep the exact
/// string they arrived as: RFC 8414 section 3.3 compares `issuer` as a string.
///
/// An empty array is treated as an absent member on input and never written on
/// output: "Claims with zero elements MUST be omitted from the response"
/// (RFC 8414 section 3.2).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuthorizationServerMetadata {
    /// REQUIRED. The issuer identifier: an `https` URL without query or fragment.
    pub issuer: String,
    /// URL of the authorization endpoint (RFC 6749); REQUIRED unless no grant uses it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_endpoint: Option<String>,
    /// URL of the token endpoint (RFC 6749); REQUIRED unless only the implicit grant is offered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint: Option<String>,
    /// URL of the server's JWK Set document; `https` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// URL of the Dynamic Client Registration endpoint (RFC 7591).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_endpoint: Option<String>,
    /// RECOMMENDED. The `scope` values the server supports.
    #[serde(
        default,
        skip_serializing_if = "none_or_empty",
        deserialize_with = "non_empty"
    )]
    pub scopes_supported: Option<Vec<String>>,
    /// REQUIRED. The `response_type` values the server supports.
    pub response_types_supported: Vec<String>,
    /// The `response_mode` values supported; absent means `["query", "fragment"]`.
    #[serde(
        default,
        skip_serializing_if = "none_or_empty",
        deserialize_with = "non_empty"
    )]
    pub response_modes_supported: Option<Vec<String>>,
    /// The grant types supported; absent means `["authorization_code", "implicit"]`.
    #[serde(
        default,
        skip_serializing_if = "none_or_empty",
        deserialize_with = "non_empty"
    )]
    pub grant_types_supported: Option<Vec<String>>,
    /// Client authentication methods at the token endpoint; absent means `client_secret_basic`.
    #[serde(
        default,
        skip_serializing_if = "none_or_empty",
        deserialize_with = "non_empty"
    )]
    pub token_endpoint_auth_methods_supported: Option<Vec<String>>,
    /// JWS algorithms for `private_key_jwt` / `client_secret_jwt` at the token endpoint; never `none`.
    #[serde(
        default,
        skip_serializing_if = "none_or_empty",
        deserialize_with = "non_empty"
    )]
    pub token_endpoint_auth_signing_alg_values_supported: Option<Vec<String>>,
    /// URL of human-readable documentation for developers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_documentation: Option<String>,
    /// BCP 47 language tags the user interface supports.
    #[serde(
        default,
        skip_serializing_if = "none_or_empty",
        deserialize_with = "non_empty"
    )]
    pub ui_locales_supported: Option<Vec<String>>,
    /// URL of the server's policy on how clients may use data it provides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op_policy_uri: Option<String>,
    /// URL of the server's terms of service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op_tos_uri: Option<String>,
    /// URL of the revocation endpoint (RFC 7009).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_endpoint: Option<String>,
    /// Client authentication methods at the revocation endpoint.
    #[serde(
        default,
        skip_serializing_if = "none_or_empty",
        deserialize_with = "non_empty"
    )]
    pub revocation_endpoint_auth_methods_supported: Option<Vec<String>>,
    /// JWS algorithms for JWT client authentication at the revocation endpoint; never `none`.
    #[serde(
        default,
        skip_serializing_if = "none_or_empty",
        deserialize_with = "non_empty"
    )]
    pub revocation_endpoint_auth_signing_alg_values_supported: Option<Vec<String>>,
    /// URL of the introspection endpoint (RFC 7662).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introspection_endpoint: Option<String>,
    /// Client authentication methods at the introspection endpoint.
    #[serde(
        default,
        skip_serializing_if = "none_or_empty",
        deserialize_with = "non_empty"
    )]
    pub introspection_endpoint_auth_methods_supported: Option<Vec<String>>,
    /// JWS algorithms for JWT client authentication at the introspection endpoint; never `none`.
    #[serde(
        default,
        skip_serializing_if = "none_or_empty",
        deserialize_with = "non_empty"
    )]
    pub introspection_endpoint_auth_signing_alg_values_supported: Option<Vec<String>>,
    /// PKCE methods supported (RFC 7636); absent means no PKCE, and MCP clients stop (A4).
    #[serde(
        default,
        skip_serializing_if = "none_or_empty",
        deserialize_with = "non_empty"
    )]
    pub code_challenge_methods_supported: Option<Vec<String>>,
    /// Whether authorization responses carry `iss` (RFC 9207 section 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_response_iss_parameter_supported: Option<bool>,
    /// JWS algorithms accepted in DPoP proofs (RFC 9449 section 5.1).
    #[serde(
        default,
        skip_serializing_if = "none_or_empty",
        deserialize_with = "non_empty"
    )]
    pub dpop_signing_alg_values_supported: Option<Vec<String>>,
    /// Whether URL-formatted `client_id`s are resolved as Client ID Metadata Documents (A6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id_metadata_document_supported: Option<bool>,
    /// Resource identifiers usable with this server (RFC 9728 section 4).
    #[serde(
        default,
        skip_serializing_if = "none_or_empty",
        deserialize_with = "non_empty"
    )]
    pub protected_resources: Option<Vec<String>>,
    /// OpenID Connect Discovery 1.0 section 3: subject identifier types supported.
    #[serde(
        default,
        skip_serializing_if = "none_or_empty",
        deserialize_with = "non_empty"
    )]
    pub subject_types_supported: Option<Vec<String>>,
    /// OpenID Connect Discovery 1.0 section 3: JWS algorithms for ID tokens.
    #[serde(
        default,
        skip_serializing_if = "none_or_empty",
        deserialize_with = "non_empty"
    )]
    pub id_token_signing_alg_values_supported: Option<Vec<String>>,
    /// Members this type does not know, kept for re-emission.
    #[serde(flatten)]
    extra: Map<String, Value>,
}

/// Protected resource metadata (RFC 9728 section 2), as served at
/// `/.well-known/oauth-protected-resource`.
///
/// `resource` is REQUIRED; every other member is optional. Unknown members,
/// including language-tagged ones such as `resource_name#en` (section 2.1), are
/// kept in [`extra`](Self::extra). Empty arrays are treated as absent, except
/// `bearer_methods_supported`, where `[]` means "no bearer method" (section 2).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ProtectedResourceMetadata {
    /// REQUIRED. The resource identifier: an `https` URL without fragment (section 1.2).
    pub resource: String,
    /// Issuer identifiers of authorization servers usable with this resource (MCP R2).
    #[serde(
        default,
        skip_serializing_if = "none_or_empty",
        deserialize_with = "non_empty"
    )]
    pub authorization_servers: Option<Vec<String>>,
    /// URL of the resource's JWK Set document; `https` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// RECOMMENDED. Scope values used to request access to this resource.
    #[serde(
        default,
        skip_serializing_if = "none_or_empty",
        deserialize_with = "non_empty"
    )]
    pub scopes_supported: Option<Vec<String>>,
    /// How bearer tokens may be sent (`header`, `body`, `query`); `[]` means none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_methods_supported: Option<Vec<String>>,
    /// JWS algorithms the resource signs responses with; never `none`.
    #[serde(
        default,
        skip_serializing_if = "none_or_empty",
        deserialize_with = "non_empty"
    )]
    pub resource_signing_alg_values_supported: Option<Vec<String>>,
    /// RECOMMENDED. Human-readable name of the resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_name: Option<String>,
    /// URL of human-readable documentation for developers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_documentation: Option<String>,
    /// URL of the resource's policy on how clients may use its data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_policy_uri: Option<String>,
    /// URL of the resource's terms of service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_tos_uri: Option<String>,
    /// Whether mutual-TLS certificate-bound tokens are supported (RFC 8705); absent means false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_client_certificate_bound_access_tokens: Option<bool>,
    /// `authorization_details` types supported (RFC 9396).
    #[serde(
        default,
        skip_serializing_if = "none_or_empty",
        deserialize_with = "non_empty"
    )]
    pub authorization_details_types_supported: Option<Vec<String>>,
    /// JWS algorithms accepted in DPoP proofs (RFC 9449).
    #[serde(
        default,
        skip_serializing_if = "none_or_empty",
        deserialize_with = "non_empty"
    )]
    pub dpop_signing_alg_values_supported: Option<Vec<String>>,
    /// Whether only DPoP-bound tokens are accepted (RFC 9449); absent means false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_bound_access_tokens_required: Option<bool>,
    /// Members this type does not know, kept for re-emission.
    #[serde(flatten)]
    extra: Map<String, Value>,
}

impl AuthorizationServerMetadata {
    /// Member names this type reads itself; [`set_extra`](Self::set_extra) refuses them.
    pub const KNOWN_MEMBERS: [&'static str; 28] = [
        "issuer",
        "authorization_endpoint",
        "token_endpoint",
        "jwks_uri",
        "registration_endpoint",
        "scopes_supported",
        "response_types_supported",
        "response_modes_supported",
        "grant_types_supported",
        "token_endpoint_auth_methods_supported",
        "token_endpoint_auth_signing_alg_values_supported",
        "service_documentation",
        "ui_locales_supported",
        "op_policy_uri",
        "op_tos_uri",
        "revocation_endpoint",
        "revocation_endpoint_auth_methods_supported",
        "revocation_endpoint_auth_signing_alg_values_supported",
        "introspection_endpoint",
        "introspection_endpoint_auth_methods_supported",
        "introspection_endpoint_auth_signing_alg_values_supported",
        "code_challenge_methods_supported",
        "authorization_response_iss_parameter_supported",
        "dpop_signing_alg_values_supported",
        "client_id_metadata_document_supported",
        "protected_resources",
        "subject_types_supported",
        "id_token_signing_alg_values_supported",
    ];

    /// A document with the two REQUIRED members and nothing else.
    pub fn new(issuer: impl Into<String>, response_types_supported: Vec<String>) -> Self {
        Self {
            issuer: issuer.into(),
            authorization_endpoint: None,
            token_endpoint: None,
            jwks_uri: None,
            registration_endpoint: None,
            scopes_supported: None,
            response_types_supported,
            response_modes_supported: None,
            grant_types_supported: None,
            token_endpoint_auth_methods_supported: None,
            token_endpoint_auth_signing_alg_values_supported: None,
            service_documentation: None,
            ui_locales_supported: None,
            op_policy_uri: None,
            op_tos_uri: None,
            revocation_endpoint: None,
            revocation_endpoint_auth_methods_supported: None,
            revocation_endpoint_auth_signing_alg_values_supported: None,
            introspection_endpoint: None,
            introspection_endpoint_auth_methods_supported: None,
            introspection_endpoint_auth_signing_alg_values_supported: None,
            code_challenge_methods_supported: None,
            authorization_response_iss_parameter_supported: None,
            dpop_signing_alg_values_supported: None,
            client_id_metadata_document_supported: None,
            protected_resources: None,
            subject_types_supported: None,
            id_token_signing_alg_values_supported: None,
            extra: Map::new(),
        }
    }

    /// Parses a metadata document of at most [`MAX_DOCUMENT_LEN`] bytes.
    ///
    /// Refuses what is not one JSON object, repeated member names (at any
    /// depth), a missing or empty REQUIRED member (RFC 8414 section 2), members
    /// of the wrong JSON type, and these RFC 8414 section 2 violations:
    /// `none` in a `*_signing_alg_values_supported` list ("The value `none`
    /// MUST NOT be used"); `private_key_jwt` or `client_secret_jwt` in an
    /// `*_auth_methods_supported` list without the matching signing-algorithm
    /// list ("This metadata entry MUST be present"); a `jwks_uri` that is not
    /// `https` ("This URL MUST use the https scheme"). Other URL members are
    /// kept as sent: the caller compares `issuer` with
    /// [`validate_issuer`](Self::validate_issuer).
    ///
    /// The `Deserialize` impl alone skips these checks; use `parse` for
    /// documents from the network.
    pub fn parse(bytes: &[u8]) -> Result<Self, MetadataError> {
        Self::parse_with(bytes, Rules::Rfc8414)
    }

    /// Parses the document found at `/.well-known/openid-configuration`,
    /// which may be an OpenID Provider configuration (OpenID Connect
    /// Discovery 1.0 sections 3 and 4) or authorization server metadata under
    /// that suffix (RFC 8414 section 5: the identifier refers to "general
    /// OAuth 2.0 features that are not specific to OpenID Connect").
    ///
    /// The rules both specifications share apply, as in
    /// [`parse`](Self::parse): one strict JSON object, `issuer` and a
    /// non-empty `response_types_supported`, member types, no `none` in a
    /// `*_signing_alg_values_supported` list of client authentication, an
    /// `https` `jwks_uri`. RFC 8414 section 2's rule that a server listing
    /// `private_key_jwt` or `client_secret_jwt` MUST list the signing
    /// algorithms too is not applied: OpenID Connect Discovery 1.0 section 3
    /// makes `token_endpoint_auth_signing_alg_values_supported` OPTIONAL, and
    /// OpenID Providers publish documents without it. Rules about ID tokens
    /// (such as "RS256 MUST be included") are not checked either: Latchkey
    /// reads this document for the issuer and its keys, never for ID tokens.
    pub fn parse_openid_configuration(bytes: &[u8]) -> Result<Self, MetadataError> {
        Self::parse_with(bytes, Rules::OpenIdConfiguration)
    }

    fn parse_with(bytes: &[u8], rules: Rules) -> Result<Self, MetadataError> {
        let object = parse_object(bytes, &["issuer", "response_types_supported"])?;
        let doc: Self =
            serde_json::from_value(Value::Object(object)).map_err(|_| MetadataError::MemberType)?;
        if doc.response_types_supported.is_empty() {
            return Err(MetadataError::MissingMember("response_types_supported"));
        }
        for algs in [
            &doc.token_endpoint_auth_signing_alg_values_supported,
            &doc.revocation_endpoint_auth_signing_alg_values_supported,
            &doc.introspection_endpoint_auth_signing_alg_values_supported,
        ] {
            refuse_alg_none(algs.as_deref())?;
        }
        for (methods, algs) in [
            (
                &doc.token_endpoint_auth_methods_supported,
                &doc.token_endpoint_auth_signing_alg_values_supported,
            ),
            (
                &doc.revocation_endpoint_auth_methods_supported,
                &doc.revocation_endpoint_auth_signing_alg_values_supported,
            ),
            (
                &doc.introspection_endpoint_auth_methods_supported,
                &doc.introspection_endpoint_auth_signing_alg_values_supported,
            ),
        ] {
            let uses_jwt = methods
                .iter()
                .flatten()
                .any(|m| m == "private_key_jwt" || m == "client_secret_jwt");
            if uses_jwt && algs.is_none() && rules == Rules::Rfc8414 {
                return Err(MetadataError::SigningAlgsMissing);
            }
        }
        refuse_non_https(doc.jwks_uri.as_deref())?;
        Ok(doc)
    }

    /// The document as compact JSON, unknown members included.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self)
            .expect("string keys and JSON values always serialize to a string")
    }

    /// RFC 8414 section 3.3: the `issuer` in the document MUST be identical to
    /// the issuer identifier the well-known URL was built from, or the document
    /// MUST NOT be used. Exact string comparison, no normalization (MCP
    /// 2026-07-28 "Authorization Server Metadata Discovery").
    pub fn validate_issuer(&self, expected: &str) -> Result<(), MetadataError> {
        if self.issuer == expected {
            Ok(())
        } else {
            Err(MetadataError::IssuerMismatch)
        }
    }

    /// What an MCP client checks before using this server (MCP 2025-11-25
    /// "Authorization Code Protection", requirement A4): PKCE with `S256` is
    /// advertised in `code_challenge_methods_supported`. If the member is
    /// absent, "MCP clients MUST refuse to proceed".
    pub fn check_mcp_requirements(&self) -> Result<(), MetadataError> {
        let offers_s256 = self
            .code_challenge_methods_supported
            .as_deref()
            .is_some_and(|methods| methods.iter().any(|m| m == S256));
        if offers_s256 {
            Ok(())
        } else {
            Err(MetadataError::PkceS256NotAdvertised)
        }
    }

    /// Members this type does not know, as they arrived.
    pub fn extra(&self) -> &Map<String, Value> {
        &self.extra
    }

    /// Adds or replaces an extension member; refuses the names of
    /// [`KNOWN_MEMBERS`](Self::KNOWN_MEMBERS), which would otherwise be written twice.
    pub fn set_extra(&mut self, name: &str, value: Value) -> Result<(), MetadataError> {
        if Self::KNOWN_MEMBERS.contains(&name) {
            return Err(MetadataError::ExtraMemberIsKnown);
        }
        self.extra.insert(name.to_owned(), value);
        Ok(())
    }
}

impl ProtectedResourceMetadata {
    /// Member names this type reads itself; [`set_extra`](Self::set_extra) refuses them.
    pub const KNOWN_MEMBERS: [&'static str; 14] = [
        "resource",
        "authorization_servers",
        "jwks_uri",
        "scopes_supported",
        "bearer_methods_supported",
        "resource_signing_alg_values_supported",
        "resource_name",
        "resource_documentation",
        "resource_policy_uri",
        "resource_tos_uri",
        "tls_client_certificate_bound_access_tokens",
        "authorization_details_types_supported",
        "dpop_signing_alg_values_supported",
        "dpop_bound_access_tokens_required",
    ];

    /// A document with only the REQUIRED `resource` member.
    pub fn new(resource: impl Into<String>) -> Self {
        Self {
            resource: resource.into(),
            authorization_servers: None,
            jwks_uri: None,
            scopes_supported: None,
            bearer_methods_supported: None,
            resource_signing_alg_values_supported: None,
            resource_name: None,
            resource_documentation: None,
            resource_policy_uri: None,
            resource_tos_uri: None,
            tls_client_certificate_bound_access_tokens: None,
            authorization_details_types_supported: None,
            dpop_signing_alg_values_supported: None,
            dpop_bound_access_tokens_required: None,
            extra: Map::new(),
        }
    }

    /// Parses a metadata document of at most [`MAX_DOCUMENT_LEN`] bytes.
    ///
    /// Refuses what is not one JSON object, repeated member names, a missing
    /// `resource` (RFC 9728 section 2), members of the wrong JSON type, and
    /// `none` in `resource_signing_alg_values_supported` (section 2: "The
    /// value none MUST NOT be used"), and a `jwks_uri` that is not `https`
    /// ("This URL MUST use the https scheme"). Unknown members are kept
    /// (section 3.2: "any metadata parameters that are not understood MUST be
    /// ignored"). The `Deserialize` impl alone skips these checks.
    pub fn parse(bytes: &[u8]) -> Result<Self, MetadataError> {
        let object = parse_object(bytes, &["resource"])?;
        let doc: Self =
            serde_json::from_value(Value::Object(object)).map_err(|_| MetadataError::MemberType)?;
        refuse_alg_none(doc.resource_signing_alg_values_supported.as_deref())?;
        refuse_non_https(doc.jwks_uri.as_deref())?;
        Ok(doc)
    }

    /// The document as compact JSON, unknown members included.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self)
            .expect("string keys and JSON values always serialize to a string")
    }

    /// RFC 9728 section 3.3: the `resource` in the document MUST be identical
    /// to the resource identifier the well-known URL was built from (or, when
    /// the URL came from a `resource_metadata` challenge parameter, to the URL
    /// the client requested), or the document MUST NOT be used. Exact string
    /// comparison.
    pub fn validate_resource(&self, expected: &str) -> Result<(), MetadataError> {
        if self.resource == expected {
            Ok(())
        } else {
            Err(MetadataError::ResourceMismatch)
        }
    }

    /// What MCP asks of a protected resource metadata document (requirement
    /// R2): "MUST include the `authorization_servers` field containing at
    /// least one authorization server".
    pub fn check_mcp_requirements(&self) -> Result<(), MetadataError> {
        match self.authorization_servers.as_deref() {
            Some([_, ..]) => Ok(()),
            _ => Err(MetadataError::NoAuthorizationServers),
        }
    }

    /// Members this type does not know, as they arrived.
    pub fn extra(&self) -> &Map<String, Value> {
        &self.extra
    }

    /// Adds or replaces an extension member (for example `resource_name#en`,
    /// RFC 9728 section 2.1); refuses the names of
    /// [`KNOWN_MEMBERS`](Self::KNOWN_MEMBERS).
    pub fn set_extra(&mut self, name: &str, value: Value) -> Result<(), MetadataError> {
        if Self::KNOWN_MEMBERS.contains(&name) {
            return Err(MetadataError::ExtraMemberIsKnown);
        }
        self.extra.insert(name.to_owned(), value);
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Helpers.

/// Which specification's rules an authorization server document is read under.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Rules {
    /// RFC 8414 section 2, for `/.well-known/oauth-authorization-server`.
    Rfc8414,
    /// What RFC 8414 section 2 and OpenID Connect Discovery 1.0 section 3
    /// share, for `/.well-known/openid-configuration`.
    OpenIdConfiguration,
}

fn none_or_empty(list: &Option<Vec<String>>) -> bool {
    list.as_ref().is_none_or(Vec::is_empty)
}

/// Reads an optional array, treating `[]` as absent (RFC 8414 section 3.2,
/// RFC 9728 section 3.2: members with zero elements are omitted).
fn non_empty<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Vec<String>>, D::Error> {
    let list = Option::<Vec<String>>::deserialize(deserializer)?;
    Ok(list.filter(|l| !l.is_empty()))
}

fn refuse_alg_none(algs: Option<&[String]>) -> Result<(), MetadataError> {
    if algs.is_some_and(|algs| algs.iter().any(|a| a == "none")) {
        return Err(MetadataError::AlgNoneListed);
    }
    Ok(())
}

/// `jwks_uri` "MUST use the https scheme" (RFC 8414 section 2, RFC 9728 section 2).
fn refuse_non_https(url: Option<&str>) -> Result<(), MetadataError> {
    match url.map(url::Url::parse) {
        None => Ok(()),
        Some(Ok(url)) if url.scheme() == "https" => Ok(()),
        Some(_) => Err(MetadataError::JwksUriNotHttps),
    }
}

/// Reads `bytes` as one JSON object of at most [`MAX_DOCUMENT_LEN`] bytes with
/// no repeated member name at any depth (`latchkey_types::json`: RFC 8259
/// section 4 leaves duplicates to the parser, and two readers of one document
/// must see the same `issuer`, `resource` and `jwks_uri`), and checks that
/// each of `required` is present.
fn parse_object(
    bytes: &[u8],
    required: &[&'static str],
) -> Result<Map<String, Value>, MetadataError> {
    let object = json::parse_object(bytes, MAX_DOCUMENT_LEN).map_err(|error| match error {
        JsonError::TooLarge => MetadataError::DocumentTooLarge,
        JsonError::Malformed => MetadataError::InvalidJson,
        JsonError::NotAnObject => MetadataError::NotAnObject,
        JsonError::DuplicateMember => MetadataError::DuplicateMember,
    })?;
    if let Some(missing) = required.iter().find(|name| !object.contains_key(**name)) {
        return Err(MetadataError::MissingMember(missing));
    }
    Ok(object)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8414 section 3.2, the example response as published.
    const RFC8414_EXAMPLE: &str = r#"{
      "issuer":
        "https://server.example.com",
      "authorization_endpoint":
        "https://server.example.com/authorize",
      "token_endpoint":
        "https://server.example.com/token",
      "token_endpoint_auth_methods_supported":
        ["client_secret_basic", "private_key_jwt"],
      "token_endpoint_auth_signing_alg_values_supported":
        ["RS256", "ES256"],
      "userinfo_endpoint":
        "https://server.example.com/userinfo",
      "jwks_uri":
        "https://server.example.com/jwks.json",
      "registration_endpoint":
        "https://server.example.com/register",
      "scopes_supported":
        ["openid", "profile", "email", "address",
         "phone", "offline_access"],
      "response_types_supported":
        ["code", "code token"],
      "service_documentation":
        "http://server.example.com/service_documentation.html",
      "ui_locales_supported":
        ["en-US", "en-GB", "en-CA", "fr-FR", "fr-CA"]
     }"#;

    /// RFC 9728 section 3.2, the example response as published.
    const RFC9728_EXAMPLE: &str = r#"{
      "resource":
        "https://resource.example.com",
      "authorization_servers":
        ["https://as1.example.com",
         "https://as2.example.net"],
      "bearer_methods_supported":
        ["header", "body"],
      "scopes_supported":
        ["profile", "email", "phone"],
      "resource_documentation":
        "https://resource.example.com/resource_documentation.html"
     }"#;

    fn strings(items: &[&str]) -> Option<Vec<String>> {
        Some(items.iter().map(|s| (*s).to_owned()).collect())
    }

    #[test]
    fn rfc8414_section_3_2_example_response_parses() {
        let doc = AuthorizationServerMetadata::parse(RFC8414_EXAMPLE.as_bytes()).unwrap();
        assert_eq!(doc.issuer, "https://server.example.com");
        assert_eq!(
            doc.authorization_endpoint.as_deref(),
            Some("https://server.example.com/authorize")
        );
        assert_eq!(
            doc.token_endpoint.as_deref(),
            Some("https://server.example.com/token")
        );
        assert_eq!(doc.response_types_supported, ["code", "code token"]);
        assert_eq!(
            doc.token_endpoint_auth_methods_supported,
            strings(&["client_secret_basic", "private_key_jwt"])
        );
        assert_eq!(doc.ui_locales_supported.as_ref().map(Vec::len), Some(5));
        assert_eq!(
            doc.service_documentation.as_deref(),
            Some("http://server.example.com/service_documentation.html")
        );
        // userinfo_endpoint is OpenID Connect's; it is kept, not dropped.
        assert_eq!(
            doc.extra().get("userinfo_endpoint"),
            Some(&Value::from("https://server.example.com/userinfo"))
        );
        doc.validate_issuer("https://server.example.com").unwrap();
    }

    #[test]
    fn rfc8414_section_3_2_unknown_members_are_re_emitted() {
        let doc = AuthorizationServerMetadata::parse(RFC8414_EXAMPLE.as_bytes()).unwrap();
        let json: Value = serde_json::from_str(&doc.to_json()).unwrap();
        let original: Value = serde_json::from_str(RFC8414_EXAMPLE).unwrap();
        assert_eq!(json, original);
    }

    #[test]
    fn rfc9728_section_3_2_example_response_parses_and_round_trips() {
        let doc = ProtectedResourceMetadata::parse(RFC9728_EXAMPLE.as_bytes()).unwrap();
        assert_eq!(doc.resource, "https://resource.example.com");
        assert_eq!(
            doc.authorization_servers,
            strings(&["https://as1.example.com", "https://as2.example.net"])
        );
        assert_eq!(doc.bearer_methods_supported, strings(&["header", "body"]));
        assert_eq!(
            doc.scopes_supported,
            strings(&["profile", "email", "phone"])
        );
        let json: Value = serde_json::from_str(&doc.to_json()).unwrap();
        assert_eq!(
            json,
            serde_json::from_str::<Value>(RFC9728_EXAMPLE).unwrap()
        );
        doc.validate_resource("https://resource.example.com")
            .unwrap();
        doc.check_mcp_requirements().unwrap();
    }

    #[test]
    fn rfc8414_section_3_3_issuer_must_be_identical() {
        let doc = AuthorizationServerMetadata::parse(RFC8414_EXAMPLE.as_bytes()).unwrap();
        // MCP 2026-07-28: a document from attacker.example naming honest.example is refused.
        for other in [
            "https://server.example.com/",
            "https://SERVER.example.com",
            "https://attacker.example",
            "",
        ] {
            assert_eq!(
                doc.validate_issuer(other),
                Err(MetadataError::IssuerMismatch),
                "{other}"
            );
        }
    }

    #[test]
    fn rfc9728_section_3_3_resource_must_be_identical() {
        let doc = ProtectedResourceMetadata::parse(RFC9728_EXAMPLE.as_bytes()).unwrap();
        for other in [
            "https://resource.example.com/",
            "https://resource.example.com/mcp",
        ] {
            assert_eq!(
                doc.validate_resource(other),
                Err(MetadataError::ResourceMismatch),
                "{other}"
            );
        }
    }

    #[test]
    fn rfc8414_section_2_required_members() {
        assert_eq!(
            AuthorizationServerMetadata::parse(br#"{"response_types_supported":["code"]}"#),
            Err(MetadataError::MissingMember("issuer"))
        );
        assert_eq!(
            AuthorizationServerMetadata::parse(br#"{"issuer":"https://as.example"}"#),
            Err(MetadataError::MissingMember("response_types_supported"))
        );
        assert_eq!(
            AuthorizationServerMetadata::parse(
                br#"{"issuer":"https://as.example","response_types_supported":[]}"#
            ),
            Err(MetadataError::MissingMember("response_types_supported"))
        );
    }

    #[test]
    fn rfc9728_section_2_resource_is_required() {
        assert_eq!(
            ProtectedResourceMetadata::parse(
                br#"{"authorization_servers":["https://as.example"]}"#
            ),
            Err(MetadataError::MissingMember("resource"))
        );
    }

    #[test]
    fn members_of_the_wrong_type_are_refused() {
        assert_eq!(
            AuthorizationServerMetadata::parse(
                br#"{"issuer":7,"response_types_supported":["code"]}"#
            ),
            Err(MetadataError::MemberType)
        );
        assert_eq!(
            ProtectedResourceMetadata::parse(
                br#"{"resource":"https://rs.example","scopes_supported":"a b"}"#
            ),
            Err(MetadataError::MemberType)
        );
        assert_eq!(
            ProtectedResourceMetadata::parse(
                br#"{"resource":"https://rs.example","dpop_bound_access_tokens_required":"yes"}"#
            ),
            Err(MetadataError::MemberType)
        );
        assert_eq!(
            ProtectedResourceMetadata::parse(br#"{"resource":null}"#),
            Err(MetadataError::MemberType)
        );
    }

    #[test]
    fn documents_that_are_not_one_json_object_are_refused() {
        assert_eq!(
            ProtectedResourceMetadata::parse(b"[]"),
            Err(MetadataError::NotAnObject)
        );
        assert_eq!(
            ProtectedResourceMetadata::parse(b"\"x\""),
            Err(MetadataError::NotAnObject)
        );
        assert_eq!(
            ProtectedResourceMetadata::parse(b"{"),
            Err(MetadataError::InvalidJson)
        );
        assert_eq!(
            ProtectedResourceMetadata::parse(b""),
            Err(MetadataError::InvalidJson)
        );
        assert_eq!(
            ProtectedResourceMetadata::parse(br#"{"resource":"https://rs.example"} {}"#),
            Err(MetadataError::InvalidJson)
        );
        assert_eq!(
            ProtectedResourceMetadata::parse(b"{\"resource\":\"\xff\"}"),
            Err(MetadataError::InvalidJson)
        );
    }

    #[test]
    fn repeated_member_names_are_refused_at_any_depth() {
        assert_eq!(
            ProtectedResourceMetadata::parse(
                br#"{"resource":"https://a.example","resource":"https://b.example"}"#
            ),
            Err(MetadataError::DuplicateMember)
        );
        assert_eq!(
            ProtectedResourceMetadata::parse(
                br#"{"resource":"https://a.example","x":[{"k":1,"k":2}]}"#
            ),
            Err(MetadataError::DuplicateMember)
        );
    }

    #[test]
    fn documents_over_the_size_limit_are_refused() {
        let mut big = br#"{"resource":"https://rs.example","x":""#.to_vec();
        big.resize(MAX_DOCUMENT_LEN + 1, b'a');
        assert_eq!(
            ProtectedResourceMetadata::parse(&big),
            Err(MetadataError::DocumentTooLarge)
        );
        assert_eq!(
            AuthorizationServerMetadata::parse(&big),
            Err(MetadataError::DocumentTooLarge)
        );
    }

    #[test]
    fn rfc8414_section_2_alg_none_is_refused() {
        for member in [
            "token_endpoint_auth_signing_alg_values_supported",
            "revocation_endpoint_auth_signing_alg_values_supported",
            "introspection_endpoint_auth_signing_alg_values_supported",
        ] {
            let doc = format!(
                r#"{{"issuer":"https://as.example","response_types_supported":["code"],"{member}":["RS256","none"]}}"#
            );
            assert_eq!(
                AuthorizationServerMetadata::parse(doc.as_bytes()),
                Err(MetadataError::AlgNoneListed),
                "{member}"
            );
        }
    }

    #[test]
    fn rfc8414_section_2_jwt_client_auth_needs_signing_algs() {
        for (methods, algs) in [
            (
                "token_endpoint_auth_methods_supported",
                "token_endpoint_auth_signing_alg_values_supported",
            ),
            (
                "revocation_endpoint_auth_methods_supported",
                "revocation_endpoint_auth_signing_alg_values_supported",
            ),
            (
                "introspection_endpoint_auth_methods_supported",
                "introspection_endpoint_auth_signing_alg_values_supported",
            ),
        ] {
            for method in ["private_key_jwt", "client_secret_jwt"] {
                let without = format!(
                    r#"{{"issuer":"https://as.example","response_types_supported":["code"],"{methods}":["none","{method}"]}}"#
                );
                assert_eq!(
                    AuthorizationServerMetadata::parse(without.as_bytes()),
                    Err(MetadataError::SigningAlgsMissing),
                    "{methods} {method}"
                );
                let with = format!(
                    r#"{{"issuer":"https://as.example","response_types_supported":["code"],"{methods}":["{method}"],"{algs}":["ES256"]}}"#
                );
                AuthorizationServerMetadata::parse(with.as_bytes()).unwrap();
            }
        }
    }

    /// OpenID Connect Discovery 1.0 section 4.2, the example response as
    /// published.
    const OIDC_DISCOVERY_EXAMPLE: &str = r#"{
      "issuer":
        "https://server.example.com",
      "authorization_endpoint":
        "https://server.example.com/connect/authorize",
      "token_endpoint":
        "https://server.example.com/connect/token",
      "token_endpoint_auth_methods_supported":
        ["client_secret_basic", "private_key_jwt"],
      "token_endpoint_auth_signing_alg_values_supported":
        ["RS256", "ES256"],
      "userinfo_endpoint":
        "https://server.example.com/connect/userinfo",
      "check_session_iframe":
        "https://server.example.com/connect/check_session",
      "end_session_endpoint":
        "https://server.example.com/connect/end_session",
      "jwks_uri":
        "https://server.example.com/jwks.json",
      "registration_endpoint":
        "https://server.example.com/connect/register",
      "scopes_supported":
        ["openid", "profile", "email", "address",
         "phone", "offline_access"],
      "response_types_supported":
        ["code", "code id_token", "id_token", "id_token token"],
      "acr_values_supported":
        ["urn:mace:incommon:iap:silver",
         "urn:mace:incommon:iap:bronze"],
      "subject_types_supported":
        ["public", "pairwise"],
      "userinfo_signing_alg_values_supported":
        ["RS256", "ES256", "HS256"],
      "userinfo_encryption_alg_values_supported":
        ["RSA-OAEP-256", "A128KW"],
      "userinfo_encryption_enc_values_supported":
        ["A128CBC-HS256", "A128GCM"],
      "id_token_signing_alg_values_supported":
        ["RS256", "ES256", "HS256"],
      "id_token_encryption_alg_values_supported":
        ["RSA-OAEP-256", "A128KW"],
      "id_token_encryption_enc_values_supported":
        ["A128CBC-HS256", "A128GCM"],
      "request_object_signing_alg_values_supported":
        ["none", "RS256", "ES256"],
      "display_values_supported":
        ["page", "popup"],
      "claim_types_supported":
        ["normal", "distributed"],
      "claims_supported":
        ["sub", "iss", "auth_time", "acr",
         "name", "given_name", "family_name", "nickname",
         "profile", "picture", "website",
         "email", "email_verified", "locale", "zoneinfo",
         "http://example.info/claims/groups"],
      "claims_parameter_supported":
        true,
      "service_documentation":
        "http://server.example.com/connect/service_documentation.html",
      "ui_locales_supported":
        ["en-US", "en-GB", "en-CA", "fr-FR", "fr-CA"]
     }"#;

    #[test]
    fn openid_connect_discovery_section_4_2_example_response_parses() {
        let doc = AuthorizationServerMetadata::parse_openid_configuration(
            OIDC_DISCOVERY_EXAMPLE.as_bytes(),
        )
        .unwrap();
        doc.validate_issuer("https://server.example.com").unwrap();
        assert_eq!(
            doc.jwks_uri.as_deref(),
            Some("https://server.example.com/jwks.json")
        );
        assert_eq!(doc.subject_types_supported.as_ref().map(Vec::len), Some(2));
        // OpenID-only members are kept, `none` for request objects included.
        assert_eq!(
            doc.extra()
                .get("request_object_signing_alg_values_supported"),
            Some(&serde_json::json!(["none", "RS256", "ES256"]))
        );
        // The example follows RFC 8414 section 2 too.
        assert_eq!(
            AuthorizationServerMetadata::parse(OIDC_DISCOVERY_EXAMPLE.as_bytes()).as_ref(),
            Ok(&doc)
        );
    }

    #[test]
    fn openid_connect_discovery_section_3_jwt_client_auth_may_omit_signing_algs() {
        // Valid for OpenID Connect Discovery 1.0 section 3, where
        // token_endpoint_auth_signing_alg_values_supported is OPTIONAL; RFC
        // 8414 section 2 says it MUST be present.
        let doc = br#"{"issuer":"https://op.example","response_types_supported":["code"],"jwks_uri":"https://op.example/keys","token_endpoint_auth_methods_supported":["client_secret_post","private_key_jwt","client_secret_basic"]}"#;
        assert_eq!(
            AuthorizationServerMetadata::parse(doc),
            Err(MetadataError::SigningAlgsMissing)
        );
        AuthorizationServerMetadata::parse_openid_configuration(doc).unwrap();
    }

    #[test]
    fn openid_configuration_keeps_the_rules_both_specifications_share() {
        for (doc, error) in [
            (
                &br#"{"issuer":"https://op.example","issuer":"https://op.example","response_types_supported":["code"]}"#[..],
                MetadataError::DuplicateMember,
            ),
            (
                br#"{"response_types_supported":["code"]}"#,
                MetadataError::MissingMember("issuer"),
            ),
            (
                br#"{"issuer":"https://op.example","response_types_supported":[]}"#,
                MetadataError::MissingMember("response_types_supported"),
            ),
            (
                br#"{"issuer":"https://op.example","response_types_supported":["code"],"token_endpoint_auth_signing_alg_values_supported":["none"]}"#,
                MetadataError::AlgNoneListed,
            ),
            (
                br#"{"issuer":"https://op.example","response_types_supported":["code"],"jwks_uri":"http://op.example/keys"}"#,
                MetadataError::JwksUriNotHttps,
            ),
            (
                br#"{"issuer":1,"response_types_supported":["code"]}"#,
                MetadataError::MemberType,
            ),
        ] {
            assert_eq!(
                AuthorizationServerMetadata::parse_openid_configuration(doc),
                Err(error.clone()),
                "{}",
                String::from_utf8_lossy(doc)
            );
            assert_eq!(AuthorizationServerMetadata::parse(doc), Err(error));
        }
    }

    #[test]
    fn rfc8414_and_rfc9728_section_2_jwks_uri_must_be_https() {
        assert_eq!(
            AuthorizationServerMetadata::parse(
                br#"{"issuer":"https://as.example","response_types_supported":["code"],"jwks_uri":"http://as.example/jwks"}"#
            ),
            Err(MetadataError::JwksUriNotHttps)
        );
        assert_eq!(
            ProtectedResourceMetadata::parse(
                br#"{"resource":"https://rs.example","jwks_uri":"not a url"}"#
            ),
            Err(MetadataError::JwksUriNotHttps)
        );
        ProtectedResourceMetadata::parse(
            br#"{"resource":"https://rs.example","jwks_uri":"https://rs.example/jwks"}"#,
        )
        .unwrap();
    }

    #[test]
    fn rfc9728_section_2_alg_none_is_refused() {
        assert_eq!(
            ProtectedResourceMetadata::parse(
                br#"{"resource":"https://rs.example","resource_signing_alg_values_supported":["none"]}"#
            ),
            Err(MetadataError::AlgNoneListed)
        );
    }

    #[test]
    fn rfc8414_section_3_2_empty_arrays_are_omitted() {
        let doc = AuthorizationServerMetadata::parse(
            br#"{"issuer":"https://as.example","response_types_supported":["code"],"scopes_supported":[]}"#,
        )
        .unwrap();
        assert_eq!(doc.scopes_supported, None);
        let mut built = AuthorizationServerMetadata::new("https://as.example", vec!["code".into()]);
        built.grant_types_supported = Some(Vec::new());
        assert_eq!(
            built.to_json(),
            r#"{"issuer":"https://as.example","response_types_supported":["code"]}"#
        );
    }

    #[test]
    fn rfc9728_section_2_empty_bearer_methods_means_none_supported() {
        let doc = ProtectedResourceMetadata::parse(
            br#"{"resource":"https://rs.example","bearer_methods_supported":[]}"#,
        )
        .unwrap();
        assert_eq!(doc.bearer_methods_supported, Some(Vec::new()));
        assert_eq!(
            doc.to_json(),
            r#"{"resource":"https://rs.example","bearer_methods_supported":[]}"#
        );
    }

    #[test]
    fn rfc9728_section_2_1_language_tagged_names_are_kept() {
        let doc = ProtectedResourceMetadata::parse(
            r#"{"resource":"https://rs.example","resource_name":"My Resource","resource_name#it":"La mia bella risorsa"}"#
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(doc.resource_name.as_deref(), Some("My Resource"));
        assert_eq!(
            doc.extra().get("resource_name#it"),
            Some(&Value::from("La mia bella risorsa"))
        );
        assert_eq!(
            ProtectedResourceMetadata::parse(doc.to_json().as_bytes()).unwrap(),
            doc
        );
    }

    #[test]
    fn a4_mcp_clients_require_s256() {
        let mut doc = AuthorizationServerMetadata::new("https://as.example", vec!["code".into()]);
        assert_eq!(
            doc.check_mcp_requirements(),
            Err(MetadataError::PkceS256NotAdvertised)
        );
        doc.code_challenge_methods_supported = strings(&["plain"]);
        assert_eq!(
            doc.check_mcp_requirements(),
            Err(MetadataError::PkceS256NotAdvertised)
        );
        doc.code_challenge_methods_supported = strings(&["S256"]);
        assert_eq!(doc.check_mcp_requirements(), Ok(()));
    }

    #[test]
    fn r2_prm_must_list_an_authorization_server() {
        let mut doc = ProtectedResourceMetadata::new("https://rs.example/mcp");
        assert_eq!(
            doc.check_mcp_requirements(),
            Err(MetadataError::NoAuthorizationServers)
        );
        doc.authorization_servers = Some(Vec::new());
        assert_eq!(
            doc.check_mcp_requirements(),
            Err(MetadataError::NoAuthorizationServers)
        );
        doc.authorization_servers = strings(&["https://as.example"]);
        assert_eq!(doc.check_mcp_requirements(), Ok(()));
    }

    #[test]
    fn a3_a6_mcp_server_document_round_trips_every_member() {
        let mut doc =
            AuthorizationServerMetadata::new("https://as.example/tenant1", vec!["code".into()]);
        doc.authorization_endpoint = Some("https://as.example/tenant1/authorize".into());
        doc.token_endpoint = Some("https://as.example/tenant1/token".into());
        doc.jwks_uri = Some("https://as.example/jwks".into());
        doc.registration_endpoint = Some("https://as.example/register".into());
        doc.scopes_supported = strings(&["mcp:read"]);
        doc.response_modes_supported = strings(&["query"]);
        doc.grant_types_supported = strings(&["authorization_code", "refresh_token"]);
        doc.token_endpoint_auth_methods_supported = strings(&["none", "private_key_jwt"]);
        doc.token_endpoint_auth_signing_alg_values_supported = strings(&["ES256"]);
        doc.service_documentation = Some("https://as.example/docs".into());
        doc.ui_locales_supported = strings(&["en"]);
        doc.op_policy_uri = Some("https://as.example/policy".into());
        doc.op_tos_uri = Some("https://as.example/tos".into());
        doc.revocation_endpoint = Some("https://as.example/revoke".into());
        doc.revocation_endpoint_auth_methods_supported = strings(&["none"]);
        doc.revocation_endpoint_auth_signing_alg_values_supported = strings(&["ES256"]);
        doc.introspection_endpoint = Some("https://as.example/introspect".into());
        doc.introspection_endpoint_auth_methods_supported = strings(&["client_secret_basic"]);
        doc.introspection_endpoint_auth_signing_alg_values_supported = strings(&["ES256"]);
        doc.code_challenge_methods_supported = strings(&["S256"]);
        doc.authorization_response_iss_parameter_supported = Some(true);
        doc.dpop_signing_alg_values_supported = strings(&["ES256", "EdDSA"]);
        doc.client_id_metadata_document_supported = Some(true);
        doc.protected_resources = strings(&["https://rs.example/mcp"]);
        doc.subject_types_supported = strings(&["public"]);
        doc.id_token_signing_alg_values_supported = strings(&["RS256"]);
        doc.set_extra("x_custom", Value::from(3)).unwrap();

        let json = doc.to_json();
        let object: Map<String, Value> = serde_json::from_str(&json).unwrap();
        // Every known member is emitted under its RFC name, and KNOWN_MEMBERS is complete.
        for name in AuthorizationServerMetadata::KNOWN_MEMBERS {
            assert!(object.contains_key(name), "{name}");
        }
        assert_eq!(
            object.len(),
            AuthorizationServerMetadata::KNOWN_MEMBERS.len() + 1
        );
        assert_eq!(
            object.get("client_id_metadata_document_supported"),
            Some(&Value::Bool(true))
        );
        assert_eq!(
            AuthorizationServerMetadata::parse(json.as_bytes()).unwrap(),
            doc
        );
        doc.check_mcp_requirements().unwrap();
    }

    #[test]
    fn r1_prm_document_round_trips_every_member() {
        let mut doc = ProtectedResourceMetadata::new("https://rs.example/mcp");
        doc.authorization_servers = strings(&["https://as.example"]);
        doc.jwks_uri = Some("https://rs.example/jwks".into());
        doc.scopes_supported = strings(&["mcp:read"]);
        doc.bearer_methods_supported = strings(&["header"]);
        doc.resource_signing_alg_values_supported = strings(&["ES256"]);
        doc.resource_name = Some("MCP".into());
        doc.resource_documentation = Some("https://rs.example/doc".into());
        doc.resource_policy_uri = Some("https://rs.example/policy".into());
        doc.resource_tos_uri = Some("https://rs.example/tos".into());
        doc.tls_client_certificate_bound_access_tokens = Some(false);
        doc.authorization_details_types_supported = strings(&["payment_initiation"]);
        doc.dpop_signing_alg_values_supported = strings(&["ES256"]);
        doc.dpop_bound_access_tokens_required = Some(true);
        doc.set_extra("resource_name#fr", Value::from("MCP (fr)"))
            .unwrap();

        let json = doc.to_json();
        let object: Map<String, Value> = serde_json::from_str(&json).unwrap();
        for name in ProtectedResourceMetadata::KNOWN_MEMBERS {
            assert!(object.contains_key(name), "{name}");
        }
        assert_eq!(
            object.len(),
            ProtectedResourceMetadata::KNOWN_MEMBERS.len() + 1
        );
        assert_eq!(
            ProtectedResourceMetadata::parse(json.as_bytes()).unwrap(),
            doc
        );
    }

    #[test]
    fn numbers_in_unknown_members_survive_a_round_trip() {
        // Found by the pr_metadata fuzz target (fuzz/regressions/pr_metadata).
        let input = br#"{"resource":"https://rs.example","x":[111111119119111111111,-412.4114441111111,1e-300,18446744073709551615,-9223372036854775808]}"#;
        let doc = ProtectedResourceMetadata::parse(input).unwrap();
        assert_eq!(
            ProtectedResourceMetadata::parse(doc.to_json().as_bytes()).unwrap(),
            doc
        );
    }

    #[test]
    fn extension_members_cannot_shadow_known_ones() {
        let mut doc = AuthorizationServerMetadata::new("https://as.example", vec!["code".into()]);
        assert_eq!(
            doc.set_extra("issuer", Value::from("https://evil.example")),
            Err(MetadataError::ExtraMemberIsKnown)
        );
        let mut prm = ProtectedResourceMetadata::new("https://rs.example");
        assert_eq!(
            prm.set_extra("resource", Value::from("https://evil.example")),
            Err(MetadataError::ExtraMemberIsKnown)
        );
        assert_eq!(
            doc.to_json(),
            r#"{"issuer":"https://as.example","response_types_supported":["code"]}"#
        );
    }
}
