//! Discovery documents: authorization server metadata (RFC 8414 section 2 and
//! 3.2), its OpenID Connect Discovery 1.0 twin, the JWK Set, and protected
//! resource metadata (RFC 9728 sections 2 and 3.2).
//!
//! What each document says follows the configuration and the MCP profile:
//!
//! - `issuer` is the configured string, byte for byte (RFC 8414 section 3.3:
//!   clients compare it exactly).
//! - `response_types_supported: ["code"]`, `response_modes_supported:
//!   ["query"]`, `code_challenge_methods_supported: ["S256"]` (MCP A4: clients
//!   refuse to proceed without it), `authorization_response_iss_parameter_supported:
//!   true` (RFC 9207 section 3; the `iss` parameter is always sent).
//! - `grant_types_supported`: `authorization_code`, `refresh_token` when
//!   refresh tokens are issued, and `client_credentials`.
//! - `registration_endpoint` only when registration is on (A5);
//!   `client_id_metadata_document_supported: true` only when client ID
//!   metadata documents are on (A6).
//! - `scopes_supported`: the union of the resources' `scopes_supported`, plus
//!   `offline_access` when refresh tokens are issued and the profile lists it
//!   (not for 2026-07-28, which asks servers not to advertise it).
//! - Protected resource metadata: `resource` is the configured resource URI,
//!   `authorization_servers` is `[issuer]` (MCP R2), `bearer_methods_supported:
//!   ["header"]` (tokens never in a query), and never `offline_access`.
//!
//! The documents are public and change only with the configuration, so they
//! carry `Cache-Control: public, max-age=300` (the JWK Set too: a rotated key
//! keeps verifying for longer than that).

use latchkey_metadata::{AuthorizationServerMetadata, ProtectedResourceMetadata};
use latchkey_registration::TokenEndpointAuthMethod;
use latchkey_store::Store;
use latchkey_types::Scope;
use latchkey_uri::ResourceUri;

use crate::authorize::OFFLINE_ACCESS;
use crate::clients::MetadataFetcher;
use crate::engine::Engine;
use crate::response::EndpointResponse;

/// The `Cache-Control` value of every discovery document.
pub const DISCOVERY_CACHE_CONTROL: &str = "public, max-age=300";

/// The client authentication methods the token, revocation and introspection
/// endpoints accept (OAuth 2.1 section 2.4, RFC 7523 section 2.2).
pub const TOKEN_ENDPOINT_AUTH_METHODS: [TokenEndpointAuthMethod; 4] = [
    TokenEndpointAuthMethod::None,
    TokenEndpointAuthMethod::ClientSecretBasic,
    TokenEndpointAuthMethod::ClientSecretPost,
    TokenEndpointAuthMethod::PrivateKeyJwt,
];

impl<S: Store, F: MetadataFetcher> Engine<S, F> {
    /// The RFC 8414 authorization server metadata document, as a value.
    pub fn authorization_server_metadata_document(&self) -> AuthorizationServerMetadata {
        let config = self.config();
        let mut doc =
            AuthorizationServerMetadata::new(config.issuer.clone(), vec!["code".to_owned()]);
        doc.authorization_endpoint = Some(config.authorization_endpoint.clone());
        doc.token_endpoint = Some(config.token_endpoint.clone());
        doc.jwks_uri = Some(config.jwks_uri.clone());
        if config.registration.is_some() {
            doc.registration_endpoint = config.registration_endpoint.clone();
        }
        doc.scopes_supported = non_empty(self.advertised_scopes());
        doc.response_modes_supported = Some(vec!["query".to_owned()]);
        let mut grants = vec!["authorization_code".to_owned()];
        if config.issue_refresh_tokens {
            grants.push("refresh_token".to_owned());
        }
        grants.push("client_credentials".to_owned());
        doc.grant_types_supported = Some(grants);
        let methods: Vec<String> = TOKEN_ENDPOINT_AUTH_METHODS
            .iter()
            .map(|m| m.as_str().to_owned())
            .collect();
        let assertion_algs: Vec<String> = crate::client_auth::ASSERTION_ALGORITHMS
            .iter()
            .map(|alg| alg.as_str().to_owned())
            .collect();
        doc.token_endpoint_auth_methods_supported = Some(methods.clone());
        doc.token_endpoint_auth_signing_alg_values_supported = Some(assertion_algs.clone());
        doc.revocation_endpoint = Some(config.revocation_endpoint.clone());
        doc.revocation_endpoint_auth_methods_supported = Some(methods.clone());
        doc.revocation_endpoint_auth_signing_alg_values_supported = Some(assertion_algs.clone());
        doc.introspection_endpoint = Some(config.introspection_endpoint.clone());
        doc.introspection_endpoint_auth_methods_supported = Some(methods);
        doc.introspection_endpoint_auth_signing_alg_values_supported = Some(assertion_algs);
        doc.code_challenge_methods_supported = Some(vec!["S256".to_owned()]);
        doc.authorization_response_iss_parameter_supported = Some(config.profile.iss_parameter());
        doc.dpop_signing_alg_values_supported = non_empty(
            config
                .dpop
                .algorithms
                .iter()
                .map(|a| a.as_str().to_owned())
                .collect(),
        );
        doc.client_id_metadata_document_supported = config.cimd.is_some().then_some(true);
        doc.protected_resources = non_empty(
            config
                .resources
                .iter()
                .map(|r| r.uri.as_str().to_owned())
                .collect(),
        );
        doc
    }

