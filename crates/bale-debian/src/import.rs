//! Importing resolved packages of an opened archive into the store: each
//! .deb fetched by the sha256 its `Packages` entry lists, converted, and
//! stored with its provenance. Work runs on a few threads so downloads and
//! conversions overlap.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use bale_fileset::{Compression, Content, Digest, Entry, EntryKind, Limits, Normalize, Plan};
use bale_progress::Progress;
use bale_store::{
    Dependency, DependencyAlternative, Dropped, PackageMetadata, Provenance, Provide, SourceRef, Store, StoreError,
    store_plan,
};

use crate::archive::Suite;
use crate::deb::{DebError, DebOptions, convert};
use crate::fetch::FetchError;
use crate::packages::BinaryPackage;
use crate::relation::{Alternatives, Atom};

#[derive(Debug, Clone, Copy, Default)]
pub struct ImportOptions {
    pub deb: DebOptions,
    pub compression: Compression,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    // The inner error is part of the message, not a separate cause, so
    // people read it once.
    #[error("{package}: {error}")]
    Fetch { package: String, error: Box<FetchError> },
    #[error(transparent)]
    Deb(#[from] Box<DebError>),
    #[error("{package}: {error}")]
    Store { package: String, error: Box<StoreError> },
    #[error(
        "{package}: the suite's Release lists no Packages index for component {component:?}, so where the package came from cannot be recorded"
    )]
    NoIndex { package: String, component: String },
}

impl ImportError {
    /// What to do about it, for people.
    pub fn help(&self) -> Option<&'static str> {
        match self {
            Self::Fetch { error, .. } => error.help(),
            Self::Deb(e) => Some(match **e {
                DebError::Data { .. } | DebError::MergedUsrClash { .. } => {
                    "nothing from this .deb was stored: it cannot become a bale package; report it to the archive"
                }
                _ => "nothing from this .deb was stored: it is damaged or not a .deb",
            }),
            Self::Store { error, .. } => error.help(),
            Self::NoIndex { .. } => {
                Some("nothing was imported: the archive is inconsistent; retry later or use another mirror")
            }
        }
    }
}

/// One package as imported.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Imported {
    pub id: String,
    pub name: String,
    pub version: String,
    pub content_digest: Digest,
    /// The .deb it was made from; none for the generated base package.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deb_sha256: Option<Digest>,
    /// False when the store already had exactly this package.
    pub new: bool,
}

/// Imports `selected` (packages of the suite's index) into the store, in
/// parallel; returns them in the order given.
pub fn import(
    archive: &Suite,
    store: &Store,
    selected: &[BinaryPackage],
    options: ImportOptions,
    progress: &dyn Progress,
) -> Result<Vec<Imported>, ImportError> {
    let _session = store
        .lock_shared()
        .map_err(|source| ImportError::Store { package: "the store".into(), error: Box::new(source) })?;
    let total: u64 = selected.iter().map(|p| p.size).sum();
    progress.phase("importing", Some(total));
    let records = store
        .packages_by_id()
        .map_err(|error| ImportError::Store { package: "the store".into(), error: Box::new(error) })?;
    // Largest first, so no big conversion starts last and runs alone.
    let mut order: Vec<usize> = (0..selected.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(selected[i].size));
    let next = AtomicUsize::new(0);
    let results: Mutex<BTreeMap<usize, Result<Imported, ImportError>>> = Mutex::new(BTreeMap::new());
    // Twice the cores: while one worker waits on the network, another
    // converts.
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get()).saturating_mul(2).clamp(2, 8);
    std::thread::scope(|scope| {
        for _ in 0..workers.min(selected.len().max(1)) {
            scope.spawn(|| {
                while let Some(&slot) = order.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let package = &selected[slot];
                    let outcome = import_one(archive, store, &records, package, options);
                    progress.advance(package.size);
                    let failed = outcome.is_err();
                    if let Ok(mut all) = results.lock() {
                        all.insert(slot, outcome);
                    }
                    if failed {
                        // Let the other workers finish what they hold, but
                        // take nothing new.
                        next.store(selected.len(), Ordering::Relaxed);
                    }
                }
            });
        }
    });
    progress.finish_phase();
    let results = results.into_inner().unwrap_or_default();
    let mut out = Vec::with_capacity(results.len());
    for (_, result) in results {
        out.push(result?);
    }
    Ok(out)
}

