//! OpenID Provider metadata (OIDC Discovery 1.0 sections 3 and 4), and the
//! same facts for an `oauth2` provider from its configuration.

use latchkey_jose::Algorithm;
use latchkey_types::json::parse_object;
use serde_json::{Map, Value};

use crate::config::endpoint_ok;
use crate::{ClientAuthMethod, Provider, ProviderKind, UpstreamError};

/// The ID token algorithms Latchkey accepts from a provider (OIDC Core 1.0
/// section 3.1.3.7 step 7; RFC 8725 section 3.1). `none` and the HMAC family
/// cannot even be named by `latchkey-jose`.
pub const ID_TOKEN_ALGORITHMS: [Algorithm; 4] = [
    Algorithm::Rs256,
    Algorithm::Ps256,
    Algorithm::Es256,
    Algorithm::EdDsa,
];

/// What Latchkey needs to know about a provider's endpoints and abilities:
/// read from its discovery document ([`Endpoints::from_discovery`]) for
/// `oidc`, from the configuration ([`Endpoints::from_config`]) for `oauth2`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    issuer: Option<String>,
    authorization_endpoint: String,
    token_endpoint: String,
    userinfo_endpoint: Option<String>,
    jwks_uri: Option<String>,
    id_token_algorithms: Vec<Algorithm>,
    iss_parameter_supported: bool,
    client_auth: ClientAuthMethod,
}

impl Endpoints {
    /// The largest discovery document accepted, in bytes.
    pub const MAX_DISCOVERY_LEN: usize = 64 * 1024;

    /// Reads an OpenID Provider's discovery document for `provider`.
    ///
    /// - Strict JSON ([`latchkey_types::json`]): one object, no member named
    ///   twice, at most [`Self::MAX_DISCOVERY_LEN`] bytes.
    /// - `issuer` byte-identical to the configured issuer (section 4.3: "MUST
    ///   be identical"; this is also the mix-up defence of RFC 9700 section 4.4).
    /// - Required (section 3): `authorization_endpoint`, `token_endpoint` (this
    ///   flow needs it), `jwks_uri`, `response_types_supported` (which must
    ///   contain `code`), `subject_types_supported`,
    ///   `id_token_signing_alg_values_supported` (of which at least one must be
    ///   in [`ID_TOKEN_ALGORITHMS`]). Endpoints must be https (http on loopback).
    /// - Optional: `userinfo_endpoint`; `code_challenge_methods_supported`,
    ///   which, when present, must list `S256` (RFC 7636 section 4.3, RFC 9700
    ///   section 2.1.1); `authorization_response_iss_parameter_supported`
    ///   (RFC 9207 section 3); `token_endpoint_auth_methods_supported` (default
    ///   `client_secret_basic`, section 3), from which `client_secret_basic` is
    ///   chosen, else `client_secret_post`.
    pub fn from_discovery(provider: &Provider, document: &[u8]) -> Result<Self, UpstreamError> {
        let doc = parse_object(document, Self::MAX_DISCOVERY_LEN)
            .map_err(UpstreamError::DiscoveryJson)?;
        let issuer = required_string(&doc, "issuer")?;
        if provider.kind() != ProviderKind::Oidc || provider.issuer() != Some(issuer) {
            return Err(UpstreamError::DiscoveryIssuerMismatch);
        }
        let authorization_endpoint = required_endpoint(&doc, "authorization_endpoint")?;
        let token_endpoint = required_endpoint(&doc, "token_endpoint")?;
        let jwks_uri = required_endpoint(&doc, "jwks_uri")?;
        let userinfo_endpoint = match doc.get("userinfo_endpoint") {
            None => None,
            Some(_) => Some(required_endpoint(&doc, "userinfo_endpoint")?),
        };

        let response_types = required_strings(&doc, "response_types_supported")?;
        if !response_types.contains(&"code") {
            return Err(UpstreamError::DiscoveryNoCodeFlow);
        }
        if required_strings(&doc, "subject_types_supported")?.is_empty() {
            return Err(UpstreamError::DiscoveryMemberInvalid(
                "subject_types_supported",
            ));
        }
        let advertised = required_strings(&doc, "id_token_signing_alg_values_supported")?;
        let id_token_algorithms: Vec<Algorithm> = ID_TOKEN_ALGORITHMS
            .into_iter()
            .filter(|alg| advertised.contains(&alg.as_str()))
            .collect();
        if id_token_algorithms.is_empty() {
            return Err(UpstreamError::DiscoveryNoUsableAlgorithm);
        }
        if doc.contains_key("code_challenge_methods_supported")
            && !required_strings(&doc, "code_challenge_methods_supported")?.contains(&"S256")
        {
            return Err(UpstreamError::DiscoveryNoS256);
        }
        let iss_parameter_supported =
            match doc.get("authorization_response_iss_parameter_supported") {
                None => false,
                Some(Value::Bool(supported)) => *supported,
                Some(_) => {
                    return Err(UpstreamError::DiscoveryMemberInvalid(
                        "authorization_response_iss_parameter_supported",
                    ));
                }
            };
        let client_auth = if doc.contains_key("token_endpoint_auth_methods_supported") {
            let methods = required_strings(&doc, "token_endpoint_auth_methods_supported")?;
            if methods.contains(&"client_secret_basic") {
                ClientAuthMethod::ClientSecretBasic
            } else if methods.contains(&"client_secret_post") {
                ClientAuthMethod::ClientSecretPost
            } else {
                return Err(UpstreamError::ClientAuthUnsupported);
            }
        } else {
            ClientAuthMethod::ClientSecretBasic
        };
        Ok(Self {
            issuer: Some(issuer.to_owned()),
            authorization_endpoint,
            token_endpoint,
            userinfo_endpoint,
            jwks_uri: Some(jwks_uri),
            id_token_algorithms,
            iss_parameter_supported,
            client_auth,
        })
    }

