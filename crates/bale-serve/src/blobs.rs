//! Where blob bytes live: a bale store on this machine, or S3-compatible
//! object storage shared by several nodes (`--blobs s3://BUCKET/PREFIX`).
//! In object storage a blob is the object `PREFIX/blobs/sha256/HEX`,
//! written only once its bytes hash to HEX, so whatever is there is whole
//! and right; nothing ever lists the bucket.

use std::sync::Arc;

use axum::body::Bytes;
use bale_fileset::Digest;
use bale_store::{Store, StoreError, StoreLock};
use futures_util::stream::{BoxStream, StreamExt};
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("object storage {location}: {source}")]
    Object {
        location: String,
        #[source]
        source: object_store::Error,
    },
    #[error("{location}: {message}")]
    Io { location: String, message: String },
    #[error("the blob is {actual}, not {expected}")]
    Digest { expected: Digest, actual: Digest },
    #[error("the blob is larger than the {limit} bytes this registry takes")]
    TooLarge { limit: u64 },
    #[error("--blobs {url}: {why}")]
    Url { url: String, why: String },
}

impl BlobError {
    pub fn help(&self) -> Option<&'static str> {
        match self {
            Self::Store(e) => e.help(),
            Self::Object { .. } => Some(
                "check that the bucket exists and answers: bale serve reads AWS_ENDPOINT, AWS_REGION, \
                 AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_ALLOW_HTTP",
            ),
            Self::Url { .. } => Some("give --blobs s3://BUCKET or s3://BUCKET/PREFIX"),
            Self::Io { .. } | Self::Digest { .. } | Self::TooLarge { .. } => None,
        }
    }
}

/// The part size of multipart uploads: S3 takes at most 10,000 parts, so
/// 8 MiB parts hold the largest blob bale serve accepts (64 GiB).
const PART_SIZE: usize = 8 << 20;

/// Bytes as they stream in or out: memory stays bounded whatever the size.
pub(crate) type ByteStream = BoxStream<'static, std::io::Result<Bytes>>;

#[derive(Clone)]
pub(crate) struct ObjectBlobs {
    pub objects: Arc<dyn ObjectStore>,
    /// Every key starts with this (no trailing slash; may be empty).
    pub prefix: String,
    /// The URL as given, for messages.
    pub url: String,
}

impl std::fmt::Debug for ObjectBlobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectBlobs").field("url", &self.url).finish()
    }
}

