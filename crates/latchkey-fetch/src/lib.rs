#![doc = include_str!("../README.md")]

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, USER_AGENT};
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use latchkey_types::SecretString;
use url::Url;
use zeroize::Zeroizing;

mod address;
mod connect;
mod policy;

pub use address::{SpecialPurpose, is_loopback, is_private};
pub use connect::{Resolve, Resolving, SystemResolver};
pub use policy::{AttackerChosen, OperatorConfigured, Policy, UrlSource};

/// The `User-Agent` of every request.
pub const USER_AGENT_VALUE: &str = concat!("latchkey/", env!("CARGO_PKG_VERSION"));

/// Why a fetch failed. Nothing here carries the URL's path or a response body.
///
/// Deliberately not `#[non_exhaustive]`: each caller turns these into its
/// own error (the engine's `FetchError`, `KeysError`) in one exhaustive
/// match, so a new variant cannot ship without each of them deciding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The URL has no host, or cannot be sent as an HTTP request target.
    #[error("malformed url")]
    MalformedUrl,
    /// The URL carries a user name or password.
    #[error("userinfo in url")]
    UserinfoInUrl,
    /// The scheme is not `https` (nor `http` where the policy allows it).
    #[error("not https")]
    NotHttps,
    /// Plain `http` to an address that is not loopback.
    #[error("http to a non-loopback address")]
    HttpNotLoopback,
    /// An address the host resolved to (or the literal) is in a range the
    /// policy refuses.
    #[error("{0}")]
    AddressRefused(SpecialPurpose),
    /// The host name did not resolve, or to no address.
    #[error("the host name did not resolve")]
    Resolve,
    /// No TLS configuration could be built, so `https` cannot be fetched.
    #[error("no tls configuration")]
    TlsUnavailable,
    /// The host is not a valid TLS server name.
    #[error("host is not a valid tls name")]
    TlsName,
    /// No TCP connection could be made.
    #[error("connection failed")]
    Connect,
    /// The TLS handshake failed (certificate included).
    #[error("tls handshake failed")]
    Tls,
    /// The HTTP exchange failed (malformed response, connection closed early).
    #[error("http exchange failed")]
    Http,
    /// The connect timeout or the overall timeout passed.
    #[error("fetch timed out")]
    Timeout,
    /// The server answered with a redirect (`3xx`), which is never followed.
    #[error("redirect refused (status {0})")]
    Redirect(u16),
    /// The server answered with another status than `200`.
    #[error("status {0}")]
    Status(u16),
    /// The body is longer than the caller's limit.
    #[error("response too large")]
    TooLarge,
}

/// The client: cheap to clone (clones share the connection machinery).
#[derive(Clone)]
pub struct Fetcher {
    client: Client<connect::Connector, Full<Bytes>>,
    policy: Policy,
    timeout: Duration,
    connect_timeout: Duration,
}

impl core::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Fetcher")
            .field("policy", &self.policy)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .finish_non_exhaustive()
    }
}

impl Fetcher {
    /// The overall timeout unless set: 10 seconds.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
    /// The connect timeout (per address) unless set: 3 seconds.
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

    /// A fetcher under `policy` with the default timeouts and the system resolver.
    pub fn new(policy: impl Into<Policy>) -> Self {
        Self::builder(policy).build()
    }

    /// A builder for a fetcher under `policy`.
    pub fn builder(policy: impl Into<Policy>) -> FetcherBuilder {
        FetcherBuilder {
            policy: policy.into(),
            timeout: Self::DEFAULT_TIMEOUT,
            connect_timeout: Self::DEFAULT_CONNECT_TIMEOUT,
            resolver: Arc::new(SystemResolver),
        }
    }

    /// The policy every fetch is held to.
    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// `GET url`: the `200` response, with a body of at most `max_len` bytes.
    pub async fn get(&self, url: &Url, max_len: usize) -> Result<Response, FetchError> {
        let request = self
            .request(Method::GET, url)?
            .body(Full::default())
            .map_err(|_| FetchError::MalformedUrl)?;
        self.send(request, max_len, None).await
    }

    /// `GET url` with `authorization` as the `Authorization` header (marked
    /// sensitive), such as `Bearer {token}` for a userinfo request (RFC 6750
    /// section 2.1). The `200` response, with a body of at most `max_len`
    /// bytes.
    pub async fn get_authorized(
        &self,
        url: &Url,
        authorization: &SecretString,
        max_len: usize,
    ) -> Result<Response, FetchError> {
        let mut value = HeaderValue::from_str(authorization.expose_secret())
            .map_err(|_| FetchError::MalformedUrl)?;
        value.set_sensitive(true);
        let request = self
            .request(Method::GET, url)?
            .header(AUTHORIZATION, value)
            .body(Full::default())
            .map_err(|_| FetchError::MalformedUrl)?;
        self.send(request, max_len, None).await
    }

