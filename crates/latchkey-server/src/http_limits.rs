//! Serving connections with time and count limits, over plain TCP or TLS:
//! the one accept loop of `latchkey serve`.
//!
//! Without these limits a client can hold a connection open for ever by
//! sending its headers or its body a byte at a time ("slowloris"), and enough
//! such clients exhaust the server's sockets and memory. Every connection is
//! served by hyper's HTTP/1.1 server with a timer, under five limits
//! ([`HttpLimits`], the `[http]` settings of `crate::config`):
//!
//! - **Header read timeout.** The request line and headers must arrive
//!   within [`HttpLimits::header_read_timeout`] of the first read of a new
//!   request, including the wait for the next request on an idle keep-alive
//!   connection; otherwise hyper closes the connection.
//! - **Body read timeout.** The whole body must arrive within
//!   [`HttpLimits::body_read_timeout`] of the end of the headers. Past it the
//!   body reports an error to whoever reads it, the answer is `408 Request
//!   Timeout` (RFC 9110 section 15.5.9) with `Connection: close`, and hyper
//!   stops reading and closes the connection.
//! - **Request timeout.** The handler must produce the response head within
//!   [`HttpLimits::request_timeout`] of the end of the headers (the body read
//!   included); otherwise it is dropped and the answer is `503`
//!   (`temporarily_unavailable`) with `Connection: close`. Response bodies
//!   (the MCP endpoint's event streams) are not cut.
//! - **Connection cap.** At most [`HttpLimits::max_connections`] connections
//!   are served at once. At the cap the server stops accepting: new
//!   connections wait in the kernel's listen backlog, in order, until a
//!   connection ends, and are served then (the global cap never accepts a
//!   connection only to drop it). The timeouts above bound how long any slot can be held by
//!   a client that sends nothing useful.
//! - **Connections per address.** At most
//!   [`HttpLimits::max_connections_per_address`] of them from one client
//!   address (IPv6: one /64), so that one source cannot take every slot.
//!   A connection past that is closed at once (waiting would hold up the
//!   accept loop for everyone). Peers listed as trusted proxies are exempt:
//!   every connection through a proxy has its address.
//!
//! Request heads are read into a buffer of at most [`MAX_HEAD_BYTES`].
//!
//! Each request carries `ConnectInfo<SocketAddr>` (the peer address, for the
//! sign-in limits and the rate limits). On shutdown the loop stops accepting
//! and connections in flight finish their current request first.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::header::{CACHE_CONTROL, CONNECTION, CONTENT_TYPE};
use axum::http::{HeaderValue, Request, StatusCode};
use axum::response::Response;
use hyper::body::{Bytes, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use latchkey_types::ErrorCode;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::login_limit::TrustedProxies;
use crate::rate_limit::AddressKey;
use crate::tls::HANDSHAKE_TIMEOUT;

/// How long the request line and headers may take: 10 s.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the whole body may take after the headers: 30 s.
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a request may take from its headers to its response head: 60 s.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// The most connections served at once: 512.
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;
/// The most connections served at once from one client address: 64.
pub const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS: usize = 64;

/// The read buffer of each connection, and so the largest request head
/// (request line and headers): 64 KiB, twice the longest authorization
/// request query read (`latchkey_axum::MAX_QUERY_LEN`). A larger head gets
/// `431 Request Header Fields Too Large`. With the connection cap this
/// bounds the memory held for reading heads to `max_connections` × 64 KiB.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// The limits on each connection and request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpLimits {
    /// How long the request line and headers may take.
    pub header_read_timeout: Duration,
    /// How long the whole body may take, from the end of the headers.
    pub body_read_timeout: Duration,
    /// How long the response head may take, from the end of the headers.
    pub request_timeout: Duration,
    /// The most connections served at once.
    pub max_connections: usize,
    /// The most connections served at once from one client address (one
    /// IPv6 /64), trusted proxies excepted.
    pub max_connections_per_address: usize,
}

impl Default for HttpLimits {
    /// See the `DEFAULT_*` constants.
    fn default() -> Self {
        Self {
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_address: DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
        }
    }
}

/// Serves `app` on `listener` (over TLS when `tls` is set) under `limits`
/// until `shutdown` completes, then waits for the connections in flight to
/// finish their current request. No peer is exempt from the per-address
/// cap.
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    app: Router,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()>,
) {
    serve_with_proxies(listener, tls, app, limits, TrustedProxies::none(), shutdown).await;
}

/// [`serve`], with connections from `trusted_proxies` exempt from the
/// per-address cap.
pub async fn serve_with_proxies(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    app: Router,
    limits: HttpLimits,
    trusted_proxies: TrustedProxies,
    shutdown: impl Future<Output = ()>,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let per_address = Arc::new(PerAddress {
        max: limits.max_connections_per_address.max(1),
        open: Mutex::new(HashMap::new()),
    });
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => slot,
            () = &mut shutdown => break,
        };
        let Ok(slot) = slot else {
            break;
        };
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(_) => {
                    // Out of file descriptors and the like: back off briefly.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let address_slot = if trusted_proxies.contains(peer.ip()) {
            None
        } else {
            let Some(address_slot) = PerAddress::take(&per_address, peer.ip()) else {
                tracing::debug!("too many connections from one address; closed");
                continue;
            };
            Some(address_slot)
        };
        let connection = Connection {
            app: app.clone(),
            peer,
            limits,
        };
        let tls = tls.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let _slots = (slot, address_slot);
            connection.run(tcp, tls, watcher).await;
        });
    }
    graceful.shutdown().await;
}