impl ObjectBlobs {
    /// `s3://BUCKET[/PREFIX]`, with the endpoint, region and credentials
    /// from the usual `AWS_*` variables.
    pub fn open(url: &str) -> Result<Self, BlobError> {
        let bad = |why: &str| BlobError::Url { url: url.to_string(), why: why.to_string() };
        let rest = url.strip_prefix("s3://").ok_or_else(|| bad("only s3:// object storage is supported"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(bad("no bucket named"));
        }
        let prefix = prefix.trim_matches('/').to_string();
        if prefix.split('/').any(|c| c == "." || c == "..") {
            return Err(bad("the prefix may not hold . or .. components"));
        }
        let objects = object_store::aws::AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .build()
            .map_err(|source| BlobError::Object { location: url.to_string(), source })?;
        Ok(Self { objects: Arc::new(objects), prefix, url: url.to_string() })
    }

    pub fn key(&self, relative: &str) -> ObjectPath {
        if self.prefix.is_empty() {
            ObjectPath::from(relative)
        } else {
            ObjectPath::from(format!("{}/{relative}", self.prefix))
        }
    }

    fn blob_key(&self, digest: &Digest) -> ObjectPath {
        self.key(&format!("blobs/sha256/{}", digest.hex()))
    }

    pub fn fail(&self, key: &ObjectPath, source: object_store::Error) -> BlobError {
        BlobError::Object { location: format!("{}: {key}", self.url), source }
    }

    /// Writes `stream` to the object `key` in parts of a few MiB.
    pub async fn write_stream(&self, key: &ObjectPath, stream: ByteStream, limit: u64) -> Result<u64, BlobError> {
        self.stream_to(key, stream, limit, None, true).await
    }

    /// Streams `stream` through sha256 and, when `write`, into a multipart
    /// upload of `key`; with `expected`, the upload is completed only if
    /// the bytes hash to it (and aborted otherwise, so the key never
    /// holds them).
    async fn stream_to(
        &self,
        key: &ObjectPath,
        mut stream: ByteStream,
        limit: u64,
        expected: Option<Digest>,
        write: bool,
    ) -> Result<u64, BlobError> {
        let mut writer = match write {
            true => {
                let upload = self.objects.put_multipart(key).await.map_err(|e| self.fail(key, e))?;
                Some(WriteMultipart::new_with_chunk_size(upload, PART_SIZE))
            }
            false => None,
        };
        let mut hasher = bale_fileset::Sha256::new();
        let mut size = 0u64;
        let streamed: Result<(), BlobError> = async {
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| BlobError::Io { location: key.to_string(), message: e.to_string() })?;
                size += chunk.len() as u64;
                if size > limit {
                    return Err(BlobError::TooLarge { limit });
                }
                if expected.is_some() {
                    hasher.update(&chunk);
                }
                if let Some(writer) = writer.as_mut() {
                    // At most two parts in flight: memory stays bounded.
                    writer.wait_for_capacity(2).await.map_err(|e| self.fail(key, e))?;
                    writer.put(chunk);
                }
            }
            Ok(())
        }
        .await;
        let verdict = streamed.and_then(|()| match expected {
            Some(expected) => {
                let actual = hasher.finalize();
                if actual == expected { Ok(size) } else { Err(BlobError::Digest { expected, actual }) }
            }
            None => Ok(size),
        });
        match (verdict, writer) {
            (Ok(size), Some(writer)) => {
                writer.finish().await.map_err(|e| self.fail(key, e))?;
                Ok(size)
            }
            (Ok(size), None) => Ok(size),
            (Err(e), Some(writer)) => {
                let _ = writer.abort().await;
                Err(e)
            }
            (Err(e), None) => Err(e),
        }
    }

    pub async fn read_object(&self, key: &ObjectPath) -> Result<ByteStream, BlobError> {
        let result = self.objects.get(key).await.map_err(|e| self.fail(key, e))?;
        Ok(result.into_stream().map(|r| r.map_err(std::io::Error::other)).boxed())
    }
}

/// The registry's blob storage.
#[derive(Debug)]
pub(crate) enum Blobs {
    Store(Store),
    Objects(ObjectBlobs),
}

impl Blobs {
    /// Held while a write makes a blob live until the index links it, so
    /// a store's gc (which takes the store's lock exclusively) never takes
    /// it; object storage has no gc of its own yet.
    pub fn hold(&self) -> Result<Option<StoreLock>, BlobError> {
        match self {
            // Waits while a gc holds the lock: off the async workers.
            Self::Store(store) => Ok(Some(tokio::task::block_in_place(|| store.lock_shared())?)),
            Self::Objects(_) => Ok(None),
        }
    }

    /// The blob's size; none: it is not here.
    pub async fn size(&self, digest: &Digest) -> Result<Option<u64>, BlobError> {
        match self {
            Self::Store(store) => {
                let path = store.blob_path(digest);
                match std::fs::metadata(&path) {
                    Ok(meta) if meta.is_file() => Ok(Some(meta.len())),
                    Ok(_) => Ok(None),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(BlobError::Io { location: path.display().to_string(), message: e.to_string() }),
                }
            }
            Self::Objects(objects) => {
                let key = objects.blob_key(digest);
                match objects.objects.head(&key).await {
                    Ok(meta) => Ok(Some(meta.size)),
                    Err(object_store::Error::NotFound { .. }) => Ok(None),
                    Err(e) => Err(objects.fail(&key, e)),
                }
            }
        }
    }

    /// Bytes [start, end) of the blob, streamed.
    pub async fn read(&self, digest: &Digest, start: u64, end: u64) -> Result<ByteStream, BlobError> {
        match self {
            Self::Store(store) => {
                let path = store.blob_path(digest);
                let file = std::fs::File::open(&path)
                    .map_err(|e| BlobError::Io { location: path.display().to_string(), message: e.to_string() })?;
                Ok(file_stream(file, start, end))
            }
            Self::Objects(objects) => {
                let key = objects.blob_key(digest);
                let options = GetOptions { range: Some(GetRange::Bounded(start..end)), ..Default::default() };
                let result = objects.objects.get_opts(&key, options).await.map_err(|e| objects.fail(&key, e))?;
                Ok(result.into_stream().map(|r| r.map_err(std::io::Error::other)).boxed())
            }
        }
    }