    /// The endpoints of an `oauth2` provider, from its configuration; `None`
    /// for an `oidc` provider, whose endpoints come from discovery.
    pub fn from_config(provider: &Provider) -> Option<Self> {
        let settings = provider.oauth2_settings()?;
        Some(Self {
            issuer: provider.issuer().map(str::to_owned),
            authorization_endpoint: settings.authorization_endpoint.clone(),
            token_endpoint: settings.token_endpoint.clone(),
            userinfo_endpoint: Some(settings.userinfo_endpoint.clone()),
            jwks_uri: None,
            id_token_algorithms: Vec::new(),
            iss_parameter_supported: false,
            client_auth: settings.client_auth,
        })
    }

    #[cfg(test)]
    pub(crate) fn set_authorization_endpoint(&mut self, url: &str) {
        url.clone_into(&mut self.authorization_endpoint);
    }

    #[cfg(test)]
    pub(crate) fn set_client_auth(&mut self, method: ClientAuthMethod) {
        self.client_auth = method;
    }

    #[cfg(test)]
    pub(crate) fn set_iss_parameter_supported(&mut self, supported: bool) {
        self.iss_parameter_supported = supported;
    }

    /// The issuer (for `oauth2`, only if configured).
    pub fn issuer(&self) -> Option<&str> {
        self.issuer.as_deref()
    }

    /// The authorization endpoint.
    pub fn authorization_endpoint(&self) -> &str {
        &self.authorization_endpoint
    }

    /// The token endpoint the code is redeemed at.
    pub fn token_endpoint(&self) -> &str {
        &self.token_endpoint
    }

    /// The userinfo endpoint, if any.
    pub fn userinfo_endpoint(&self) -> Option<&str> {
        self.userinfo_endpoint.as_deref()
    }

    /// Where the provider's JWK Set is (`oidc` only). The caller fetches it,
    /// parses it with `latchkey_jose::Jwks::parse`, and fetches it again once
    /// on [`UpstreamError::IdTokenUnknownKey`] (OIDC Core 1.0 section 10.1.1).
    pub fn jwks_uri(&self) -> Option<&str> {
        self.jwks_uri.as_deref()
    }

    /// The ID token algorithms both advertised and accepted.
    pub fn id_token_algorithms(&self) -> &[Algorithm] {
        &self.id_token_algorithms
    }

    /// Whether the provider advertises RFC 9207 `iss` in authorization responses.
    pub fn iss_parameter_supported(&self) -> bool {
        self.iss_parameter_supported
    }

    /// How Latchkey authenticates at the token endpoint.
    pub fn client_auth(&self) -> ClientAuthMethod {
        self.client_auth
    }
}

