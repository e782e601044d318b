//! `bale serve`: an OCI distribution-spec v1.1 registry over a bale store
//! (docs/serve.md). Blobs are the store's blobs, so a package's layer is
//! one file however many images and repositories hold it; what each
//! repository links, its manifests (with subjects, for the referrers
//! API) and its tags are in a SQLite index beside the store.
//!
//! Every write that makes a blob live (finishing an upload, mounting,
//! storing a manifest) holds the store's shared lock until the index
//! links it, and `bale store gc` (which takes the lock exclusively) keeps
//! whatever the index links: gc may run beside the server, and never
//! takes a blob that is linked or being linked. Unfinished uploads wait
//! in `registry/uploads`, which gc does not touch.
//!
//! Beyond one machine, blobs live in S3-compatible object storage and the
//! records (and the state of unfinished uploads) in PostgreSQL; any number
//! of nodes serve them, none keeping state of its own.

pub mod advisories;
mod api;
pub mod auth;
pub mod blobs;
pub mod index;
pub mod postgres;
pub mod query;
mod records;
pub mod tls;
mod uploads;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bale_store::{Store, StoreError};

pub use index::{Index, IndexError};

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Blobs(#[from] blobs::BlobError),
    #[error("{0}")]
    Deployment(&'static str),
    #[error("another bale store gc is collecting this deployment")]
    GcRunning,
    #[error("another bale serve is serving this store (it holds {path})")]
    Busy { path: PathBuf },
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error("cannot listen on {address}: {source}")]
    Listen { address: SocketAddr, source: std::io::Error },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("the server stopped: {0}")]
    Runtime(std::io::Error),
    #[error(transparent)]
    Auth(#[from] auth::AuthError),
    #[error("without --auth, bale serve listens only on loopback, not {address}")]
    OpenWithoutAuth { address: SocketAddr },
}

impl ServeError {
    pub fn help(&self) -> Option<&'static str> {
        match self {
            Self::Store(e) => e.help(),
            Self::Listen { .. } => Some("pick another port with --listen 127.0.0.1:PORT (port 0 picks a free one)"),
            Self::Index(e) => e.help(),
            Self::Blobs(e) => e.help(),
            Self::Tls(e) => e.help(),
            Self::GcRunning => {
                Some("let it finish; a gc that was killed lets go when its connection to PostgreSQL ends")
            }
            Self::Busy { .. } => Some("stop the other server first, or serve another store with --store DIR"),
            Self::Deployment(_) => Some(
                "serve from a store (--store DIR), or from shared storage with both --blobs s3://BUCKET and \
                 --index postgres://USER@HOST:PORT/DATABASE",
            ),
            Self::Auth(_) => {
                Some("see docs/serve.md#auth for the file's format; `bale key token --name NAME` makes a user")
            }
            Self::OpenWithoutAuth { .. } => Some("give --auth FILE (who may pull and push), or listen on 127.0.0.1"),
            Self::Io { .. } | Self::Runtime(_) => None,
        }
    }
}

/// What a request needs: where blobs are, the records, where uploads wait.
#[derive(Debug)]
pub(crate) struct Registry {
    pub blobs: blobs::Blobs,
    pub records: records::Records,
    pub uploads: uploads::Uploads,
    /// The largest blob an upload may grow to.
    pub max_blob: u64,
    /// Who may do what; none: anyone may (loopback only).
    pub auth: Option<auth::AuthFile>,
    /// Held while serving a store: another server on it is refused.
    _serving: Option<std::fs::File>,
}

/// The largest manifest accepted.
pub(crate) const MAX_MANIFEST: usize = 4 << 20;

