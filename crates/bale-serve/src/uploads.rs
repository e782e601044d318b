//! Blob uploads (`…/blobs/uploads/…`): monolithic, chunked, mounted.
//!
//! On one node an upload is a file in the store's `registry/uploads`,
//! committed through the store's writer. Across nodes its state (size,
//! parts) is a PostgreSQL row and each chunk an object of its own, so any
//! node may take the next chunk or finish it; the finished blob reaches
//! its key only once its bytes hash to the digest the client named.

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bale_fileset::Digest;
use futures_util::stream::{self, StreamExt, TryStreamExt};
use http_body_util::BodyExt;
use object_store::ObjectStoreExt;

use crate::Registry;
use crate::api::{ApiError, Query, Result, digest_of, repository};
use crate::blobs::{BlobError, Blobs, ByteStream, ObjectBlobs};
use crate::postgres::{PgIndex, Stored, UploadPart};

/// Where unfinished uploads wait.
#[derive(Debug)]
pub(crate) enum Uploads {
    /// A directory of one file per upload.
    Files(PathBuf),
    /// Rows in PostgreSQL, chunks in object storage.
    Shared { index: PgIndex, objects: ObjectBlobs },
}

fn unknown(id: &str) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN", format!("no upload {id:?}"))
}

impl From<BlobError> for ApiError {
    fn from(e: BlobError) -> Self {
        match e {
            BlobError::Digest { .. } => ApiError::new(StatusCode::BAD_REQUEST, "DIGEST_INVALID", e.to_string()),
            BlobError::TooLarge { .. } => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "SIZE_INVALID", e.to_string()),
            _ => ApiError::internal(e),
        }
    }
}

fn valid_id(id: &str) -> Result<()> {
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(unknown(id));
    }
    Ok(())
}

fn new_upload_id() -> Result<String> {
    crate::auth::random_hex(16).map_err(ApiError::internal)
}

/// A request body as a stream of chunks.
fn body_stream(body: Body) -> ByteStream {
    TryStreamExt::map_err(body.into_data_stream(), std::io::Error::other).boxed()
}

/// Appends the request body to `file`, at most up to `limit` bytes in all;
/// returns the bytes written.
async fn append_body(mut body: Body, file: &mut std::fs::File, already: u64, limit: u64) -> Result<u64> {
    use std::io::Write;
    let mut written = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "BLOB_UPLOAD_INVALID", e.to_string()))?;
        let Ok(data) = frame.into_data() else { continue };
        written += data.len() as u64;
        if already + written > limit {
            return Err(BlobError::TooLarge { limit }.into());
        }
        tokio::task::block_in_place(|| file.write_all(&data)).map_err(ApiError::internal)?;
    }
    Ok(written)
}

fn upload_status(status: StatusCode, name: &str, id: &str, size: u64) -> Result<Response> {
    let mut builder = Response::builder()
        .status(status)
        .header(header::LOCATION, format!("/v2/{name}/blobs/uploads/{id}"))
        .header("Docker-Upload-UUID", id)
        .header(header::CONTENT_LENGTH, 0);
    if size > 0 {
        builder = builder.header(header::RANGE, format!("0-{}", size - 1));
    }
    builder.body(Body::empty()).map_err(ApiError::internal)
}

fn created(name: &str, digest: &Digest) -> Result<Response> {
    Response::builder()
        .status(StatusCode::CREATED)
        .header(header::LOCATION, format!("/v2/{name}/blobs/{digest}"))
        .header("Docker-Content-Digest", digest.to_string())
        .header(header::CONTENT_LENGTH, 0)
        .body(Body::empty())
        .map_err(ApiError::internal)
}

/// Where a chunk says it starts (`Content-Range: START-END`), if it says.
fn chunk_start(headers: &HeaderMap) -> Option<std::result::Result<u64, String>> {
    let range = headers.get(header::CONTENT_RANGE)?.to_str().unwrap_or("");
    Some(
        range
            .trim_start_matches("bytes ")
            .split('-')
            .next()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .ok_or_else(|| range.to_string()),
    )
}

fn out_of_order(range: &str, size: u64) -> ApiError {
    ApiError::new(
        StatusCode::RANGE_NOT_SATISFIABLE,
        "BLOB_UPLOAD_INVALID",
        format!("the chunk starts at {range}, the upload holds {size} bytes"),
    )
}