fn import_one(
    archive: &Suite,
    store: &Store,
    records: &std::collections::HashMap<String, bale_store::PackageRecord>,
    package: &BinaryPackage,
    options: ImportOptions,
) -> Result<Imported, ImportError> {
    let id = format!("{}/{}:{}@{}", archive.origin(), package.name, package.architecture, package.version);
    let store_err = |source| ImportError::Store { package: id.clone(), error: Box::new(source) };
    // Already imported from this very .deb: nothing to do.
    if let Some(record) = records.get(&id)
        && let Ok((_, metadata)) = store.load_package(record)
        && matches!(&metadata.provenance, Provenance::Debian { deb_sha256, .. } if *deb_sha256 == package.sha256)
    {
        return Ok(Imported {
            id,
            name: package.name.clone(),
            version: package.version.to_string(),
            content_digest: metadata.content.digest,
            deb_sha256: Some(package.sha256),
            new: false,
        });
    }
    // The suite whose signed index vouched for this .deb.
    let source = archive.source_of(package);
    let downloaded = source
        .mirror
        .fetch_verified(&package.filename, package.sha256, package.size, store)
        .map_err(|source| ImportError::Fetch { package: id.clone(), error: Box::new(source) })?;
    let label = package.filename.rsplit('/').next().unwrap_or(&package.filename).to_string();
    // A .deb just downloaded was hashed on its way in; one already in the
    // store is checked again as it is read.
    let deb: Box<dyn std::io::Read> = if downloaded {
        Box::new(store.open_blob_just_verified(&package.sha256).map_err(store_err)?)
    } else {
        Box::new(store.open_blob(&package.sha256).map_err(store_err)?)
    };
    let converted = match convert(deb, &label, &store.tmp_dir(), options.deb) {
        Ok(converted) => converted,
        Err(e) => {
            // A .deb that cannot become a package is not kept, not even as
            // a download cache.
            if downloaded {
                store.discard_cached_blob(&package.sha256);
            }
            return Err(Box::new(e).into());
        }
    };

    let mut metadata = PackageMetadata::new(&package.name, &package.version.to_string());
    metadata.origin = Some(archive.origin());
    metadata.architecture = Some(package.architecture.clone());
    metadata.dependencies = package.pre_depends.iter().chain(&package.depends).map(dependency).collect();
    metadata.provides = package
        .provides
        .iter()
        .map(|a| Provide { name: a.name.clone(), version: a.constraint.as_ref().map(|(_, v)| v.to_string()) })
        .collect();
    metadata.conflicts = package.conflicts.iter().map(alternative).collect();

    metadata.source = Some(SourceRef { name: package.source.clone(), version: package.source_version.to_string() });
    let debian = bale_store::DebianFields {
        section: package.section.clone(),
        essential: package.essential,
        breaks: package.breaks.iter().map(alternative).collect(),
    };
    metadata.debian = Some(debian);
    metadata.alternatives = converted.alternatives.clone();
    metadata.license = converted.license.clone();
    metadata.purl = deb_purl(&package.name, &package.version.to_string(), &package.architecture);
    metadata.provenance = Provenance::Debian {
        archive: source.release.origin.clone().unwrap_or_else(|| "Debian".into()),
        suite: source.codename().to_string(),
        component: package.component.clone(),
        filename: package.filename.clone(),
        deb_sha256: package.sha256,
        packages_sha256: source
            .indexes
            .get(&package.component)
            .ok_or_else(|| ImportError::NoIndex {
                package: package.name.clone(),
                component: package.component.clone(),
            })?
            .digest,
        release_sha256: source.release_sha256,
        signers: source.signers.clone(),
    };
    metadata.dropped =
        Dropped { paths: converted.dropped.clone(), maintainer_scripts: converted.maintainer_scripts.clone() };
    let outcome = store_plan(store, &converted.plan, metadata, options.compression, true, &bale_progress::NoProgress)
        .map_err(store_err)?;
    Ok(Imported {
        id: outcome.id,
        name: package.name.clone(),
        version: package.version.to_string(),
        content_digest: outcome.metadata.content.digest,
        deb_sha256: Some(package.sha256),
        new: outcome.new,
    })
}