    /// `GET /.well-known/oauth-authorization-server` (RFC 8414 section 3):
    /// `200` with the metadata document.
    pub fn authorization_server_metadata(&self) -> EndpointResponse {
        discovery_response(&self.authorization_server_metadata_document())
    }

    /// `GET /.well-known/openid-configuration` (OpenID Connect Discovery 1.0
    /// section 4, MCP 2025-11-25 A3): the same document plus the members OIDC
    /// Discovery requires (`subject_types_supported: ["public"]`,
    /// `id_token_signing_alg_values_supported` from the signing keys), when the
    /// profile offers it; `None` (serve a 404) for 2025-06-18. It keeps
    /// `code_challenge_methods_supported` (A4: "MUST include").
    pub fn openid_configuration(&self) -> Option<EndpointResponse> {
        if !self.config().profile.openid_discovery() {
            return None;
        }
        let mut doc = self.authorization_server_metadata_document();
        doc.subject_types_supported = Some(vec!["public".to_owned()]);
        doc.id_token_signing_alg_values_supported = non_empty(
            self.keys()
                .algorithms()
                .iter()
                .map(|a| a.as_str().to_owned())
                .collect(),
        );
        Some(discovery_response(&doc))
    }

    /// `GET` of the `jwks_uri`: the public signing keys (RFC 7517 section 5),
    /// never a private member.
    pub fn jwks(&self) -> EndpointResponse {
        discovery_response(&self.keys().jwks().to_json())
    }

    /// The RFC 9728 document for a configured resource, as a value; `None`
    /// when `resource` is not configured exactly.
    pub fn protected_resource_metadata_document(
        &self,
        resource: &ResourceUri,
    ) -> Option<ProtectedResourceMetadata> {
        let config = self.config();
        let configured = config.resources.iter().find(|r| r.uri == *resource)?;
        let mut doc = ProtectedResourceMetadata::new(configured.uri.as_str());
        doc.authorization_servers = Some(vec![config.issuer.clone()]);
        doc.scopes_supported = non_empty(scope_strings(&without_offline_access(
            &configured.scopes_supported,
        )));
        doc.bearer_methods_supported = Some(vec!["header".to_owned()]);
        doc.dpop_signing_alg_values_supported = non_empty(
            config
                .dpop
                .algorithms
                .iter()
                .map(|a| a.as_str().to_owned())
                .collect(),
        );
        doc.resource_name = configured.name.clone();
        Some(doc)
    }

    /// `GET /.well-known/oauth-protected-resource{path}` (RFC 9728 section 3,
    /// MCP R1, R2): `200` with the document, or `None` (serve a 404) when
    /// `resource` is not a configured resource.
    pub fn protected_resource_metadata(&self, resource: &ResourceUri) -> Option<EndpointResponse> {
        self.protected_resource_metadata_document(resource)
            .map(|doc| discovery_response(&doc))
    }

    /// The scopes the authorization server metadata lists.
    fn advertised_scopes(&self) -> Vec<String> {
        let config = self.config();
        let mut scopes = Scope::empty();
        for resource in &config.resources {
            scopes = scopes.union(&resource.scopes_supported);
        }
        let mut names = scope_strings(&without_offline_access(&scopes));
        if config.issue_refresh_tokens && config.profile.offline_access_in_scopes_supported() {
            names.push(OFFLINE_ACCESS.to_owned());
            names.sort();
        }
        names
    }
}

fn discovery_response(doc: &impl serde::Serialize) -> EndpointResponse {
    EndpointResponse::json(http::StatusCode::OK, doc).with_header(
        http::header::CACHE_CONTROL,
        DISCOVERY_CACHE_CONTROL.to_owned(),
    )
}

fn scope_strings(scope: &Scope) -> Vec<String> {
    scope.iter().map(|t| t.as_str().to_owned()).collect()
}

fn without_offline_access(scope: &Scope) -> Scope {
    scope
        .iter()
        .filter(|t| t.as_str() != OFFLINE_ACCESS)
        .cloned()
        .collect()
}

/// RFC 8414 section 3.2: "Claims with zero elements MUST be omitted".
fn non_empty(values: Vec<String>) -> Option<Vec<String>> {
    (!values.is_empty()).then_some(values)
}
