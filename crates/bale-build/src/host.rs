//! Where Debian content comes from: what the user said, filled in from the
//! host's apt configuration, and the import of a closure with the solver.

use std::path::PathBuf;

use bale_debian::archive::{self, ArchiveConfig, OpenedArchive, UpdateSource};
use bale_debian::import::{ClosureReport, ImportOptions, import_closure, parse_request};
use bale_progress::Progress;
use bale_store::Store;

use crate::BuildError;

const DEBIAN_KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";

/// What a user says about an archive (command-line flags or a spec's
/// `[debian]` section); anything left out comes from the host.
#[derive(Debug, Clone, Default)]
pub struct ArchiveRequest {
    pub suite: Option<String>,
    pub mirror: Option<String>,
    pub components: Vec<String>,
    pub architecture: Option<String>,
    pub keyring: Option<PathBuf>,
    pub allow_expired: bool,
    pub no_updates: bool,
}

/// Fills in what the user did not say from the host's apt configuration.
pub fn archive_config(request: &ArchiveRequest) -> Result<ArchiveConfig, BuildError> {
    // Tests point this at a fake root; everyone else reads the real one.
    let apt_root = std::env::var_os("BALE_APT_ROOT").map_or_else(|| PathBuf::from("/"), PathBuf::from);
    let needs_host = request.mirror.is_none() || request.suite.is_none() || request.components.is_empty();
    let host = if needs_host {
        bale_debian::sources::host_sources(&apt_root).map_err(BuildError::HostSources)?
    } else {
        Vec::new()
    };
    let chosen = match &request.suite {
        Some(suite) => host.iter().find(|s| s.suites.iter().any(|x| x == suite)).or(host.first()),
        None => host.first(),
    };
    let Some(mirror) = request.mirror.clone().or_else(|| chosen.map(|s| s.uri.clone())) else {
        return Err(BuildError::NoMirror { apt_dir: apt_root.join("etc/apt") });
    };
    let suite = match (&request.suite, chosen) {
        (Some(s), _) => s.clone(),
        (None, Some(source)) => source.suites.first().cloned().ok_or(BuildError::SourceWithoutSuite)?,
        (None, None) => return Err(BuildError::NoSuite),
    };
    let components = if !request.components.is_empty() {
        request.components.clone()
    } else {
        chosen.filter(|s| !s.components.is_empty()).map_or_else(|| vec!["main".to_string()], |s| s.components.clone())
    };
    let keyring = request
        .keyring
        .clone()
        .or_else(|| chosen.and_then(|s| s.signed_by.clone()))
        .unwrap_or_else(|| PathBuf::from(DEBIAN_KEYRING));
    if !keyring.exists() {
        return Err(BuildError::NoKeyring { path: keyring });
    }
    // As apt does, the host's SUITE-updates and SUITE-security sources are
    // layered over the main suite (backports are not: apt never prefers
    // them). A mirror given explicitly means that mirror alone.
    let mut updates: Vec<UpdateSource> = Vec::new();
    if !request.no_updates && request.mirror.is_none() {
        for source in &host {
            for name in &source.suites {
                let is_update = [format!("{suite}-updates"), format!("{suite}-security"), format!("{suite}/updates")]
                    .contains(name);
                let update = UpdateSource {
                    mirror: source.uri.clone(),
                    suite: name.clone(),
                    keyring: source.signed_by.clone().unwrap_or_else(|| keyring.clone()),
                };
                // One source per suite name: packages are traced back to
                // their suite by name.
                if is_update && !updates.iter().any(|u| u.suite == update.suite) {
                    updates.push(update);
                }
            }
        }
    }
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    Ok(ArchiveConfig {
        mirror,
        suite,
        components,
        architecture: request.architecture.clone().unwrap_or_else(host_architecture),
        keyring,
        allow_expired: request.allow_expired,
        now,
        updates,
    })
}

/// Debian's name for this machine's architecture.
pub fn host_architecture() -> String {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "i386",
        "arm" => "armhf",
        "powerpc64" => "ppc64el",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        other => other,
    }
    .to_string()
}

/// Opens the archive with its whole index (`bale debian show`).
pub fn open_archive(
    store: &Store,
    request: &ArchiveRequest,
    progress: &dyn Progress,
) -> Result<OpenedArchive, BuildError> {
    let config = archive_config(request)?;
    archive::open(&config, store, progress).map_err(|source| BuildError::OpenArchive {
        mirror: config.mirror.clone(),
        suite: config.suite.clone(),
        components: config.components.join(", "),
        source: Box::new(source),
    })
}

/// Imports `requests` (names, optionally with a version constraint) and
/// everything they need, solved together (`bale import debian`).
pub fn import_debian(
    store: &Store,
    config: &ArchiveConfig,
    requests: &[String],
    options: ImportOptions,
    progress: &dyn Progress,
) -> Result<ClosureReport, BuildError> {
    let roots = requests
        .iter()
        .map(|text| parse_request(text).map_err(|source| BuildError::Request { text: text.clone(), source }))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(import_closure(store, config, roots, "", options, progress, |index, roots| {
        let request = bale_debian::solve::Request {
            index,
            architecture: config.architecture.clone(),
            roots,
            locked: Default::default(),
        };
        bale_debian::solve::resolve(&request).map(|r| r.packages)
    })?)
}

/// What the archive has of one name (`bale debian show`).
#[derive(Debug, Clone)]
pub struct DebianShow {
    /// The suite's codename.
    pub suite: String,
    /// Every version of the package, newest first.
    pub versions: Vec<bale_debian::packages::BinaryPackage>,
    /// `name version` of each package that provides the name.
    pub provided_by: Vec<String>,
}

/// Looks `name` up in the archive without importing anything; a name the
/// archive neither has nor provides is an error.
pub fn show_debian(
    store: &Store,
    request: &ArchiveRequest,
    name: &str,
    progress: &dyn Progress,
) -> Result<DebianShow, BuildError> {
    let archive = open_archive(store, request, progress)?;
    let versions: Vec<_> = archive.index.versions(name)?.into_iter().map(|i| archive.index.get(i).clone()).collect();
    let provided_by: Vec<String> = archive
        .index
        .providers(name)?
        .into_iter()
        .map(|i| {
            let p = archive.index.get(i);
            format!("{} {}", p.name, p.version)
        })
        .collect();
    if versions.is_empty() && provided_by.is_empty() {
        return Err(BuildError::NoSuchPackage {
            name: name.to_string(),
            suite: archive.codename().to_string(),
            components: archive.config.components.join(", "),
        });
    }
    Ok(DebianShow { suite: archive.codename().to_string(), versions, provided_by })
}
