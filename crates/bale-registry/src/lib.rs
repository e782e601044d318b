//! Pushing and pulling images over the OCI distribution API, so any OCI
//! registry is a bale repository. Blobs are addressed by digest: a push
//! sends only what the registry lacks, a pull checks every byte.

mod auth;
mod client;
mod reference;

pub mod mounts;
pub mod packages;
pub use client::{
    PullCandidate, PullGuard, PullReport, PushReport, Registry, RegistryError, pull, pull_guarded, push_layout, query,
};
pub use reference::{Reference, ReferenceError};
