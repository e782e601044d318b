//! `bale make`: a recipe → its sources checked by digest → a build root
//! composed from the locked packages → the steps run in the sandbox →
//! `$OUT` packed as a package with the build's provenance.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bale_build::source::Source as _;
use bale_build::sources::debian::DebianSource;
use bale_fileset::safe_fs::Dir;
use bale_fileset::{Compression, Limits, ModePolicy, Normalize, OwnerPolicy, Plan, sha256_bytes};
use bale_image::{Account, Accounts, ComposeOptions, Group, RuntimeConfig, SpecContent, compose};
use bale_progress::Progress;
use bale_sandbox::{Bind, SandboxSpec};
use bale_sandbox::{first_line, log_tail};
use bale_store::{
    BuildDefinition, BuildParameters, Builder, Dependency, PackageMetadata, Provenance, RECIPE_BUILD_TYPE,
    RecipeParameters, RecipeProvenance, ResourceDescriptor, RunDetails, Store, WorkDir,
};

use crate::lock::{LockedPackage, LockedSource, RECIPE_LOCK_VERSION, RecipeLock, recipe_lock_path};
use crate::recipe::{FileOrigin, Recipe, Source, SourceDateEpoch};
use crate::{RecipeError, fetch};

/// The uid and gid builds run as, and the hostname they see.
pub const BUILD_UID: u32 = 1000;
pub const BUILD_HOSTNAME: &str = "bale";
/// Where the sources are, and the output goes, inside the sandbox.
pub const BUILD_DIR: &str = "/build";
pub const OUT_DIR: &str = "/out";

/// What to make.
#[derive(Debug, Clone)]
pub struct MakeRequest {
    pub recipe: PathBuf,
    /// Refuse a recipe that drifted from its lock instead of re-pinning.
    pub locked: bool,
    /// The executable that runs sandbox stages (calls
    /// `bale_sandbox::helper_main` first thing).
    pub helper: PathBuf,
    pub compression: Compression,
}

/// What `bale make` made.
#[derive(Debug, Clone)]
pub struct MakeReport {
    pub id: String,
    pub metadata: PackageMetadata,
    pub manifest: bale_store::Descriptor,
    /// False when exactly this package was already in the store.
    pub new: bool,
    /// The packages `[[split]]` made, in order.
    pub splits: Vec<SplitReport>,
    pub lock: PathBuf,
    /// Whether the lock was written afresh.
    pub relocked: bool,
}

/// Builds `request.recipe` into a package in `store`. The package carries
/// the recipe, its lock and its `path` sources (as more layers of its
/// manifest), so `bale rebuild` can build it again from the package alone.
pub fn make(store: &Store, request: &MakeRequest, progress: &dyn Progress) -> Result<MakeReport, RecipeError> {
    let _session = store.lock_shared()?;
    let built = build(store, request, false, progress)?;
    let mut stored = Vec::new();
    for (plan, metadata) in built.outputs {
        // A recipe's package may be made again after an edit: the newer
        // build replaces it, as `bale build` replaces a changed local
        // package.
        stored.push(bale_store::store_plan_with(
            store,
            &plan,
            metadata,
            request.compression,
            true,
            &built.attachments,
            progress,
        )?);
    }
    let mut stored = stored.into_iter();
    let Some(main) = stored.next() else { return Err(RecipeError::EmptyOutput) };
    Ok(MakeReport {
        id: main.id,
        metadata: main.metadata,
        manifest: main.manifest,
        new: main.new,
        splits: stored.map(|s| SplitReport { id: s.id, content: s.metadata.content.digest, new: s.new }).collect(),
        lock: built.lock_path,
        relocked: built.relocked,
    })
}

/// A split of the package, as stored.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SplitReport {
    pub id: String,
    pub content: bale_fileset::Digest,
    pub new: bool,
}

