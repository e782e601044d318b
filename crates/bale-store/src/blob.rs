use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use bale_fileset::{Digest, Sha256};

use crate::error::StoreError;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A blob being written. Bytes go to a temp file under the store's `tmp/`;
/// [`BlobWriter::commit`] checks the digest, syncs, and renames the file
/// into `blobs/sha256/`. Dropped without a commit, the temp file is removed.
#[derive(Debug)]
pub struct BlobWriter {
    out: Option<BufWriter<File>>,
    /// None when the caller hashes the very bytes it writes (a layer sink
    /// does), so they are not hashed twice.
    hasher: Option<Sha256>,
    written: u64,
    temp: PathBuf,
    blobs_dir: PathBuf,
}

impl BlobWriter {
    pub(crate) fn create(tmp_dir: &Path, blobs_dir: &Path, hashed: bool) -> Result<Self, StoreError> {
        let name = format!(
            "{}-{}-{}.part",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
        );
        let temp = tmp_dir.join(name);
        let file = OpenOptions::new().write(true).create_new(true).open(&temp).map_err(|e| StoreError::io(&temp, e))?;
        Ok(Self {
            out: Some(BufWriter::with_capacity(256 * 1024, file)),
            hasher: hashed.then(Sha256::new),
            written: 0,
            temp,
            blobs_dir: blobs_dir.to_path_buf(),
        })
    }

    /// Stores the blob under its digest. With `expected`, a different digest
    /// is an error and nothing is stored. Returns the digest and size.
    ///
    /// A writer from [`crate::Store::prehashed_blob_writer`] takes `expected`
    /// as the digest its caller computed over the same bytes.
    pub fn commit(mut self, expected: Option<Digest>) -> Result<(Digest, u64), StoreError> {
        let Some(buffered) = self.out.take() else {
            return Err(StoreError::io(&self.temp, io::Error::other("blob already committed")));
        };
        let size = self.written;
        let file = buffered.into_inner().map_err(|e| StoreError::io(&self.temp, e.into_error()))?;
        let digest = match (self.hasher.take(), expected) {
            (Some(hasher), expected) => {
                let digest = hasher.finalize();
                if let Some(expected) = expected
                    && expected != digest
                {
                    return Err(StoreError::DigestMismatch { expected, actual: digest });
                }
                digest
            }
            (None, Some(expected)) => expected,
            (None, None) => {
                return Err(StoreError::io(&self.temp, io::Error::other("a prehashed blob needs its digest")));
            }
        };
        let target = self.blobs_dir.join(digest.hex());
        // An intact copy under that name is kept as it is, so files hard
        // linked from it (image layouts) stay the same files. A damaged one
        // is replaced by these verified bytes, atomically for readers.
        if let Ok(existing) = File::open(&target)
            && bale_fileset::sha256_reader(existing).is_ok_and(|(d, _)| d == digest)
        {
            return Ok((digest, size));
        }
        file.sync_all().map_err(|e| StoreError::io(&self.temp, e))?;
        drop(file);
        fs::rename(&self.temp, &target).map_err(|e| StoreError::io(&target, e))?;
        sync_dir(&self.blobs_dir)?;
        bale_fileset::hook::pause_point("store-blob-committed");
        Ok((digest, size))
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let Some(out) = &mut self.out else {
            return Err(io::Error::other("blob already committed"));
        };
        let n = out.write(buf)?;
        if let Some(hasher) = &mut self.hasher {
            hasher.update(&buf[..n]);
        }
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.out {
            Some(out) => out.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        // After a successful rename this finds nothing, which is fine.
        let _ = fs::remove_file(&self.temp);
    }
}

/// Makes a rename in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| StoreError::io(dir, e))
}
