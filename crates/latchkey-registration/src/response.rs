//! Issuing a registered client (RFC 7591 section 3.2.1, RFC 7592 section 3).

use core::time::Duration;

use latchkey_types::{ClientId, SecretString, TokenDigest, UnixTime};
use rand_core::CryptoRng;
use serde_json::Value;

use crate::RegistrationError;
use crate::metadata::ClientMetadata;
use crate::register::ValidatedRegistration;

latchkey_types::secret_type! {
    /// A client secret (RFC 6749 section 2.3.1): 256 random bits when issued.
    pub struct ClientSecret;
}

latchkey_types::secret_type! {
    /// A registration access token (RFC 7592 section 3): 256 random bits,
    /// the bearer credential for the client configuration endpoint.
    pub struct RegistrationAccessToken;
}

/// The registration endpoint's base URL, under which each client's
/// configuration endpoint lives (`registration_client_uri`, RFC 7592 section 3),
/// and how long issued client secrets live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistrationEndpoint {
    base: url::Url,
    client_secret_lifetime: Option<Duration>,
}

impl RegistrationEndpoint {
    /// Parses the base URL: absolute `https` (or `http` on a loopback host, for
    /// tests), with a host, no userinfo, query or fragment. Client secrets never
    /// expire unless [`with_client_secret_lifetime`](Self::with_client_secret_lifetime) says so.
    pub fn parse(base: &str) -> Result<Self, RegistrationError> {
        let invalid = RegistrationError::RegistrationEndpointInvalid;
        let url = url::Url::parse(base).map_err(|_| invalid.clone())?;
        let loopback = matches!(url.host(), Some(url::Host::Domain("localhost")))
            || matches!(url.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
            || matches!(url.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback());
        let scheme_ok = url.scheme() == "https" || (url.scheme() == "http" && loopback);
        if !scheme_ok
            || url.cannot_be_a_base()
            || !url.username().is_empty()
            || url.password().is_some()
            || url.query().is_some()
            || url.fragment().is_some()
        {
            return Err(invalid);
        }
        Ok(Self {
            base: url,
            client_secret_lifetime: None,
        })
    }

    /// Issued client secrets expire `lifetime` after issue.
    pub fn with_client_secret_lifetime(mut self, lifetime: Duration) -> Self {
        self.client_secret_lifetime = Some(lifetime);
        self
    }

    /// The base URL, normalized.
    pub fn as_str(&self) -> &str {
        self.base.as_str()
    }

    /// The client configuration endpoint of `client_id`: the base URL with the
    /// client id appended as one path segment (percent-encoded as needed).
    pub fn client_configuration_uri(&self, client_id: &ClientId) -> String {
        let mut url = self.base.clone();
        // `parse` refused cannot-be-a-base URLs, so this always succeeds.
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty().push(client_id.as_str());
        }
        url.into()
    }
}

/// A newly registered client: identifiers, the secrets to hand out once, and
/// the digests to store (RFC 7591 section 3.2.1, RFC 7592 section 3).
///
/// `Debug` shows the secrets as `ClientSecret(..)` and
/// `RegistrationAccessToken(..)`; they leave their boxes only through
/// [`to_json`](Self::to_json) (the response body) or an explicit
/// `expose_secret()`.
#[derive(Debug)]
pub struct ClientRegistrationResponse {
    client_id: ClientId,
    client_id_issued_at: UnixTime,
    client_secret: Option<ClientSecret>,
    client_secret_expires_at: Option<UnixTime>,
    registration_access_token: RegistrationAccessToken,
    registration_client_uri: String,
    metadata: ClientMetadata,
}

impl ClientRegistrationResponse {
    /// The fewest random bytes in a client id: 128 bits.
    pub const CLIENT_ID_RANDOM_BYTES: usize = 16;

