//! [`RemoteIntrospection`]: the token introspection request over HTTP
//! (RFC 7662 section 2.1; feature `http`).

use std::sync::Arc;

use base64ct::{Base64, Encoding};
use latchkey_types::{ClientId, SecretString};
use tokio_rustls::rustls;
use url::Url;
use zeroize::Zeroizing;

use crate::http::{Outgoing, discover_metadata, exchange, is_loopback, tls_config, usable_url};
use crate::{Introspect, IntrospectionFuture, KeysError};

/// An issuer's introspection endpoint and the resource server's credentials
/// there: each call `POST`s `token` and `token_type_hint=access_token`,
/// authenticated with `client_secret_basic` (RFC 6749 section 2.3.1, RFC
/// 7662 section 2.1), under the transport rules of the
/// [crate documentation](crate) (`https`, or `http` on a loopback host; no
/// redirect; `200` only; at most [`Self::MAX_RESPONSE_LEN`] bytes within
/// `RemoteKeys::TIMEOUT`).
///
/// `Debug` shows the endpoint and the client id, never the secret.
pub struct RemoteIntrospection {
    endpoint: Url,
    client_id: ClientId,
    /// `Basic base64(client_id ":" secret)`, both form-encoded first.
    authorization: SecretString,
    tls: Arc<rustls::ClientConfig>,
}

impl core::fmt::Debug for RemoteIntrospection {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RemoteIntrospection")
            .field("endpoint", &self.endpoint.as_str())
            .field("client_id", &self.client_id.as_str())
            .finish_non_exhaustive()
    }
}

impl RemoteIntrospection {
    /// The largest introspection response read: 64 KiB, like the metadata.
    pub const MAX_RESPONSE_LEN: usize = 64 * 1024;

    /// The `introspection_endpoint` of `issuer`'s metadata (found as
    /// `RemoteKeys::discover` finds it, RFC 8414 sections 2 and 3.3), called
    /// as `client_id` with `client_secret`. A missing endpoint, or one that
    /// is neither `https` nor loopback `http` for a loopback `http` issuer,
    /// is [`KeysError::IntrospectionEndpoint`].
    pub async fn discover(
        issuer: &str,
        client_id: ClientId,
        client_secret: &SecretString,
    ) -> Result<Self, KeysError> {
        let found = discover_metadata(issuer).await?;
        let endpoint = found
            .usable_endpoint(found.metadata.introspection_endpoint.as_deref())
            .ok_or(KeysError::IntrospectionEndpoint)?;
        Ok(Self::with_tls(
            endpoint,
            client_id,
            client_secret,
            found.tls,
        ))
    }

    /// The configured `endpoint`, called as `client_id` with
    /// `client_secret`: `https`, or `http` on a loopback host, else
    /// [`KeysError::IntrospectionEndpoint`].
    pub fn new(
        endpoint: &str,
        client_id: ClientId,
        client_secret: &SecretString,
    ) -> Result<Self, KeysError> {
        let url = Url::parse(endpoint).map_err(|_| KeysError::IntrospectionEndpoint)?;
        if !usable_url(&url, is_loopback(&url)) || url.fragment().is_some() {
            return Err(KeysError::IntrospectionEndpoint);
        }
        let tls = tls_config().ok_or(KeysError::Connection)?;
        Ok(Self::with_tls(url, client_id, client_secret, tls))
    }

    /// The endpoint called.
    pub fn endpoint(&self) -> &str {
        self.endpoint.as_str()
    }

    /// The client id the resource server authenticates as.
    pub fn client_id(&self) -> &ClientId {
        &self.client_id
    }

    /// `POST`s the introspection request for `token`: the body of a `200`
    /// answer. `401` (the credentials were refused, RFC 7662 section 2.3) and
    /// every other status is [`KeysError::Status`].
    pub async fn request(&self, token: &str) -> Result<Vec<u8>, KeysError> {
        let body = Zeroizing::new(introspection_form(token));
        let outgoing = Outgoing::Form {
            authorization: self.authorization.expose_secret(),
            body: &body,
        };
        exchange(&self.endpoint, outgoing, Self::MAX_RESPONSE_LEN, &self.tls).await
    }

    fn with_tls(
        endpoint: Url,
        client_id: ClientId,
        client_secret: &SecretString,
        tls: Arc<rustls::ClientConfig>,
    ) -> Self {
        let authorization = basic_authorization(client_id.as_str(), client_secret.expose_secret());
        Self {
            endpoint,
            client_id,
            authorization,
            tls,
        }
    }
}

impl Introspect for RemoteIntrospection {
    fn introspect<'a>(&'a self, token: &'a str) -> IntrospectionFuture<'a> {
        Box::pin(self.request(token))
    }
}

/// `token=...&token_type_hint=access_token` (RFC 7662 section 2.1).
fn introspection_form(token: &str) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("token", token)
        .append_pair("token_type_hint", "access_token")
        .finish()
}

/// RFC 6749 section 2.3.1: the id and the secret are each
/// `application/x-www-form-urlencoded` first, then joined by `:` and base64-encoded.
fn basic_authorization(client_id: &str, secret: &str) -> SecretString {
    let encode =
        |value: &str| url::form_urlencoded::byte_serialize(value.as_bytes()).collect::<String>();
    let pair = Zeroizing::new(format!(
        "{}:{}",
        encode(client_id),
        Zeroizing::new(encode(secret)).as_str()
    ));
    SecretString::new(format!("Basic {}", Base64::encode_string(pair.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_6749_section_2_3_1_credentials_are_form_encoded_before_base64() {
        let header = basic_authorization("s6BhdRkqt3", "7Fjfp0ZBr1KtDRbnfVdmIw");
        assert_eq!(
            header.expose_secret(),
            "Basic czZCaGRSa3F0Mzo3RmpmcDBaQnIxS3REUmJuZlZkbUl3"
        );
        let header = basic_authorization("a:b", "p%w d");
        // "a%3Ab:p%25w+d"
        assert_eq!(header.expose_secret(), "Basic YSUzQWI6cCUyNXcrZA==");
    }

    #[test]
    fn rfc_7662_section_2_1_the_form_names_the_token_and_its_type() {
        assert_eq!(
            introspection_form("a+b/c="),
            "token=a%2Bb%2Fc%3D&token_type_hint=access_token"
        );
    }

    #[test]
    fn the_secret_stays_out_of_debug() {
        let rs = RemoteIntrospection::new(
            "https://as.example.com/introspect",
            ClientId::parse("rs").unwrap(),
            &SecretString::new("hunter2-secret".to_owned()),
        )
        .unwrap();
        let debug = format!("{rs:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(!debug.contains("Basic"), "{debug}");
        assert!(
            debug.contains("https://as.example.com/introspect"),
            "{debug}"
        );
    }

    #[test]
    fn endpoints_that_are_not_https_or_loopback_http_are_refused() {
        let secret = SecretString::new("s".to_owned());
        for endpoint in [
            "http://as.example.com/introspect",
            "ftp://127.0.0.1/introspect",
            "https://as.example.com/introspect#x",
            "not a url",
        ] {
            assert_eq!(
                RemoteIntrospection::new(endpoint, ClientId::parse("rs").unwrap(), &secret)
                    .unwrap_err(),
                KeysError::IntrospectionEndpoint,
                "{endpoint}"
            );
        }
        for endpoint in ["http://127.0.0.1:9/introspect", "https://as.example.com/i"] {
            assert!(
                RemoteIntrospection::new(endpoint, ClientId::parse("rs").unwrap(), &secret).is_ok()
            );
        }
    }
}
