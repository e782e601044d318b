use std::fs::{File, OpenOptions};
use std::path::Path;

use crate::error::StoreError;

/// A held lock on the store. Writers hold it shared for their whole
/// session; `gc` holds it exclusively, so it never deletes a blob that a
/// running writer has stored but not yet recorded in the index. The lock is
/// released when this is dropped, or by the kernel when the process dies.
#[derive(Debug)]
pub struct StoreLock {
    _file: File,
}

impl StoreLock {
    pub(crate) fn shared(path: &Path) -> Result<Self, StoreError> {
        let file = open(path)?;
        file.lock_shared().map_err(|e| StoreError::io(path, e))?;
        Ok(Self { _file: file })
    }

    pub(crate) fn exclusive(path: &Path) -> Result<Self, StoreError> {
        let file = open(path)?;
        file.lock().map_err(|e| StoreError::io(path, e))?;
        Ok(Self { _file: file })
    }
}

fn open(path: &Path) -> Result<File, StoreError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| StoreError::io(path, e))
}
