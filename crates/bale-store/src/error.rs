use std::io;
use std::path::PathBuf;

use bale_fileset::{Digest, FilesetError};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("cannot tell where the store lives: set BALE_HOME (or HOME or XDG_DATA_HOME)")]
    NoHome,
    #[error("blob {expected} was written but its content hashes to {actual}; nothing was stored")]
    DigestMismatch { expected: Digest, actual: Digest },
    #[error("blob {digest} is missing from the store at {}", path.display())]
    MissingBlob { digest: Digest, path: PathBuf },
    #[error("blob {digest} is corrupt: its content hashes to {actual} (run `bale store verify`)")]
    CorruptBlob { digest: Digest, actual: Digest },
    #[error("{what} ({}) is not valid JSON of the expected shape: {source}", path.display())]
    BadJson { what: String, path: PathBuf, source: serde_json::Error },
    #[error(transparent)]
    Fileset(#[from] FilesetError),
    #[error(
        "package {id} is already in the store with content {existing}, and this content is {new}; \
         a version names exactly one content: choose a new version, or pass --replace"
    )]
    PackageExists { id: String, existing: Digest, new: Digest },
    #[error("no package in the store matches {reference:?}")]
    NotFound { reference: String },
    #[error("{reference:?} matches {} packages: {}; name one exactly", candidates.len(), candidates.join(", "))]
    Ambiguous { reference: String, candidates: Vec<String> },
    #[error("invalid package name {name:?}: {reason}")]
    InvalidName { name: String, reason: &'static str },
    #[error("invalid version {version:?}: {reason}")]
    InvalidVersion { version: String, reason: &'static str },
    #[error("invalid architecture {architecture:?}: {reason}")]
    InvalidArchitecture { architecture: String, reason: &'static str },
    #[error(
        "the store at {} was written by an older bale, whose package ids name no architecture; \
         this bale will not guess which architecture each package is for",
        root.display()
    )]
    NeedsMigration { root: PathBuf },
    #[error("cannot migrate the store: its index names {old} but that package's metadata says {new}")]
    MigrationMismatch { old: String, new: String },
    #[error("the store at {} was written by a newer bale (store format {found}; this bale reads {supported})", root.display())]
    NewerStore { root: PathBuf, found: String, supported: u32 },
    #[error("invalid licence expression {license:?}: {reason}")]
    InvalidLicense { license: String, reason: &'static str },
    #[error("gc removed nothing: manifest {digest} cannot be read ({reason}), so what it references is unknown")]
    GcRefused { digest: Digest, reason: String },
    #[error("gc cannot tell what the registry served from this store holds: {reason}")]
    GcRoots { reason: String },
    #[error("{}: {format}-compressed tars are not supported; decompress it first", path.display())]
    UnsupportedCompression { path: PathBuf, format: &'static str },
    #[error("{} is inside the store at {}; bale writes nothing there but the store itself", path.display(), store.display())]
    InsideStore { path: PathBuf, store: PathBuf },
}

impl StoreError {
    /// What to do about it, for people.
    pub fn help(&self) -> Option<&'static str> {
        Some(match self {
            Self::Fileset(e) => return e.help(),
            Self::NotFound { .. } => "`bale list` shows the packages in the store",
            Self::CorruptBlob { .. } | Self::MissingBlob { .. } => {
                "run `bale store verify` to see every damaged blob; pack or import the affected packages again"
            }
            Self::GcRoots { .. } => {
                "nothing was removed; check the registry index (registry/index.sqlite in the store)"
            }
            Self::GcRefused { .. } => {
                "`bale store verify` names the damaged package; `bale remove` it (then pack or import it again) and rerun gc"
            }
            Self::NoHome => "for example: export BALE_HOME=$PWD/.bale",
            Self::InsideStore { .. } => "write the image or files to a directory outside the store",
            Self::InvalidName { .. } => "names look like `hello` or `example.com/tools/app`",
            Self::InvalidVersion { .. } => "versions look like `1.2.0` or `2:1.0-3~rc1`",
            Self::InvalidArchitecture { .. } => {
                "architectures are Debian's names: `amd64`, `arm64`, `armhf`, …, or `all`"
            }
            Self::NeedsMigration { .. } => {
                "run `bale store migrate` once: it reads each package's architecture from its metadata and rewrites \
                 the index (no blob changes); older bales cannot read the store afterwards"
            }
            Self::NewerStore { .. } => "use a newer bale, or another store (--store DIR or BALE_HOME)",
            Self::InvalidLicense { .. } => "use an SPDX expression, or NOASSERTION when unknown",
            _ => return None,
        })
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }
}
