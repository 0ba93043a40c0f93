//! [`RemoteKeys`]: the issuer's metadata and JWK Set over HTTP (feature
//! `http`, on by default).

use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::{
    ACCEPT, AUTHORIZATION, CONNECTION, CONTENT_TYPE, HOST, HeaderValue, USER_AGENT,
};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use latchkey_jose::Jwks;
use latchkey_metadata::{AuthorizationServerMetadata, MAX_DOCUMENT_LEN, MetadataError};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls;
use url::Url;

use crate::{KeySource, KeysError, KeysFuture};

/// An issuer's JWK Set location, found through its metadata, and the means
/// to fetch it (see the [crate documentation](crate)).
#[derive(Clone)]
pub struct RemoteKeys {
    issuer: String,
    metadata_url: Url,
    jwks_uri: Url,
    tls: Arc<rustls::ClientConfig>,
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
    pub async fn discover(issuer: &str) -> Result<Self, KeysError> {
        let found = discover_metadata(issuer).await?;
        let jwks_uri = found
            .usable_endpoint(found.metadata.jwks_uri.as_deref())
            .ok_or(KeysError::JwksUri)?;
        Ok(Self {
            issuer: issuer.to_owned(),
            metadata_url: found.metadata_url,
            jwks_uri,
            tls: found.tls,
        })
    }

    /// Fetches the JWK Set at `jwks_uri` (RFC 7517 section 5: keys this
    /// server cannot use are skipped); a set without any usable key is
    /// [`KeysError::Empty`].
    pub async fn fetch(&self) -> Result<Jwks, KeysError> {
        let body = exchange(&self.jwks_uri, Outgoing::Get, Jwks::MAX_LEN, &self.tls).await?;
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
    pub(crate) tls: Arc<rustls::ClientConfig>,
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

/// `issuer`'s metadata, found as [`RemoteKeys::discover`] documents, its
/// `issuer` checked.
pub(crate) async fn discover_metadata(issuer: &str) -> Result<Discovered, KeysError> {
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
    let tls = tls_config().ok_or(KeysError::Connection)?;
    let (metadata_url, body, rules) = first_metadata_document(&issuer_url, &tls).await?;
    let metadata = parse_metadata(&body, rules, loopback_http)?;
    metadata
        .validate_issuer(issuer)
        .map_err(KeysError::Metadata)?;
    Ok(Discovered {
        metadata_url,
        metadata,
        loopback_http,
        tls,
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
    tls: &Arc<rustls::ClientConfig>,
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
        match exchange(&url, Outgoing::Get, MAX_DOCUMENT_LEN, tls).await {
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

/// Mozilla's roots, aws-lc-rs, TLS 1.2 and 1.3.
pub(crate) fn tls_config() -> Option<Arc<rustls::ClientConfig>> {
    let roots = rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .ok()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Some(Arc::new(config))
}

/// What one request sends: a `GET` of a document, or a form `POST` with
/// client credentials (RFC 6749 section 2.3.1, RFC 7662 section 2.1).
pub(crate) enum Outgoing<'a> {
    /// `GET`, `Accept: application/json`.
    Get,
    /// `POST` of an `application/x-www-form-urlencoded` body with this
    /// `Authorization` value. Both hold secrets: never logged.
    Form {
        /// The `Authorization` header value.
        authorization: &'a str,
        /// The encoded form.
        body: &'a str,
    },
}

/// One request to `url` within [`RemoteKeys::TIMEOUT`]: the body of a `200`
/// answer of at most `max_len` bytes. Every call of this crate goes through
/// here (no redirects followed, any other status an error).
pub(crate) async fn exchange(
    url: &Url,
    outgoing: Outgoing<'_>,
    max_len: usize,
    tls: &Arc<rustls::ClientConfig>,
) -> Result<Vec<u8>, KeysError> {
    tokio::time::timeout(
        RemoteKeys::TIMEOUT,
        exchange_unbounded(url, outgoing, max_len, tls),
    )
    .await
    .map_err(|_| KeysError::Timeout)?
}

async fn exchange_unbounded(
    url: &Url,
    outgoing: Outgoing<'_>,
    max_len: usize,
    tls: &Arc<rustls::ClientConfig>,
) -> Result<Vec<u8>, KeysError> {
    let host = url.host_str().ok_or(KeysError::Connection)?;
    let port = url.port_or_known_default().ok_or(KeysError::Connection)?;
    let authority = match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    };
    let target = &url[url::Position::BeforePath..url::Position::AfterQuery];
    let builder = Request::builder()
        .uri(target)
        .header(HOST, authority)
        .header(ACCEPT, "application/json")
        .header(
            USER_AGENT,
            concat!("latchkey-remote-keys/", env!("CARGO_PKG_VERSION")),
        )
        .header(CONNECTION, "close");
    let request = match outgoing {
        Outgoing::Get => builder.method(Method::GET).body(Full::new(Bytes::new())),
        Outgoing::Form {
            authorization,
            body,
        } => {
            let mut authorization =
                HeaderValue::from_str(authorization).map_err(|_| KeysError::Connection)?;
            authorization.set_sensitive(true);
            builder
                .method(Method::POST)
                .header(AUTHORIZATION, authorization)
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Full::new(Bytes::copy_from_slice(body.as_bytes())))
        }
    }
    .map_err(|_| KeysError::Connection)?;
    // `host_str` keeps IPv6 brackets; connecting and TLS want the bare address.
    let bare_host = host.trim_start_matches('[').trim_end_matches(']');
    let tcp = TcpStream::connect((bare_host, port))
        .await
        .map_err(|_| KeysError::Connection)?;
    if url.scheme() == "https" {
        let name = rustls::pki_types::ServerName::try_from(bare_host.to_owned())
            .map_err(|_| KeysError::Connection)?;
        let stream = TlsConnector::from(Arc::clone(tls))
            .connect(name, tcp)
            .await
            .map_err(|_| KeysError::Connection)?;
        send(stream, request, max_len).await
    } else {
        send(tcp, request, max_len).await
    }
}

/// One HTTP/1.1 exchange over `stream`.
async fn send<T>(
    stream: T,
    request: Request<Full<Bytes>>,
    max_len: usize,
) -> Result<Vec<u8>, KeysError>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|_| KeysError::Connection)?;
    let _connection = AbortOnDrop(tokio::spawn(connection));
    let response = sender
        .send_request(request)
        .await
        .map_err(|_| KeysError::Connection)?;
    if response.status() != StatusCode::OK {
        return Err(KeysError::Status(response.status().as_u16()));
    }
    let mut body = response.into_body();
    let mut bytes = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| KeysError::Connection)?;
        if let Ok(data) = frame.into_data() {
            if data.len() > max_len.saturating_sub(bytes.len()) {
                return Err(KeysError::TooLarge);
            }
            bytes.extend_from_slice(&data);
        }
    }
    Ok(bytes)
}

/// Aborts the connection task when the exchange ends or is dropped (timeout).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
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
