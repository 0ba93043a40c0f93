//! The guard as a `tower::Layer`, for any tower or hyper service on the
//! `http` types (axum's routers among them).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::AUTHORIZATION;
use http::request::Parts;
use http::{Extensions, Request, Response, Uri};
use latchkey_types::{Scope, UnixTime};

use crate::{AccessToken, DPOP, RequestHead, ResourceServer};

/// Where the layer reads the time: called once per request.
pub type Clock = fn() -> UnixTime;
/// Where the layer reads the URI the client sent (for the DPoP `htu`); by
/// default the request's own URI. A router that strips a prefix before the
/// layer runs keeps the original somewhere; the adapter says where.
pub type RequestUri = fn(&Parts) -> &Uri;
/// How the layer hands an admitted token to the inner service; by default it
/// inserts the [`AccessToken`] into the request extensions. An adapter whose
/// extractor needs a type of its own inserts that as well.
pub type Admit = fn(&mut Extensions, AccessToken);

/// A layer requiring a valid access token ([`ResourceServer::guard`]): a
/// refused request gets the guard's response, an admitted one reaches the
/// inner service with the [`AccessToken`] in its extensions and its
/// `Authorization` and `DPoP` values marked sensitive.
#[derive(Clone)]
pub struct RequireAccessTokenLayer {
    server: Arc<ResourceServer>,
    scopes: Arc<Scope>,
    clock: Clock,
    request_uri: RequestUri,
    admit: Admit,
}

impl core::fmt::Debug for RequireAccessTokenLayer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RequireAccessTokenLayer")
            .field("server", &self.server)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

impl RequireAccessTokenLayer {
    /// Protection by `server`, requiring its default scopes, with the time
    /// read from `clock` once per request.
    pub fn new(server: Arc<ResourceServer>, clock: Clock) -> Self {
        let scopes = Arc::new(server.default_scopes().clone());
        Self {
            server,
            scopes,
            clock,
            request_uri: |parts| &parts.uri,
            admit: |extensions, token| {
                extensions.insert(token);
            },
        }
    }

    /// The same layer requiring `scopes` (all of them: a `403` names them
    /// all, MCP R11) instead of the defaults.
    pub fn require_scopes(mut self, scopes: Scope) -> Self {
        self.scopes = Arc::new(scopes);
        self
    }

    /// The same layer reading the URI the client sent with `request_uri`.
    pub fn with_request_uri(mut self, request_uri: RequestUri) -> Self {
        self.request_uri = request_uri;
        self
    }

    /// The same layer handing admitted tokens over with `admit`.
    pub fn with_admit(mut self, admit: Admit) -> Self {
        self.admit = admit;
        self
    }
}

impl<I> tower::Layer<I> for RequireAccessTokenLayer {
    type Service = RequireAccessToken<I>;

    fn layer(&self, inner: I) -> Self::Service {
        RequireAccessToken {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service of [`RequireAccessTokenLayer`].
#[derive(Clone, Debug)]
pub struct RequireAccessToken<I> {
    inner: I,
    layer: RequireAccessTokenLayer,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<I, ReqBody, ResBody> tower::Service<Request<ReqBody>> for RequireAccessToken<I>
where
    I: tower::Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    I::Future: Send + 'static,
    I::Error: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: From<Bytes> + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = I::Error;
    type Future = BoxFuture<Result<Response<ResBody>, I::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let layer = self.layer.clone();
        // The inner service that was polled ready is the one to call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            // Credentials never reach a log through this request's `Debug`.
            for name in [AUTHORIZATION, DPOP.clone()] {
                if let http::header::Entry::Occupied(mut entry) = parts.headers.entry(name) {
                    entry.iter_mut().for_each(|value| value.set_sensitive(true));
                }
            }
            let now = (layer.clock)();
            let head = RequestHead {
                method: &parts.method,
                uri: (layer.request_uri)(&parts),
                headers: &parts.headers,
            };
            match layer.server.guard(head, &layer.scopes, now).await {
                Ok(token) => {
                    (layer.admit)(&mut parts.extensions, token);
                    inner.call(Request::from_parts(parts, body)).await
                }
                Err(refusal) => Ok(refusal.map(ResBody::from)),
            }
        })
    }
}

/// A layer answering `403` to a request whose `Origin` header is present and
/// not allowed by the resource server (MCP R15, DNS rebinding protection),
/// for routes that need no token; [`RequireAccessTokenLayer`] checks the
/// `Origin` itself.
#[derive(Clone, Debug)]
pub struct OriginLayer {
    server: Arc<ResourceServer>,
}

impl OriginLayer {
    /// A layer allowing the origins `server` allows.
    pub fn new(server: Arc<ResourceServer>) -> Self {
        Self { server }
    }
}

impl<I> tower::Layer<I> for OriginLayer {
    type Service = ValidateOrigin<I>;

    fn layer(&self, inner: I) -> Self::Service {
        ValidateOrigin {
            inner,
            server: Arc::clone(&self.server),
        }
    }
}

/// The service of [`OriginLayer`].
#[derive(Clone, Debug)]
pub struct ValidateOrigin<I> {
    inner: I,
    server: Arc<ResourceServer>,
}

impl<I, ReqBody, ResBody> tower::Service<Request<ReqBody>> for ValidateOrigin<I>
where
    I: tower::Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    I::Future: Send + 'static,
    I::Error: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: From<Bytes> + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = I::Error;
    type Future = BoxFuture<Result<Response<ResBody>, I::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        if let Err(error) = self.server.check_origin(request.headers()) {
            // The time only stamps DPoP nonces, which a 403 never carries.
            let refusal = self
                .server
                .refusal(&error, &Scope::empty(), UnixTime::from_secs(0));
            return Box::pin(std::future::ready(Ok(refusal.map(ResBody::from))));
        }
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(inner.call(request))
    }
}
