//! The connector hyper-util's client connects through: it resolves the host
//! once, vets every address under the [`Policy`], and connects (TCP, then
//! TLS for `https`) only to a vetted address.

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls;

use crate::address::is_loopback;
use crate::{FetchError, Policy};

/// Resolves host names to addresses. [`SystemResolver`] is the default; a
/// test (or a deployment with its own resolver) supplies another with
/// [`FetcherBuilder::resolver`](crate::FetcherBuilder::resolver). Whatever it
/// answers is vetted under the fetcher's [`Policy`] before any connection.
pub trait Resolve: Send + Sync {
    /// The addresses `host` (a DNS name, never an IP literal) resolves to.
    fn resolve(&self, host: &str) -> Resolving;
}

/// What [`Resolve::resolve`] returns.
pub type Resolving = Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send>>;

/// The operating system's resolver (`getaddrinfo`, through
/// `tokio::net::lookup_host`).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemResolver;

impl Resolve for SystemResolver {
    fn resolve(&self, host: &str) -> Resolving {
        let host = host.to_owned();
        Box::pin(async move {
            let addresses = tokio::net::lookup_host((host.as_str(), 0)).await?;
            Ok(addresses.map(|address| address.ip()).collect())
        })
    }
}

/// The `tower_service::Service<Uri>` hyper-util's legacy client connects with.
#[derive(Clone)]
pub(crate) struct Connector {
    pub(crate) policy: Policy,
    pub(crate) resolver: Arc<dyn Resolve>,
    pub(crate) tls: Option<Arc<rustls::ClientConfig>>,
    pub(crate) connect_timeout: Duration,
}

impl tower_service::Service<Uri> for Connector {
    type Response = Stream;
    type Error = FetchError;
    type Future = Pin<Box<dyn Future<Output = Result<Stream, FetchError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), FetchError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        Box::pin(self.clone().connect(uri))
    }
}

impl Connector {
    async fn connect(self, uri: Uri) -> Result<Stream, FetchError> {
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") if self.policy.allows_http() => false,
            _ => return Err(FetchError::NotHttps),
        };
        let host = uri.host().ok_or(FetchError::MalformedUrl)?;
        // `Uri::host` keeps the brackets of an IPv6 literal.
        let bare = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let addresses = match bare.parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            Err(_) => self
                .resolver
                .resolve(bare)
                .await
                .map_err(|_| FetchError::Resolve)?,
        };
        if addresses.is_empty() {
            return Err(FetchError::Resolve);
        }
        // One refused address refuses the URL: a name that resolves to a
        // public and a private address must not be fetched at all.
        for ip in &addresses {
            self.policy.vet(*ip)?;
        }
        if !https && !addresses.iter().all(|ip| is_loopback(*ip)) {
            return Err(FetchError::HttpNotLoopback);
        }
        let tcp = connect_first(&addresses, port, self.connect_timeout).await?;
        if !https {
            return Ok(Stream(Inner::Plain(TokioIo::new(tcp))));
        }
        let tls = self.tls.ok_or(FetchError::TlsUnavailable)?;
        let name = rustls::pki_types::ServerName::try_from(bare.to_owned())
            .map_err(|_| FetchError::TlsName)?;
        let stream = TlsConnector::from(tls)
            .connect(name, tcp)
            .await
            .map_err(|_| FetchError::Tls)?;
        Ok(Stream(Inner::Tls(Box::new(TokioIo::new(stream)))))
    }
}

/// A TCP connection to the first of the vetted `addresses` that answers
/// within `timeout`. The addresses are used as they are: nothing resolves
/// the name again, so DNS rebinding cannot swap in another address.
async fn connect_first(
    addresses: &[IpAddr],
    port: u16,
    timeout: Duration,
) -> Result<TcpStream, FetchError> {
    let mut last = FetchError::Connect;
    for ip in addresses {
        let address = SocketAddr::new(*ip, port);
        match tokio::time::timeout(timeout, TcpStream::connect(address)).await {
            Ok(Ok(stream)) => return Ok(stream),
            Ok(Err(_)) => last = FetchError::Connect,
            Err(_) => last = FetchError::Timeout,
        }
    }
    Err(last)
}

/// A connection to a vetted address: plain TCP (`http` to loopback) or TLS.
pub(crate) struct Stream(Inner);

enum Inner {
    Plain(TokioIo<TcpStream>),
    Tls(Box<TokioIo<TlsStream<TcpStream>>>),
}

impl Connection for Stream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl Read for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        match &mut self.get_mut().0 {
            Inner::Plain(stream) => Pin::new(stream).poll_read(cx, buf),
            Inner::Tls(stream) => Pin::new(stream.as_mut()).poll_read(cx, buf),
        }
    }
}

impl Write for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().0 {
            Inner::Plain(stream) => Pin::new(stream).poll_write(cx, buf),
            Inner::Tls(stream) => Pin::new(stream.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().0 {
            Inner::Plain(stream) => Pin::new(stream).poll_flush(cx),
            Inner::Tls(stream) => Pin::new(stream.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().0 {
            Inner::Plain(stream) => Pin::new(stream).poll_shutdown(cx),
            Inner::Tls(stream) => Pin::new(stream.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Mozilla's roots (`webpki-roots`, so trust does not depend on the host's
/// certificate store), rustls with aws-lc-rs, TLS 1.2 and 1.3.
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
