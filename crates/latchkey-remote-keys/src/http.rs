//! [`RemoteKeys`]: the issuer's metadata and JWK Set over HTTP (feature
//! `http`, on by default).

use std::time::Duration;

use latchkey_fetch::{Fetcher, Policy};
use latchkey_jose::Jwks;
use latchkey_metadata::{AuthorizationServerMetadata, MAX_DOCUMENT_LEN, MetadataError};
use url::Url;

use crate::{KeySource, KeysError, KeysFuture};

/// An issuer's JWK Set location, found through its metadata, and the means
/// to fetch it (see the [crate documentation](crate)).
#[derive(Clone)]
pub struct RemoteKeys {
    issuer: String,
    metadata_url: Url,
    jwks_uri: Url,
    fetcher: Fetcher,
}

impl core::fmt::Debug for RemoteKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RemoteKeys")
            .field("issuer", &self.issuer)
            .field("metadata_url", &self.metadata_url.as_str())
            .field("jwks_uri", &self.jwks_uri.as_str())
            .finish_non_exhaustive()
    }
}

impl RemoteKeys {
    /// The longest one fetch (connection, TLS, request and body) may take.
    pub const TIMEOUT: Duration = Duration::from_secs(10);

    /// Finds `issuer`'s metadata and, in it, a usable `jwks_uri`.
    ///
    /// The metadata URLs are tried in this order (RFC 8414 section 5, MCP
    /// 2025-11-25 "Authorization Server Metadata Discovery"), at most three
    /// requests of at most [`TIMEOUT`](Self::TIMEOUT) each:
    ///
    /// 1. `/.well-known/oauth-authorization-server` inserted before the
    ///    issuer's path (RFC 8414 section 3.1);
    /// 2. `/.well-known/openid-configuration` inserted before the path (the
    ///    form RFC 8414 section 5 says to try first for that suffix);
    /// 3. for an issuer with a path, `/.well-known/openid-configuration`
    ///    appended to it (OpenID Connect Discovery 1.0 section 4; without a
    ///    path it is the same URL as 2).
    ///
    /// Only a `404` moves on to the next URL: "only if the retrieval from that
    /// location fails should they fall back" (RFC 8414 section 5), and a
    /// document that is absent is the one failure that says nothing about the
    /// issuer. The first document that answers decides: a connection failure,
    /// a timeout, any other status (a redirect included, which is never
    /// followed), an oversized body, a document that is not strict JSON or
    /// breaks RFC 8414 section 2, an `issuer` that is not `issuer` byte for
    /// byte (RFC 8414 section 3.3, OpenID Connect Discovery 1.0 section 4.3)
    /// or a missing or unusable `jwks_uri` ends discovery with that error.
    /// "Information that failed to correctly validate MUST NOT be used"
    /// (OpenID Connect Discovery 1.0 section 4.3), and falling through to a
    /// later location would let whoever can break or spoil the earlier one
    /// choose the document, for example a tenant who controls a path under
    /// the issuer's. When every URL answers `404`, the error is
    /// [`KeysError::Status`]`(404)`.
    ///
    /// The `oauth-authorization-server` document is read under RFC 8414
    /// section 2 ([`AuthorizationServerMetadata::parse`]); an
    /// `openid-configuration` document under the rules RFC 8414 section 2 and
    /// OpenID Connect Discovery 1.0 section 3 share
    /// ([`AuthorizationServerMetadata::parse_openid_configuration`]), so that
    /// an OpenID Provider's document, which need not list the signing
    /// algorithms of `private_key_jwt`, is accepted.
    ///
    /// The issuer is the operator's choice, so its addresses may be private
    /// or loopback: the fetches go through [`latchkey_fetch::Fetcher`] under
    /// [`Policy::operator_configured`] with private networks and loopback
    /// allowed (plain `http` to loopback only for a loopback `http` issuer);
    /// link-local, multicast and the other special-purpose ranges stay
    /// refused ([`KeysError::Refused`]). [`discover_with`](Self::discover_with)
    /// takes a fetcher of the caller's own, for a stricter policy.
    pub async fn discover(issuer: &str) -> Result<Self, KeysError> {
        let issuer_url = Url::parse(issuer).map_err(|_| KeysError::IssuerUnusable)?;
        let fetcher = Fetcher::builder(issuer_policy(&issuer_url))
            .timeout(Self::TIMEOUT)
            .build();
        Self::discover_with(issuer, fetcher).await
    }