/// The connections open per client address; an address is forgotten when
/// its last connection ends, so at most `max_connections` are held.
struct PerAddress {
    max: usize,
    open: Mutex<HashMap<AddressKey, usize>>,
}

impl PerAddress {
    /// A slot for one more connection from `ip`, or `None` at the cap.
    fn take(this: &Arc<Self>, ip: IpAddr) -> Option<AddressSlot> {
        let key = AddressKey::of(Some(ip));
        let mut open = this.open.lock().unwrap_or_else(PoisonError::into_inner);
        // A new address starts at 0 < max, so no entry stays at 0.
        let count = open.entry(key).or_insert(0);
        if *count >= this.max {
            return None;
        }
        *count += 1;
        Some(AddressSlot {
            table: Arc::clone(this),
            key,
        })
    }
}

/// One open connection from an address, given back on drop.
struct AddressSlot {
    table: Arc<PerAddress>,
    key: AddressKey,
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut open = self
            .table
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}

/// One accepted connection.
struct Connection {
    app: Router,
    peer: SocketAddr,
    limits: HttpLimits,
}

impl Connection {
    async fn run(
        self,
        tcp: TcpStream,
        tls: Option<TlsAcceptor>,
        watcher: hyper_util::server::graceful::Watcher,
    ) {
        match tls {
            None => self.serve(tcp, watcher).await,
            Some(acceptor) => {
                let Ok(Ok(stream)) =
                    tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await
                else {
                    tracing::debug!("tls handshake failed or timed out");
                    return;
                };
                self.serve(stream, watcher).await;
            }
        }
    }

    async fn serve<I>(self, io: I, watcher: hyper_util::server::graceful::Watcher)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Self { app, peer, limits } = self;
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            answer(app.clone(), peer, limits, request)
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .max_header_size(MAX_HEAD_BYTES)
            .max_buf_size(MAX_HEAD_BYTES);
        let connection = builder.serve_connection(TokioIo::new(io), service);
        if watcher.watch(connection).await.is_err() {
            tracing::debug!("connection ended with an error");
        }
    }
}

/// One request through `app`, with the peer address, the body deadline and
/// the request deadline.
async fn answer(
    app: Router,
    peer: SocketAddr,
    limits: HttpLimits,
    request: Request<Incoming>,
) -> Result<Response, Infallible> {
    let expired = Arc::new(AtomicBool::new(false));
    let (mut parts, body) = request.into_parts();
    parts.extensions.insert(ConnectInfo(peer));
    let body = TimedBody {
        inner: body,
        deadline: Box::pin(tokio::time::sleep(limits.body_read_timeout)),
        expired: Arc::clone(&expired),
    };
    let request = Request::from_parts(parts, Body::new(body));
    let answered = tokio::time::timeout(limits.request_timeout, app.oneshot(request)).await;
    let body_late = expired.load(Ordering::Relaxed);
    Ok(match answered {
        Ok(Ok(response)) if !body_late => response,
        Ok(Err(never)) => match never {},
        Ok(Ok(_)) => late(
            StatusCode::REQUEST_TIMEOUT,
            ErrorCode::InvalidRequest,
            "the request body did not arrive in time",
        ),
        Err(_) if body_late => late(
            StatusCode::REQUEST_TIMEOUT,
            ErrorCode::InvalidRequest,
            "the request body did not arrive in time",
        ),
        Err(_) => {
            tracing::warn!("a request took longer than the request timeout");
            late(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::TemporarilyUnavailable,
                "the request took too long",
            )
        }
    })
}

/// A timeout answer, closing the connection.
fn late(status: StatusCode, code: ErrorCode, description: &str) -> Response {
    let body = serde_json::json!({
        "error": code.as_str(),
        "error_description": description,
    });
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(CONNECTION, HeaderValue::from_static("close"));
    response
}

/// A request body that fails once its deadline passes, and says so in
/// `expired`.
struct TimedBody {
    inner: Incoming,
    deadline: Pin<Box<tokio::time::Sleep>>,
    expired: Arc<AtomicBool>,
}

/// The error a body reports past its deadline.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
struct BodyTimeout;

impl hyper::body::Body for TimedBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if this.inner.is_end_stream() {
            return Poll::Ready(None);
        }
        if this.deadline.as_mut().poll(cx).is_ready() {
            this.expired.store(true, Ordering::Relaxed);
            return Poll::Ready(Some(Err(Box::new(BodyTimeout))));
        }
        Pin::new(&mut this.inner)
            .poll_frame(cx)
            .map_err(|error| Box::new(error) as Self::Error)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