    /// Issues a client for `registration` at `now`:
    ///
    /// - `client_id`: 128 random bits as 32 lowercase hex digits (URL-safe, and
    ///   never starting with `https://`, so never mistaken for a metadata URL:
    ///   CIMD draft section 6, "Supporting Both Pre-Registered and Unregistered Clients");
    /// - `client_secret`: 256 random bits, only for `client_secret_basic` and
    ///   `client_secret_post` clients (public and `private_key_jwt` clients
    ///   have no use for one), expiring per the endpoint's lifetime or never;
    /// - `registration_access_token`: 256 random bits;
    /// - `registration_client_uri`: the endpoint with the client id appended.
    pub fn issue(
        registration: &ValidatedRegistration,
        endpoint: &RegistrationEndpoint,
        now: UnixTime,
        rng: &mut impl CryptoRng,
    ) -> Self {
        let client_id = generate_client_id(rng);
        let metadata = registration.metadata().clone();
        let client_secret = metadata
            .token_endpoint_auth_method()
            .uses_client_secret()
            .then(|| ClientSecret::generate(rng));
        let client_secret_expires_at = match (&client_secret, endpoint.client_secret_lifetime) {
            (Some(_), Some(lifetime)) => Some(now.saturating_add(lifetime)),
            _ => None,
        };
        let registration_access_token = RegistrationAccessToken::generate(rng);
        let registration_client_uri = endpoint.client_configuration_uri(&client_id);
        Self {
            client_id,
            client_id_issued_at: now,
            client_secret,
            client_secret_expires_at,
            registration_access_token,
            registration_client_uri,
            metadata,
        }
    }

    /// The response to an RFC 7592 read (section 2.1) or update (section 2.2)
    /// of an existing client, or to a repeated registration the engine
    /// recognized by [`ValidatedRegistration::fingerprint`].
    ///
    /// Latchkey stores only digests, so it cannot repeat the old registration
    /// access token: a new one is issued (RFC 7592 section 2.1 lets it differ;
    /// the client "MUST immediately discard" the old one, and the engine
    /// replaces the stored digest). No client secret is included: the client
    /// keeps the one it has (`client_secret` is OPTIONAL in RFC 7591 section
    /// 3.2.1), so [`client_secret`](Self::client_secret) is `None`.
    pub fn reissue(
        client_id: ClientId,
        client_id_issued_at: UnixTime,
        metadata: &ClientMetadata,
        endpoint: &RegistrationEndpoint,
        rng: &mut impl CryptoRng,
    ) -> Self {
        let registration_client_uri = endpoint.client_configuration_uri(&client_id);
        Self {
            client_id,
            client_id_issued_at,
            client_secret: None,
            client_secret_expires_at: None,
            registration_access_token: RegistrationAccessToken::generate(rng),
            registration_client_uri,
            metadata: metadata.clone(),
        }
    }

    /// The client id.
    pub fn client_id(&self) -> &ClientId {
        &self.client_id
    }

    /// When the client id was issued (`client_id_issued_at`).
    pub fn client_id_issued_at(&self) -> UnixTime {
        self.client_id_issued_at
    }

    /// The client secret, for secret-based clients only.
    pub fn client_secret(&self) -> Option<&ClientSecret> {
        self.client_secret.as_ref()
    }

    /// The digest to store for the client secret.
    pub fn client_secret_digest(&self) -> Option<TokenDigest> {
        self.client_secret.as_ref().map(ClientSecret::digest)
    }

    /// When the client secret expires; `None` if it never does or none was
    /// issued (the response then says `0`, RFC 7591 section 3.2.1).
    pub fn client_secret_expires_at(&self) -> Option<UnixTime> {
        self.client_secret_expires_at
    }

    /// The registration access token.
    pub fn registration_access_token(&self) -> &RegistrationAccessToken {
        &self.registration_access_token
    }

    /// The digest to store for the registration access token.
    pub fn registration_access_token_digest(&self) -> TokenDigest {
        self.registration_access_token.digest()
    }

    /// The client configuration endpoint (`registration_client_uri`).
    pub fn registration_client_uri(&self) -> &str {
        &self.registration_client_uri
    }

