//! Debian content for bale: where the archive is (apt sources), what it
//! says (Release, Packages), whether to believe it (the OpenPGP signature
//! chain down to each .deb's sha256), and turning a .deb into a plain
//! package with no install scripts.

pub mod archive;
pub mod control;
pub mod copyright;
pub mod deb;
pub mod fetch;
pub mod import;
pub mod lock;
pub mod packages;
pub mod relation;
pub mod release;
pub mod solve;
pub mod source_package;
pub mod sources;
pub mod trust;
pub mod version;

pub use version::{Version, VersionError};
