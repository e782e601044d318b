//! A spec → locked packages → image → OCI layout.

use std::collections::HashMap;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use bale_debian::Version;
use bale_debian::archive::ArchiveConfig;
use bale_debian::deb::DebOptions;
use bale_debian::import::{ImportOptions, import, import_closure, merged_usr_base, parse_request};
use bale_debian::packages::BinaryPackage;
use bale_fileset::{Compression, Limits, Normalize, safe_fs};
use bale_image::{
    ComposeOptions, Image, ImageIndex, LayoutContent, Lock, LockedBase, LockedDebian, LockedPackage, SbomFormat,
    SbomInput, Spec, SpecFileContent, attach_sboms, compose, debian_inputs, lock_path, render_sbom, write_archive,
    write_layout,
};
use bale_progress::Progress;
use bale_store::{Descriptor, PackRequest, PackSource, Store};

use crate::{ArchiveRequest, BuildError, archive_config, host_architecture};

fn spec_dir(spec: &Path) -> &Path {
    spec.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

/// The architectures a spec builds: the ones it declares, else the host's.
pub fn spec_architectures(spec: &Spec) -> Vec<String> {
    let declared = spec.declared_architectures();
    if declared.is_empty() { vec![host_architecture()] } else { declared }
}

/// The archive a spec's `[debian]` section names for `architecture`,
/// filled in from the host.
fn spec_archive(spec: &Spec, spec_path: &Path, architecture: &str) -> Result<Option<ArchiveConfig>, BuildError> {
    let Some(debian) = &spec.debian else { return Ok(None) };
    let request = ArchiveRequest {
        suite: debian.suite.clone(),
        mirror: debian.mirror.clone(),
        components: debian.components.clone(),
        architecture: Some(architecture.to_string()),
        keyring: debian.keyring.as_ref().map(|k| spec_dir(spec_path).join(k)),
        allow_expired: false,
        no_updates: !debian.updates,
    };
    archive_config(&request).map(Some)
}

/// Resolves the spec's Debian packages for one architecture afresh
/// (preferring `keep`'s versions), imports them, and returns the lock
/// section that pins the result.
fn resolve_and_lock(
    store: &Store,
    spec: &Spec,
    spec_path: &Path,
    config: &ArchiveConfig,
    keep: HashMap<String, Version>,
    compression: Compression,
    progress: &dyn Progress,
) -> Result<LockedDebian, BuildError> {
    let Some(debian) = &spec.debian else { return Err(BuildError::NothingToLock { spec: spec_path.to_path_buf() }) };
    let roots = debian
        .packages
        .iter()
        .map(|text| parse_request(text).map_err(|source| BuildError::SpecRequest { text: text.clone(), source }))
        .collect::<Result<Vec<_>, _>>()?;
    let mut kept: Vec<String> = keep.iter().map(|(n, v)| format!("{n}={v}")).collect();
    kept.sort();
    let options = ImportOptions { deb: DebOptions { keep_docs: debian.keep_docs }, compression };
    let report = import_closure(store, config, roots, &kept.join(","), options, progress, |index, roots| {
        let request = bale_debian::solve::Request {
            index,
            architecture: config.architecture.clone(),
            roots,
            locked: keep.clone(),
        };
        bale_debian::solve::resolve(&request).map(|r| r.packages)
    })?;
    let packages = report
        .packages
        .iter()
        .zip(&report.selected)
        .map(|(imported, package)| LockedPackage {
            id: imported.id.clone(),
            content: imported.content_digest,
            component: package.component.clone(),
            suite: package.suite.clone(),
            stanza: package.to_stanza(),
        })
        .collect();
    Ok(LockedDebian {
        architecture: config.architecture.clone(),
        inputs: debian_inputs(spec, &config.architecture),
        codename: report.suite.codename().to_string(),
        release: report.suite.release_sha256,
        base: LockedBase { id: report.base.id.clone(), content: report.base.content_digest },
        packages,
    })
}

/// The ids of exactly the locked packages, importing (by the locked .deb
/// sha256) any the store lacks; each must come out with its locked content.
fn ids_from_lock(
    store: &Store,
    lock: &LockedDebian,
    config: &ArchiveConfig,
    keep_docs: bool,
    compression: Compression,
    progress: &dyn Progress,
) -> Result<Vec<String>, BuildError> {
    let records = store.packages_by_id()?;
    let present = |id: &str, content| records.get(id).is_some_and(|r| r.content_digest == Some(content));
    let missing: Vec<&LockedPackage> = lock.packages.iter().filter(|p| !present(&p.id, p.content)).collect();
    let base_missing = !present(&lock.base.id, lock.base.content);
    if !missing.is_empty() || base_missing {
        // Only now is the archive needed: its InRelease is verified again,
        // and each .deb is fetched by the sha256 the lock pins.
        let suite = bale_debian::archive::open_release(config, progress).map_err(|source| BuildError::OpenRelease {
            mirror: config.mirror.clone(),
            suite: config.suite.clone(),
            source: Box::new(source),
        })?;
        // A .deb is fetched from the suite that listed it; another suite's
        // mirror may not have it, and would not have vouched for it.
        if let Some(orphan) =
            missing.iter().find(|p| !p.suite.is_empty() && !suite.all().any(|s| s.config.suite == p.suite))
        {
            return Err(BuildError::LockedSuiteNotRead { id: orphan.id.clone(), suite: orphan.suite.clone() });
        }
        let selected = missing
            .iter()
            .map(|locked| {
                BinaryPackage::from_stanza(&locked.stanza, &locked.component, "bale.lock")
                    .map(|package| BinaryPackage { suite: locked.suite.clone(), ..package })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let options = ImportOptions { deb: DebOptions { keep_docs }, compression };
        let imported = import(&suite, store, &selected, options, progress)?;
        for (got, want) in imported.iter().zip(&missing) {
            if got.content_digest != want.content {
                return Err(BuildError::ConvertedDifferently {
                    id: want.id.clone(),
                    got: got.content_digest,
                    want: want.content,
                });
            }
        }
        if base_missing {
            let base = merged_usr_base(&suite, store, options)?;
            if base.content_digest != lock.base.content {
                return Err(BuildError::BaseDifferently {
                    id: base.id,
                    got: base.content_digest,
                    want: lock.base.content,
                });
            }
        }
    }
    let mut ids: Vec<String> = lock.packages.iter().map(|p| p.id.clone()).collect();
    ids.push(lock.base.id.clone());
    Ok(ids)
}

/// What `bale lock` or `bale update` did.
#[derive(Debug, Clone)]
pub struct LockReport {
    pub path: PathBuf,
    /// Packages pinned now.
    pub packages: usize,
    /// `+ name@version`, `- name@version`, `~ name@old -> new`, by name.
    pub changes: Vec<String>,
}

/// `bale lock`: pins the spec's packages afresh and writes `bale.lock`.
pub fn lock(store: &Store, spec_path: &Path, progress: &dyn Progress) -> Result<LockReport, BuildError> {
    relock(store, spec_path, None, progress)
}

/// `bale update PACKAGE`: re-resolves `package`, keeping every other locked
/// version, and writes `bale.lock`.
pub fn update(
    store: &Store,
    spec_path: &Path,
    package: &str,
    progress: &dyn Progress,
) -> Result<LockReport, BuildError> {
    relock(store, spec_path, Some(package), progress)
}

fn relock(
    store: &Store,
    spec_path: &Path,
    update: Option<&str>,
    progress: &dyn Progress,
) -> Result<LockReport, BuildError> {
    let spec = Spec::load(spec_path)?;
    if spec.debian.is_none() {
        return Err(BuildError::NothingToLock { spec: spec_path.to_path_buf() });
    }
    let path = lock_path(spec_path);
    let old = Lock::load(&path)?;
    if update.is_some() && old.as_ref().is_none_or(|l| l.debian.is_empty()) {
        return Err(BuildError::NoLockYet { path });
    }
    let mut found = false;
    let mut sections = Vec::new();
    for architecture in spec_architectures(&spec) {
        let mut keep = HashMap::new();
        if let Some(name) = update {
            let old_section = old.as_ref().and_then(|l| l.debian.iter().find(|d| d.architecture == architecture));
            for package in old_section.map(|d| d.packages.as_slice()).unwrap_or_default() {
                let p = BinaryPackage::from_stanza(&package.stanza, &package.component, "bale.lock")?;
                if p.name == name {
                    found = true;
                } else {
                    keep.insert(p.name, p.version);
                }
            }
        }
        let Some(config) = spec_archive(&spec, spec_path, &architecture)? else { continue };
        sections.push(resolve_and_lock(store, &spec, spec_path, &config, keep, Compression::Gzip, progress)?);
    }
    if let Some(name) = update
        && !found
    {
        return Err(BuildError::NotLocked { name: name.to_string(), path });
    }
    let new = Lock { version: bale_image::LOCK_VERSION, debian: sections };
    new.save(&path)?;
    // By id without the version: `debian:bookworm/jq:arm64`.
    let versions = |lock: Option<&Lock>| -> HashMap<String, String> {
        lock.map(|l| {
            l.debian
                .iter()
                .flat_map(|d| &d.packages)
                .map(|p| {
                    let (name, version) = p.id.rsplit_once('@').unwrap_or((&p.id, ""));
                    (name.to_string(), version.to_string())
                })
                .collect()
        })
        .unwrap_or_default()
    };
    let (before, after) = (versions(old.as_ref()), versions(Some(&new)));
    let mut changes: Vec<String> = Vec::new();
    for (name, version) in &after {
        match before.get(name) {
            None => changes.push(format!("+ {name}@{version}")),
            Some(old) if old != version => changes.push(format!("~ {name}@{old} -> {version}")),
            Some(_) => {}
        }
    }
    for (name, version) in &before {
        if !after.contains_key(name) {
            changes.push(format!("- {name}@{version}"));
        }
    }
    changes.sort_by(|a, b| a[2..].cmp(&b[2..]));
    Ok(LockReport { path, packages: after.len(), changes })
}

/// How the image is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// An OCI image layout directory.
    Layout,
    /// The same layout as one reproducible tar.
    Archive,
}

/// What to build, and where.
#[derive(Debug, Clone)]
pub struct BuildRequest {
    pub spec: PathBuf,
    pub output: PathBuf,
    pub format: OutputFormat,
    /// Refuse a spec that drifted from its lock instead of re-pinning.
    pub locked: bool,
    pub compression: Compression,
}

/// What `bale build` made.
#[derive(Debug, Clone)]
pub struct BuildReport {
    pub name: String,
    pub tag: String,
    /// One image per architecture, in the spec's order.
    pub images: Vec<Image>,
    /// The image index over them, when the spec lists `architectures`.
    pub index: Option<Descriptor>,
    /// The SBOMs written beside the output.
    pub sboms: Vec<PathBuf>,
}

/// A local package as packed, and what it runs on.
struct PackedLocal {
    id: String,
    architecture: String,
}

/// `bale build`: the spec's packages from its lock (writing one if there is
/// none or it is stale), its local directories packed, composed into one
/// image per architecture, written as a layout or an archive (an image
/// index when the spec lists `architectures`), with SBOMs beside it.
pub fn build(store: &Store, request: &BuildRequest, progress: &dyn Progress) -> Result<BuildReport, BuildError> {
    let spec = Spec::load(&request.spec)?;
    // Held to the end: the image's own blobs (config, manifest, generated
    // layer) are referenced by no package, and gc must not take them
    // before the layout links them.
    let _session = store.lock_shared()?;
    let compression = request.compression;
    let architectures = spec_architectures(&spec);
    let path = lock_path(&request.spec);
    let old = Lock::load(&path)?;
    let mut sections = Vec::new();
    let mut relocked = false;
    let mut ids_by_architecture: Vec<Vec<String>> = Vec::new();
    for architecture in &architectures {
        let mut ids = Vec::new();
        if let Some(config) = spec_archive(&spec, &request.spec, architecture)? {
            // A section is for one architecture and one request; one made
            // for another (or by another host's default) does not apply.
            let section = match old.as_ref().and_then(|l| l.current_debian(&spec, architecture)) {
                Some(section) => section.clone(),
                None if request.locked => return Err(BuildError::LockStale { path }),
                None => {
                    relocked = true;
                    resolve_and_lock(store, &spec, &request.spec, &config, HashMap::new(), compression, progress)?
                }
            };
            let keep_docs = spec.debian.as_ref().is_some_and(|d| d.keep_docs);
            ids.extend(ids_from_lock(store, &section, &config, keep_docs, compression, progress)?);
            sections.push(section);
        }
        ids_by_architecture.push(ids);
    }
    if relocked {
        Lock { version: bale_image::LOCK_VERSION, debian: sections }.save(&path)?;
    }
    let mut locals = Vec::new();
    for local in &spec.locals {
        let dir = spec_dir(&request.spec).join(&local.path);
        let pack = PackRequest {
            name: local.name.clone(),
            version: local.version.clone(),
            architecture: local.architecture.clone(),
            license: local.license.clone(),
            compression,
            normalize: Normalize::default(),
            limits: Limits::default(),
            // The directory is this project's own: a rebuild after an edit
            // replaces the package.
            replace: true,
        };
        let outcome =
            bale_store::pack(store, &PackSource::Directory(dir.clone()), &pack, progress).map_err(|source| {
                BuildError::Pack { dir, local: local.name.clone(), spec: request.spec.clone(), source }
            })?;
        locals.push(PackedLocal { id: outcome.id, architecture: local.architecture.clone() });
    }
    let created = std::env::var("SOURCE_DATE_EPOCH").ok().and_then(|v| v.trim().parse().ok()).unwrap_or(0);
    let mut files = Vec::new();
    for (path, file) in &spec.files {
        let content = match (&file.content, &file.source) {
            (Some(text), _) => text.clone().into_bytes(),
            (None, Some(source)) => read_spec_source(&request.spec, source).map_err(|e| BuildError::FileSource {
                spec: request.spec.clone(),
                key: path.clone(),
                file: source.clone(),
                source: e,
            })?,
            (None, None) => Vec::new(),
        };
        files.push(SpecFileContent { path: path.trim_start_matches('/').to_string(), mode: file.mode_bits(), content });
    }
    let multi = spec.is_multi_architecture();
    let mut images = Vec::new();
    let mut sboms = Vec::new();
    for (architecture, mut ids) in architectures.iter().zip(ids_by_architecture) {
        // A local package for one architecture is only that image's; with
        // one architecture, a mismatch is an error compose reports.
        ids.extend(
            locals
                .iter()
                .filter(|l| !multi || l.architecture == bale_store::ARCH_ALL || &l.architecture == architecture)
                .map(|l| l.id.clone()),
        );
        let options =
            ComposeOptions { architecture: architecture.clone(), created, layer_cap: spec.layer_cap, compression };
        let mut image = compose(store, &ids, &files, &spec.config, &options, progress)
            .map_err(|source| BuildError::Compose { architecture: architecture.clone(), source })?;
        let sbom = SbomInput::load(store, &image, &spec.name, &spec.tag, created)?;
        attach_sboms(store, &mut image, &sbom)?;
        // The SBOMs also beside the output, for people and scanners;
        // replaced atomically, so a link planted at either name is never
        // written through.
        for format in [SbomFormat::Spdx, SbomFormat::CycloneDx] {
            let mut path = request.output.clone().into_os_string();
            if multi {
                path.push(format!(".{architecture}"));
            }
            path.push(format!(".{}", format.extension()));
            let path = PathBuf::from(path);
            let write = || {
                let (dir, name) = safe_fs::open_parent(&path)?;
                dir.write_atomic(&name, &render_sbom(&sbom, format), 0o644)
            };
            write().map_err(|source| BuildError::Write { path: path.clone(), source })?;
            sboms.push(path);
        }
        images.push(image);
    }
    let (content, index) = if multi {
        let index = ImageIndex::new(store, images.clone())?;
        (index.content(), Some(index.descriptor))
    } else {
        (LayoutContent::from(&images[0]), None)
    };
    match request.format {
        OutputFormat::Layout => write_layout(store, &content, &request.output, &spec.tag)?,
        OutputFormat::Archive => write_archive(store, &content, &request.output, &spec.tag)?,
    }
    Ok(BuildReport { name: spec.name, tag: spec.tag, images, index, sboms })
}

/// A `[files]` source: a regular file below the spec's directory, reached
/// without following links, of at most `MAX_SPEC_FILE_SIZE` bytes (a FIFO
/// or a device there is refused at once, never read or waited on).
fn read_spec_source(spec: &Path, source: &Path) -> io::Result<Vec<u8>> {
    let limit = bale_image::MAX_SPEC_FILE_SIZE;
    let rel = source.to_str().ok_or_else(|| safe_fs::unexpected("the path is not UTF-8"))?;
    let dir = safe_fs::Dir::open(spec_dir(spec))?;
    let (file, meta) = dir.open_file(rel)?;
    if meta.size > limit {
        return Err(safe_fs::unexpected(format!(
            "it is {} bytes; a [files] source may be at most {limit} (use a [[local]] package for large content)",
            meta.size
        )));
    }
    let mut out = Vec::with_capacity(usize::try_from(meta.size).unwrap_or(0));
    file.take(limit + 1).read_to_end(&mut out)?;
    if out.len() as u64 > limit {
        return Err(safe_fs::unexpected("it grew past the limit while being read"));
    }
    Ok(out)
}