    /// The registered metadata, echoed in the response.
    pub fn metadata(&self) -> &ClientMetadata {
        &self.metadata
    }

    /// The response body: one JSON object with the registered metadata
    /// (defaults written out), `client_id`, `client_id_issued_at`,
    /// `registration_access_token`, `registration_client_uri`, and for
    /// secret-based clients `client_secret` and `client_secret_expires_at`.
    ///
    /// This is the one place the secrets are written out. The body is returned
    /// as a [`SecretString`] so it, too, zeroizes on drop and never prints; the
    /// adapter sends `expose_secret()` with `Cache-Control: no-store`.
    pub fn to_json(&self) -> SecretString {
        let mut object = self.metadata.to_json_object();
        object.insert(
            "client_id".to_owned(),
            Value::String(self.client_id.as_str().to_owned()),
        );
        object.insert(
            "client_id_issued_at".to_owned(),
            Value::from(self.client_id_issued_at.as_secs()),
        );
        object.insert(
            "registration_client_uri".to_owned(),
            Value::String(self.registration_client_uri.clone()),
        );
        if self.client_secret.is_some() {
            object.insert(
                "client_secret_expires_at".to_owned(),
                Value::from(self.client_secret_expires_at.map_or(0, UnixTime::as_secs)),
            );
        }
        let public = Value::Object(object).to_string();

        // Splice the secrets in by hand so no copy of them lives in an
        // intermediate `Value`. They are base64url, so need no escaping.
        let token = self.registration_access_token.expose_secret();
        let secret = self.client_secret.as_ref().map(ClientSecret::expose_secret);
        let capacity = public.len() + token.len() + secret.map_or(0, str::len) + 64;
        let mut body = String::with_capacity(capacity);
        body.push_str("{\"registration_access_token\":\"");
        body.push_str(token);
        body.push('"');
        if let Some(secret) = secret {
            body.push_str(",\"client_secret\":\"");
            body.push_str(secret);
            body.push('"');
        }
        // `public` is a non-empty object ("{...}") holding at least `client_id`.
        body.push(',');
        body.push_str(public.get(1..).unwrap_or("}"));
        SecretString::new(body)
    }
}