// ---------------------------------------------------------------------------
// Helpers.

fn required_string<'a>(
    doc: &'a Map<String, Value>,
    name: &'static str,
) -> Result<&'a str, UpstreamError> {
    match doc.get(name) {
        None => Err(UpstreamError::DiscoveryMemberMissing(name)),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(UpstreamError::DiscoveryMemberInvalid(name)),
    }
}

fn required_endpoint(
    doc: &Map<String, Value>,
    name: &'static str,
) -> Result<String, UpstreamError> {
    let url = required_string(doc, name)?;
    if !endpoint_ok(url) {
        return Err(UpstreamError::DiscoveryMemberInvalid(name));
    }
    Ok(url.to_owned())
}

fn required_strings<'a>(
    doc: &'a Map<String, Value>,
    name: &'static str,
) -> Result<Vec<&'a str>, UpstreamError> {
    let Some(value) = doc.get(name) else {
        return Err(UpstreamError::DiscoveryMemberMissing(name));
    };
    let Value::Array(items) = value else {
        return Err(UpstreamError::DiscoveryMemberInvalid(name));
    };
    items
        .iter()
        .map(|item| {
            item.as_str()
                .ok_or(UpstreamError::DiscoveryMemberInvalid(name))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{ISSUER, discovery_json, oidc_provider};
    use latchkey_types::json::JsonError;
    use serde_json::json;

    fn parse(doc: &Value) -> Result<Endpoints, UpstreamError> {
        Endpoints::from_discovery(&oidc_provider(), doc.to_string().as_bytes())
    }

    fn without(member: &str) -> Value {
        let mut doc = discovery_json();
        doc.as_object_mut().unwrap().remove(member);
        doc
    }

    #[test]
    fn oidc_discovery_3_a_complete_document_is_read() {
        let endpoints = parse(&discovery_json()).unwrap();
        assert_eq!(endpoints.issuer(), Some(ISSUER));
        assert_eq!(
            endpoints.authorization_endpoint(),
            "https://login.example.com/authorize"
        );
        assert_eq!(
            endpoints.token_endpoint(),
            "https://login.example.com/token"
        );
        assert_eq!(
            endpoints.userinfo_endpoint(),
            Some("https://login.example.com/userinfo")
        );
        assert_eq!(endpoints.jwks_uri(), Some("https://login.example.com/jwks"));
        assert_eq!(
            endpoints.id_token_algorithms(),
            &[
                Algorithm::Rs256,
                Algorithm::Ps256,
                Algorithm::Es256,
                Algorithm::EdDsa
            ]
        );
        assert!(endpoints.iss_parameter_supported());
        assert_eq!(endpoints.client_auth(), ClientAuthMethod::ClientSecretBasic);
    }

    #[test]
    fn oidc_discovery_4_3_issuer_must_be_identical() {
        for other in [
            "https://login.example.com/",
            "https://LOGIN.example.com",
            "https://evil.example.com",
        ] {
            let mut doc = discovery_json();
            doc["issuer"] = json!(other);
            assert_eq!(
                parse(&doc).unwrap_err(),
                UpstreamError::DiscoveryIssuerMismatch,
                "{other}"
            );
        }
    }

    #[test]
    fn oidc_discovery_3_required_members() {
        for member in [
            "issuer",
            "authorization_endpoint",
            "token_endpoint",
            "jwks_uri",
            "response_types_supported",
            "subject_types_supported",
            "id_token_signing_alg_values_supported",
        ] {
            assert_eq!(
                parse(&without(member)).unwrap_err(),
                UpstreamError::DiscoveryMemberMissing(member),
                "{member}"
            );
        }
        // Optional ones may be absent.
        let mut doc = without("userinfo_endpoint");
        doc.as_object_mut()
            .unwrap()
            .remove("authorization_response_iss_parameter_supported");
        doc.as_object_mut()
            .unwrap()
            .remove("code_challenge_methods_supported");
        doc.as_object_mut()
            .unwrap()
            .remove("token_endpoint_auth_methods_supported");
        let endpoints = parse(&doc).unwrap();
        assert_eq!(endpoints.userinfo_endpoint(), None);
        assert!(!endpoints.iss_parameter_supported());
        assert_eq!(endpoints.client_auth(), ClientAuthMethod::ClientSecretBasic);
    }

    #[test]
    fn oidc_discovery_3_member_types_and_endpoint_schemes() {
        let mut doc = discovery_json();
        doc["token_endpoint"] = json!("http://login.example.com/token");
        assert_eq!(
            parse(&doc).unwrap_err(),
            UpstreamError::DiscoveryMemberInvalid("token_endpoint")
        );
        let mut doc = discovery_json();
        doc["jwks_uri"] = json!(1);
        assert_eq!(
            parse(&doc).unwrap_err(),
            UpstreamError::DiscoveryMemberInvalid("jwks_uri")
        );
        let mut doc = discovery_json();
        doc["response_types_supported"] = json!("code");
        assert_eq!(
            parse(&doc).unwrap_err(),
            UpstreamError::DiscoveryMemberInvalid("response_types_supported")
        );
        let mut doc = discovery_json();
        doc["response_types_supported"] = json!(["id_token"]);
        assert_eq!(parse(&doc).unwrap_err(), UpstreamError::DiscoveryNoCodeFlow);
        let mut doc = discovery_json();
        doc["authorization_response_iss_parameter_supported"] = json!("true");
        assert_eq!(
            parse(&doc).unwrap_err(),
            UpstreamError::DiscoveryMemberInvalid("authorization_response_iss_parameter_supported")
        );
    }

    #[test]
    fn rfc_9700_section_2_1_1_a_provider_advertising_pkce_without_s256_is_refused() {
        let mut doc = discovery_json();
        doc["code_challenge_methods_supported"] = json!(["plain"]);
        assert_eq!(parse(&doc).unwrap_err(), UpstreamError::DiscoveryNoS256);
    }

    #[test]
    fn oidc_core_3_1_3_7_step_7_only_allowed_algorithms_are_kept() {
        let mut doc = discovery_json();
        doc["id_token_signing_alg_values_supported"] = json!(["none", "HS256"]);
        assert_eq!(
            parse(&doc).unwrap_err(),
            UpstreamError::DiscoveryNoUsableAlgorithm
        );
        doc["id_token_signing_alg_values_supported"] = json!(["HS256", "RS256", "ES384"]);
        assert_eq!(
            parse(&doc).unwrap().id_token_algorithms(),
            &[Algorithm::Rs256]
        );
    }

    #[test]
    fn token_endpoint_auth_method_is_chosen_from_discovery() {
        let mut doc = discovery_json();
        doc["token_endpoint_auth_methods_supported"] = json!(["client_secret_post"]);
        assert_eq!(
            parse(&doc).unwrap().client_auth(),
            ClientAuthMethod::ClientSecretPost
        );
        doc["token_endpoint_auth_methods_supported"] = json!(["private_key_jwt"]);
        assert_eq!(
            parse(&doc).unwrap_err(),
            UpstreamError::ClientAuthUnsupported
        );
    }

    #[test]
    fn rfc_8259_section_4_duplicate_members_and_size_are_refused() {
        let text = format!(r#"{{"issuer":"{ISSUER}","issuer":"https://evil.example.com"}}"#);
        assert_eq!(
            Endpoints::from_discovery(&oidc_provider(), text.as_bytes()).unwrap_err(),
            UpstreamError::DiscoveryJson(JsonError::DuplicateMember)
        );
        let big = vec![b' '; Endpoints::MAX_DISCOVERY_LEN + 1];
        assert_eq!(
            Endpoints::from_discovery(&oidc_provider(), &big).unwrap_err(),
            UpstreamError::DiscoveryJson(JsonError::TooLarge)
        );
    }

    #[test]
    fn oauth2_endpoints_come_from_configuration() {
        let github = crate::testing::oauth2_provider();
        let endpoints = Endpoints::from_config(&github).unwrap();
        assert_eq!(
            endpoints.token_endpoint(),
            "https://github.com/login/oauth/access_token"
        );
        assert_eq!(
            endpoints.userinfo_endpoint(),
            Some("https://api.github.com/user")
        );
        assert_eq!(endpoints.client_auth(), ClientAuthMethod::ClientSecretPost);
        assert_eq!(endpoints.jwks_uri(), None);
        assert!(Endpoints::from_config(&oidc_provider()).is_none());
    }
}
