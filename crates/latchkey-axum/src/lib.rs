#![doc = include_str!("../README.md")]

mod authorization_server;
mod resource_server;
mod translate;

#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;

pub use authorization_server::authorization_server_routes;
pub use latchkey_http::{
    AuthorizationServer, HttpError, Interaction, InteractionHandler, Introspection,
    IntrospectionMode, MAX_BODY_LEN, MAX_QUERY_LEN, OriginLayer, RequireAccessToken,
    RequireAccessTokenLayer, ResourceServer, ValidateOrigin,
};
pub use latchkey_remote_keys::{Introspect, IntrospectionFuture, KeySource, KeysError, KeysFuture};
#[cfg(feature = "remote-keys")]
pub use latchkey_remote_keys::{RemoteIntrospection, RemoteKeys};
pub use resource_server::{AccessToken, ResourceServerExt, protected_resource_metadata_routes};
pub use translate::{now, request_rng};

/// `router` with `Authorization`, `DPoP`, `Cookie` and `Set-Cookie` values
/// marked sensitive (`latchkey_http::mark_sensitive`, so `Debug` output and
/// trace layers redact them). Apply it last, so it wraps every layer added
/// before (a `TraceLayer` included).
pub fn with_sensitive_headers(router: axum::Router) -> axum::Router {
    router
        .layer(axum::middleware::map_response(
            |mut response: axum::response::Response| async move {
                latchkey_http::mark_sensitive(response.headers_mut());
                response
            },
        ))
        .layer(axum::middleware::map_request(
            |mut request: axum::extract::Request| async move {
                latchkey_http::mark_sensitive(request.headers_mut());
                request
            },
        ))
}