    /// A whole small blob (a manifest, an SBOM), checked against its
    /// digest; at most `max` bytes are read.
    pub async fn read_all(&self, digest: &Digest, max: u64) -> Result<Vec<u8>, BlobError> {
        let bytes = match self {
            Self::Store(store) => {
                // The real size, not what a manifest claims, before reading.
                if self.size(digest).await?.is_some_and(|size| size > max) {
                    return Err(BlobError::TooLarge { limit: max });
                }
                tokio::task::block_in_place(|| store.read_blob(digest))?
            }
            Self::Objects(objects) => {
                let mut stream = objects.read_object(&objects.blob_key(digest)).await?;
                let mut bytes = Vec::new();
                while let Some(chunk) = stream.next().await {
                    let chunk =
                        chunk.map_err(|e| BlobError::Io { location: digest.to_string(), message: e.to_string() })?;
                    if (bytes.len() + chunk.len()) as u64 > max {
                        return Err(BlobError::TooLarge { limit: max });
                    }
                    bytes.extend_from_slice(&chunk);
                }
                let actual = bale_fileset::sha256_bytes(&bytes);
                if actual != *digest {
                    return Err(BlobError::Digest { expected: *digest, actual });
                }
                bytes
            }
        };
        if bytes.len() as u64 > max {
            return Err(BlobError::TooLarge { limit: max });
        }
        Ok(bytes)
    }

    /// Stores a small blob held in memory (a manifest).
    pub async fn put_bytes(&self, bytes: Vec<u8>) -> Result<Digest, BlobError> {
        match self {
            Self::Store(store) => Ok(tokio::task::block_in_place(|| store.put_bytes(&bytes))?),
            Self::Objects(objects) => {
                let digest = bale_fileset::sha256_bytes(&bytes);
                let key = objects.blob_key(&digest);
                objects.objects.put(&key, PutPayload::from(bytes)).await.map_err(|e| objects.fail(&key, e))?;
                Ok(digest)
            }
        }
    }

    /// Makes the blob `expected` from `stream` (object storage only: a
    /// store's uploads are files, committed by the store's own writer).
    /// The bytes reach the blob's key only if they hash to `expected`:
    /// a multipart upload is invisible until completed, and is aborted
    /// otherwise. A blob already there is only checked against, not
    /// written again.
    ///
    /// `live`: the index says the blob is stored and gc keeps it for this
    /// commit; otherwise it is written whatever the bucket holds (an
    /// object gc is about to remove must not be trusted).
    pub async fn commit_stream(
        objects: &ObjectBlobs,
        stream: ByteStream,
        expected: Digest,
        limit: u64,
        live: bool,
    ) -> Result<u64, BlobError> {
        let key = objects.blob_key(&expected);
        let exists = live
            && match objects.objects.head(&key).await {
                Ok(_) => true,
                Err(object_store::Error::NotFound { .. }) => false,
                Err(e) => return Err(objects.fail(&key, e)),
            };
        objects.stream_to(&key, stream, limit, Some(expected), !exists).await
    }
}

/// A file's bytes [start, end), read on a blocking thread and sent in
/// chunks.
fn file_stream(mut file: std::fs::File, start: u64, end: u64) -> ByteStream {
    use std::io::{Read, Seek, SeekFrom};
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(4);
    tokio::task::spawn_blocking(move || {
        if let Err(e) = file.seek(SeekFrom::Start(start)) {
            let _ = tx.blocking_send(Err(e));
            return;
        }
        let mut left = end - start;
        let mut buffer = vec![0u8; 256 * 1024];
        while left > 0 {
            let want = buffer.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            match file.read(&mut buffer[..want]) {
                Ok(0) => {
                    let _ = tx.blocking_send(Err(std::io::Error::other("the blob ended early")));
                    return;
                }
                Ok(n) => {
                    left -= n as u64;
                    if tx.blocking_send(Ok(Bytes::copy_from_slice(&buffer[..n]))).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            }
        }
    });
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) }).boxed()
}