    /// `POST url` with `form` as an `application/x-www-form-urlencoded` body
    /// and, when given, HTTP Basic client authentication (RFC 6749 section
    /// 2.3.1: the client id and secret form-urlencoded, then Basic, RFC 7617).
    /// The `200` response, with a body of at most `max_len` bytes.
    pub async fn post_form(
        &self,
        url: &Url,
        form: &[(&str, &str)],
        basic: Option<&BasicCredentials>,
        max_len: usize,
    ) -> Result<Response, FetchError> {
        let request = self.form_request(url, form, basic)?;
        self.send(request, max_len, None).await
    }

    /// [`Fetcher::post_form`] for a token request (RFC 6749 section 4.1.3):
    /// a `400` or `401` answer is returned as a response too, so that the
    /// caller can read the error response (RFC 6749 section 5.2: `error`,
    /// `error_description` in a JSON body). Such a body is read only up to
    /// `error_max_len` bytes (at most [`MAX_ERROR_BODY_LEN`]; over it,
    /// [`FetchError::Status`] as before), and [`Response::status`] says
    /// which it was. Every other limit and refusal stays as for `post_form`.
    pub async fn post_form_reading_errors(
        &self,
        url: &Url,
        form: &[(&str, &str)],
        basic: Option<&BasicCredentials>,
        max_len: usize,
        error_max_len: usize,
    ) -> Result<Response, FetchError> {
        let request = self.form_request(url, form, basic)?;
        let errors = ErrorBodies(error_max_len.min(MAX_ERROR_BODY_LEN));
        self.send(request, max_len, Some(errors)).await
    }

    /// The `POST` of [`Fetcher::post_form`] and
    /// [`Fetcher::post_form_reading_errors`]: `form` as an
    /// `application/x-www-form-urlencoded` body, with HTTP Basic client
    /// authentication when given, after the checks of `request`.
    fn form_request(
        &self,
        url: &Url,
        form: &[(&str, &str)],
        basic: Option<&BasicCredentials>,
    ) -> Result<Request<Full<Bytes>>, FetchError> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let mut request = self
            .request(Method::POST, url)?
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(credentials) = basic {
            request = request.header(AUTHORIZATION, credentials.header_value()?);
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|_| FetchError::MalformedUrl)?;
        Ok(request)
    }

    /// A request builder for `url` after the checks that need no network:
    /// scheme, user information, host.
    fn request(&self, method: Method, url: &Url) -> Result<http::request::Builder, FetchError> {
        match url.scheme() {
            "https" => {}
            "http" if self.policy.allows_http() => {}
            _ => return Err(FetchError::NotHttps),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(FetchError::UserinfoInUrl);
        }
        let host = url.host_str().ok_or(FetchError::MalformedUrl)?;
        let authority = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        let uri = Uri::builder()
            .scheme(url.scheme())
            .authority(authority)
            .path_and_query(&url[url::Position::BeforePath..url::Position::AfterQuery])
            .build()
            .map_err(|_| FetchError::MalformedUrl)?;
        Ok(Request::builder()
            .method(method)
            .uri(uri)
            .header(ACCEPT, "application/json")
            .header(USER_AGENT, USER_AGENT_VALUE))
    }

    /// Sends `request` within the overall timeout.
    async fn send(
        &self,
        request: Request<Full<Bytes>>,
        max_len: usize,
        errors: Option<ErrorBodies>,
    ) -> Result<Response, FetchError> {
        tokio::time::timeout(self.timeout, self.exchange(request, max_len, errors))
            .await
            .map_err(|_| FetchError::Timeout)?
    }

    async fn exchange(
        &self,
        request: Request<Full<Bytes>>,
        max_len: usize,
        errors: Option<ErrorBodies>,
    ) -> Result<Response, FetchError> {
        let response = self
            .client
            .request(request)
            .await
            .map_err(|error| client_error(&error))?;
        let status = response.status();
        if status.is_redirection() {
            return Err(FetchError::Redirect(status.as_u16()));
        }
        let max_len = match (status, errors) {
            (StatusCode::OK, _) => max_len,
            (StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED, Some(ErrorBodies(limit))) => limit,
            _ => return Err(FetchError::Status(status.as_u16())),
        };
        // An error body over its limit is only the status it came with.
        let too_large = if status == StatusCode::OK {
            FetchError::TooLarge
        } else {
            FetchError::Status(status.as_u16())
        };
        let declared = response
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > max_len as u64) {
            return Err(too_large);
        }
        let (parts, body) = response.into_parts();
        let body = Limited::new(body, max_len)
            .collect()
            .await
            .map_err(|error| {
                if error.downcast_ref::<LengthLimitError>().is_some() {
                    too_large
                } else {
                    FetchError::Http
                }
            })?
            .to_bytes();
        Ok(Response {
            status: status.as_u16(),
            headers: parts.headers,
            body,
        })
    }
}

