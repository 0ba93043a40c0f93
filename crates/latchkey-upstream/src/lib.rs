#![doc = include_str!("../README.md")]

mod callback;
mod config;
mod discovery;
mod error;
mod id_token;
mod identity;
mod request;
mod token;

#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;

#[cfg(test)]
mod flow_tests;
#[cfg(test)]
mod testing;

pub use callback::{
    CallbackParams, Expected, MAX_CALLBACK_QUERY_LEN, Redemption, TokenRequest,
    basic_authorization, complete_callback,
};
pub use config::{
    CallbackUrl, ClientAuthMethod, ClientSecret, EmailDomain, Provider, ProviderConfig, ProviderId,
    ProviderKind, validate_all,
};
pub use discovery::{Endpoints, ID_TOKEN_ALGORITHMS};
pub use error::{ProviderErrorCode, Reason, UpstreamError};
pub use id_token::{IdTokenClaims, MAX_ID_TOKEN_LEN, access_token_hash, validate_id_token};
pub use identity::{MAX_USERINFO_LEN, UpstreamIdentity};
pub use request::{AuthorizationRedirect, PendingUpstream, UpstreamPolicy, begin};
pub use token::{MAX_TOKEN_RESPONSE_LEN, TokenResponse, UserinfoRequest};