/// A recipe's build, done and not stored: its output as a plan (read from
/// `out`, which lives as long as this), the package's metadata but for
/// its content, and the blobs that go with it.
pub(crate) struct Built {
    /// The package, then each split, with its metadata but for content.
    pub(crate) outputs: Vec<(Plan, PackageMetadata)>,
    pub(crate) attachments: Vec<bale_store::Descriptor>,
    pub(crate) lock_path: PathBuf,
    pub(crate) relocked: bool,
    pub(crate) out: PathBuf,
    /// When the steps began and ended, seconds since the epoch.
    pub(crate) window: (i64, i64),
    _work: WorkDir,
}

/// Media types of what a recipe's package carries beside its content.
pub const RECIPE_MEDIA_TYPE: &str = "application/vnd.bale.recipe.v1+toml";
pub const RECIPE_LOCK_MEDIA_TYPE: &str = "application/vnd.bale.recipe-lock.v1+toml";
pub const RECIPE_SOURCE_MEDIA_TYPE: &str = "application/vnd.bale.recipe-source.v1";
pub(crate) const TITLE: &str = "org.opencontainers.image.title";

/// Runs the recipe's build. With `fresh_root`, the build root is unpacked
/// for this build alone instead of from the cache, so nothing an earlier
/// build left there can take part. The caller holds the store lock shared.
pub(crate) fn build(
    store: &Store,
    request: &MakeRequest,
    fresh_root: bool,
    progress: &dyn Progress,
) -> Result<Built, RecipeError> {
    let (recipe, bytes) = Recipe::load(&request.recipe)?;
    let recipe_digest = sha256_bytes(&bytes);
    let sources = recipe.checked_sources(&request.recipe)?;
    let lock_path = recipe_lock_path(&request.recipe);
    let old = RecipeLock::load(&lock_path)?;
    if request.locked {
        match &old {
            None => return Err(RecipeError::LockStale { path: lock_path, reason: "does not exist".into() }),
            Some(lock) if lock.recipe != recipe_digest => {
                return Err(RecipeError::LockStale {
                    path: lock_path,
                    reason: format!(
                        "was made for a recipe with sha256 {}, and the recipe now has {recipe_digest}",
                        lock.recipe
                    ),
                });
            }
            Some(_) => {}
        }
    }
    let work = WorkDir::new(store, "make")?;
    // Before fetching or composing anything: a machine that cannot make
    // the sandbox cannot build, and says why now.
    bale_sandbox::probe(&request.helper, &work.path.join("probe"))?;

    let recipe_dir = request.recipe.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut locked_sources = Vec::new();
    let mut inputs = Vec::new();
    let mut debian_sources = Vec::new();
    // `path` sources travel with the package: (path, digest, size).
    let mut path_sources = Vec::new();
    // A keyring beside the recipe travels with the package as its sources
    // do; the archive is checked against the store's copy of it, read
    // without following links.
    let mut recipe = recipe;
    if let Some(keyring) = recipe.build.debian.as_mut().and_then(|d| d.keyring.as_mut())
        && !keyring.is_absolute()
    {
        let (sha256, size) = fetch::beside_recipe(store, recipe_dir, keyring, None)?;
        path_sources.push((keyring.to_string_lossy().into_owned(), sha256, size));
        inputs.push(ResourceDescriptor::sha256(format!("keyring {}", keyring.display()), None, &sha256));
        let blob = store.blob_path(&sha256);
        *keyring = std::path::absolute(&blob).map_err(|e| RecipeError::io(blob, e))?;
    }
    for source in &sources {
        match source {
            Source::File { origin, sha256, dest } => {
                let size = fetch::file_source(store, recipe_dir, origin, sha256, progress)?;
                if let FileOrigin::Path(path) = origin {
                    let path = path.to_string_lossy().into_owned();
                    // One layer per file, however many sources name it.
                    if !path_sources.iter().any(|(p, _, _)| *p == path) {
                        path_sources.push((path, *sha256, size));
                    }
                }
                locked_sources.push(LockedSource { name: dest.clone(), sha256: *sha256, debian: None });
                let uri = match origin {
                    FileOrigin::Url(url) => Some(url.clone()),
                    FileOrigin::Path(_) => None,
                };
                inputs.push(ResourceDescriptor::sha256(dest.clone(), uri, sha256));
            }
            Source::Debian { name, version } => {
                let pinned = old
                    .as_ref()
                    .and_then(|l| l.sources.iter().find(|s| s.name == *name))
                    .and_then(|s| s.debian.clone())
                    .filter(|d| d.version == *version);
                if request.locked && pinned.is_none() {
                    return Err(RecipeError::LockStale {
                        path: lock_path.clone(),
                        reason: format!("pins no Debian source {name} {version}"),
                    });
                }
                let locked = crate::debian_source::fetch(store, &recipe, name, version, pinned, &lock_path, progress)?;
                for file in &locked.files {
                    inputs.push(ResourceDescriptor::sha256(file.name.clone(), None, &file.sha256));
                }
                inputs.push(ResourceDescriptor::sha256(
                    format!("{} {}/source/Sources", locked.suite, name),
                    None,
                    &locked.sources_index,
                ));
                inputs.push(ResourceDescriptor::sha256(format!("{} InRelease", locked.suite), None, &locked.release));
                let dsc = locked.files.first().map(|f| f.sha256).ok_or_else(|| RecipeError::LockParse {
                    path: lock_path.clone(),
                    message: format!("the Debian source {name} pins no files"),
                })?;
                debian_sources.push((name.clone(), locked.clone()));
                locked_sources.push(LockedSource { name: name.clone(), sha256: dsc, debian: Some(locked) });
            }
        }
    }

    let root = BuildRoot::resolve(store, &recipe, recipe_dir, old.as_ref(), request.locked, &lock_path, progress)?;
    for package in &root.packages {
        inputs.push(ResourceDescriptor::sha256(package.id.clone(), None, &package.content));
    }
    for section in &root.debian {
        inputs.push(ResourceDescriptor::sha256(section.base.id.clone(), None, &section.base.content));
        for package in &section.packages {
            inputs.push(ResourceDescriptor::sha256(package.id.clone(), None, &package.content));
        }
        inputs.push(ResourceDescriptor::sha256(
            format!("debian:{} InRelease ({})", section.codename, section.architecture),
            None,
            &section.release,
        ));
    }

    let lock = RecipeLock {
        version: RECIPE_LOCK_VERSION,
        recipe: recipe_digest,
        sources: locked_sources,
        packages: root.packages.clone(),
        debian: root.debian.clone(),
    };
    let relocked = old.as_ref() != Some(&lock);
    if relocked && request.locked {
        return Err(RecipeError::LockStale {
            path: lock_path,
            reason: "pins something other than what the recipe resolves to with it".into(),
        });
    }
    let lock_digest =
        if relocked && !request.locked { lock.save(&lock_path)? } else { sha256_bytes(&lock.to_bytes()?) };

    let root_dir = if fresh_root {
        root.unpack_into(store, &work.path.join("root"), request.compression, progress)?
    } else {
        root.unpacked(store, request.compression, progress)?
    };
    if !bale_image::resolves_to_file(&root_dir, "bin/sh") {
        return Err(RecipeError::NoShell);
    }
    let build = work.path.join("build");
    let out = work.path.join("out");
    for dir in [&build, &out] {
        std::fs::create_dir(dir).map_err(|e| RecipeError::io(dir, e))?;
    }
    let build_dir = Dir::open(&build).map_err(|e| RecipeError::io(&build, e))?;
    for source in &sources {
        if let Source::File { sha256, dest, .. } = source {
            fetch::copy_blob(store, sha256, &build_dir, dest)?;
        }
    }

    let jobs = recipe.build.jobs;
    let log_path = work.path.join("log");
    let mut epoch = match recipe.build.source_date_epoch {
        Some(SourceDateEpoch::Seconds(seconds)) => seconds,
        _ => 0,
    };
    let started = now();
    let run = |label: String, command: &str, epoch: i64, index: usize| -> Result<(), RecipeError> {
        let mut spec = SandboxSpec::new(&root_dir, vec!["/bin/sh".into(), "-e".into(), "-c".into(), command.into()]);
        spec.binds.push(Bind {
            source: build.clone(),
            target: BUILD_DIR.trim_start_matches('/').into(),
            writable: true,
        });
        spec.binds.push(Bind { source: out.clone(), target: OUT_DIR.trim_start_matches('/').into(), writable: true });
        spec.cwd = BUILD_DIR.into();
        spec.hostname = BUILD_HOSTNAME.into();
        spec.uid = BUILD_UID;
        spec.gid = BUILD_UID;
        spec.set_env("OUT", OUT_DIR);
        spec.set_env("SOURCE_DATE_EPOCH", epoch.to_string());
        spec.set_env("JOBS", jobs.to_string());
        spec.set_env("MAKEFLAGS", format!("-j{jobs}"));
        for (name, value) in &recipe.build.env {
            spec.set_env(name, value.clone());
        }
        let outcome = run_logged(
            &spec,
            &request.helper,
            &work.path.join(format!("sandbox-{index}")),
            &log_path,
            &label,
            progress,
        )?;
        if !outcome.success() {
            return Err(RecipeError::StepFailed {
                step: index,
                command: first_line(command),
                outcome: outcome.to_string(),
                tail: log_tail(&log_path),
            });
        }
        Ok(())
    };
    // Debian sources first: unpacked with their patches applied by the
    // build root's own dpkg-source, in the sandbox like every step.
    for (index, (name, locked)) in debian_sources.iter().enumerate() {
        if !bale_image::resolves_to_file(&root_dir, "usr/bin/dpkg-source") {
            return Err(RecipeError::NoDpkgSource { name: name.clone() });
        }
        for file in &locked.files {
            fetch::copy_blob(store, &file.sha256, &build_dir, &file.name)?;
        }
        // `./` so that no file name reads as an option.
        let dsc = shell_word(&format!("./{}", locked.files[0].name));
        let command = format!("dpkg-source --no-check --no-copy -x {dsc} {}", shell_word(name));
        run(format!("unpacking the Debian source {name}"), &command, epoch, 1000 + index)?;
        if index == 0 && matches!(recipe.build.source_date_epoch, Some(SourceDateEpoch::From(_))) {
            epoch = crate::debian_source::changelog_epoch(&build, name)?;
        }
    }
    for (index, step) in recipe.steps.iter().enumerate() {
        let label = format!("step {}/{}: {}", index + 1, recipe.steps.len(), first_line(&step.run));
        run(label, &step.run, epoch, index + 1)?;
    }

    let window = (started, now());
    let normalize = Normalize {
        modes: ModePolicy::Preserve { special_bits: false },
        owners: OwnerPolicy::Root,
        keep_xattrs: false,
    };
    let mut plan = Plan::from_dir(&out, normalize, Limits::default(), progress).map_err(RecipeError::Output)?;
    if plan.is_empty() {
        return Err(RecipeError::EmptyOutput);
    }

    // The tests see the package alone: what the steps wrote, read-only,
    // with nothing of the build root.
    for (index, test) in recipe.tests.iter().enumerate() {
        let argv = test.argv();
        let mut spec = SandboxSpec::new(&out, argv.clone());
        spec.hostname = BUILD_HOSTNAME.into();
        spec.uid = BUILD_UID;
        spec.gid = BUILD_UID;
        spec.set_env("SOURCE_DATE_EPOCH", epoch.to_string());
        let command = test.text();
        let label = format!("test {}/{}: {}", index + 1, recipe.tests.len(), first_line(&command));
        let outcome =
            run_logged(&spec, &request.helper, &work.path.join(format!("test-{index}")), &log_path, &label, progress)?;
        if !outcome.success() {
            return Err(RecipeError::TestFailed {
                test: index + 1,
                command: first_line(&command),
                outcome: outcome.to_string(),
                tail: log_tail(&log_path),
            });
        }
    }

    let package = &recipe.package;
    let mut metadata = PackageMetadata::new(&package.name, &package.version);
    metadata.architecture = Some(package.architecture.clone().unwrap_or_else(|| root.architecture.clone()));
    metadata.license = package.license.clone();
    metadata.summary = package.summary.clone();
    metadata.dependencies =
        runtime_dependencies(&recipe.runtime.dependencies, "runtime.dependencies", &request.recipe)?;
    metadata.provenance = Provenance::Recipe(Box::new(RecipeProvenance {
        build_definition: BuildDefinition {
            build_type: RECIPE_BUILD_TYPE.into(),
            external_parameters: RecipeParameters {
                recipe: ResourceDescriptor::sha256(recipe_file_name(&request.recipe), None, &recipe_digest),
                lock: ResourceDescriptor::sha256(recipe_file_name(&lock_path), None, &lock_digest),
            },
            internal_parameters: BuildParameters {
                source_date_epoch: epoch,
                jobs,
                uid: BUILD_UID,
                hostname: BUILD_HOSTNAME.into(),
                network: "loopback".into(),
            },
            resolved_dependencies: inputs,
        },
        run_details: RunDetails {
            builder: Builder {
                id: "urn:bale:builder:sandbox".into(),
                version: BTreeMap::from([
                    ("bale".to_string(), env!("CARGO_PKG_VERSION").to_string()),
                    ("kernel".to_string(), kernel_release()),
                ]),
            },
        },
    }));
    let mut attachments = Vec::new();
    let mut attach = |media_type: &str, title: String, digest: bale_fileset::Digest, size: u64| {
        let mut descriptor = bale_store::Descriptor::new(media_type, digest, size);
        descriptor.annotations.insert(TITLE.into(), title);
        attachments.push(descriptor);
    };
    let lock_bytes = lock.to_bytes()?;
    attach(RECIPE_MEDIA_TYPE, recipe_file_name(&request.recipe), store.put_bytes(&bytes)?, bytes.len() as u64);
    attach(
        RECIPE_LOCK_MEDIA_TYPE,
        recipe_file_name(&lock_path),
        store.put_bytes(&lock_bytes)?,
        lock_bytes.len() as u64,
    );
    for (path, sha256, size) in path_sources {
        attach(RECIPE_SOURCE_MEDIA_TYPE, path, sha256, size);
    }
    // Splits take their paths out of the main package, in order; each is
    // a package of its own with the same provenance and attachments.
    let mut splits = Vec::new();
    for (index, split) in recipe.splits.iter().enumerate() {
        let part = plan.split_off(&|path| split.takes(path)).map_err(RecipeError::Output)?;
        if !part.entries().any(|e| e.kind != bale_fileset::EntryKind::Directory) {
            return Err(RecipeError::EmptySplit { name: split.name.clone(), index });
        }
        let mut split_metadata = metadata.clone();
        split_metadata.name = split.name.clone();
        split_metadata.purl = bale_store::generic_purl(&split.name, &package.version);
        split_metadata.summary = split.summary.clone();
        split_metadata.license = split.license.clone().unwrap_or_else(|| package.license.clone());
        split_metadata.dependencies =
            runtime_dependencies(&split.dependencies, &format!("split[{index}].dependencies"), &request.recipe)?;
        splits.push((part, split_metadata));
    }
    if !plan.entries().any(|e| e.kind != bale_fileset::EntryKind::Directory) {
        return Err(RecipeError::EmptyOutput);
    }
    // Declared effects belong to the main package, whose files they name.
    for (index, alternative) in recipe.runtime.alternatives.iter().enumerate() {
        if plan.get(alternative.path.trim_start_matches('/')).is_none() {
            return Err(RecipeError::Invalid {
                path: request.recipe.clone(),
                field: format!("runtime.alternative[{index}]"),
                reason: format!("{} is not in the package (a split took it, or no step made it)", alternative.path),
            });
        }
        metadata.alternatives.push(bale_store::AlternativeLink {
            link: alternative.link.clone(),
            name: alternative.name.clone(),
            path: alternative.path.clone(),
            priority: alternative.priority,
        });
    }
    metadata.users = recipe
        .runtime
        .users
        .iter()
        .map(|u| bale_store::SystemUser {
            name: u.name.clone(),
            uid: u.uid,
            gid: u.gid.unwrap_or(u.uid),
            home: u.home.clone(),
            shell: u.shell.clone(),
        })
        .collect();
    let mut outputs = vec![(plan, metadata)];
    outputs.extend(splits);
    Ok(Built { outputs, attachments, lock_path, relocked, out, window, _work: work })
}

