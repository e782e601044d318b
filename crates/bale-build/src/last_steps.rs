//! `[[run]]`: an image spec's last step. The commands run, in order, in
//! bale's sandbox (no network, uid 0 of a user namespace, the image's own
//! `/bin/sh`) over the composed image as the lower layer of an overlay;
//! what they write is packed as the package `NAME/run` and becomes the
//! image's top layer, which may replace what packages ship. They may add
//! and change files, not remove them: an image is a set of packages, and
//! a deletion would hide part of one.

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use bale_fileset::{Limits, ModePolicy, Normalize, OwnerPolicy, Plan};
use bale_image::{ComposeOptions, Image, RunStep, Spec, SpecContent, add_top_layer};
use bale_progress::Progress;
use bale_sandbox::{SandboxSpec, first_line, log_tail};
use bale_store::{PackageId, PackageMetadata, Provenance, Store, WorkDir, store_plan_with};

use crate::BuildError;

/// Top-level directories the sandbox mounts over; made in the overlay
/// only as mount points when the image lacks them.
const MOUNT_POINTS: &[&str] = &["proc", "dev", "tmp"];

/// The overlay's mark on a directory that replaced a removed one.
const OPAQUE: &str = "user.overlay.opaque";

/// `image` with the spec's `[[run]]` commands applied, or `image` itself
/// when there are none. A package from an earlier build over the same
/// image with the same commands is used again without running anything.
pub(crate) fn finish_image(
    store: &Store,
    spec: &Spec,
    image: Image,
    content: &SpecContent,
    options: &ComposeOptions,
    helper: &Path,
    progress: &dyn Progress,
) -> Result<Image, BuildError> {
    if spec.runs.is_empty() {
        return Ok(image);
    }
    let host = crate::host_architecture();
    if image.architecture != host {
        return Err(BuildError::RunForeign { architecture: image.architecture.clone(), host });
    }
    let name = format!("{}/run", spec.name);
    let id = PackageId::new(None, &name, &image.architecture, &spec.tag)
        .map_err(|source| BuildError::RunPackage { name: name.clone(), source })?
        .to_string();
    let provenance =
        Provenance::Run { image: image.manifest.digest, commands: spec.runs.iter().map(RunStep::argv).collect() };
    let earlier = match store.packages_by_id()?.get(&id) {
        Some(record) => match store.load_package(record)?.1.provenance {
            Provenance::Run { .. } => store.load_package(record)?.1.provenance == provenance,
            // A package of that name made otherwise is not this image's to replace.
            _ => return Err(BuildError::RunPackageTaken { id }),
        },
        None => false,
    };
    if !earlier {
        // The plan reads the files from the work directory, kept until stored.
        let (plan, _work) = run_commands(store, &spec.runs, &image, options.created, helper, progress)?;
        let mut metadata = PackageMetadata::new(&name, &spec.tag);
        metadata.architecture = Some(image.architecture.clone());
        metadata.summary = Some(format!("what the [[run]] commands of {} wrote", spec.name));
        metadata.provenance = provenance;
        // The commands are the spec's own: a build after an edit replaces
        // the package.
        store_plan_with(store, &plan, metadata, options.compression, true, &[], progress)
            .map_err(|source| BuildError::RunPackage { name: name.clone(), source })?;
    }
    add_top_layer(store, &image, &id, content, &spec.config, options)
        .map_err(|source| BuildError::Compose { architecture: image.architecture.clone(), source })
}