/// Builds a [`Fetcher`] (see [`Fetcher::builder`]).
pub struct FetcherBuilder {
    policy: Policy,
    timeout: Duration,
    connect_timeout: Duration,
    resolver: Arc<dyn Resolve>,
}

impl core::fmt::Debug for FetcherBuilder {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FetcherBuilder")
            .field("policy", &self.policy)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .finish_non_exhaustive()
    }
}

impl FetcherBuilder {
    /// The most a whole fetch may take: resolution, connection, TLS, request,
    /// response head and body.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The most one TCP connection attempt may take.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Resolves host names with `resolver` instead of the system's. Its
    /// answers are vetted like any other.
    pub fn resolver(mut self, resolver: Arc<dyn Resolve>) -> Self {
        self.resolver = resolver;
        self
    }

    /// The fetcher. Without a TLS configuration (rustls could not build one)
    /// every `https` fetch fails with [`FetchError::TlsUnavailable`].
    pub fn build(self) -> Fetcher {
        let connector = connect::Connector {
            policy: self.policy,
            resolver: self.resolver,
            tls: connect::tls_config(),
            connect_timeout: self.connect_timeout,
        };
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(0)
            .retry_canceled_requests(false)
            .build(connector);
        Fetcher {
            client,
            policy: self.policy,
            timeout: self.timeout,
            connect_timeout: self.connect_timeout,
        }
    }
}

/// The most [`Fetcher::post_form_reading_errors`] reads of an error body.
pub const MAX_ERROR_BODY_LEN: usize = 16 * 1024;

/// Whether and how far a `400`/`401` body is read.
#[derive(Clone, Copy)]
struct ErrorBodies(usize);

/// A `200` response (or, from [`Fetcher::post_form_reading_errors`], a `400`
/// or `401` one): its status, header fields and body (within the limit).
#[derive(Clone, Debug)]
pub struct Response {
    status: u16,
    headers: HeaderMap,
    body: Bytes,
}

impl Response {
    /// The status: `200`, unless the caller opted in to error bodies.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The header fields.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The body.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The body, owned.
    pub fn into_body(self) -> Vec<u8> {
        self.body.into()
    }
}

/// HTTP Basic client credentials for [`Fetcher::post_form`]. `Debug` shows
/// only the client id.
pub struct BasicCredentials {
    client_id: String,
    secret: SecretString,
}

impl core::fmt::Debug for BasicCredentials {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("BasicCredentials")
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl BasicCredentials {
    /// Credentials for `client_id` with `secret`.
    pub fn new(client_id: &str, secret: SecretString) -> Self {
        Self {
            client_id: client_id.to_owned(),
            secret,
        }
    }

    /// `Basic base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 section
    /// 2.3.1), marked sensitive so that hyper never logs it.
    fn header_value(&self) -> Result<HeaderValue, FetchError> {
        use base64ct::Encoding;
        let encode =
            |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let pair = Zeroizing::new(format!(
            "{}:{}",
            encode(&self.client_id),
            Zeroizing::new(encode(self.secret.expose_secret())).as_str()
        ));
        let value = Zeroizing::new(format!(
            "Basic {}",
            base64ct::Base64::encode_string(pair.as_bytes())
        ));
        let mut header =
            HeaderValue::from_str(value.as_str()).map_err(|_| FetchError::MalformedUrl)?;
        header.set_sensitive(true);
        Ok(header)
    }
}

/// The [`FetchError`] a client failure stands for: the connector's own error
/// when it refused or failed to connect, otherwise an HTTP failure.
fn client_error(error: &hyper_util::client::legacy::Error) -> FetchError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(error);
    while let Some(cause) = source {
        if let Some(fetch) = cause.downcast_ref::<FetchError>() {
            return *fetch;
        }
        source = cause.source();
    }
    if error.is_connect() {
        FetchError::Connect
    } else {
        FetchError::Http
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_6749_section_2_3_1_basic_credentials_are_form_encoded_then_base64() {
        use base64ct::Encoding;
        let credentials = BasicCredentials::new("a b", SecretString::new("p:w/%".to_owned()));
        let header = credentials.header_value().unwrap();
        assert!(header.is_sensitive());
        let encoded = header.to_str().unwrap().strip_prefix("Basic ").unwrap();
        let decoded = base64ct::Base64::decode_vec(encoded).unwrap();
        assert_eq!(decoded, b"a+b:p%3Aw%2F%25");
        assert_eq!(
            format!("{credentials:?}"),
            "BasicCredentials { client_id: \"a b\", .. }"
        );
    }
}
