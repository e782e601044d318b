//! A spec → locked packages → image → OCI layout.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use bale_fileset::{Compression, Limits, Normalize, safe_fs};
use bale_image::{
    ComposeOptions, Image, ImageIndex, LayoutContent, Lock, SbomInput, Spec, SpecContent, SpecFileContent,
    attach_sboms, compose, lock_path, write_archive, write_layout,
};
use bale_progress::Progress;
use bale_store::{Descriptor, PackRequest, PackSource, Store};

use crate::source::{LeftOut, Source};
use crate::sources::{self, debian::DebianSource, npm::NpmSource, pypi::PypiSource, store::StoreSource};
use crate::{BuildError, host_architecture};

fn spec_dir(spec: &Path) -> &Path {
    spec.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

/// The architectures a spec builds: the ones it declares, else the host's.
pub fn spec_architectures(spec: &Spec) -> Vec<String> {
    let declared = spec.declared_architectures();
    if declared.is_empty() { vec![host_architecture()] } else { declared }
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
    relock(store, spec_path, None, true, progress)
}

/// `bale lock --check`: what `bale lock` would change, without writing;
/// no changes means the lock is what the archive resolves to today.
pub fn check_lock(store: &Store, spec_path: &Path, progress: &dyn Progress) -> Result<LockReport, BuildError> {
    relock(store, spec_path, None, false, progress)
}

/// `bale update PACKAGE`: re-resolves `package`, keeping every other locked
/// version, and writes `bale.lock`.
pub fn update(
    store: &Store,
    spec_path: &Path,
    package: &str,
    progress: &dyn Progress,
) -> Result<LockReport, BuildError> {
    relock(store, spec_path, Some(package), true, progress)
}

fn relock(
    store: &Store,
    spec_path: &Path,
    update: Option<&str>,
    save: bool,
    progress: &dyn Progress,
) -> Result<LockReport, BuildError> {
    let spec = Spec::load(spec_path)?;
    let path = lock_path(spec_path);
    let debian = DebianSource::of(&spec, spec_dir(spec_path));
    let in_store = StoreSource::of(&spec);
    if debian.is_none() && in_store.is_none() && spec.pypi.is_none() && spec.npm.is_none() {
        return Err(BuildError::NothingToLock { spec: spec_path.to_path_buf() });
    }
    let old = Lock::load(&path)?;
    if let Some(old) = &old {
        old.check_sources(&sources::NAMES, &path)?;
    }
    if update.is_some() && old.as_ref().is_none_or(|l| l.sources.is_empty()) {
        return Err(BuildError::NoLockYet { path });
    }
    let architectures = spec_architectures(&spec);
    // As in a build: the Debian packages the wheels need join the Debian
    // request, once more if the wheels pinned now need more.
    let mut added = match &old {
        Some(old) => sources::pypi::added_debian_packages(old, &path)?,
        None => Vec::new(),
    };
    let mut rounds = 0;
    let (new, found, before, after) = loop {
        rounds += 1;
        let mut pass = Relock {
            store,
            old: old.as_ref(),
            path: &path,
            architectures: &architectures,
            update,
            progress,
            new: Lock::default(),
            found: false,
            before: Vec::new(),
            after: Vec::new(),
        };
        let augmented = with_packages(spec.debian.as_ref(), &added);
        if let Some(debian_request) = &augmented {
            pass.source(&DebianSource::of_request(&spec, debian_request, spec_dir(spec_path)))?;
        }
        if let Some(in_store) = &in_store {
            pass.source(in_store)?;
        }
        // Wheels are resolved for the Python and C library the image's
        // other packages (as just pinned) give it.
        if spec.pypi.is_some() {
            let pins = pins_by_architecture(&pass.new, &path, &architectures)?;
            if let Some(pypi) = PypiSource::of(&spec, &pins) {
                pass.source(&pypi)?;
            }
        }
        if let Some(npm) = NpmSource::of(&spec) {
            pass.source(&npm)?;
        }
        let Relock { new, found, before, after, .. } = pass;
        let wanted = sources::pypi::added_debian_packages(&new, &path)?;
        if rounds >= 2 || wanted.iter().all(|w| added.contains(w)) {
            break (new, found, before, after);
        }
        added.extend(wanted);
        added.sort();
        added.dedup();
    };
    if let Some(name) = update
        && !found
    {
        return Err(BuildError::NotLocked { name: name.to_string(), path });
    }
    if save {
        new.save(&path)?;
    }
    let (before, after): (HashMap<String, String>, HashMap<String, String>) =
        (before.into_iter().collect(), after.into_iter().collect());
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

/// What a lock pins of one package: (id without version, version).
type Pin = (String, String);

/// One pass of `bale lock`: every source pinned afresh into `new`, with
/// what was pinned before and after.
struct Relock<'a> {
    store: &'a Store,
    old: Option<&'a Lock>,
    path: &'a Path,
    architectures: &'a [String],
    update: Option<&'a str>,
    progress: &'a dyn Progress,
    new: Lock,
    found: bool,
    before: Vec<Pin>,
    after: Vec<Pin>,
}

impl Relock<'_> {
    fn source<S: Source>(&mut self, source: &S) -> Result<(), BuildError> {
        let (before, after) = relock_source(
            source,
            self.store,
            self.old,
            &mut self.new,
            self.path,
            self.architectures,
            self.update,
            &mut self.found,
            self.progress,
        )?;
        self.before.extend(before);
        self.after.extend(after);
        Ok(())
    }
}

