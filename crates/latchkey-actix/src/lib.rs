#![doc = include_str!("../README.md")]

mod authorization_server;
mod error;
mod resource;
mod sensitive;
mod translate;

#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;

pub use authorization_server::authorization_server_routes;
pub use error::ActixError;
pub use latchkey_http::{
    AuthorizationServer, HttpError, Interaction, InteractionHandler, Introspection,
    IntrospectionMode, MAX_BODY_LEN, MAX_QUERY_LEN, ResourceServer,
};
pub use latchkey_remote_keys::{Introspect, IntrospectionFuture, KeySource, KeysError, KeysFuture};
#[cfg(feature = "remote-keys")]
pub use latchkey_remote_keys::{RemoteIntrospection, RemoteKeys};
pub use resource::{
    AccessToken, RequireAccessToken, RequireAccessTokenMiddleware, into_actix_response,
    protected_resource_metadata_routes, request_parts,
};
pub use sensitive::{SensitiveHeaders, SensitiveHeadersMiddleware, mark_sensitive};
pub use translate::{now, request_rng};