impl Registry {
    fn open(store_root: &Path, auth: Option<auth::AuthFile>, reindex: bool) -> Result<Self, ServeError> {
        let store = Store::open(store_root)?;
        let dir = store.root().join("registry");
        let uploads = dir.join("uploads");
        std::fs::create_dir_all(&uploads).map_err(|source| ServeError::Io { path: uploads.clone(), source })?;
        // One server per store: the journal has one writer, and the
        // uploads directory one owner.
        let lock_path = dir.join("serve.lock");
        let serving = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(|source| ServeError::Io { path: lock_path.clone(), source })?;
        match serving.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Err(ServeError::Busy { path: lock_path }),
            Err(std::fs::TryLockError::Error(source)) => return Err(ServeError::Io { path: lock_path, source }),
        }
        // An upload a killed server left behind is never finished: its
        // client starts again.
        if let Ok(entries) = std::fs::read_dir(&uploads) {
            for entry in entries.flatten() {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        let index_path = dir.join("index.sqlite");
        let journal = dir.join("journal.jsonl");
        let mut index = if reindex {
            // A lost or damaged index: made afresh from the journal.
            for suffix in ["", "-wal", "-shm"] {
                let mut path = index_path.clone().into_os_string();
                path.push(suffix);
                match std::fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(source) => return Err(ServeError::Io { path: path.into(), source }),
                }
            }
            let mut index = Index::open(&index_path)?;
            let done = index.replay(&journal, &store)?;
            eprintln!(
                "reindexed {}: {} journal records ({} naming blobs the store no longer has, {} unreadable lines)",
                index_path.display(),
                done.records,
                done.skipped,
                done.unreadable
            );
            index
        } else {
            Index::open(&index_path)?
        };
        if let Some((before, after)) = index.compact_journal(&journal)? {
            eprintln!("compacted {}: {before} bytes to {after}", journal.display());
        }
        index.keep_journal(&journal)?;
        Ok(Self {
            blobs: blobs::Blobs::Store(store),
            records: records::Records::Sqlite(Mutex::new(index)),
            uploads: uploads::Uploads::Files(uploads),
            max_blob: MAX_BLOB,
            auth,
            _serving: Some(serving),
        })
    }

    /// A node of a deployment whose blobs are in object storage and whose
    /// records are in PostgreSQL: it keeps nothing of its own.
    async fn open_shared(blobs_url: &str, index_url: &str, auth: Option<auth::AuthFile>) -> Result<Self, ServeError> {
        let objects = blobs::ObjectBlobs::open(blobs_url)?;
        let index = postgres::PgIndex::connect(index_url).await?;
        expire_uploads(&index, &objects).await?;
        Ok(Self {
            blobs: blobs::Blobs::Objects(objects.clone()),
            records: records::Records::Postgres(index.clone()),
            uploads: uploads::Uploads::Shared { index, objects },
            max_blob: MAX_BLOB,
            auth,
            _serving: None,
        })
    }
}

/// Drops uploads abandoned long ago (a client gone, a node killed) with
/// their parts; their rows say which objects those are.
async fn expire_uploads(index: &postgres::PgIndex, objects: &blobs::ObjectBlobs) -> Result<(), IndexError> {
    use object_store::ObjectStoreExt;
    for object in index.expire_uploads().await? {
        let _ = objects.objects.delete(&objects.key(&object)).await;
    }
    Ok(())
}

/// How often a node of a shared deployment looks for abandoned uploads.
const EXPIRY_INTERVAL: std::time::Duration = std::time::Duration::from_secs(3600);

/// The largest blob an upload may grow to.
const MAX_BLOB: u64 = 64 << 30;

/// How to serve.
#[derive(Debug, Clone, Copy)]
pub struct ServeOptions<'a> {
    pub store: &'a Path,
    /// Blobs in object storage (`s3://BUCKET[/PREFIX]`) instead of the store.
    pub blobs: Option<&'a str>,
    /// Records in PostgreSQL (`postgres://…`) instead of beside the store.
    pub index: Option<&'a str>,
    pub listen: SocketAddr,
    /// Who may pull and push; none: anyone, on loopback only.
    pub auth: Option<&'a Path>,
    /// Make the index afresh from the journal first.
    pub reindex: bool,
    /// HTTPS with this certificate chain and key (PEM files).
    pub tls: Option<(&'a Path, &'a Path)>,
}