/// `request` with `packages` added, those it names already left out.
fn with_packages(request: Option<&bale_image::DebianSource>, packages: &[String]) -> Option<bale_image::DebianSource> {
    let mut request = request?.clone();
    let named = |text: &str| text.split(['=', ' ', '(', ':']).next().unwrap_or_default().trim().to_string();
    for package in packages {
        if !request.packages.iter().any(|p| named(p) == *package) {
            request.packages.push(package.clone());
        }
    }
    Some(request)
}

/// What `lock`'s Debian and store sections pin, by architecture.
fn pins_by_architecture(
    lock: &Lock,
    path: &Path,
    architectures: &[String],
) -> Result<BTreeMap<String, Vec<Pin>>, BuildError> {
    let mut pins: BTreeMap<String, Vec<Pin>> = architectures.iter().map(|a| (a.clone(), Vec::new())).collect();
    let debian: Vec<<DebianSource<'_> as Source>::Section> = lock.sections(bale_debian::lock::SOURCE_NAME, path)?;
    for section in &debian {
        if let Some(all) = pins.get_mut(<DebianSource<'_> as Source>::section_architecture(section)) {
            all.extend(<DebianSource<'_> as Source>::pins(section));
        }
    }
    Ok(pins)
}

/// Pins one source's request afresh for every architecture into `new`
/// (for `update`, keeping all but that package as `old` pins it). Returns
/// what was pinned before and after, as (id without version, version).
#[allow(clippy::too_many_arguments)]
fn relock_source<S: Source>(
    source: &S,
    store: &Store,
    old: Option<&Lock>,
    new: &mut Lock,
    path: &Path,
    architectures: &[String],
    update: Option<&str>,
    found: &mut bool,
    progress: &dyn Progress,
) -> Result<(Vec<Pin>, Vec<Pin>), BuildError> {
    let old_sections: Vec<S::Section> = match old {
        Some(lock) => lock.sections(source.name(), path)?,
        None => Vec::new(),
    };
    let mut sections = Vec::new();
    for architecture in architectures {
        let mut keep = S::Keep::default();
        if let Some(name) = update
            && let Some(section) = old_sections.iter().find(|s| S::section_architecture(s) == architecture)
            && let Some(kept) = S::keep_all_but(section, name)?
        {
            *found = true;
            keep = kept;
        }
        sections.push(source.lock(store, architecture, keep, Compression::Gzip, progress)?);
    }
    new.set_sections(source.name(), &sections, path)?;
    let pins = |sections: &[S::Section]| sections.iter().flat_map(S::pins).collect::<Vec<_>>();
    Ok((pins(&old_sections), pins(&sections)))
}

/// The ids a source contributes to each architecture's image, in the order
/// of `architectures`: from the lock's current sections, re-resolving
/// (unless `locked`) those that are missing or stale, which `lock` then
/// holds.
#[allow(clippy::too_many_arguments)]
fn install_source<S: Source>(
    source: &S,
    store: &Store,
    lock: &mut Lock,
    path: &Path,
    architectures: &[String],
    locked: bool,
    compression: Compression,
    progress: &dyn Progress,
) -> Result<Installed, BuildError> {
    let old: Vec<S::Section> = lock.sections(source.name(), path)?;
    let mut left_out = Vec::new();
    let mut sections = Vec::new();
    let mut relocked = false;
    let mut ids = Vec::new();
    for architecture in architectures {
        // A section is for one architecture and one request; one made for
        // another (or by another host's default) does not apply.
        let current = old.iter().find(|s| S::section_architecture(s) == architecture && source.is_current(s));
        let section = match current {
            Some(section) => section.clone(),
            None if locked => return Err(BuildError::LockStale { path: path.to_path_buf() }),
            None => {
                relocked = true;
                source.lock(store, architecture, S::Keep::default(), compression, progress)?
            }
        };
        ids.push(source.install(store, &section, compression, progress)?);
        left_out.extend(source.left_out(&section)?);
        sections.push(section);
    }
    if relocked {
        lock.set_sections(source.name(), &sections, path)?;
    }
    Ok(Installed { ids, relocked, left_out })
}

/// What one source contributed to a build.
struct Installed {
    /// Per architecture, in order.
    ids: Vec<Vec<String>>,
    relocked: bool,
    left_out: Vec<LeftOut>,
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
    /// The executable that runs sandbox stages for `[[run]]` (calls
    /// `bale_sandbox::helper_main` first thing).
    pub helper: PathBuf,
    /// A private key to sign each image with (docs/trust.md).
    pub sign: Option<PathBuf>,
    /// A trust policy every package of the image must meet [default: the
    /// user's own, when they have one]; the spec's `[trust] policy` must
    /// be met as well.
    pub policy: Option<PathBuf>,
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
    /// What the packages recommend that the image does not hold.
    pub left_out: Vec<LeftOut>,
    /// Debian packages added for libraries the wheels need.
    pub added_for_wheels: Vec<String>,
    /// Pinned packages fetched from the spec's package registry.
    pub from_registry: Vec<String>,
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
    let mut spec = Spec::load(&request.spec)?;
    // Before any work: a key that cannot sign would waste the build.
    let signing_key = request.sign.as_deref().map(bale_trust::SigningKey::load).transpose()?;
    // The user's policy (given, else their own config) always applies; a
    // spec's `[trust]` can only add to it, never stand in for it.
    let mut policies = Vec::new();
    if let Some(path) = request.policy.clone().or_else(bale_trust::policy::default_path) {
        policies.push(bale_trust::Policy::load(&path)?);
    }
    if let Some(trust) = &spec.trust {
        policies.push(bale_trust::Policy::load(&spec_dir(&request.spec).join(&trust.policy))?);
    }
    // The image names itself in its manifest, so a signature's statement
    // can be held to that name.
    spec.config.annotations.insert(bale_image::NAME_ANNOTATION.into(), spec.name.clone());
    // Before any work: an output inside the store would replace its index.
    store.refuse_inside(&request.output)?;
    // Held to the end: the image's own blobs (config, manifest, generated
    // layer) are referenced by no package, and gc must not take them
    // before the layout links them.
    let _session = store.lock_shared()?;
    let compression = request.compression;
    let architectures = spec_architectures(&spec);
    let path = lock_path(&request.spec);
    let mut lock = Lock::load(&path)?.unwrap_or_default();
    lock.check_sources(&sources::NAMES, &path)?;
    // Packages the lock pins that the store lacks come from the spec's
    // package registry first, held to the pinned content; what it does not
    // have, the sources fetch as ever.
    let from_registry = match &spec.package_registry {
        Some(prefix) => fetch_pinned(store, &lock, prefix, progress)?,
        None => Vec::new(),
    };
    let mut ids_by_architecture: Vec<Vec<String>> = vec![Vec::new(); architectures.len()];
    let mut relocked = false;
    let mut left_out = Vec::new();
    // The Debian packages the wheels' libraries need join the Debian
    // request (as the lock's PyPI sections name them), and once more if
    // wheels resolved now need more: two rounds at most, since what wheels
    // add depends on the wheels alone.
    let mut added = sources::pypi::added_debian_packages(&lock, &path)?;
    let mut rounds = 0;
    let (debian_ids, pypi_ids) = loop {
        rounds += 1;
        let augmented = with_packages(spec.debian.as_ref(), &added);
        let mut debian_ids: Vec<Vec<String>> = vec![Vec::new(); architectures.len()];
        if let Some(debian_request) = &augmented {
            let debian = DebianSource::of_request(&spec, debian_request, spec_dir(&request.spec));
            let installed = install_source(
                &debian,
                store,
                &mut lock,
                &path,
                &architectures,
                request.locked,
                compression,
                progress,
            )?;
            debian_ids = installed.ids;
            relocked |= installed.relocked;
            left_out = installed.left_out;
        }
        let mut pypi_ids: Vec<Vec<String>> = vec![Vec::new(); architectures.len()];
        if spec.pypi.is_some() {
            let pins: BTreeMap<String, Vec<Pin>> = architectures
                .iter()
                .zip(&debian_ids)
                .map(|(arch, ids)| (arch.clone(), crate::source::pins_of_ids(ids.iter().map(String::as_str))))
                .collect();
            if let Some(pypi) = PypiSource::of(&spec, &pins) {
                let installed = install_source(
                    &pypi,
                    store,
                    &mut lock,
                    &path,
                    &architectures,
                    request.locked,
                    compression,
                    progress,
                )?;
                pypi_ids = installed.ids;
                relocked |= installed.relocked;
            }
        }
        let wanted = sources::pypi::added_debian_packages(&lock, &path)?;
        if rounds >= 2 || wanted.iter().all(|w| added.contains(w)) {
            break (debian_ids, pypi_ids);
        }
        added.extend(wanted);
        added.sort();
        added.dedup();
    };
    for (all, more) in ids_by_architecture.iter_mut().zip(debian_ids) {
        all.extend(more);
    }
    if let Some(in_store) = StoreSource::of(&spec) {
        let installed =
            install_source(&in_store, store, &mut lock, &path, &architectures, request.locked, compression, progress)?;
        for (all, more) in ids_by_architecture.iter_mut().zip(installed.ids) {
            all.extend(more);
        }
        relocked |= installed.relocked;
    }
    for (all, more) in ids_by_architecture.iter_mut().zip(pypi_ids) {
        all.extend(more);
    }
    if let Some(npm) = NpmSource::of(&spec) {
        let installed =
            install_source(&npm, store, &mut lock, &path, &architectures, request.locked, compression, progress)?;
        for (all, more) in ids_by_architecture.iter_mut().zip(installed.ids) {
            all.extend(more);
        }
        relocked |= installed.relocked;
    }
    if relocked {
        lock.version = bale_image::LOCK_VERSION;
        lock.save(&path)?;
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
    let content = SpecContent { files, dirs: spec.directories(), accounts: spec.accounts(), user: spec.image_user() };
    let multi = spec.is_multi_architecture();
    let mut images = Vec::new();
    let mut sboms = Vec::new();
    for (architecture, mut ids) in architectures.iter().zip(ids_by_architecture) {
        // A local package for one architecture is only that image's; with
        // one architecture, a mismatch is an error compose reports.
        ids.extend(
            locals
                .iter()
                .filter(|l| !multi || bale_store::runs_on(&l.architecture, architecture))
                .map(|l| l.id.clone()),
        );
        if spec.pypi.is_some() {
            crate::python::check(store, &ids)?;
        }
        // Only bale packages declare what the image must hold beside them.
        if !spec.packages.is_empty() {
            crate::dependencies::check(store, &ids, architecture)?;
        }
        // Before anything is composed or written: the spec's own local
        // packages are exempt, every other must meet the policy.
        for policy in &policies {
            let own: Vec<&str> = locals.iter().map(|l| l.id.as_str()).collect();
            crate::trust::enforce(store, policy, ids.iter().filter(|id| !own.contains(&id.as_str())))?;
        }
        let options =
            ComposeOptions { architecture: architecture.clone(), created, layer_cap: spec.layer_cap, compression };
        let key = crate::image_cache::key(store, &ids, &content, &spec, &options);
        let recalled = key.as_ref().and_then(|key| crate::image_cache::recall(store, key, progress));
        let (image, documents) = match recalled {
            Some(cached) => cached,
            None => {
                let image = compose(store, &ids, &content, &spec.config, &options, progress)
                    .map_err(|source| BuildError::Compose { architecture: architecture.clone(), source })?;
                let mut image = crate::last_steps::finish_image(
                    store,
                    &spec,
                    image,
                    &content,
                    &options,
                    &request.helper,
                    progress,
                )?;
                let sbom = SbomInput::load(store, &image, &spec.name, &spec.tag, created)?;
                let documents = attach_sboms(store, &mut image, &sbom)?;
                if let Some(key) = &key {
                    crate::image_cache::remember(store, key, &image, &documents);
                }
                (image, documents)
            }
        };
        // Signatures after the cache: they are their signers', not part of
        // what the image is made from.
        let mut image = image;
        // The packages' own signatures travel with the image, as they
        // stand now: signing a package needs no new image.
        bale_image::attach_package_trust(store, &mut image).map_err(BuildError::Sign)?;
        if let Some(key) = &signing_key {
            bale_image::sign_image(store, &mut image, &spec.name, key).map_err(BuildError::Sign)?;
        }
        // The SBOMs also beside the output, for people and scanners;
        // replaced atomically, so a link planted at either name is never
        // written through.
        for (format, document) in documents {
            let mut path = request.output.clone().into_os_string();
            if multi {
                path.push(format!(".{architecture}"));
            }
            path.push(format!(".{}", format.extension()));
            let path = PathBuf::from(path);
            let write = || {
                let (dir, name) = safe_fs::open_parent(&path)?;
                dir.write_atomic(&name, &document, 0o644)
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
    Ok(BuildReport {
        name: spec.name,
        tag: spec.tag,
        images,
        index,
        sboms,
        left_out,
        added_for_wheels: added,
        from_registry,
    })
}

/// Every (id, content) `lock` pins, in any source's sections, that the
/// store does not hold with that content, fetched from under `prefix`;
/// returns the ids fetched. A package the registry lacks (or serves
/// wrongly) is left to its source, with a warning.
fn fetch_pinned(store: &Store, lock: &Lock, prefix: &str, progress: &dyn Progress) -> Result<Vec<String>, BuildError> {
    let mut pins = Vec::new();
    fn walk(value: &toml::Value, pins: &mut Vec<(String, bale_fileset::Digest)>) {
        match value {
            toml::Value::Table(table) => {
                if let (Some(id), Some(content)) = (
                    table.get("id").and_then(toml::Value::as_str),
                    table.get("content").and_then(toml::Value::as_str).and_then(|c| c.parse().ok()),
                ) {
                    pins.push((id.to_string(), content));
                }
                table.values().for_each(|v| walk(v, pins));
            }
            toml::Value::Array(items) => items.iter().for_each(|v| walk(v, pins)),
            _ => {}
        }
    }
    for table in lock.sources.values().flatten() {
        table.values().for_each(|v| walk(v, &mut pins));
    }
    let records = store.packages_by_id()?;
    let mut fetched = Vec::new();
    for (id, content) in pins {
        if records.get(&id).and_then(|r| r.content_digest) == Some(content) || fetched.contains(&id) {
            continue;
        }
        match bale_registry::packages::pull_package(store, prefix, &id, &content) {
            Ok(id) => fetched.push(id),
            Err(e) => progress.warn(&format!("{id}: not taken from {prefix}: {e}")),
        }
    }
    Ok(fetched)
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
