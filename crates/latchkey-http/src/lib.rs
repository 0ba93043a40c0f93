#![doc = include_str!("../README.md")]

mod authorization;
mod cache;
mod cache_control;
mod cookie;
mod error;
mod form;
mod forwarded;
mod introspection;
mod layer;
mod observe;
mod page;
mod page_form;
mod resource;
mod sensitive;

#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;

pub use authorization::{
    AuthorizationServer, CLIENT_ID_PLACEHOLDER, Endpoint, Interaction, InteractionHandler, Routes,
    refusal_response,
};
pub use cache_control::cache_ttl;
pub use cookie::{cookie, cookies_with_prefix, looks_like_session_id, session_cookie};
pub use error::HttpError;
pub use form::{
    FORM_CONTENT_TYPE, JSON_CONTENT_TYPE, MAX_BODY_LEN, MAX_QUERY_LEN, declared_too_large,
    form_pairs,
};
pub use forwarded::{MAX_FORWARDED_HOPS, TrustedProxies, TrustedProxyError};
pub use introspection::{Introspection, IntrospectionMode};
pub use layer::{
    Admit, Clock, OriginLayer, RequestUri, RequireAccessToken, RequireAccessTokenLayer,
    ValidateOrigin,
};
pub use observe::{
    Event, NoObserver, Observer, RevocationCause, endpoint_events, registration_events,
    token_events,
};
pub use page::{error_page, security_headers};
pub use page_form::{ConsentChoice, PageForm, PageFormError, parse_remember, query_request_id};
pub use resource::{
    AccessToken, DPOP, DPOP_NONCE, RequestHead, ResourceServer, Scheme, into_response,
    parse_authorization, protected_resource_metadata_paths, protected_resource_metadata_response,
    server_error,
};
pub use sensitive::{SENSITIVE_HEADERS, is_sensitive, mark_sensitive};