    /// [`discover`](Self::discover) through `fetcher`, whose [`Policy`] and
    /// timeouts then apply instead (for example
    /// `Policy::operator_configured()` alone, refusing private addresses).
    /// The issuer must still be `https`, or `http` on a loopback host.
    pub async fn discover_with(issuer: &str, fetcher: Fetcher) -> Result<Self, KeysError> {
        let found = discover_metadata(issuer, &fetcher).await?;
        let jwks_uri = found
            .usable_endpoint(found.metadata.jwks_uri.as_deref())
            .ok_or(KeysError::JwksUri)?;
        Ok(Self {
            issuer: issuer.to_owned(),
            metadata_url: found.metadata_url,
            jwks_uri,
            fetcher,
        })
    }

    /// Fetches the JWK Set at `jwks_uri` (RFC 7517 section 5: keys this
    /// server cannot use are skipped); a set without any usable key is
    /// [`KeysError::Empty`].
    pub async fn fetch(&self) -> Result<Jwks, KeysError> {
        let body = get(&self.jwks_uri, Jwks::MAX_LEN, &self.fetcher).await?;
        let jwks = Jwks::parse(&body).map_err(KeysError::Malformed)?;
        if jwks.is_empty() {
            return Err(KeysError::Empty);
        }
        Ok(jwks)
    }

    /// The issuer, as configured.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The `jwks_uri` the issuer's metadata names.
    pub fn jwks_uri(&self) -> &str {
        self.jwks_uri.as_str()
    }

    /// The URL the issuer's metadata was found at (see [`discover`](Self::discover)).
    pub fn metadata_url(&self) -> &str {
        self.metadata_url.as_str()
    }
}

impl KeySource for RemoteKeys {
    fn fetch_keys(&self) -> KeysFuture<'_> {
        Box::pin(self.fetch())
    }
}

/// An issuer's metadata, found and checked by [`discover_metadata`].
pub(crate) struct Discovered {
    pub(crate) metadata_url: Url,
    pub(crate) metadata: AuthorizationServerMetadata,
    /// The issuer is `http` on a loopback host.
    loopback_http: bool,
}

impl Discovered {
    /// `endpoint` when it is a URL this crate may call for this issuer:
    /// `https`, or `http` on a loopback host for a loopback `http` issuer.
    pub(crate) fn usable_endpoint(&self, endpoint: Option<&str>) -> Option<Url> {
        let url = Url::parse(endpoint?).ok()?;
        usable_url(&url, self.loopback_http).then_some(url)
    }
}

/// Whether this crate may call `url`: `https`, or `http` on a loopback host
/// when the issuer itself is loopback `http` (`loopback_http`).
pub(crate) fn usable_url(url: &Url, loopback_http: bool) -> bool {
    match url.scheme() {
        "https" => url.host().is_some(),
        "http" => loopback_http && is_loopback(url),
        _ => false,
    }
}

/// `issuer`'s metadata, found through `fetcher` as [`RemoteKeys::discover`]
/// documents, its `issuer` checked. The issuer must be `https`, or `http` on
/// a loopback host, without query or fragment.
pub(crate) async fn discover_metadata(
    issuer: &str,
    fetcher: &Fetcher,
) -> Result<Discovered, KeysError> {
    let issuer_url = Url::parse(issuer).map_err(|_| KeysError::IssuerUnusable)?;
    let loopback_http = match issuer_url.scheme() {
        "https" => false,
        "http" if is_loopback(&issuer_url) => true,
        _ => return Err(KeysError::IssuerUnusable),
    };
    if issuer_url.host().is_none()
        || issuer_url.query().is_some()
        || issuer_url.fragment().is_some()
    {
        return Err(KeysError::IssuerUnusable);
    }
    let (metadata_url, body, rules) = first_metadata_document(&issuer_url, fetcher).await?;
    let metadata = parse_metadata(&body, rules, loopback_http)?;
    metadata
        .validate_issuer(issuer)
        .map_err(KeysError::Metadata)?;
    Ok(Discovered {
        metadata_url,
        metadata,
        loopback_http,
    })
}

