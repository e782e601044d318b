//! `bale store gc`: delete what nothing references.

use std::collections::HashSet;
use std::fs;

use bale_fileset::Digest;
use serde::Serialize;

use crate::error::StoreError;
use crate::oci::{INDEX_MEDIA_TYPE, Index, MANIFEST_MEDIA_TYPE, Manifest};
use crate::store::Store;

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GcReport {
    pub blobs_kept: u64,
    pub blobs_removed: u64,
    pub bytes_removed: u64,
    pub temp_files_removed: u64,
    pub dry_run: bool,
}

impl Store {
    /// Removes every blob not reachable from `index.json`, and every temp
    /// file. Holds the store lock exclusively, so no writer is mid-way.
    pub fn gc(&self, dry_run: bool) -> Result<GcReport, StoreError> {
        self.gc_keeping(dry_run, || Ok(HashSet::new()))
    }

    /// [`Store::gc`], also keeping the blobs `also_live` names, asked for
    /// once the store is locked (a registry serving this store keeps what
    /// its repositories link; it cannot add any while gc runs).
    pub fn gc_keeping(
        &self,
        dry_run: bool,
        also_live: impl FnOnce() -> Result<HashSet<Digest>, String>,
    ) -> Result<GcReport, StoreError> {
        let _exclusive = self.lock_exclusive()?;
        let mut live: HashSet<Digest> = also_live().map_err(|reason| StoreError::GcRoots { reason })?;
        let mut pending: Vec<(Digest, String)> =
            self.read_index()?.manifests.into_iter().map(|d| (d.digest, d.media_type)).collect();
        while let Some((digest, media_type)) = pending.pop() {
            if !live.insert(digest) || !self.has_blob(&digest) {
                continue;
            }
            // A manifest that cannot be read hides what it references, and
            // deleting on a guess could destroy a package's data: stop.
            let refuse = |e: StoreError| StoreError::GcRefused { digest, reason: e.to_string() };
            if media_type == INDEX_MEDIA_TYPE {
                let index: Index = self.read_json(&digest, "index").map_err(refuse)?;
                pending.extend(index.manifests.into_iter().map(|d| (d.digest, d.media_type)));
            } else if media_type == MANIFEST_MEDIA_TYPE {
                let manifest: Manifest = self.read_json(&digest, "manifest").map_err(refuse)?;
                live.insert(manifest.config.digest);
                live.extend(manifest.layers.iter().map(|l| l.digest));
            }
        }
        let mut report = GcReport { dry_run, ..Default::default() };
        let blobs_dir = self.blobs_dir();
        for item in fs::read_dir(&blobs_dir).map_err(|e| StoreError::io(&blobs_dir, e))? {
            let item = item.map_err(|e| StoreError::io(&blobs_dir, e))?;
            let name = item.file_name().to_string_lossy().into_owned();
            let keep = format!("sha256:{name}").parse::<Digest>().is_ok_and(|d| live.contains(&d));
            if keep {
                report.blobs_kept += 1;
                continue;
            }
            report.blobs_removed += 1;
            report.bytes_removed += item.metadata().map(|m| m.len()).unwrap_or(0);
            if !dry_run {
                remove_entry(&item)?;
            }
        }
        // Caches (resolutions, decompressed indexes) are derived data that
        // the blobs they came from no longer back after a gc.
        // So are unpacked roots for sandboxes (`cache/roots`), which
        // may hold directories their packages made read-only: removed
        // through handles that open those up.
        let cache = self.root().join("cache");
        if !dry_run && cache.exists() {
            let root = bale_fileset::safe_fs::Dir::open(self.root()).map_err(|e| StoreError::io(self.root(), e))?;
            root.remove_tree("cache").map_err(|e| StoreError::io(&cache, e))?;
        }
        let tmp = self.tmp_dir();
        for item in fs::read_dir(&tmp).map_err(|e| StoreError::io(&tmp, e))? {
            let item = item.map_err(|e| StoreError::io(&tmp, e))?;
            report.temp_files_removed += 1;
            if !dry_run {
                remove_entry(&item)?;
            }
        }
        Ok(report)
    }
}

/// Removes whatever a store directory holds under a name: a file, a link
/// (not what it names), or a stray directory and all below it.
fn remove_entry(item: &fs::DirEntry) -> Result<(), StoreError> {
    let path = item.path();
    let is_dir = item.file_type().is_ok_and(|t| t.is_dir());
    let result = if is_dir {
        // Through handles, opening up directories left unreadable (a
        // sandbox's overlay work directory).
        let parent = path.parent().unwrap_or(std::path::Path::new("."));
        match item.file_name().to_str() {
            Some(name) => bale_fileset::safe_fs::Dir::open(parent).and_then(|dir| dir.remove_tree(name)),
            None => fs::remove_dir_all(&path),
        }
    } else {
        fs::remove_file(&path)
    };
    result.map_err(|e| StoreError::io(path, e))
}
