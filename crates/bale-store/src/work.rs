//! Private directories for work in progress (a build's tree, a sandbox's
//! files), in the store's `tmp/` so they are on the store's filesystem and
//! `bale store gc` removes what a crash leaves.

use std::path::PathBuf;

use bale_fileset::safe_fs::Dir;

use crate::{Store, StoreError};

/// A new directory only its maker can enter, removed (without following
/// any link in it) when dropped.
#[derive(Debug)]
pub struct WorkDir {
    tmp: Dir,
    name: String,
    pub path: PathBuf,
}

impl WorkDir {
    /// A new directory whose name starts with `prefix`.
    pub fn new(store: &Store, prefix: &str) -> Result<Self, StoreError> {
        let tmp_path = store.tmp_dir();
        let tmp = Dir::open(&tmp_path).map_err(|e| StoreError::io(&tmp_path, e))?;
        let (name, _) = tmp.create_temp_dir(prefix, 0o700).map_err(|e| StoreError::io(&tmp_path, e))?;
        let path = tmp_path.join(&name);
        Ok(Self { tmp, name, path })
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = self.tmp.remove_tree(&self.name);
    }
}
