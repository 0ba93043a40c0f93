//! [`RemoteIntrospection`]: the token introspection request over HTTP
//! (RFC 7662 section 2.1; feature `http`).

use latchkey_fetch::{BasicCredentials, Fetcher};
use latchkey_types::{ClientId, SecretString};
use url::Url;

use crate::http::{discover_metadata, is_loopback, issuer_policy, keys_error, usable_url};
use crate::{Introspect, IntrospectionFuture, KeysError, RemoteKeys};

/// An issuer's introspection endpoint and the resource server's credentials
/// there: each call `POST`s `token` and `token_type_hint=access_token`,
/// authenticated with `client_secret_basic` (RFC 6749 section 2.3.1, RFC
/// 7662 section 2.1), through `latchkey-fetch` under the transport rules of
/// the [crate documentation](crate) (`https`, or `http` on a loopback host;
/// the operator-configured policy; no redirect; `200` only; at most
/// [`Self::MAX_RESPONSE_LEN`] bytes within `RemoteKeys::TIMEOUT`).
///
/// `Debug` shows the endpoint and the client id, never the secret.
pub struct RemoteIntrospection {
    endpoint: Url,
    client_id: ClientId,
    credentials: BasicCredentials,
    fetcher: Fetcher,
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
        let issuer_url = Url::parse(issuer).map_err(|_| KeysError::IssuerUnusable)?;
        let fetcher = fetcher_for(&issuer_url);
        let found = discover_metadata(issuer, &fetcher).await?;
        let endpoint = found
            .usable_endpoint(found.metadata.introspection_endpoint.as_deref())
            .ok_or(KeysError::IntrospectionEndpoint)?;
        Ok(Self::with_fetcher(
            endpoint,
            client_id,
            client_secret,
            fetcher,
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
        let fetcher = fetcher_for(&url);
        Ok(Self::with_fetcher(url, client_id, client_secret, fetcher))
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
        self.fetcher
            .post_form(
                &self.endpoint,
                &[("token", token), ("token_type_hint", "access_token")],
                Some(&self.credentials),
                Self::MAX_RESPONSE_LEN,
            )
            .await
            .map(latchkey_fetch::Response::into_body)
            .map_err(keys_error)
    }

    fn with_fetcher(
        endpoint: Url,
        client_id: ClientId,
        client_secret: &SecretString,
        fetcher: Fetcher,
    ) -> Self {
        let credentials = BasicCredentials::new(
            client_id.as_str(),
            SecretString::new(client_secret.expose_secret().to_owned()),
        );
        Self {
            endpoint,
            client_id,
            credentials,
            fetcher,
        }
    }
}

/// The fetcher for an operator-configured issuer or endpoint at `url`
/// (private and loopback addresses allowed, link-local refused), bounded by
/// [`RemoteKeys::TIMEOUT`].
fn fetcher_for(url: &Url) -> Fetcher {
    Fetcher::builder(issuer_policy(url))
        .timeout(RemoteKeys::TIMEOUT)
        .build()
}

impl Introspect for RemoteIntrospection {
    fn introspect<'a>(&'a self, token: &'a str) -> IntrospectionFuture<'a> {
        Box::pin(self.request(token))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
