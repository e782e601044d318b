use std::io;
use std::path::PathBuf;

use bale_debian::archive::ArchiveError;
use bale_debian::import::{ClosureError, ImportError};
use bale_debian::packages::PackagesError;
use bale_debian::relation::RelationError;
use bale_debian::solve::ResolveError;
use bale_debian::sources::SourcesError;
use bale_fileset::Digest;
use bale_image::{ComposeError, LayoutError, LockError, SpecError};
use bale_store::StoreError;

/// Everything the pipeline can fail with. The message says what failed and
/// where; [`BuildError::help`] says what to do.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error("reading the host's apt sources")]
    HostSources(#[source] SourcesError),
    #[error("no mirror: the host's apt sources ({}) list no `deb` source; pass --mirror URL", apt_dir.display())]
    NoMirror { apt_dir: PathBuf },
    #[error("the host's apt source names no suite")]
    SourceWithoutSuite,
    #[error("no suite: pass --suite, for example --suite bookworm")]
    NoSuite,
    #[error("the keyring {} does not exist; pass --keyring FILE", path.display())]
    NoKeyring { path: PathBuf },
    #[error("debian.packages: {text:?}")]
    SpecRequest { text: String, source: RelationError },
    #[error("reading the package request {text:?}")]
    Request { text: String, source: RelationError },
    #[error(transparent)]
    Closure(#[from] ClosureError<ResolveError>),
    #[error(transparent)]
    Import(#[from] ImportError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Index(#[from] PackagesError),
    #[error("opening {mirror} {suite}")]
    OpenRelease { mirror: String, suite: String, source: Box<ArchiveError> },
    #[error("opening {mirror} {suite} ({components})")]
    OpenArchive { mirror: String, suite: String, components: String, source: Box<ArchiveError> },
    #[error(
        "bale.lock takes {id} from the suite {suite}, which is not read now (the host's apt sources, --mirror or \
         `updates = false` decide which suites are); read that suite again, or run `bale lock` to re-pin"
    )]
    LockedSuiteNotRead { id: String, suite: String },
    #[error(
        "{id} converted to {got}, but bale.lock pins {want}; this bale converts .debs differently from the one that \
         wrote the lock (run `bale lock` to re-pin)"
    )]
    ConvertedDifferently { id: String, got: Digest, want: Digest },
    #[error("{id} came out as {got}, but bale.lock pins {want}")]
    BaseDifferently { id: String, got: Digest, want: Digest },
    #[error(transparent)]
    Pypi(bale_pypi::PypiError),
    #[error(transparent)]
    Npm(bale_npm::NpmError),
    #[error("[npm] packages: npm has no name for the architecture {architecture}")]
    NpmArchitecture { architecture: String },
    #[error("bale.lock pins {package}, which the registry ({registry}) no longer lists")]
    NpmGone { package: String, registry: String },
    #[error("bale.lock pins {package} with integrity {want}, but the registry now lists {got}")]
    NpmChanged { package: String, want: String, got: String },
    #[error(
        "{id} unpacked to {got}, but bale.lock pins {want}; this bale lays out npm packages differently from the one that wrote the lock (run `bale lock` to re-pin)"
    )]
    NpmUnpackedDifferently { id: String, got: Digest, want: Digest },
    #[error(
        "the Python distribution {distribution} would be in the image twice: from Debian ({debian}) and from PyPI ({pypi})"
    )]
    PythonTwice { distribution: String, debian: String, pypi: String },
    #[error("{wheel} needs {library}, which neither it nor the image's packages ship")]
    WheelLibrary { wheel: String, library: String },
    #[error(
        "[pypi] packages need the image's Python: no python3 in the {architecture} image's Debian packages \
         (or no wheel machine for that architecture)"
    )]
    NoPython { architecture: String },
    #[error("bale.lock pins the wheel {filename}, which the index ({index}) no longer lists")]
    PypiGone { filename: String, index: String },
    #[error("bale.lock pins the wheel {filename} with sha256 {want}, but the index now lists {got}")]
    PypiChanged { filename: String, want: Digest, got: Digest },
    #[error(
        "{id} unpacked to {got}, but bale.lock pins {want}; this bale installs wheels differently from the one that wrote the lock (run `bale lock` to re-pin)"
    )]
    WheelUnpackedDifferently { id: String, got: Digest, want: Digest },
    #[error("packages: {reference:?}")]
    StorePackage { reference: String, source: StoreError },
    #[error("packages: {reference:?} is {id}, which does not run on {architecture}")]
    StorePackageArchitecture { reference: String, id: String, architecture: String },
    #[error("bale.lock pins {id} with content {want}, but the store has {got} under that id")]
    StorePackageChanged { id: String, want: Digest, got: String },
    #[error("{}: no [debian] section and no `packages`, so there is nothing to lock", spec.display())]
    NothingToLock { spec: PathBuf },
    #[error("{} does not exist yet; run `bale lock` first", path.display())]
    NoLockYet { path: PathBuf },
    #[error("{name} is not in {}; `bale update` takes the name of a locked package", path.display())]
    NotLocked { name: String, path: PathBuf },
    #[error(
        "{} is missing, or was written for a different spec (its [debian] section changed) or another \
         architecture; run `bale lock`, or build without --locked",
        path.display()
    )]
    LockStale { path: PathBuf },
    #[error("packing {} (local {local:?} of {})", dir.display(), spec.display())]
    Pack { dir: PathBuf, local: String, spec: PathBuf, source: StoreError },
    #[error("{}: files.{key:?}: reading {}", spec.display(), file.display())]
    FileSource { spec: PathBuf, key: String, file: PathBuf, source: io::Error },
    #[error("composing the {architecture} image")]
    Compose { architecture: String, source: ComposeError },
    #[error(transparent)]
    Layout(#[from] LayoutError),
    #[error("writing {}", path.display())]
    Write { path: PathBuf, source: io::Error },
    #[error("{name}: no package of that name in {suite} ({components})")]
    NoSuchPackage { name: String, suite: String, components: String },
    #[error(
        "{package} declares the dependency {text:?}, which is not a relation bale reads (NAME or NAME (OP VERSION))"
    )]
    BadDependency { package: String, text: String },
    #[error("{package} depends on {requirement}, which no package of the {architecture} image is or provides")]
    UnmetDependency { package: String, requirement: String, architecture: String },
    #[error(transparent)]
    Sandbox(#[from] bale_sandbox::SandboxError),
    #[error(transparent)]
    Trust(#[from] bale_trust::TrustError),
    #[error("{package} does not meet the trust policy {}: {reason}", policy.display())]
    PolicyRefused { package: String, reason: String, policy: PathBuf },
    #[error("signing the image")]
    Sign(#[source] bale_image::SignError),
    #[error(
        "[[run]] runs the image's own programs, so the image must be for this machine ({host}), not {architecture}"
    )]
    RunForeign { architecture: String, host: String },
    #[error("{id} is in the store and was not made by [[run]] commands; the image's [[run]] layer would replace it")]
    RunPackageTaken { id: String },
    #[error("[[run]] {index} is a shell command line (`run`), and the image has no /bin/sh")]
    RunNoShell { index: usize },
    #[error("[[run]] {index} (`{command}`) failed with {outcome}; its last output:\n{tail}")]
    RunFailed { index: usize, command: String, outcome: String, tail: String },
    #[error("the [[run]] commands removed {path}; they may add and change files, not remove what packages ship")]
    RunRemoved { path: String },
    #[error("the [[run]] commands made {path}, {kind}; an image holds only files, directories and links")]
    RunSpecial { path: String, kind: &'static str },
    #[error("reading what the [[run]] commands wrote")]
    RunOutput(#[source] bale_fileset::FilesetError),
    #[error("unpacking the image for its [[run]] commands")]
    RunUnpack(#[source] bale_image::UnpackImageError),
    #[error("storing what the [[run]] commands wrote as the package {name}")]
    RunPackage { name: String, source: StoreError },
}

impl BuildError {
    /// What to do about it, for people: this error's own advice, or that of
    /// the error it wraps.
    pub fn help(&self) -> Option<&'static str> {
        match self {
            Self::UnmetDependency { .. } => Some(
                "add what provides it to the spec: a Debian package to [debian] packages, a bale package to \
                 `packages`",
            ),
            Self::Sandbox(e) => e.help(),
            Self::Trust(e) => e.help(),
            Self::PolicyRefused { .. } => Some(
                "sign it (`bale sign PKG --key KEY`), attest a rebuild (`bale rebuild PKG --attest KEY`), or change \
                 the policy; nothing was built",
            ),
            Self::Sign(e) => e.help(),
            Self::Pypi(e) => e.help(),
            Self::Npm(e) => e.help(),
            Self::NpmArchitecture { .. } => Some("build that image without [npm], or for amd64, arm64, armhf or i386"),
            Self::NpmGone { .. } | Self::NpmChanged { .. } => Some(
                "the registry changed what the lock pinned; check the registry (a published version must never \
                 change), or run `bale lock` to re-pin",
            ),
            Self::NpmUnpackedDifferently { .. } => Some("run `bale lock` to re-pin with this bale"),
            Self::NoPython { .. } => Some("add python3 to [debian] packages"),
            Self::WheelLibrary { .. } => Some(
                "add the Debian package that ships it to [debian] packages (bale adds those of glibc, libstdc++, \
                 libgcc, zlib, expat, X11, GL and GLib itself)",
            ),
            Self::PythonTwice { .. } => Some(
                "take it from one source: drop the python3-* package from [debian] packages (or what pulls it in), \
                 or the requirement from [pypi] packages",
            ),
            Self::PypiGone { .. } | Self::PypiChanged { .. } => Some(
                "the index changed what the lock pinned; check the index (a file must never change), or run \
                 `bale lock` to re-pin",
            ),
            Self::WheelUnpackedDifferently { .. } => Some("run `bale lock` to re-pin with this bale"),
            Self::RunForeign { .. } => {
                Some("build that architecture on a machine of its own, or list only this machine's in `architectures`")
            }
            Self::RunFailed { .. } => Some(
                "the commands run without network, as root of a user namespace, over the image alone; fix the \
                 command or add what it needs to the image",
            ),
            Self::RunRemoved { .. } => {
                Some("leave the package that ships it out of the image, or change the file instead of removing it")
            }
            Self::RunSpecial { .. } => Some("make it at run time instead (the runtime provides /dev)"),
            Self::RunOutput(e) => e.help(),
            Self::RunUnpack(e) => e.help(),
            Self::RunPackage { source, .. } => source.help().or(Some(
                "the package is named after the image (`NAME/run`, version the tag): give the image a name and \
                 tag a package may have",
            )),
            Self::StorePackage { .. } => Some(
                "`packages` names bale packages in the store (`bale list` shows them): make them with `bale make` \
                 or `bale pack`, or `bale pull` them",
            ),
            Self::StorePackageArchitecture { .. } => {
                Some("name the package for this architecture (name:arch@version), or build the image for its")
            }
            Self::StorePackageChanged { .. } => {
                Some("the package was made again with other content; run `bale lock` to pin what the store has now")
            }
            Self::Closure(e) => e.help().or(match e {
                ClosureError::Resolve(e) => e.help(),
                _ => None,
            }),
            Self::Import(e) => e.help(),
            Self::Lock(e) => e.help(),
            Self::Store(e) | Self::Pack { source: e, .. } => e.help(),
            Self::OpenRelease { source, .. } | Self::OpenArchive { source, .. } => source.help(),
            Self::Compose { source: ComposeError::WrongArchitecture { .. }, .. } => Some(
                "a [[local]] package with binaries for one architecture says so (`architecture = \"arm64\"`) and \
                 goes only into that image; one that runs anywhere is `all` (the default)",
            ),
            Self::Compose { source: ComposeError::Store(e), .. } | Self::Layout(LayoutError::Store(e)) => e.help(),
            Self::NoSuchPackage { .. } => Some("check the name, the suite and the components (--component)"),
            _ => None,
        }
    }
}