/// How a metadata document is read: [`AuthorizationServerMetadata::parse`]
/// for `oauth-authorization-server` (RFC 8414 section 2),
/// [`AuthorizationServerMetadata::parse_openid_configuration`] for
/// `openid-configuration` (the rules RFC 8414 section 2 and OpenID Connect
/// Discovery 1.0 section 3 share).
type Rules = fn(&[u8]) -> Result<AuthorizationServerMetadata, MetadataError>;

/// The first metadata document at `issuer`'s discovery URLs, in order, where
/// it was found and the rules to read it by: a `404` moves on to the next URL,
/// any other failure is the answer (see [`RemoteKeys::discover`]). The issuer
/// was checked by `discover` (`https`, or `http` on a loopback host; no
/// query, no fragment).
async fn first_metadata_document(
    issuer: &Url,
    fetcher: &Fetcher,
) -> Result<(Url, Vec<u8>, Rules), KeysError> {
    let urls = latchkey_metadata::danger_authorization_server_discovery_urls_unchecked(issuer);
    for (index, url) in urls.into_iter().enumerate() {
        // The order is documented: `oauth-authorization-server` first, then
        // the `openid-configuration` locations.
        let rules: Rules = if index == 0 {
            AuthorizationServerMetadata::parse
        } else {
            AuthorizationServerMetadata::parse_openid_configuration
        };
        match get(&url, MAX_DOCUMENT_LEN, fetcher).await {
            Err(KeysError::Status(404)) => continue,
            Err(error) => return Err(error),
            Ok(body) => return Ok((url, body, rules)),
        }
    }
    Err(KeysError::Status(404))
}

/// The metadata document under `rules`. A loopback `http` issuer's document
/// names an `http` `jwks_uri`, which both rules refuse last, after every
/// other check passed; only then is the document read without that one check
/// (the caller requires the `jwks_uri` to be loopback `http`).
fn parse_metadata(
    body: &[u8],
    rules: Rules,
    loopback_http: bool,
) -> Result<AuthorizationServerMetadata, KeysError> {
    match rules(body) {
        Ok(metadata) => Ok(metadata),
        Err(MetadataError::JwksUriNotHttps) if loopback_http => {
            serde_json::from_slice(body).map_err(|_| KeysError::Metadata(MetadataError::MemberType))
        }
        Err(error) => Err(KeysError::Metadata(error)),
    }
}

pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(domain)) => domain == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// The policy [`RemoteKeys::discover`] fetches under: operator-configured,
/// private networks and loopback allowed, plain `http` to loopback only for
/// an `http` issuer (which `discover_with` then requires to be loopback).
pub(crate) fn issuer_policy(issuer: &Url) -> Policy {
    let policy = Policy::operator_configured()
        .danger_allow_private_addresses()
        .danger_allow_loopback();
    if issuer.scheme() == "http" {
        policy.danger_allow_loopback_http().into()
    } else {
        policy.into()
    }
}

/// `GET url` through `fetcher` (its policy; within its timeout,
/// [`RemoteKeys::TIMEOUT`] for [`RemoteKeys::discover`]): the body of a `200`
/// answer of at most `max_len` bytes.
async fn get(url: &Url, max_len: usize, fetcher: &Fetcher) -> Result<Vec<u8>, KeysError> {
    fetcher
        .get(url, max_len)
        .await
        .map(latchkey_fetch::Response::into_body)
        .map_err(keys_error)
}

