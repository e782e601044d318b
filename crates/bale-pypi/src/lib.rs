//! PyPI as a source of bale packages: wheels from an index that speaks
//! the JSON simple API (PEP 691), resolved for one image's Python, C
//! library and architecture, each wheel one package under
//! `/usr/local/lib/python3.X/dist-packages` (docs/pypi.md).

pub mod index;
pub mod metadata;
pub mod resolve;
pub mod tags;
pub mod wheel;

use bale_fileset::{Compression, Digest};

use bale_store::{PackageMetadata, Provenance, Store, StoreError};

pub use index::{Index, IndexError, IndexLocation, ProjectFile, locate};
pub use resolve::{ResolveError, Resolved, parse_requirements, resolve};
pub use tags::Environment;
pub use wheel::{WheelError, site_dir};

#[derive(Debug, thiserror::Error)]
pub enum PypiError {
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    #[error(transparent)]
    Wheel(#[from] WheelError),
    #[error("storing the wheel {file}")]
    Store { file: String, source: StoreError },
}

impl PypiError {
    pub fn help(&self) -> Option<&'static str> {
        match self {
            Self::Index(e) => e.help(),
            Self::Resolve(e) => e.help(),
            Self::Wheel(_) => Some("the wheel is damaged or not one bale installs; pin another version"),
            Self::Store { source, .. } => source.help(),
        }
    }
}

/// A wheel as a package of the store.
#[derive(Debug, Clone)]
pub struct ImportedWheel {
    pub id: String,
    pub content: Digest,
    /// False when the store already had exactly this package.
    pub new: bool,
    /// Libraries it needs from the image (see [`wheel::WheelFiles::needs`]).
    pub needs: Vec<String>,
}

/// The origin of packages made from wheels for `env`'s Python: their
/// files are under its `python3.X` directory.
pub fn origin(env: &Environment) -> String {
    format!("pypi:py{}", env.python_version())
}

/// The id a wheel becomes in the store, for an image of `env` on the
/// Debian `architecture`.
pub fn package_id(
    env: &Environment,
    name: &str,
    version: &str,
    filename: &str,
    architecture: &str,
) -> Result<bale_store::PackageId, StoreError> {
    let specific = tags::WheelName::parse(filename).is_some_and(|w| w.is_platform_specific());
    let architecture = if specific { architecture } else { bale_store::ARCH_ALL };
    bale_store::PackageId::new(Some(origin(env)), name, architecture, version)
}

/// Downloads `file` (checked against the index's sha256), unpacks it as
/// bale installs wheels for `env` and stores it as the package `name`
/// `version` for the Debian `architecture` (platform wheels; pure ones
/// are `all`).
#[allow(clippy::too_many_arguments)]
pub fn import_wheel(
    store: &Store,
    index: &Index,
    file: &ProjectFile,
    name: &str,
    version: &str,
    env: &Environment,
    architecture: &str,
    compression: Compression,
) -> Result<ImportedWheel, PypiError> {
    let stored = |source| PypiError::Store { file: file.filename.clone(), source };
    let id = package_id(env, name, version, &file.filename, architecture).map_err(stored)?;
    let work = bale_store::WorkDir::new(store, "wheel-").map_err(stored)?;
    let path = index.fetch(file, index.scratch().unwrap_or(&work.path))?;
    let files = wheel::wheel_files(&path, &file.filename, env, &work.path)?;
    let core = metadata::CoreMetadata::parse(&files.metadata)
        .map_err(|problem| WheelError { file: file.filename.clone(), problem: format!("its METADATA: {problem}") })?;
    if metadata::normalize(&core.name) != name || core.version.to_string() != version {
        return Err(WheelError {
            file: file.filename.clone(),
            problem: format!("its METADATA says {} {}, not {name} {version}", core.name, core.version),
        }
        .into());
    }
    let mut metadata = PackageMetadata::new(name, version);
    metadata.origin = id.origin.clone();
    metadata.architecture = Some(id.architecture.clone());
    metadata.summary = summary(&files.metadata);
    metadata.license = license(&files.metadata);
    metadata.purl = format!("pkg:pypi/{name}@{}", bale_store::purl_version(version));
    let mut index_url = index.location.url.clone();
    // A token in the URL is the user's secret, not the package's history.
    let _ = index_url.set_username("");
    let _ = index_url.set_password(None);
    metadata.provenance =
        Provenance::Pypi { index: index_url.to_string(), filename: file.filename.clone(), sha256: file.sha256 };
    let _session = store.lock_shared().map_err(stored)?;
    let outcome = bale_store::store_plan(store, &files.plan, metadata, compression, true, &bale_progress::NoProgress)
        .map_err(stored)?;
    Ok(ImportedWheel { id: outcome.id, content: outcome.metadata.content.digest, new: outcome.new, needs: files.needs })
}

fn header<'a>(metadata: &'a str, key: &str) -> Option<&'a str> {
    metadata
        .lines()
        .take_while(|l| !l.is_empty())
        .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v.trim()))
}

fn summary(metadata: &str) -> Option<String> {
    header(metadata, "Summary").filter(|s| !s.is_empty()).map(|s| s.chars().take(200).collect())
}

/// The wheel's `License-Expression` when it is one; else NOASSERTION
/// (free-text `License` fields are not SPDX).
fn license(metadata: &str) -> String {
    header(metadata, "License-Expression")
        .filter(|l| bale_store::validate_license(l).is_ok())
        .unwrap_or("NOASSERTION")
        .to_string()
}
