use std::io;
use std::path::PathBuf;

use bale_build::BuildError;
use bale_fileset::{Digest, FilesetError};
use bale_image::{ComposeError, UnpackImageError};
use bale_sandbox::SandboxError;
use bale_store::StoreError;

/// Everything `bale make` and `bale rebuild` can fail with. The message
/// says what failed and where; [`RecipeError::help`] says what to do.
#[derive(Debug, thiserror::Error)]
pub enum RecipeError {
    #[error("reading {}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("{}: {message}", path.display())]
    Parse { path: PathBuf, message: String },
    #[error("{}: {field}: {reason}", path.display())]
    Invalid { path: PathBuf, field: String, reason: String },
    #[error("{}: {message}", path.display())]
    LockParse { path: PathBuf, message: String },
    #[error("writing {}", path.display())]
    Write { path: PathBuf, source: io::Error },
    #[error("{} {reason}; --locked builds only what the lock pins", path.display())]
    LockStale { path: PathBuf, reason: String },
    #[error("the source {} (beside {}) cannot be read", file.display(), recipe.display())]
    SourceMissing { recipe: PathBuf, file: PathBuf, source: io::Error },
    #[error("the source {source_name} has {actual}, but the recipe expects {expected}; nothing was built")]
    SourceDigest { source_name: String, expected: Digest, actual: Digest },
    #[error("fetching the source {url}: {message}")]
    Fetch { url: String, message: String },
    #[error("fetching the source {url}")]
    Download { url: String, source: bale_http::DownloadError },
    #[error("the build root package {reference:?} (build.packages)")]
    RootPackage { reference: String, source: StoreError },
    #[error(
        "{} pins the build root package {id} with content {want}, but the store has {got}",
        lock.display()
    )]
    RootPackageChanged { lock: PathBuf, id: String, want: Digest, got: String },
    #[error("resolving the build root")]
    Resolve(#[source] Box<BuildError>),
    #[error("composing the build root")]
    Compose(#[source] ComposeError),
    #[error("unpacking the build root into {}", dir.display())]
    Unpack { dir: PathBuf, source: UnpackImageError },
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("step {step} ({command}) failed with {outcome}; the end of its output:\n{tail}")]
    StepFailed { step: usize, command: String, outcome: String, tail: String },
    #[error("the build root has no /bin/sh, which runs the steps")]
    NoShell,
    #[error("test {test} ({command}) failed with {outcome}; nothing was stored; the end of its output:\n{tail}")]
    TestFailed { test: usize, command: String, outcome: String, tail: String },
    #[error("split[{index}] ({name}) takes no file of $OUT")]
    EmptySplit { name: String, index: usize },
    #[error("the steps wrote nothing into $OUT; a package needs at least one file")]
    EmptyOutput,
    #[error("reading the build's output")]
    Output(#[source] FilesetError),
    #[error("the Debian source {name} {version}")]
    DebianSource { name: String, version: String, source: bale_debian::source_package::SourcePackageError },
    #[error("the Debian source {name} is unpacked by dpkg-source, which the build root lacks")]
    NoDpkgSource { name: String },
    #[error("{}: {reason}; source_date_epoch = \"debian-changelog\" needs its date", path.display())]
    Changelog { path: PathBuf, reason: String },
    #[error("{id} was not built from a recipe by bale make (or does not carry its recipe and lock)")]
    NotFromRecipe { id: String },
    #[error("{id} carries a recipe file {title:?} that is not a path bale writes or not the one its provenance names")]
    BadAttachment { id: String, title: String },
    #[error("{}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("{id} did not rebuild identically; a rebuilder attests only identical rebuilds")]
    NotReproducible { id: String },
    #[error(transparent)]
    Trust(bale_trust::TrustError),
    #[error("recording the attestation")]
    Sign(#[source] bale_image::SignError),
}

impl RecipeError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }

    /// What to do about it, for people.
    pub fn help(&self) -> Option<&'static str> {
        match self {
            Self::Parse { .. } => Some("docs/recipes.md lists every key a recipe takes"),
            Self::Invalid { .. } => Some("fix that key of the recipe; docs/recipes.md says what each key takes"),
            Self::LockParse { .. } => Some("the lock is written by `bale make`; delete it and run `bale make` again"),
            Self::LockStale { .. } => Some("run `bale make` without --locked to re-pin, then commit the lock"),
            Self::SourceMissing { .. } => {
                Some("a `path` source is a regular file in the recipe's directory or below it, reached without links")
            }
            Self::SourceDigest { .. } => Some(
                "if the new file is the one you mean to build, put its sha256 (`sha256sum FILE`) in the recipe; \
                 otherwise the file was changed or replaced on its way to you",
            ),
            Self::Fetch { .. } => Some("check the URL and the network; the recipe's sha256 decides what is accepted"),
            Self::Download { source, .. } => Some(source.help()),
            Self::RootPackage { .. } => Some(
                "`bale inspect` lists the store's packages; a build-root package is named as `bale inspect` takes it",
            ),
            Self::RootPackageChanged { .. } => {
                Some("the store holds different content under that id; run `bale make` without --locked to re-pin")
            }
            Self::Resolve(e) => e.help(),
            Self::Compose(ComposeError::Store(e)) => e.help(),
            Self::Compose(_) => None,
            Self::Unpack { source, .. } => source.help(),
            Self::Sandbox(e) => e.help(),
            Self::Store(e) => e.help(),
            Self::StepFailed { .. } => Some(
                "the step runs under `/bin/sh -e` in /build, uid 1000, without network; fix the step or the build \
                 root's packages",
            ),
            Self::NoShell => {
                Some("add a shell to the build root: `dash` to [build.debian] packages, or a bale package with /bin/sh")
            }
            Self::TestFailed { .. } => Some(
                "a test runs over the built package alone (no build root, no network), as uid 1000; a `run` test \
                 needs /bin/sh in the package, a `command` test does not",
            ),
            Self::EmptySplit { .. } => Some("check the split's `paths` against what the steps install"),
            Self::EmptyOutput => Some("install into $OUT, for example `make install DESTDIR=$OUT`"),
            Self::Output(e) => e.help(),
            Self::DebianSource { source, .. } => source.help(),
            Self::NoDpkgSource { .. } => Some("add `dpkg-dev` (and `patch`, `xz-utils`) to [build.debian] packages"),
            Self::Changelog { .. } => Some("set source_date_epoch to seconds since the epoch instead"),
            Self::NotFromRecipe { .. } => {
                Some("only packages `bale make` built can be rebuilt; `bale inspect REF` shows where one came from")
            }
            Self::BadAttachment { .. } => Some("the package was not written by bale; do not trust it"),
            Self::Read { .. } | Self::Write { .. } | Self::Io { .. } => None,
            Self::NotReproducible { .. } => Some("fix what the rebuild named, make the package again, then rebuild"),
            Self::Trust(e) => e.help(),
            Self::Sign(_) => None,
        }
    }
}