fn check_start(headers: &HeaderMap, size: u64) -> Result<()> {
    match chunk_start(headers) {
        None => Ok(()),
        Some(Ok(start)) if start == size => Ok(()),
        Some(Ok(start)) => Err(out_of_order(&start.to_string(), size)),
        Some(Err(range)) => Err(out_of_order(&range, size)),
    }
}

pub(crate) async fn uploads(
    registry: &Arc<Registry>,
    method: &Method,
    name: &str,
    id: &str,
    query: &Query,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response> {
    match (method.clone(), id) {
        (Method::POST, "") => {
            if let (Some(mount), Some(from)) = (query.get("mount"), query.get("from"))
                && let Some(response) = mount_blob(registry, name, &digest_of(mount)?, repository(from)?).await?
            {
                return Ok(response);
            }
            if let Some(digest) = query.get("digest") {
                // Monolithic: the whole blob in this one request.
                let digest = digest_of(digest)?;
                return start_and_finish(registry, name, digest, body).await;
            }
            let id = new_upload_id()?;
            match &registry.uploads {
                Uploads::Files(dir) => {
                    std::fs::File::create_new(dir.join(&id)).map_err(ApiError::internal)?;
                }
                Uploads::Shared { index, .. } => index.start_upload(&id, name).await.map_err(ApiError::internal)?,
            }
            upload_status(StatusCode::ACCEPTED, name, &id, 0)
        }
        (Method::PATCH, id) if !id.is_empty() => {
            valid_id(id)?;
            let size = append(registry, name, id, headers, body).await?;
            upload_status(StatusCode::ACCEPTED, name, id, size)
        }
        (Method::PUT, id) if !id.is_empty() => {
            valid_id(id)?;
            let Some(digest) = query.get("digest") else {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "DIGEST_INVALID",
                    "the PUT that finishes an upload names its digest (?digest=)",
                ));
            };
            finish(registry, name, id, digest_of(digest)?, body).await
        }
        (Method::GET, id) if !id.is_empty() => {
            valid_id(id)?;
            let size = upload_size(registry, name, id).await?;
            upload_status(StatusCode::NO_CONTENT, name, id, size)
        }
        (Method::DELETE, id) if !id.is_empty() => {
            valid_id(id)?;
            cancel(registry, name, id).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        _ => Err(ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "UNSUPPORTED", format!("{method} on an upload"))),
    }
}

/// A blob another repository of this registry holds: linked, not sent.
/// None: `from` does not have it, and the client uploads it instead.
async fn mount_blob(registry: &Registry, name: &str, digest: &Digest, from: &str) -> Result<Option<Response>> {
    if let Uploads::Shared { index, .. } = &registry.uploads {
        // Checked and linked in one transaction, against gc's.
        let mounted = index.mount(from, name, &digest.to_string()).await.map_err(ApiError::internal)?;
        return if mounted { created(name, digest).map(Some) } else { Ok(None) };
    }
    let _hold = registry.blobs.hold()?;
    let records = &registry.records;
    if records.has_blob(from, &digest.to_string()).await.map_err(ApiError::internal)?
        && registry.blobs.size(digest).await?.is_some()
    {
        records.link_blob(name, &digest.to_string()).await.map_err(ApiError::internal)?;
        return created(name, digest).map(Some);
    }
    Ok(None)
}

async fn upload_size(registry: &Registry, name: &str, id: &str) -> Result<u64> {
    match &registry.uploads {
        Uploads::Files(dir) => Ok(std::fs::metadata(dir.join(id)).map_err(|_| unknown(id))?.len()),
        Uploads::Shared { index, .. } => {
            index.upload_size(id, name).await.map_err(ApiError::internal)?.ok_or_else(|| unknown(id))
        }
    }
}

