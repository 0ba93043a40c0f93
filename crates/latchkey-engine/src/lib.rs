#![doc = include_str!("../README.md")]

pub mod authorize;
pub mod discovery;
pub mod register;

#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;

mod client_auth;
mod clients;
mod config;
mod engine;
mod error;
mod events;
mod introspect;
mod request;
mod response;
mod revoke;
mod status;
mod token;

pub use client_auth::JWT_BEARER_ASSERTION_TYPE;
pub use clients::{ClientSource, FetchError, MetadataFetcher, NoMetadataFetcher, ResolvedClient};
pub use config::{EngineConfig, McpProfile, RegistrationSettings, ResourceConfig};
pub use engine::{Engine, EngineSecrets};
pub use error::{EndpointOutcome, EngineError};
pub use events::{SECURITY_TARGET, SecurityEvent, emit};
pub use latchkey_jose::KeyWrapKey;
pub use request::{HttpContext, Params};
pub use response::{DPOP_NONCE, EndpointResponse, ResponseBody};
pub use status::{
    RevocationCheck, RevocationRefusal, StatusFuture, StoreRevocationCheck, TokenStatus,
    check_revocation,
};
pub use token::{TokenOutcome, TokenRefused};