/// Runs `steps` over `image` and returns what they wrote, with the owners
/// the image gives each path it already had (root for new ones), and the
/// directory that holds them.
fn run_commands(
    store: &Store,
    steps: &[RunStep],
    image: &Image,
    created: i64,
    helper: &Path,
    progress: &dyn Progress,
) -> Result<(Plan, WorkDir), BuildError> {
    let work = WorkDir::new(store, "run")?;
    bale_sandbox::probe(helper, &work.path.join("probe"))?;
    let lower = bale_image::unpacked_root(store, image, progress).map_err(BuildError::RunUnpack)?;
    // The sandbox takes absolute paths; the store's may be relative.
    let absolute = |path: PathBuf| std::path::absolute(&path).map_err(|source| BuildError::Write { path, source });
    let lower = absolute(lower)?;
    let changes = absolute(work.path.join("changes"))?;
    // Only the first step can be known to need a shell the image lacks:
    // an earlier command may install one.
    if steps.first().is_some_and(|s| s.run.is_some()) && !bale_image::resolves_to_file(&lower, "bin/sh") {
        return Err(BuildError::RunNoShell { index: 1 });
    }
    std::fs::create_dir(&changes).map_err(|source| BuildError::Write { path: changes.clone(), source })?;
    let log = work.path.join("log");
    for (index, step) in steps.iter().enumerate() {
        let mut sandbox = SandboxSpec::new(&lower, step.argv());
        sandbox.overlay = Some(changes.clone());
        sandbox.uid = 0;
        sandbox.gid = 0;
        sandbox.set_env("HOME", "/root");
        sandbox.set_env("SOURCE_DATE_EPOCH", created.to_string());
        let command = first_line(&step.text());
        progress.phase(&format!("[[run]] {}/{}: {command}", index + 1, steps.len()), None);
        let outcome = bale_sandbox::run_logged(&sandbox, helper, &work.path.join(format!("sandbox-{index}")), &log);
        progress.finish_phase();
        // overlayfs leaves its own work directory mode 0; open it up so
        // the work directory can be removed by a user who is not root.
        let _ =
            std::fs::set_permissions(changes.join("work/work"), std::os::unix::fs::PermissionsExt::from_mode(0o700));
        let outcome = outcome?;
        if !outcome.success() {
            return Err(BuildError::RunFailed {
                index: index + 1,
                command,
                outcome: outcome.to_string(),
                tail: log_tail(&log),
            });
        }
    }
    let upper = changes.join("upper");
    check_changes(&upper, &lower)?;
    let normalize =
        Normalize { modes: ModePolicy::Preserve { special_bits: true }, owners: OwnerPolicy::Root, keep_xattrs: false };
    let mut plan = Plan::from_dir(&upper, normalize, Limits::default(), progress).map_err(BuildError::RunOutput)?;
    let owners = image_owners(store, image, &plan)?;
    plan.set_owners(|path| owners.get(path).copied());
    Ok((plan, work))
}

/// Refuses what the commands removed (overlay whiteouts, a path whose
/// kind changed, a directory replaced after removal) and what no package
/// may hold (devices, FIFOs, sockets); drops the sandbox's own empty mount
/// points. The sandbox has ended: nothing else writes here.
fn check_changes(upper: &Path, lower: &Path) -> Result<(), BuildError> {
    use bale_fileset::safe_fs::{Dir, Kind};
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| BuildError::Write { path, source }
    };
    for name in MOUNT_POINTS {
        let path = upper.join(name);
        if std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir()) {
            // Fails, and stays, when the commands wrote into it.
            let _ = std::fs::remove_dir(&path);
        }
    }
    let image = Dir::open(lower).map_err(io(lower))?;
    // What the image has at `rel`, without following links: None when
    // nothing (or a path through a link, which the overlay resolved).
    let in_image = |rel: &str| image.entry_meta(rel).ok().map(|m| m.kind);
    let mut stack: Vec<PathBuf> = vec![upper.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).map_err(io(&dir))? {
            let entry = entry.map_err(io(&dir))?;
            let path = entry.path();
            let meta = std::fs::symlink_metadata(&path).map_err(io(&path))?;
            let rel = path.strip_prefix(upper).unwrap_or(&path).to_string_lossy().into_owned();
            let shown = || format!("/{rel}");
            let kind = meta.file_type();
            if kind.is_char_device() && meta.rdev() == 0 {
                return Err(BuildError::RunRemoved { path: shown() });
            }
            let special = if kind.is_char_device() {
                Some("a character device")
            } else if kind.is_block_device() {
                Some("a block device")
            } else if kind.is_fifo() {
                Some("a FIFO")
            } else if kind.is_socket() {
                Some("a socket")
            } else {
                None
            };
            if let Some(kind) = special {
                return Err(BuildError::RunSpecial { path: shown(), kind });
            }
            let before = in_image(&rel);
            if kind.is_dir() {
                // Opaque: the directory replaced one that was removed (a
                // new directory may carry the mark too on some kernels,
                // which matters only where the image had something).
                let mut mark = [0u8; 8];
                let opaque = rustix::fs::lgetxattr(&path, OPAQUE, &mut mark).is_ok();
                if before.is_some_and(|k| k != Kind::Directory || opaque) {
                    return Err(BuildError::RunRemoved { path: shown() });
                }
                stack.push(path);
            } else if before == Some(Kind::Directory) {
                // A file or link where the image has a directory hides all
                // that directory holds.
                return Err(BuildError::RunRemoved { path: shown() });
            }
        }
    }
    Ok(())
}

/// The owner the image gives each path of `plan` it has, the top layer's
/// word winning.
fn image_owners(store: &Store, image: &Image, plan: &Plan) -> Result<HashMap<String, (u64, u64)>, BuildError> {
    let wanted: HashSet<&str> = plan.entries().map(|e| e.path.as_str()).collect();
    let mut owners = HashMap::new();
    for layer in &image.layers {
        let reader = store.open_layer(&layer.descriptor)?;
        bale_fileset::read_entries(reader, &Limits::default(), |entry, _| {
            if wanted.contains(entry.path.as_str()) {
                owners.insert(entry.path, (entry.uid, entry.gid));
            }
            Ok(())
        })
        .map_err(BuildError::RunOutput)?;
    }
    Ok(owners)
}