/// The compatibility symlinks merged `/usr` needs (`bin -> usr/bin`, …),
/// as one small package every Debian-based image includes.
pub fn merged_usr_base(archive: &Suite, store: &Store, options: ImportOptions) -> Result<Imported, ImportError> {
    let mut links = vec!["bin", "sbin", "lib"];
    match archive.config.architecture.as_str() {
        "amd64" => links.push("lib64"),
        "ppc64el" | "s390x" | "mips64el" | "riscv64" | "loong64" => links.push("lib64"),
        _ => {}
    }
    let name = "bale-merged-usr";
    let id = format!("{}/{name}:{}@1", archive.origin(), archive.config.architecture);
    let store_err = |source| ImportError::Store { package: id.clone(), error: Box::new(source) };
    let mut plan = Plan::new(Normalize::default(), Limits::default());
    for link in &links {
        let mut entry = Entry::directory(*link);
        entry.kind = EntryKind::Symlink { target: format!("usr/{link}") };
        plan.insert(entry, Content::None).map_err(|e| store_err(e.into()))?;
        plan.insert(Entry::directory(format!("usr/{link}")), Content::None).map_err(|e| store_err(e.into()))?;
    }
    let plan = plan.seal().map_err(|e| store_err(e.into()))?;
    let mut metadata = PackageMetadata::new(name, "1");
    metadata.origin = Some(archive.origin());
    metadata.architecture = Some(archive.config.architecture.clone());
    metadata.license = "CC0-1.0".into();
    metadata.purl = bale_store::generic_purl(&format!("bale/{name}"), "1");
    metadata.provenance = Provenance::Generated { generator: "bale".into() };
    let _session = store.lock_shared().map_err(store_err)?;
    let outcome =
        store_plan(store, &plan, metadata, options.compression, true, &bale_progress::NoProgress).map_err(store_err)?;
    Ok(Imported {
        id: outcome.id,
        name: name.into(),
        version: "1".into(),
        content_digest: outcome.metadata.content.digest,
        deb_sha256: None,
        new: outcome.new,
    })
}

/// A relation group as package metadata records it.
pub fn dependency(group: &Alternatives) -> Dependency {
    Dependency { any_of: group.iter().map(alternative).collect() }
}

fn alternative(atom: &Atom) -> DependencyAlternative {
    DependencyAlternative {
        name: atom.name.clone(),
        version: atom.constraint.as_ref().map(|(rel, v)| format!("{} {v}", rel.symbol())),
    }
}

/// `pkg:deb/debian/<name>@<version>?arch=<arch>`, version percent-encoded.
pub fn deb_purl(name: &str, version: &str, arch: &str) -> String {
    format!("pkg:deb/debian/{name}@{}?arch={arch}", bale_store::purl_version(version))
}

/// Store cache namespace: resolutions keyed by signed Release and request.
const RESOLUTION_CACHE: &str = "debian-resolutions";

/// A resolution as cached: the request it answers, and its answer.
#[derive(serde::Serialize, serde::Deserialize)]
struct CachedResolution {
    key: String,
    selected: Vec<BinaryPackage>,
}

/// What [`import_closure`] did.
#[derive(Debug)]
pub struct ClosureReport {
    pub suite: crate::archive::Suite,
    pub packages: Vec<Imported>,
    /// The index entries of `packages`, in the same order.
    pub selected: Vec<BinaryPackage>,
    /// The merged-/usr compatibility package.
    pub base: Imported,
    /// Packages in the index, when it had to be read (not cached).
    pub index_size: Option<usize>,
}

#[derive(Debug, thiserror::Error)]
pub enum ClosureError<E: std::error::Error + 'static> {
    #[error("opening {mirror} {suite}: {error}")]
    Archive { mirror: String, suite: String, error: Box<crate::archive::ArchiveError> },
    #[error("resolving dependencies")]
    Resolve(#[source] E),
    #[error(transparent)]
    Import(#[from] ImportError),
}

impl<E: std::error::Error + 'static> ClosureError<E> {
    /// What to do about it, for people; for the resolver's own errors, the
    /// resolver's `help` (the cause after this one) says it.
    pub fn help(&self) -> Option<&'static str> {
        match self {
            Self::Archive { error, .. } => error.help(),
            Self::Import(e) => e.help(),
            Self::Resolve(_) => None,
        }
    }
}