/// The [`KeysError`] a fetch failure is.
pub(crate) fn keys_error(error: latchkey_fetch::FetchError) -> KeysError {
    use latchkey_fetch::FetchError as E;
    match error {
        E::MalformedUrl
        | E::UserinfoInUrl
        | E::NotHttps
        | E::HttpNotLoopback
        | E::AddressRefused(_) => KeysError::Refused,
        E::Resolve | E::TlsUnavailable | E::TlsName | E::Connect | E::Tls | E::Http => {
            KeysError::Connection
        }
        E::Timeout => KeysError::Timeout,
        // A redirect is never followed; its status is the answer.
        E::Redirect(status) | E::Status(status) => KeysError::Status(status),
        E::TooLarge => KeysError::TooLarge,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_are_localhost_and_loopback_addresses_only() {
        for (url, loopback) in [
            ("http://127.0.0.1:8080", true),
            ("http://127.9.9.9", true),
            ("http://[::1]:8080", true),
            ("http://localhost:8080", true),
            ("http://10.0.0.1", false),
            ("http://localhost.example.com", false),
        ] {
            assert_eq!(is_loopback(&Url::parse(url).unwrap()), loopback, "{url}");
        }
    }

    #[test]
    fn rfc_8414_section_2_an_http_jwks_uri_is_read_only_for_a_loopback_issuer() {
        let rules: [Rules; 2] = [
            AuthorizationServerMetadata::parse,
            AuthorizationServerMetadata::parse_openid_configuration,
        ];
        for rules in rules {
            let doc = br#"{"issuer":"http://127.0.0.1:8080","response_types_supported":["code"],"jwks_uri":"http://127.0.0.1:8080/jwks"}"#;
            assert_eq!(
                parse_metadata(doc, rules, false).unwrap_err(),
                KeysError::Metadata(MetadataError::JwksUriNotHttps)
            );
            let metadata = parse_metadata(doc, rules, true).unwrap();
            assert_eq!(
                metadata.jwks_uri.as_deref(),
                Some("http://127.0.0.1:8080/jwks")
            );
            // Every other check still applies.
            let no_response_types =
                br#"{"issuer":"http://127.0.0.1:8080","jwks_uri":"http://127.0.0.1:8080/jwks"}"#;
            assert_eq!(
                parse_metadata(no_response_types, rules, true).unwrap_err(),
                KeysError::Metadata(MetadataError::MissingMember("response_types_supported"))
            );
        }
    }

    #[test]
    fn a_configured_issuer_may_be_private_or_loopback_but_not_link_local() {
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        let https = issuer_policy(&Url::parse("https://as.corp.example").unwrap());
        for allowed in ["10.0.0.5", "192.168.1.2", "fd00::5", "127.0.0.1", "8.8.8.8"] {
            assert_eq!(https.vet(ip(allowed)), Ok(()), "{allowed}");
        }
        for refused in ["169.254.169.254", "fe80::1", "224.0.0.1", "0.0.0.0"] {
            assert!(https.vet(ip(refused)).is_err(), "{refused}");
        }
        assert!(!https.allows_http());
        assert!(issuer_policy(&Url::parse("http://127.0.0.1:8080").unwrap()).allows_http());
    }

    #[tokio::test]
    async fn mcp_ssrf_a_link_local_issuer_is_refused_without_connecting() {
        assert_eq!(
            RemoteKeys::discover("https://169.254.169.254")
                .await
                .unwrap_err(),
            KeysError::Refused
        );
        // A stricter policy of the operator's own refuses private addresses too.
        let strict = Fetcher::new(Policy::operator_configured());
        assert_eq!(
            RemoteKeys::discover_with("https://10.0.0.5", strict)
                .await
                .unwrap_err(),
            KeysError::Refused
        );
    }

    #[tokio::test]
    async fn issuers_that_are_not_https_or_loopback_http_are_refused_before_any_fetch() {
        for issuer in [
            "http://as.example.com",
            "ftp://127.0.0.1",
            "https://as.example.com?tenant=1",
            "https://as.example.com#x",
            "not a url",
        ] {
            assert_eq!(
                RemoteKeys::discover(issuer).await.unwrap_err(),
                KeysError::IssuerUnusable,
                "{issuer}"
            );
        }
    }
}
