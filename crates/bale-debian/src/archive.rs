//! Opening a suite of an archive: `InRelease` verified against the keyring,
//! `Valid-Until` enforced, then each component's `Packages` index fetched
//! by the sha256 the Release lists and parsed.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;

use bale_fileset::{Digest, sha256_bytes};
use bale_progress::Progress;
use bale_store::{Store, StoreError};

use crate::fetch::{FetchError, Mirror};
use crate::packages::{BinaryPackage, PackageIndex, PackagesError};
use crate::release::{Release, ReleaseError};
use crate::trust::{Keyring, TrustError, verify_clearsigned};

/// Where and what to read.
#[derive(Debug, Clone)]
pub struct ArchiveConfig {
    pub mirror: String,
    pub suite: String,
    pub components: Vec<String>,
    pub architecture: String,
    pub keyring: PathBuf,
    /// Accept a Release past its `Valid-Until` (for snapshot archives).
    pub allow_expired: bool,
    /// The time to check `Valid-Until` against, in seconds since the epoch.
    pub now: i64,
    /// Suites layered over the main one, as apt layers `bookworm-updates`
    /// and `bookworm-security` over `bookworm`: each is verified the same
    /// way, and the newest version of a package in any of them wins.
    pub updates: Vec<UpdateSource>,
}

/// A suite layered over the main one, with its own mirror and keyring (the
/// security suite usually lives elsewhere) and the main suite's components
/// and architecture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateSource {
    pub mirror: String,
    pub suite: String,
    pub keyring: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error(transparent)]
    Trust(#[from] TrustError),
    #[error("{url}: {source}")]
    Release { url: String, source: ReleaseError },
    #[error(
        "{url} was not found: the suite {suite:?} does not exist on this mirror, or it publishes no InRelease (bale does not accept unsigned or detached-signature Release files)"
    )]
    NoInRelease { url: String, suite: String },
    #[error(
        "{url} expired on {valid_until} (Valid-Until); the mirror is stale or replaying an old Release. For a snapshot archive, pass --allow-expired"
    )]
    Expired { url: String, valid_until: String },
    #[error(
        "the Release of {suite:?} lists no Packages index for {component}/binary-{architecture} (it has components {available:?} and architectures {architectures:?})"
    )]
    NoIndex {
        suite: String,
        component: String,
        architecture: String,
        available: Vec<String>,
        architectures: Vec<String>,
    },
    #[error(
        "{url} is a genuine Release, but of the suite {found} (Suite {suite:?}, Codename {codename:?}), not of {requested:?}: the mirror serves the wrong suite there, or someone replays another suite's Release"
    )]
    WrongSuite { url: String, requested: String, found: String, suite: Option<String>, codename: Option<String> },
    #[error(
        "the update suite {suite} (--no-updates, or `updates = false` in a spec, reads the main suite alone): {error}"
    )]
    Update { suite: String, error: Box<ArchiveError> },
    #[error("{url}: cannot decompress: {reason}")]
    Decompress { url: String, reason: String },
    #[error(transparent)]
    Packages(#[from] PackagesError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ArchiveError {
    /// What to do about it, for people.
    pub fn help(&self) -> Option<&'static str> {
        match self {
            Self::Trust(e) => Some(e.help()),
            Self::Fetch(e) => e.help(),
            Self::Store(e) => e.help(),
            Self::WrongSuite { .. } => {
                Some("nothing was imported: check the suite name (--suite, or the apt source), or use another mirror")
            }
            Self::Update { error, .. } => error.help(),
            Self::Decompress { .. } => Some(
                "nothing from that index was kept: it does not match the signed Release; retry later or use another mirror",
            ),
            _ => None,
        }
    }
}

/// One component's `Packages` file as the Release lists it.
#[derive(Debug, Clone)]
pub struct IndexFile {
    /// Path under the suite directory, such as `main/binary-amd64/Packages.xz`.
    pub path: String,
    pub digest: Digest,
    pub size: u64,
    /// sha256 and size of the decompressed file, when the Release lists
    /// them (Debian's do): the decompressed text is checked against them.
    pub text: Option<(Digest, u64)>,
}

/// A suite whose `InRelease` checked out: what the rest of the chain is
/// verified against.
#[derive(Debug)]
pub struct Suite {
    pub mirror: Mirror,
    pub config: ArchiveConfig,
    pub release: Release,
    /// sha256 of the `InRelease` file as fetched.
    pub release_sha256: Digest,
    pub signers: Vec<String>,
    /// The `Packages` file of each requested component.
    pub indexes: BTreeMap<String, IndexFile>,
    /// The verified update suites (see [`ArchiveConfig::updates`]), each
    /// with its own mirror, Release and indexes; their `updates` are empty.
    pub updates: Vec<Suite>,
}

impl Suite {
    /// The name used in package ids: the Release's codename, else the suite.
    pub fn codename(&self) -> &str {
        self.release.codename.as_deref().unwrap_or(&self.config.suite)
    }

    /// Package ids name the main suite's codename even for a version from
    /// an update suite: versions are unique across a release's suites.
    pub fn origin(&self) -> String {
        format!("debian:{}", self.codename())
    }