/// Adds a chunk; returns the bytes the upload now holds.
async fn append(registry: &Registry, name: &str, id: &str, headers: &HeaderMap, body: Body) -> Result<u64> {
    match &registry.uploads {
        Uploads::Files(dir) => {
            let mut file = std::fs::OpenOptions::new().append(true).open(dir.join(id)).map_err(|_| unknown(id))?;
            let size = file.metadata().map_err(ApiError::internal)?.len();
            check_start(headers, size)?;
            let added = append_body(body, &mut file, size, registry.max_blob).await?;
            Ok(size + added)
        }
        Uploads::Shared { index, objects } => {
            let size = index.upload_size(id, name).await.map_err(ApiError::internal)?.ok_or_else(|| unknown(id))?;
            check_start(headers, size)?;
            add_part(index, objects, id, size, body, registry.max_blob).await
        }
    }
}

/// Writes `body` as the part of `id` starting at `size`; a part key of
/// its own (random), so two nodes racing for one offset never write one
/// object, and the database decides which of them won.
async fn add_part(index: &PgIndex, objects: &ObjectBlobs, id: &str, size: u64, body: Body, limit: u64) -> Result<u64> {
    let object = format!("uploads/{id}/{size:020}-{}", crate::auth::random_hex(8).map_err(ApiError::internal)?);
    let key = objects.key(&object);
    let length = objects.write_stream(&key, body_stream(body), limit.saturating_sub(size)).await?;
    if length == 0 {
        let _ = objects.objects.delete(&key).await;
        return Ok(size);
    }
    let part = UploadPart { start: size, length, object };
    if !index.add_upload_part(id, &part).await.map_err(ApiError::internal)? {
        let _ = objects.objects.delete(&key).await;
        return Err(out_of_order(&size.to_string(), size));
    }
    Ok(size + length)
}

/// POST with `?digest=`: no upload state at all where it can be avoided.
async fn start_and_finish(registry: &Arc<Registry>, name: &str, digest: Digest, body: Body) -> Result<Response> {
    match &registry.uploads {
        Uploads::Files(dir) => {
            let id = new_upload_id()?;
            let path = dir.join(&id);
            let mut file = std::fs::File::create_new(&path).map_err(ApiError::internal)?;
            if let Err(e) = append_body(body, &mut file, 0, registry.max_blob).await {
                let _ = std::fs::remove_file(&path);
                return Err(e);
            }
            drop(file);
            commit_file(registry, name, path, digest).await
        }
        Uploads::Shared { index, objects } => {
            let commit = Commit::begin(index, &digest).await?;
            let outcome =
                Blobs::commit_stream(objects, body_stream(body), digest, registry.max_blob, commit.live()).await;
            commit.finish(registry, name, outcome).await?;
            created(name, &digest)
        }
    }
}

/// PUT: the last chunk (perhaps empty), then the blob is made and linked.
async fn finish(registry: &Arc<Registry>, name: &str, id: &str, digest: Digest, body: Body) -> Result<Response> {
    match &registry.uploads {
        Uploads::Files(dir) => {
            let path = dir.join(id);
            let mut file = std::fs::OpenOptions::new().append(true).open(&path).map_err(|_| unknown(id))?;
            let size = file.metadata().map_err(ApiError::internal)?.len();
            append_body(body, &mut file, size, registry.max_blob).await?;
            drop(file);
            commit_file(registry, name, path, digest).await
        }
        Uploads::Shared { index, objects } => {
            let (size, parts) =
                index.upload_state(id, name).await.map_err(ApiError::internal)?.ok_or_else(|| unknown(id))?;
            if parts.iter().map(|p| p.length).sum::<u64>() != size {
                return Err(ApiError::internal(format!("upload {id}: its parts do not add up to its size")));
            }
            let reader = objects.clone();
            let stored = stream::iter(parts)
                .then(move |part| {
                    let reader = reader.clone();
                    async move { reader.read_object(&reader.key(&part.object)).await.map_err(std::io::Error::other) }
                })
                .try_flatten();
            let all = stored.chain(body_stream(body)).boxed();
            let commit = Commit::begin(index, &digest).await?;
            let outcome = Blobs::commit_stream(objects, all, digest, registry.max_blob, commit.live()).await;
            if let Err(BlobError::Digest { .. }) = &outcome {
                // The spec: a wrong digest ends the upload.
                drop_upload(index, objects, id).await?;
            }
            commit.finish(registry, name, outcome).await?;
            // The blob is there and linked: a failure to tidy up is the
            // expiry's to finish, not the client's.
            if let Err(e) = drop_upload(index, objects, id).await {
                eprintln!("upload {id}: finished, but its parts were not all removed: {}", e.message);
            }
            created(name, &digest)
        }
    }
}

