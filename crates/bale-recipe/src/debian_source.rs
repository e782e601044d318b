//! A recipe's Debian source packages: found through the archive's
//! signature chain (InRelease → Sources → each file), or taken by the
//! digests the lock pins, and fetched into the store.

use std::path::Path;

use bale_debian::source_package::{self, SourceFile};
use bale_fileset::safe_fs;
use bale_progress::Progress;
use bale_store::Store;

use crate::RecipeError;
use crate::lock::LockedDebianSource;
use crate::recipe::Recipe;

/// The largest `debian/changelog` read for its date.
const MAX_CHANGELOG: u64 = 16 << 20;

/// Puts every file of the source package `name` `version` into the store:
/// those `pinned` pins when given, else those the archive's verified
/// Sources index lists now. The archive is the one `[build.debian]` names,
/// else the host's.
pub(crate) fn fetch(
    store: &Store,
    recipe: &Recipe,
    name: &str,
    version: &str,
    pinned: Option<LockedDebianSource>,
    lock_path: &Path,
    progress: &dyn Progress,
) -> Result<LockedDebianSource, RecipeError> {
    let failed = |source| RecipeError::DebianSource { name: name.into(), version: version.into(), source };
    // Pins whose files the store has need no archive at all: each file is
    // known by its digest.
    if let Some(pinned) = &pinned {
        check_names(name, pinned, lock_path)?;
        if pinned.files.iter().all(|f| store.has_blob(&f.sha256)) {
            return Ok(pinned.clone());
        }
    }
    let debian = recipe.build.debian.as_ref();
    let config = bale_build::archive_config(&bale_build::ArchiveRequest {
        suite: debian.and_then(|d| d.suite.clone()),
        mirror: debian.and_then(|d| d.mirror.clone()),
        components: debian.map(|d| d.components.clone()).unwrap_or_default(),
        architecture: debian.and_then(|d| d.architecture.clone()),
        // Absolute by now: a host's keyring, or the store's copy of one
        // beside the recipe.
        keyring: debian.and_then(|d| d.keyring.clone()),
        allow_expired: false,
        no_updates: debian.is_some_and(|d| !d.updates),
    })
    .map_err(|e| RecipeError::Resolve(Box::new(e)))?;
    let suite = bale_debian::archive::open_release(&config, progress)
        .map_err(|e| failed(source_package::SourcePackageError::Archive(e)))?;
    let locked = match pinned {
        Some(pinned) => pinned,
        None => {
            let found = source_package::find(&suite, store, name, version, progress).map_err(failed)?;
            let found = LockedDebianSource {
                version: found.version,
                suite: found.suite,
                directory: found.directory,
                release: found.release,
                sources_index: found.index,
                files: found.files,
            };
            check_names(name, &found, lock_path)?;
            found
        }
    };
    source_package::fetch_files(&suite, &locked.directory, &locked.suite, &locked.files, store, progress)
        .map_err(failed)?;
    Ok(locked)
}

/// A lock is the user's file: its names are checked as the index's are,
/// a plain pool directory and plain file names, the `.dsc` first.
fn check_names(name: &str, locked: &LockedDebianSource, lock_path: &Path) -> Result<(), RecipeError> {
    let plain = |f: &SourceFile| !f.name.is_empty() && !f.name.contains('/') && !f.name.starts_with('.');
    let pool = !locked.directory.starts_with('/') && locked.directory.split('/').all(|c| !c.is_empty() && c != "..");
    if !locked.files.iter().all(plain) || !pool || locked.files.first().is_none_or(|f| !f.name.ends_with(".dsc")) {
        return Err(RecipeError::LockParse {
            path: lock_path.to_path_buf(),
            message: format!("the Debian source {name} pins file names bale does not write"),
        });
    }
    Ok(())
}

/// `SOURCE_DATE_EPOCH` from the unpacked source's `debian/changelog`.
pub(crate) fn changelog_epoch(build: &Path, name: &str) -> Result<i64, RecipeError> {
    let path = build.join(name).join("debian/changelog");
    let dir = safe_fs::Dir::open(build).map_err(|e| RecipeError::io(&path, e))?;
    let (file, meta) = dir.open_file(&format!("{name}/debian/changelog")).map_err(|e| RecipeError::io(&path, e))?;
    if meta.size > MAX_CHANGELOG {
        return Err(RecipeError::Changelog {
            path,
            reason: format!("it is {} bytes, more than bale reads", meta.size),
        });
    }
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut std::io::Read::take(file, MAX_CHANGELOG), &mut bytes)
        .map_err(|e| RecipeError::io(&path, e))?;
    let text = String::from_utf8_lossy(&bytes);
    source_package::changelog_date(&text)
        .ok_or_else(|| RecipeError::Changelog { path, reason: "its first entry has no readable date".into() })
}
