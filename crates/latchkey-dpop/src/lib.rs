#![doc = include_str!("../README.md")]

mod binding;
mod error;
mod htu;
mod nonce;
mod proof;
mod replay;

pub use binding::{JwkThumbprint, check_key_binding};
pub use error::DpopError;
pub use htu::Htu;
pub use nonce::{DpopNonce, DpopNonces, NonceCheck, NonceKey};
pub use proof::{DPOP_JWT_TYPE, DpopConfig, ProofExpectations, ValidatedProof, validate_proof};
pub use replay::{
    MemoryReplayCache, PartitionedReplayCache, ReplayCache, ReplayKey, ReplayOutcome,
    ReplayPartition,
};

#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