/// A blob being committed to shared storage: gc keeps it from
/// [`Commit::begin`] until what names it is recorded.
pub(crate) struct Commit<'a> {
    index: &'a PgIndex,
    id: String,
    digest: String,
    stored: Stored,
}

impl<'a> Commit<'a> {
    pub async fn begin(index: &'a PgIndex, digest: &Digest) -> Result<Self> {
        let id = new_upload_id()?;
        let digest = digest.to_string();
        let stored = index.begin_commit(&id, &digest).await.map_err(ApiError::internal)?;
        Ok(Self { index, id, digest, stored })
    }

    pub fn live(&self) -> bool {
        self.stored == Stored::Live
    }

    /// Records the stored blob (`size` bytes); the commit goes on until
    /// [`Commit::end`].
    pub async fn stored(&self, size: u64) -> Result<()> {
        self.index.blob_stored(&self.digest, size).await.map_err(ApiError::internal)
    }

    pub async fn end(self) {
        if let Err(e) = self.index.end_commit(&self.id).await {
            // It expires in a day; until then gc only keeps the blob.
            eprintln!("commit {} of {}: not ended: {e}", self.id, self.digest);
        }
    }

    /// After the upload's bytes went to `outcome`: the blob recorded and
    /// linked into `repository`, then the commit ended, failed or not.
    async fn finish(
        self,
        registry: &Registry,
        repository: &str,
        outcome: std::result::Result<u64, BlobError>,
    ) -> Result<()> {
        let recorded = match outcome {
            Ok(size) => match self.stored(size).await {
                Ok(()) => registry.records.link_blob(repository, &self.digest).await.map_err(ApiError::internal),
                Err(e) => Err(e),
            },
            Err(e) => Err(e.into()),
        };
        self.end().await;
        recorded
    }
}

/// Ends the upload and deletes its parts' objects; false: it had already
/// ended.
async fn drop_upload(index: &PgIndex, objects: &ObjectBlobs, id: &str) -> Result<bool> {
    let Some(parts) = index.end_upload(id).await.map_err(ApiError::internal)? else { return Ok(false) };
    for object in parts {
        let _ = objects.objects.delete(&objects.key(&object)).await;
    }
    Ok(true)
}

async fn cancel(registry: &Registry, name: &str, id: &str) -> Result<()> {
    match &registry.uploads {
        Uploads::Files(dir) => std::fs::remove_file(dir.join(id)).map_err(|_| unknown(id)),
        Uploads::Shared { index, objects } => {
            index.upload_size(id, name).await.map_err(ApiError::internal)?.ok_or_else(|| unknown(id))?;
            if !drop_upload(index, objects, id).await? {
                return Err(unknown(id));
            }
            Ok(())
        }
    }
}

/// Moves a finished upload file into the store, held to `digest`, and
/// links it.
async fn commit_file(registry: &Arc<Registry>, name: &str, path: PathBuf, digest: Digest) -> Result<Response> {
    let hold = registry.blobs.hold()?;
    let file_path = path.clone();
    let registry_ = Arc::clone(registry);
    let committed = tokio::task::spawn_blocking(move || -> Result<Digest> {
        let Blobs::Store(store) = &registry_.blobs else {
            return Err(ApiError::internal("an upload file without a store to commit it to"));
        };
        let mut file = std::fs::File::open(&file_path).map_err(ApiError::internal)?;
        let mut writer = store.blob_writer().map_err(ApiError::internal)?;
        std::io::copy(&mut file, &mut writer).map_err(ApiError::internal)?;
        let (digest, _) = writer
            .commit(Some(digest))
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "DIGEST_INVALID", e.to_string()))?;
        Ok(digest)
    })
    .await
    .map_err(ApiError::internal);
    let _ = std::fs::remove_file(&path);
    let digest = committed??;
    // Until the index links it, gc must not see the blob as garbage.
    registry.records.link_blob(name, &digest.to_string()).await.map_err(ApiError::internal)?;
    drop(hold);
    created(name, &digest)
}
