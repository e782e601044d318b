//! Composed images unpacked once, for sandboxes to run over: a recipe's
//! build root, an image that `[[run]]` commands finish. Each lives under
//! its manifest's digest in the store's cache, is never written after it
//! is made, and `bale store gc` removes them with the other caches.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use bale_fileset::safe_fs::{Dir, Kind};
use bale_progress::Progress;
use bale_store::Store;

use crate::{Image, UnpackImageError, unpack_layers};

const ROOTS: &str = "cache/roots";

/// `image` unpacked under [`ROOTS`], made now unless an earlier run made
/// it. The caller holds the store lock shared.
pub fn unpacked_root(store: &Store, image: &Image, progress: &dyn Progress) -> Result<PathBuf, UnpackImageError> {
    let roots = store.root().join(ROOTS);
    let cache_io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| UnpackImageError::Cache { path, source }
    };
    for dir in [store.root().join("cache"), roots.clone()] {
        // Private to the store's owner: a root here is used as it is.
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(cache_io(&dir)(e)),
        }
    }
    let name = image.manifest.digest.hex();
    let dir = roots.join(&name);
    let roots_dir = Dir::open(&roots).map_err(cache_io(&roots))?;
    if let Ok(meta) = roots_dir.entry_meta(&name)
        && meta.kind == Kind::Directory
    {
        return Ok(dir);
    }
    // Unpacked under a private name, then renamed into place: a root is
    // never seen half-written, and two runs racing to make the same root
    // both end with one whole copy.
    let (temp, _) = roots_dir.create_temp_dir(&name, 0o755).map_err(cache_io(&roots))?;
    if let Err(e) = unpack_root(store, image, &roots.join(&temp), progress) {
        let _ = roots_dir.remove_tree(&temp);
        return Err(e);
    }
    match roots_dir.rename_noreplace(&temp, &name) {
        Ok(()) => Ok(dir),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let _ = roots_dir.remove_tree(&temp);
            Ok(dir)
        }
        Err(e) => {
            let _ = roots_dir.remove_tree(&temp);
            Err(cache_io(&dir)(e))
        }
    }
}

/// `image`'s layers unpacked into `dest`, which must not exist or be
/// empty. Everything is owned by whoever runs bale, root or not: the
/// sandbox maps that one user, so a command sees the same tree either way.
pub fn unpack_root(
    store: &Store,
    image: &Image,
    dest: &Path,
    progress: &dyn Progress,
) -> Result<u64, UnpackImageError> {
    let layers: Vec<bale_store::Descriptor> = image.layers.iter().map(|l| l.descriptor.clone()).collect();
    progress.phase("unpacking the image", None);
    let unpacked = unpack_layers(store, &layers, dest, bale_fileset::UnpackOptions { owners: false })
        .and_then(|count| zero_times(dest).map(|()| count).map_err(UnpackImageError::Spool));
    progress.finish_phase();
    unpacked
}

/// Every time of the tree set to the epoch, links' own included, as the
/// image's canonical tars say: a command that records a file's time (a
/// timestamp-checked .pyc, an archive) sees what the image will hold,
/// not when this copy was made. The tree is this process's own, new.
fn zero_times(root: &Path) -> std::io::Result<()> {
    use rustix::fs::{AtFlags, CWD, Timespec, Timestamps, utimensat};
    let epoch = Timestamps {
        last_access: Timespec { tv_sec: 0, tv_nsec: 0 },
        last_modification: Timespec { tv_sec: 0, tv_nsec: 0 },
    };
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        // A directory a package made unreadable keeps its children's times.
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries {
            let entry = entry?;
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                stack.push(path.clone());
            }
            utimensat(CWD, &path, &epoch, AtFlags::SYMLINK_NOFOLLOW)?;
        }
    }
    Ok(utimensat(CWD, root, &epoch, AtFlags::SYMLINK_NOFOLLOW)?)
}

/// Whether `path` of the root resolves, within the root (links taken as
/// the sandbox will take them, each component at a time), to a file.
pub fn resolves_to_file(root: &Path, path: &str) -> bool {
    let Ok(dir) = Dir::open(root) else { return false };
    let mut pending: Vec<String> = path.split('/').rev().map(str::to_string).collect();
    let mut resolved: Vec<String> = Vec::new();
    let mut hops = 0;
    while let Some(component) = pending.pop() {
        match component.as_str() {
            "" | "." => continue,
            ".." => {
                resolved.pop();
                continue;
            }
            _ => {}
        }
        let candidate = resolved.iter().chain([&component]).cloned().collect::<Vec<_>>().join("/");
        let Ok(meta) = dir.entry_meta(&candidate) else { return false };
        match meta.kind {
            Kind::Symlink => {
                hops += 1;
                let Ok(target) = dir.read_link(&candidate) else { return false };
                if hops > 40 {
                    return false;
                }
                let target = String::from_utf8_lossy(&target).into_owned();
                if target.starts_with('/') {
                    resolved.clear();
                }
                pending.extend(target.split('/').rev().map(str::to_string));
            }
            Kind::File if pending.is_empty() => return true,
            Kind::Directory => resolved.push(component),
            _ => return false,
        }
    }
    false
}