/// Parses one package request: a name, optionally with a version
/// constraint (`libc6 (>= 2.36)`).
pub fn parse_request(text: &str) -> Result<Atom, crate::relation::RelationError> {
    let groups = crate::relation::parse_relations(text)?;
    match groups.as_slice() {
        [group] if group.len() == 1 => Ok(group[0].clone()),
        _ => Err(crate::relation::RelationError {
            input: text.to_string(),
            reason: "name one package, such as `libc6` or `libc6 (>= 2.36)`".into(),
        }),
    }
}

/// Imports `roots` and everything they need from a suite: verifies the
/// `InRelease`, resolves with `resolve` (given the index and the roots; it
/// returns positions in the index), and imports the result with the
/// merged-/usr base package. A resolution is cached under the signed
/// Release's digest and the request, so repeating a request skips reading
/// the index.
pub fn import_closure<E: std::error::Error + 'static>(
    store: &Store,
    config: &crate::archive::ArchiveConfig,
    roots: Vec<Atom>,
    // Whatever else shapes the resolution (locked versions), for the cache key.
    key_extra: &str,
    options: ImportOptions,
    progress: &dyn Progress,
    resolve: impl FnOnce(&crate::packages::PackageIndex, Vec<Atom>) -> Result<Vec<usize>, E>,
) -> Result<ClosureReport, ClosureError<E>> {
    let archive_error = |error| ClosureError::Archive {
        mirror: config.mirror.clone(),
        suite: config.suite.clone(),
        error: Box::new(error),
    };
    let suite = crate::archive::open_release(config, progress).map_err(archive_error)?;
    let mut request_key: Vec<String> = roots.iter().map(ToString::to_string).collect();
    request_key.sort();
    // The key's text goes into the entry too, and must read back equal: the
    // entry is bound to the signed Releases and index digests it came from.
    let key_text = serde_json::json!({
        "releases": suite.all().map(|s| (&s.config.suite, s.release_sha256)).collect::<Vec<_>>(),
        "indexes": suite.all().flat_map(|s| s.indexes.values().map(|f| f.digest)).collect::<Vec<_>>(),
        "architecture": config.architecture,
        "roots": request_key,
        "extra": key_extra,
        "bale": env!("CARGO_PKG_VERSION"),
    })
    .to_string();
    let key = bale_fileset::sha256_bytes(key_text.as_bytes());
    let cached = match store.read_sealed_cache(RESOLUTION_CACHE, &key) {
        bale_store::CacheRead::Hit(bytes) => serde_json::from_slice::<CachedResolution>(&bytes)
            .ok()
            .filter(|entry| entry.key == key_text)
            .map(|entry| entry.selected)
            .or_else(|| {
                progress.warn(&format!("the cached resolution {key} does not match its request; resolving again"));
                store.discard_cache(RESOLUTION_CACHE, &key);
                None
            }),
        bale_store::CacheRead::Damaged(path) => {
            progress.warn(&format!("{} failed its integrity check; resolving again", path.display()));
            store.discard_cache(RESOLUTION_CACHE, &key);
            None
        }
        bale_store::CacheRead::Miss => None,
    };
    let (suite, selected, index_size) = match cached {
        Some(selected) => (suite, selected, None),
        None => {
            let archive = crate::archive::load_index(suite, store, progress).map_err(archive_error)?;
            let positions = resolve(&archive.index, roots).map_err(ClosureError::Resolve)?;
            let selected = positions
                .iter()
                .map(|&i| archive.index.package(i).cloned())
                .collect::<Result<Vec<BinaryPackage>, _>>()
                .map_err(|e| archive_error(crate::archive::ArchiveError::Packages(e)))?;
            // Best effort: without the cache the next import is just slower.
            if let Ok(bytes) = serde_json::to_vec(&CachedResolution { key: key_text, selected: selected.clone() }) {
                let _ = store.write_sealed_cache(RESOLUTION_CACHE, &key, &bytes);
            }
            let size = archive.index.len();
            (archive.suite, selected, Some(size))
        }
    };
    let packages = import(&suite, store, &selected, options, progress)?;
    let base = merged_usr_base(&suite, store, options)?;
    Ok(ClosureReport { suite, packages, selected, base, index_size })
}
