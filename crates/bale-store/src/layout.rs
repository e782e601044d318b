//! Reading an OCI image layout that bale may not have written (a `bale
//! push` of any directory, `bale sbom` of one): `index.json` and blobs are
//! reached through a handle on the layout without following links, JSON
//! documents are bounded, and a blob is read only if it is a regular file of
//! the size its descriptor declares.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use bale_fileset::Digest;
use bale_fileset::safe_fs::{self, Dir};
use serde::de::DeserializeOwned;

use crate::error::StoreError;
use crate::oci::Index;

/// The largest `index.json` or manifest bale reads from a layout.
pub const MAX_LAYOUT_JSON: u64 = 16 << 20;

#[derive(Debug)]
pub struct LayoutReader {
    dir: Dir,
}

impl LayoutReader {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Ok(Self { dir: Dir::open(path).map_err(|e| StoreError::io(path, e))? })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Where a blob is, for messages.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.dir.display(&blob_rel(digest))
    }

    pub fn index(&self) -> Result<Index, StoreError> {
        let bytes = self.read("index.json", MAX_LAYOUT_JSON)?;
        parse(&bytes, &self.dir.display("index.json"))
    }

    /// A JSON blob (a manifest), checked against its digest.
    pub fn read_json<T: DeserializeOwned>(&self, digest: &Digest) -> Result<(T, Vec<u8>), StoreError> {
        let bytes = self.read_blob(digest, MAX_LAYOUT_JSON)?;
        Ok((parse(&bytes, &self.blob_path(digest))?, bytes))
    }

    /// A blob of at most `max` bytes, checked against its digest.
    pub fn read_blob(&self, digest: &Digest, max: u64) -> Result<Vec<u8>, StoreError> {
        let bytes = self.read(&blob_rel(digest), max)?;
        let actual = bale_fileset::sha256_bytes(&bytes);
        if actual != *digest {
            return Err(StoreError::io(
                self.blob_path(digest),
                safe_fs::unexpected(format!("its content hashes to {actual}, not to its name")),
            ));
        }
        Ok(bytes)
    }

    /// Opens a blob for streaming; it must be a regular file of `size` bytes.
    pub fn open_blob(&self, digest: &Digest, size: u64) -> Result<File, StoreError> {
        let path = self.blob_path(digest);
        let (file, meta) = self.dir.open_file(&blob_rel(digest)).map_err(|e| StoreError::io(&path, e))?;
        if meta.size != size {
            let reason = format!("it is {} bytes; its descriptor says {size}", meta.size);
            return Err(StoreError::io(&path, safe_fs::unexpected(reason)));
        }
        Ok(file)
    }

    /// Adds an artifact to the layout: its blobs, then `descriptor` to
    /// `index.json`, each written to a new file and renamed into place (a
    /// reader sees the old index or the new one, never a blob missing).
    /// An entry of the same digest already there is kept as it is.
    pub fn add_artifact(&self, blobs: &[&[u8]], descriptor: &crate::oci::Descriptor) -> Result<(), StoreError> {
        let blob_dir =
            self.dir.open_dir("blobs/sha256").map_err(|e| StoreError::io(self.dir.display("blobs/sha256"), e))?;
        for blob in blobs {
            let digest = bale_fileset::sha256_bytes(blob);
            blob_dir
                .write_atomic(&digest.hex(), blob, 0o644)
                .map_err(|e| StoreError::io(self.blob_path(&digest), e))?;
        }
        let mut index = self.index()?;
        if !index.manifests.iter().any(|d| d.digest == descriptor.digest) {
            index.manifests.push(descriptor.clone());
        }
        self.dir
            .write_atomic("index.json", &crate::oci::to_json(&index), 0o644)
            .map_err(|e| StoreError::io(self.dir.display("index.json"), e))
    }

    fn read(&self, rel: &str, max: u64) -> Result<Vec<u8>, StoreError> {
        let path = self.dir.display(rel);
        let (file, meta) = self.dir.open_file(rel).map_err(|e| StoreError::io(&path, e))?;
        if meta.size > max {
            let reason = format!("it is {} bytes; bale reads at most {max} here", meta.size);
            return Err(StoreError::io(&path, safe_fs::unexpected(reason)));
        }
        let mut out = Vec::with_capacity(usize::try_from(meta.size).unwrap_or(0));
        file.take(max + 1).read_to_end(&mut out).map_err(|e| StoreError::io(&path, e))?;
        if out.len() as u64 > max {
            return Err(StoreError::io(&path, safe_fs::unexpected("it grew while being read")));
        }
        Ok(out)
    }
}

fn blob_rel(digest: &Digest) -> String {
    format!("blobs/sha256/{}", digest.hex())
}

fn parse<T: DeserializeOwned>(bytes: &[u8], path: &Path) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|source| StoreError::BadJson {
        what: "an OCI layout document".into(),
        path: path.to_path_buf(),
        source,
    })
}
