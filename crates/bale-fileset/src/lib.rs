//! bale's FileSet format: the canonical tar.
//!
//! A package's content is a tar written by exactly one function,
//! [`write_canonical`], and read back by exactly one, [`read_entries`]. The
//! sha256 of the uncompressed canonical tar is the package's content id and,
//! unchanged, its OCI layer `diff_id`. See `docs/fileset.md` for the rules.
//!
//! The flow is: collect a [`Plan`] (from a directory or from any tar, read
//! strictly), then write it canonically into a [`LayerSink`], which hashes the
//! uncompressed stream and compresses it deterministically in one pass.

mod compress;
mod digest;
mod entry;
mod error;
pub mod hook;
mod index;
mod path;
mod plan;
mod read;
pub mod safe_fs;
mod tarfmt;
mod unpack;
mod write;

pub use compress::{Compression, LayerSink, LayerSummary, ParallelGzip};
pub use digest::{Digest, DigestParseError, HashingWriter, Sha256, sha256_bytes, sha256_reader};
pub use entry::{Entry, EntryKind, ModePolicy, Normalize, OwnerPolicy};
pub use error::{EntryProblem, FilesetError, display_path};
pub use index::{FILE_INDEX_MEDIA_TYPE, FileIndex, FileIndexEntry};
pub use path::{MAX_NAME_LEN, MAX_PATH_LEN, normalize as normalize_path};
pub use plan::{Content, Plan, SpoolingPlan};
pub use read::{Limits, MAX_EXTENSION_SIZE, read_entries};
pub use unpack::{UnpackOptions, unpack};
pub use write::{WriteSummary, write_canonical};

/// OCI media type of a gzip-compressed layer.
pub const LAYER_MEDIA_TYPE_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// OCI media type of a zstd-compressed layer.
pub const LAYER_MEDIA_TYPE_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