/// 128 random bits as 32 lowercase hex digits.
fn generate_client_id(rng: &mut impl CryptoRng) -> ClientId {
    let mut raw = [0u8; ClientRegistrationResponse::CLIENT_ID_RANDOM_BYTES];
    rng.fill_bytes(&mut raw);
    let mut hex = String::with_capacity(raw.len() * 2);
    for byte in raw {
        hex.push(char::from(HEX[usize::from(byte >> 4)]));
        hex.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    ClientId::parse(&hex).expect("32 lowercase hex digits are a valid client id (VSCHAR, 1..=2048)")
}

const HEX: [u8; 16] = *b"0123456789abcdef";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{RegistrationPolicy, validate_registration};
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;
    use serde_json::Map;

    const NOW: UnixTime = UnixTime::from_secs(2_893_256_800);

    fn registration(json: &str) -> ValidatedRegistration {
        validate_registration(json.as_bytes(), &RegistrationPolicy::strict_default()).unwrap()
    }

    fn endpoint() -> RegistrationEndpoint {
        RegistrationEndpoint::parse("https://server.example.com/register").unwrap()
    }

    fn body(issued: &ClientRegistrationResponse) -> Map<String, Value> {
        serde_json::from_str(issued.to_json().expose_secret()).unwrap()
    }

    #[test]
    fn rfc_7591_section_3_2_1_confidential_client_response() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let issued = ClientRegistrationResponse::issue(
            &registration(
                r#"{"redirect_uris":["https://client.example.org/callback"],"client_name":"My Example Client","x":"y"}"#,
            ),
            &endpoint().with_client_secret_lifetime(Duration::from_secs(20_000)),
            NOW,
            &mut rng,
        );
        let object = body(&issued);
        let secret = issued.client_secret().unwrap();
        assert_eq!(secret.expose_secret().len(), 43); // 256 bits, base64url
        assert_eq!(object["client_secret"], secret.expose_secret());
        assert_eq!(object["client_secret_expires_at"], 2_893_276_800u64);
        assert_eq!(object["client_id"], issued.client_id().as_str());
        assert_eq!(object["client_id_issued_at"], 2_893_256_800u64);
        assert_eq!(object["client_name"], "My Example Client");
        assert_eq!(object["token_endpoint_auth_method"], "client_secret_basic");
        assert_eq!(
            object["grant_types"],
            serde_json::json!(["authorization_code"])
        );
        assert_eq!(object["x"], "y");
        assert!(
            issued
                .client_secret_digest()
                .unwrap()
                .matches(secret.expose_secret().as_bytes())
        );
    }

    #[test]
    fn rfc_7592_section_3_management_fields() {
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let issued = ClientRegistrationResponse::issue(
            &registration(
                r#"{"redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"none"}"#,
            ),
            &endpoint(),
            NOW,
            &mut rng,
        );
        let object = body(&issued);
        let token = issued.registration_access_token().expose_secret();
        assert_eq!(token.len(), 43);
        assert_eq!(object["registration_access_token"], token);
        assert!(
            issued
                .registration_access_token_digest()
                .matches(token.as_bytes())
        );
        let expected = format!("https://server.example.com/register/{}", issued.client_id());
        assert_eq!(object["registration_client_uri"], expected.as_str());
        assert_eq!(issued.registration_client_uri(), expected);
        // Public clients get no secret (OAuth 2.1 section 2.1).
        assert!(issued.client_secret().is_none());
        assert!(!object.contains_key("client_secret"));
        assert!(!object.contains_key("client_secret_expires_at"));
    }

    #[test]
    fn private_key_jwt_clients_get_no_secret() {
        let mut policy = RegistrationPolicy::strict_default();
        policy
            .auth_methods
            .push(crate::TokenEndpointAuthMethod::PrivateKeyJwt);
        let registration = validate_registration(
            br#"{"redirect_uris":["https://c.example/cb"],"token_endpoint_auth_method":"private_key_jwt","jwks_uri":"https://c.example/jwks"}"#,
            &policy,
        )
        .unwrap();
        assert!(!registration.is_public());
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        let issued = ClientRegistrationResponse::issue(&registration, &endpoint(), NOW, &mut rng);
        assert!(issued.client_secret().is_none());
        assert!(issued.client_secret_digest().is_none());
        let object = body(&issued);
        assert!(!object.contains_key("client_secret"));
        assert_eq!(object["token_endpoint_auth_method"], "private_key_jwt");
        assert_eq!(object["jwks_uri"], "https://c.example/jwks");
    }

    #[test]
    fn rfc_7592_section_2_1_reissue_rotates_the_access_token_and_keeps_the_client_id() {
        let mut rng = ChaCha20Rng::seed_from_u64(8);
        let reg = registration(r#"{"redirect_uris":["https://c.example/cb"],"client_name":"N"}"#);
        let first = ClientRegistrationResponse::issue(&reg, &endpoint(), NOW, &mut rng);
        let again = ClientRegistrationResponse::reissue(
            first.client_id().clone(),
            first.client_id_issued_at(),
            first.metadata(),
            &endpoint(),
            &mut rng,
        );
        assert_eq!(again.client_id(), first.client_id());
        assert_ne!(
            again.registration_access_token_digest(),
            first.registration_access_token_digest()
        );
        assert!(again.client_secret().is_none());
        let object = body(&again);
        assert_eq!(object["client_id"], first.client_id().as_str());
        assert_eq!(object["client_id_issued_at"], NOW.as_secs());
        assert_eq!(object["client_name"], "N");
        assert_eq!(
            object["registration_client_uri"],
            first.registration_client_uri()
        );
        assert!(!object.contains_key("client_secret"));
        assert!(!object.contains_key("client_secret_expires_at"));
    }

    #[test]
    fn client_secret_expires_at_is_zero_when_it_never_expires() {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let issued = ClientRegistrationResponse::issue(
            &registration(r#"{"redirect_uris":["https://c.example/cb"]}"#),
            &endpoint(),
            NOW,
            &mut rng,
        );
        assert_eq!(issued.client_secret_expires_at(), None);
        assert_eq!(body(&issued)["client_secret_expires_at"], 0);
    }

    #[test]
    fn client_ids_carry_128_bits_and_are_url_safe_and_never_urls() {
        let mut rng = ChaCha20Rng::seed_from_u64(4);
        let reg = registration(r#"{"redirect_uris":["https://c.example/cb"]}"#);
        let a = ClientRegistrationResponse::issue(&reg, &endpoint(), NOW, &mut rng);
        let b = ClientRegistrationResponse::issue(&reg, &endpoint(), NOW, &mut rng);
        assert_eq!(a.client_id().as_str().len(), 32);
        assert!(
            a.client_id()
                .as_str()
                .bytes()
                .all(|c| c.is_ascii_hexdigit())
        );
        assert_ne!(a.client_id(), b.client_id());
        assert_ne!(
            a.client_secret().unwrap().expose_secret(),
            b.client_secret().unwrap().expose_secret()
        );
        assert!(!crate::is_client_id_metadata_url(a.client_id().as_str()));
    }

    #[test]
    fn debug_never_shows_secrets() {
        let mut rng = ChaCha20Rng::seed_from_u64(5);
        let issued = ClientRegistrationResponse::issue(
            &registration(r#"{"redirect_uris":["https://c.example/cb"]}"#),
            &endpoint(),
            NOW,
            &mut rng,
        );
        let debug = format!("{issued:?}");
        assert!(debug.contains("ClientSecret(..)"));
        assert!(debug.contains("RegistrationAccessToken(..)"));
        assert!(!debug.contains(issued.client_secret().unwrap().expose_secret()));
        assert!(!debug.contains(issued.registration_access_token().expose_secret()));
        assert_eq!(format!("{:?}", issued.to_json()), "SecretString(..)");
    }

    #[test]
    fn server_issued_names_cannot_be_spoofed_through_metadata() {
        let mut rng = ChaCha20Rng::seed_from_u64(6);
        let issued = ClientRegistrationResponse::issue(
            &registration(
                r#"{"redirect_uris":["https://c.example/cb"],"client_id":"mine","registration_client_uri":"https://evil.example/"}"#,
            ),
            &endpoint(),
            NOW,
            &mut rng,
        );
        let text = issued.to_json();
        // Exactly one of each member, and the server's values.
        assert_eq!(text.expose_secret().matches("\"client_id\"").count(), 1);
        assert_eq!(
            text.expose_secret()
                .matches("\"registration_client_uri\"")
                .count(),
            1
        );
        assert_eq!(body(&issued)["client_id"], issued.client_id().as_str());
    }

    #[test]
    fn registration_endpoint_must_be_https_or_loopback_http() {
        for bad in [
            "http://as.example/register",
            "https://as.example/register?x=1",
            "https://as.example/register#f",
            "https://u:p@as.example/register",
            "mailto:a@b.example",
            "/register",
        ] {
            assert_eq!(
                RegistrationEndpoint::parse(bad),
                Err(RegistrationError::RegistrationEndpointInvalid),
                "{bad}"
            );
        }
        let id = ClientId::parse("abc").unwrap();
        let loopback = RegistrationEndpoint::parse("http://127.0.0.1:8080/register/").unwrap();
        assert_eq!(
            loopback.client_configuration_uri(&id),
            "http://127.0.0.1:8080/register/abc"
        );
        let root = RegistrationEndpoint::parse("https://as.example").unwrap();
        assert_eq!(root.client_configuration_uri(&id), "https://as.example/abc");
        assert_eq!(root.as_str(), "https://as.example/");
    }
}