/// Serves the store at `store_root` on `listen` until SIGINT or SIGTERM,
/// with the rights `auth` names;
/// `ready` is told the address actually bound (port 0 picks one).
pub fn serve(options: &ServeOptions<'_>, ready: impl FnOnce(SocketAddr)) -> Result<(), ServeError> {
    let ServeOptions { store: store_root, blobs, index, listen, auth, reindex, tls } = *options;
    let acceptor = tls.map(|(cert, key)| tls::acceptor(cert, key)).transpose()?;
    let auth = auth.map(auth::AuthFile::load).transpose()?;
    // Without rights, the server is a developer's: it may not be reached
    // from elsewhere.
    if auth.is_none() && !listen.ip().is_loopback() {
        return Err(ServeError::OpenWithoutAuth { address: listen });
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(ServeError::Runtime)?;
    runtime.block_on(async move {
        let registry = Arc::new(match (blobs, index) {
            (None, None) => Registry::open(store_root, auth, reindex)?,
            (Some(blobs), Some(index)) if !reindex => Registry::open_shared(blobs, index, auth).await?,
            (Some(_), Some(_)) => {
                return Err(ServeError::Deployment(
                    "--reindex rebuilds a store's SQLite index; PostgreSQL keeps its own records",
                ));
            }
            _ => {
                return Err(ServeError::Deployment("--blobs and --index go together: nodes share both or neither"));
            }
        });
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|source| ServeError::Listen { address: listen, source })?;
        let bound = listener.local_addr().map_err(|source| ServeError::Listen { address: listen, source })?;
        ready(bound);
        if let uploads::Uploads::Shared { index, objects } = &registry.uploads {
            let (index, objects) = (index.clone(), objects.clone());
            tokio::spawn(async move {
                let mut every = tokio::time::interval(EXPIRY_INTERVAL);
                every.tick().await;
                loop {
                    every.tick().await;
                    if let Err(e) = expire_uploads(&index, &objects).await {
                        eprintln!("expiring abandoned uploads: {e}");
                    }
                }
            });
        }
        let app = axum::Router::new().fallback(api::handle).with_state(registry);
        if let Some(acceptor) = acceptor {
            let listener = tls::TlsListener::new(listener, acceptor)
                .map_err(|source| ServeError::Listen { address: listen, source })?;
            return axum::serve(listener, app).with_graceful_shutdown(stopped()).await.map_err(ServeError::Runtime);
        }
        // Small answers (a HEAD, a manifest) go out at once, not after a
        // delayed ACK.
        use axum::serve::ListenerExt;
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(listener, app).with_graceful_shutdown(stopped()).await.map_err(ServeError::Runtime)
    })
}

/// Resolves on SIGINT or SIGTERM: requests in flight finish, new ones are
/// refused.
async fn stopped() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

/// What gc of a shared deployment did.
#[derive(Debug, Clone, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SharedGc {
    pub blobs_removed: u64,
    pub bytes_removed: u64,
    /// Named again while gc looked at them: kept.
    pub blobs_kept: u64,
}

/// Removes the blobs of a shared deployment (`--blobs`, `--index`) that
/// no link, manifest or commit in flight names, beside running nodes;
/// `dry_run`: only counts them.
pub fn gc_shared(blobs_url: &str, index_url: &str, dry_run: bool) -> Result<SharedGc, ServeError> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(ServeError::Runtime)?;
    runtime.block_on(async move {
        use object_store::ObjectStoreExt;
        let objects = blobs::ObjectBlobs::open(blobs_url)?;
        let index = postgres::PgIndex::connect(index_url).await?;
        // One gc at a time: a second would finish the first's `deleting`
        // rows while the first may still delete objects. The lock is the
        // session's: a killed gc's ends with its connection.
        let Some(held) = index.gc_lock().await? else {
            return Err(ServeError::GcRunning);
        };
        let mut report = SharedGc::default();
        for (digest, size) in index.garbage().await? {
            if dry_run {
                report.blobs_removed += 1;
                report.bytes_removed += size;
                continue;
            }
            if !index.doom(&digest).await? {
                report.blobs_kept += 1;
                continue;
            }
            let parsed: bale_fileset::Digest =
                digest.parse().map_err(|_| ServeError::Deployment("the index names a blob whose digest is not one"))?;
            let key = objects.key(&format!("blobs/sha256/{}", parsed.hex()));
            match objects.objects.delete(&key).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(objects.fail(&key, e).into()),
            }
            index.forget_blob(&digest).await?;
            report.blobs_removed += 1;
            report.bytes_removed += size;
        }
        drop(held);
        Ok(report)
    })
}

/// The blobs the registry index of `store` needs kept, for `bale store gc`
/// (none when the store was never served).
pub fn live_blobs(store: &Store) -> Result<std::collections::HashSet<bale_fileset::Digest>, String> {
    let path = store.root().join("registry/index.sqlite");
    if !path.exists() {
        return Ok(Default::default());
    }
    let index = Index::open(&path).map_err(|e| e.to_string())?;
    index
        .live_digests()
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|d| d.parse().map_err(|_| format!("{}: the digest {d:?} is not one", path.display())))
        .collect()
}
