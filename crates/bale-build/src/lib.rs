//! bale's pipeline as a library, for every front end (the CLI now, a
//! registry server and tests too): where a spec's Debian content comes
//! from ([`archive_config`]), importing it ([`import_debian`]), pinning it
//! ([`lock`], [`update`]) and building the image ([`build`]). Everything
//! returns a typed report or a [`BuildError`] that carries its own help;
//! nothing here prints.

// BuildError wraps every stage's error by value so that callers can match on
// it; errors end a build, so their size on the stack does not matter.
#![allow(clippy::result_large_err)]

mod dependencies;
mod error;
mod host;
mod image_cache;
mod last_steps;
mod pipeline;
mod python;
pub mod source;
pub mod sources;
mod trust;

pub use error::BuildError;
pub use host::{
    ArchiveRequest, DebianShow, archive_config, host_architecture, import_debian, open_archive, show_debian,
};
pub use pipeline::{BuildReport, BuildRequest, LockReport, OutputFormat, build, check_lock, lock, update};