    /// The main suite, then each update suite.
    pub fn all(&self) -> impl Iterator<Item = &Suite> {
        std::iter::once(self).chain(&self.updates)
    }

    /// The suite whose index listed `package` (the main suite when the
    /// package names none or one not opened).
    pub fn source_of(&self, package: &BinaryPackage) -> &Suite {
        self.updates.iter().find(|s| s.config.suite == package.suite).unwrap_or(self)
    }
}

/// A verified suite with its package index loaded.
#[derive(Debug)]
pub struct OpenedArchive {
    pub suite: Suite,
    pub index: PackageIndex,
}

impl std::ops::Deref for OpenedArchive {
    type Target = Suite;

    fn deref(&self) -> &Suite {
        &self.suite
    }
}

/// Verifies and loads a suite. Index files land in the store under their
/// digests, so a second run fetches only the `InRelease`.
pub fn open(config: &ArchiveConfig, store: &Store, progress: &dyn Progress) -> Result<OpenedArchive, ArchiveError> {
    let suite = open_release(config, progress)?;
    load_index(suite, store, progress)
}

/// The first link: fetches `InRelease`, verifies its signature against the
/// keyring, checks `Valid-Until`, and finds each component's index in it;
/// the same for each update suite.
pub fn open_release(config: &ArchiveConfig, progress: &dyn Progress) -> Result<Suite, ArchiveError> {
    let update_configs: Vec<ArchiveConfig> = config
        .updates
        .iter()
        .map(|update| ArchiveConfig {
            mirror: update.mirror.clone(),
            suite: update.suite.clone(),
            keyring: update.keyring.clone(),
            updates: Vec::new(),
            ..config.clone()
        })
        .collect();
    // The suites are fetched and verified side by side: each is a round
    // trip to a mirror and a signature check.
    let (main, updates) = std::thread::scope(|scope| {
        let handles: Vec<_> = update_configs
            .iter()
            .map(|config| scope.spawn(move || open_one(config, false, &bale_progress::NoProgress)))
            .collect();
        let main = open_one(config, true, progress);
        let updates: Vec<Result<Suite, ArchiveError>> =
            handles.into_iter().map(|handle| handle.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect();
        (main, updates)
    });
    let mut suite = main?;
    for (update, config) in updates.into_iter().zip(&update_configs) {
        suite.updates.push(
            update.map_err(|error| ArchiveError::Update { suite: config.suite.clone(), error: Box::new(error) })?,
        );
    }
    Ok(suite)
}

/// Opens one suite. An update suite (`main` false) may lack some of the
/// components: it simply has no updates there.
fn open_one(config: &ArchiveConfig, main: bool, progress: &dyn Progress) -> Result<Suite, ArchiveError> {
    let mirror = Mirror::new(&config.mirror)?;
    let keyring = Keyring::load(&config.keyring)?;
    let inrelease_path = format!("dists/{}/InRelease", config.suite);
    let url = mirror.url(&inrelease_path);
    progress.phase(&format!("release {}", config.suite), None);
    let bytes = mirror
        .get(&inrelease_path, 64 << 20)?
        .ok_or_else(|| ArchiveError::NoInRelease { url: url.clone(), suite: config.suite.clone() })?;
    let release_sha256 = sha256_bytes(&bytes);
    let text = String::from_utf8_lossy(&bytes);
    let verified = verify_clearsigned(&text, &keyring, &url)?;
    let release =
        Release::parse(&verified.text).map_err(|source| ArchiveError::Release { url: url.clone(), source })?;
    // A signature says who made a Release, not which suite it is: a
    // mirror could put another suite's genuine Release here.
    let requested = config.suite.strip_suffix("/updates").unwrap_or(&config.suite);
    let names_it = |name: &Option<String>| name.as_deref() == Some(config.suite.as_str());
    let old_security = config.suite.ends_with("/updates") && release.codename.as_deref() == Some(requested);
    if !(names_it(&release.suite) || names_it(&release.codename) || old_security) {
        return Err(ArchiveError::WrongSuite {
            url,
            requested: config.suite.clone(),
            found: release.codename.clone().or_else(|| release.suite.clone()).unwrap_or_else(|| "(unnamed)".into()),
            suite: release.suite.clone(),
            codename: release.codename.clone(),
        });
    }
    if let Some(valid_until) = release.valid_until
        && valid_until < config.now
        && !config.allow_expired
    {
        return Err(ArchiveError::Expired { url, valid_until: format_time(valid_until) });
    }
    let mut indexes = BTreeMap::new();
    for component in &config.components {
        let base = format!("{component}/binary-{}/Packages", config.architecture);
        let found = ["xz", "gz", ""]
            .iter()
            .map(|ext| if ext.is_empty() { base.clone() } else { format!("{base}.{ext}") })
            .find_map(|p| release.sha256.get(&p).map(|entry| (p, *entry)));
        let Some((path, (digest, size))) = found else {
            if !main {
                continue;
            }
            return Err(ArchiveError::NoIndex {
                suite: config.suite.clone(),
                component: component.clone(),
                architecture: config.architecture.clone(),
                available: release.components.clone(),
                architectures: release.architectures.clone(),
            });
        };
        let text = release.sha256.get(&base).copied().filter(|_| path != base);
        indexes.insert(component.clone(), IndexFile { path, digest, size, text });
    }
    progress.finish_phase();
    Ok(Suite {
        mirror,
        config: config.clone(),
        release,
        release_sha256,
        signers: verified.signers,
        indexes,
        updates: Vec::new(),
    })
}

/// The second link: each component's `Packages` file, fetched (or found in
/// the store) by the sha256 the verified Release lists, then parsed.
pub fn load_index(suite: Suite, store: &Store, progress: &dyn Progress) -> Result<OpenedArchive, ArchiveError> {
    let mut index = PackageIndex::default();
    for source in suite.all() {
        for (component, file) in &source.indexes {
            let fetch_path = index_fetch_path(source, file);
            progress.phase(&format!("index {} {component}", source.config.suite), Some(file.size));
            source.mirror.fetch_verified(&fetch_path, file.digest, file.size, store)?;
            progress.advance(file.size);
            let index_url = source.mirror.url(&fetch_path);
            let text = index_text(store, file, &index_url).inspect_err(|_| {
                // An index that cannot be read is not kept.
                store.discard_cached_blob(&file.digest);
            })?;
            index.add_from_suite(text, &source.config.suite, component, &index_url)?;
            progress.finish_phase();
        }
    }
    Ok(OpenedArchive { suite, index })
}

/// Where on the mirror an index file of `suite` is fetched from: by its
/// digest when the Release offers that (no race with a mirror update).
pub(crate) fn index_fetch_path(suite: &Suite, file: &IndexFile) -> String {
    let suite_dir = format!("dists/{}", suite.config.suite);
    if suite.release.acquire_by_hash {
        let dir = file.path.rsplit_once('/').map_or("", |(d, _)| d);
        format!("{suite_dir}/{dir}/by-hash/SHA256/{}", file.digest.hex())
    } else {
        format!("{suite_dir}/{}", file.path)
    }
}

/// Store cache namespace: compressed index digest → its decompressed text.
const INDEX_TEXT_CACHE: &str = "debian-index-text";

/// The decompressed text of an index file. Decompressing xz costs more than
/// parsing, so the text is cached under the compressed file's verified
/// digest. Decompressed text is checked against the sha256 the Release
/// lists for it before it is cached. A cached text is not re-hashed on
/// reading (that would cost as much as the decompression): like the
/// store's blob names, the cache is trusted as part of the store, but its
/// length must still be the one the Release lists, so a truncated cache,
/// which could hide packages, is decompressed afresh. `bale store gc`
/// clears it.
pub(crate) fn index_text(store: &Store, file: &IndexFile, url: &str) -> Result<String, ArchiveError> {
    let decode = |reason: String| ArchiveError::Decompress { url: url.to_string(), reason };
    let compressed = file.path.ends_with(".xz") || file.path.ends_with(".gz");
    let expected_len = file.text.map(|(_, size)| size);
    if compressed
        && let Some(text) = store.read_cache(INDEX_TEXT_CACHE, &file.digest).and_then(|b| String::from_utf8(b).ok())
        && expected_len.is_none_or(|len| len == text.len() as u64)
    {
        return Ok(text);
    }
    let blob = store.read_blob(&file.digest)?;
    let mut text = String::new();
    // Decompress no more than the Release says the text holds (plus one
    // byte, to notice more), so a compressed bomb cannot fill memory.
    let cap = expected_len.map_or(u64::MAX, |len| len + 1);
    if file.path.ends_with(".xz") {
        liblzma::read::XzDecoder::new(blob.as_slice())
            .take(cap)
            .read_to_string(&mut text)
            .map_err(|e| decode(e.to_string()))?;
    } else if file.path.ends_with(".gz") {
        flate2::read::GzDecoder::new(blob.as_slice())
            .take(cap)
            .read_to_string(&mut text)
            .map_err(|e| decode(e.to_string()))?;
    } else {
        text = String::from_utf8(blob).map_err(|e| decode(e.to_string()))?;
    }
    if let Some((digest, size)) = file.text {
        let actual = sha256_bytes(text.as_bytes());
        if actual != digest || text.len() as u64 != size {
            return Err(decode(format!(
                "the decompressed index has sha256 {actual} ({} bytes), but the Release lists {digest} ({size} bytes)",
                text.len()
            )));
        }
    }
    if compressed {
        // Best effort: without it the next run decompresses again.
        let _ = store.write_cache(INDEX_TEXT_CACHE, &file.digest, text.as_bytes());
    }
    Ok(text)
}

/// `YYYY-MM-DD HH:MM:SS UTC`.
pub fn format_time(seconds: i64) -> String {
    let (year, month, day, hour, minute, second) = bale_store::utc_time(seconds);
    format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}:{second:02} UTC")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_times() {
        assert_eq!(format_time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_time(1_746_867_480), "2025-05-10 08:58:00 UTC");
    }
}