fn recipe_file_name(path: &Path) -> String {
    path.file_name().map_or_else(|| "recipe.toml".into(), |n| n.to_string_lossy().into_owned())
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The composed build root: bale packages and a Debian closure, locked.
struct BuildRoot {
    architecture: String,
    packages: Vec<LockedPackage>,
    debian: Vec<bale_debian::lock::LockedDebian>,
    ids: Vec<String>,
}

impl BuildRoot {
    fn resolve(
        store: &Store,
        recipe: &Recipe,
        recipe_dir: &Path,
        old: Option<&RecipeLock>,
        locked: bool,
        lock_path: &Path,
        progress: &dyn Progress,
    ) -> Result<Self, RecipeError> {
        let records = store.packages_by_id()?;
        let mut packages = Vec::new();
        let old_packages = old.map(|l| l.packages.as_slice()).unwrap_or_default();
        if locked && old_packages.len() != recipe.build.packages.len() {
            return Err(RecipeError::LockStale {
                path: lock_path.to_path_buf(),
                reason: "pins other build-root packages than the recipe lists".into(),
            });
        }
        for (index, reference) in recipe.build.packages.iter().enumerate() {
            let (id, content) = if locked {
                // The lock's ids, never what a reference resolves to today.
                let pinned = &old_packages[index];
                let got = records.get(&pinned.id).and_then(|r| r.content_digest);
                if got != Some(pinned.content) {
                    return Err(RecipeError::RootPackageChanged {
                        lock: lock_path.to_path_buf(),
                        id: pinned.id.clone(),
                        want: pinned.content,
                        got: got.map_or_else(|| "nothing under it".into(), |d| d.to_string()),
                    });
                }
                (pinned.id.clone(), pinned.content)
            } else {
                let record = store
                    .resolve(reference)
                    .map_err(|source| RecipeError::RootPackage { reference: reference.clone(), source })?;
                let content = record.content_digest.ok_or_else(|| RecipeError::RootPackage {
                    reference: reference.clone(),
                    source: bale_store::StoreError::NotFound { reference: reference.clone() },
                })?;
                (record.id, content)
            };
            packages.push(LockedPackage { id, content });
        }
        let mut ids: Vec<String> = packages.iter().map(|p| p.id.clone()).collect();
        let mut debian = Vec::new();
        let mut architecture = bale_build::host_architecture();
        if let Some(request) = &recipe.build.debian {
            let source = DebianSource::for_request(request, recipe_dir, request.architecture.clone());
            architecture = request.architecture.clone().unwrap_or(architecture);
            let current = old
                .into_iter()
                .flat_map(|l| &l.debian)
                .find(|s| s.architecture == architecture && source.is_current(s))
                .cloned();
            let section = match current {
                Some(section) => section,
                None if locked => {
                    return Err(RecipeError::LockStale {
                        path: lock_path.to_path_buf(),
                        reason: "pins no Debian build root for what [build.debian] asks now".into(),
                    });
                }
                None => source
                    .lock(store, &architecture, Default::default(), Compression::Gzip, progress)
                    .map_err(|e| RecipeError::Resolve(Box::new(e)))?,
            };
            ids.extend(
                source
                    .install(store, &section, Compression::Gzip, progress)
                    .map_err(|e| RecipeError::Resolve(Box::new(e)))?,
            );
            debian.push(section);
        }
        Ok(Self { architecture, packages, debian, ids })
    }

    /// The build root as an image: its packages, and a generated layer
    /// with the `build` account (uid 1000, home /build), ld.so.cache and
    /// alternatives.
    fn compose(
        &self,
        store: &Store,
        compression: Compression,
        progress: &dyn Progress,
    ) -> Result<bale_image::Image, RecipeError> {
        let mut accounts = Accounts::default();
        accounts.users.push(Account {
            name: "build".into(),
            uid: BUILD_UID,
            gid: BUILD_UID,
            home: BUILD_DIR.into(),
            shell: "/bin/sh".into(),
            create_home: false,
        });
        accounts.groups.push(Group { name: "build".into(), gid: BUILD_UID, members: Vec::new() });
        let content =
            SpecContent { files: Vec::new(), dirs: Vec::new(), accounts, user: format!("{BUILD_UID}:{BUILD_UID}") };
        let options =
            ComposeOptions { architecture: self.architecture.clone(), created: 0, layer_cap: 1000, compression };
        compose(store, &self.ids, &content, &RuntimeConfig::default(), &options, progress).map_err(RecipeError::Compose)
    }

    /// The build root unpacked into the new directory `dest`, for one
    /// build alone.
    fn unpack_into(
        &self,
        store: &Store,
        dest: &Path,
        compression: Compression,
        progress: &dyn Progress,
    ) -> Result<PathBuf, RecipeError> {
        let image = self.compose(store, compression, progress)?;
        bale_image::unpack_root(store, &image, dest, progress)
            .map_err(|source| RecipeError::Unpack { dir: dest.to_path_buf(), source })?;
        Ok(dest.to_path_buf())
    }

    /// The root composed and unpacked once per image, shared by every
    /// build over it (see [`bale_image::unpacked_root`]).
    fn unpacked(
        &self,
        store: &Store,
        compression: Compression,
        progress: &dyn Progress,
    ) -> Result<PathBuf, RecipeError> {
        let image = self.compose(store, compression, progress)?;
        bale_image::unpacked_root(store, &image, progress)
            .map_err(|source| RecipeError::Unpack { dir: store.root().join("cache"), source })
    }
}

/// Runs `spec` in a new sandbox in `work`, its output appended to the
/// build log, shown as the phase `label`.
fn run_logged(
    spec: &SandboxSpec,
    helper: &Path,
    work: &Path,
    log_path: &Path,
    label: &str,
    progress: &dyn Progress,
) -> Result<bale_sandbox::Outcome, RecipeError> {
    progress.phase(label, None);
    let outcome = bale_sandbox::run_logged(spec, helper, work, log_path);
    progress.finish_phase();
    Ok(outcome?)
}

/// `[runtime] dependencies` as package metadata has them.
fn runtime_dependencies(texts: &[String], field: &str, path: &Path) -> Result<Vec<Dependency>, RecipeError> {
    let mut out = Vec::new();
    for text in texts {
        let groups = bale_debian::relation::parse_relations(text).map_err(|e| RecipeError::Invalid {
            path: path.to_path_buf(),
            field: field.into(),
            reason: e.to_string(),
        })?;
        out.extend(groups.iter().map(bale_debian::import::dependency));
    }
    Ok(out)
}

/// `word` quoted for the shell.
fn shell_word(word: &str) -> String {
    format!("'{}'", word.replace('\'', "'\\''"))
}

pub(crate) fn kernel_release() -> String {
    rustix::system::uname().release().to_string_lossy().into_owned()
}
