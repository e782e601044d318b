//! Downloads from a mirror over HTTP. Everything fetched is checked against
//! a digest the previous link of the chain vouched for before it enters the
//! store, and anything already stored under that digest is not fetched
//! again.

use std::io::Read;
use std::time::Duration;

use bale_fileset::Digest;
use bale_store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{url}: {reason}")]
    Network { url: String, reason: String },
    #[error("{url}: the server answered {status}")]
    Status { url: String, status: u16 },
    #[error("{url} is larger than the {limit} bytes allowed")]
    TooLarge { url: String, limit: u64 },
    #[error("{url}: {source}; nothing was stored")]
    Download { url: String, source: bale_http::DownloadError },
    #[error("{url}: expected sha256 {expected} ({expected_size} bytes), but the server sent more; nothing was stored")]
    Overlong { url: String, expected: Digest, expected_size: u64 },
    #[error(
        "{url}: expected sha256 {expected} ({expected_size} bytes), got {actual} ({actual_size} bytes); nothing was stored"
    )]
    Mismatch { url: String, expected: Digest, actual: Digest, expected_size: u64, actual_size: u64 },
    #[error("mirror {mirror:?}: {reason}")]
    BadMirror { mirror: String, reason: &'static str },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl FetchError {
    /// What to do about it, for people.
    pub fn help(&self) -> Option<&'static str> {
        match self {
            Self::Mismatch { .. } | Self::Overlong { .. } => Some(
                "nothing from that file was stored: the mirror is mid-update or serving altered files; retry later or use another mirror",
            ),
            Self::Network { .. } => Some("check the mirror URL (--mirror, or the host's apt sources) and the network"),
            Self::Store(e) => e.help(),
            Self::Download { source, .. } => Some(source.help()),
            _ => None,
        }
    }
}

/// A response body being read, and its announced length.
type Body = (Box<dyn Read + Send>, Option<u64>);

/// A mirror and an HTTP client for it.
#[derive(Debug, Clone)]
pub struct Mirror {
    base: String,
    agent: ureq::Agent,
    limits: bale_http::NetLimits,
}

impl Mirror {
    pub fn new(url: &str) -> Result<Self, FetchError> {
        let base = url.trim_end_matches('/').to_string();
        if !base.starts_with("http://") && !base.starts_with("https://") {
            return Err(FetchError::BadMirror {
                mirror: url.into(),
                reason: "only http:// and https:// mirrors are supported",
            });
        }
        let limits = bale_http::NetLimits::from_env();
        Ok(Self { base, agent: bale_http::agent(&limits), limits })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base, path.trim_start_matches('/'))
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// Opens `path` for reading; `Ok(None)` when the server says 404.
    fn open(&self, path: &str) -> Result<Option<Body>, FetchError> {
        let url = self.url(path);
        let mut last = String::new();
        for attempt in 0..3 {
            if attempt > 0 {
                std::thread::sleep(Duration::from_millis(200 * attempt));
            }
            match self.agent.get(&url).call() {
                Ok(response) => {
                    let status = response.status().as_u16();
                    if status == 404 || status == 410 {
                        return Ok(None);
                    }
                    if status != 200 {
                        return Err(FetchError::Status { url, status });
                    }
                    let length = response
                        .headers()
                        .get("content-length")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse().ok());
                    return Ok(Some((Box::new(response.into_body().into_reader()), length)));
                }
                Err(e) => last = bale_http::describe(&e, &self.limits),
            }
        }
        Err(FetchError::Network { url, reason: last })
    }

    /// Fetches a small file whole (an `InRelease`). `Ok(None)` on 404.
    pub fn get(&self, path: &str, limit: u64) -> Result<Option<Vec<u8>>, FetchError> {
        let url = self.url(path);
        let Some((reader, _)) = self.open(path)? else { return Ok(None) };
        let mut out = Vec::new();
        // `limit` is bale's own bound for this kind of file, not a size the
        // server declared, so BALE_MAX_BLOB_SIZE does not apply to it.
        let limits = bale_http::NetLimits { max_blob: limit, ..self.limits };
        match bale_http::copy_declared(reader, limit, &mut out, &limits) {
            Ok(_) => Ok(Some(out)),
            Err(bale_http::DownloadError::Overlong { .. }) => Err(FetchError::TooLarge { url, limit }),
            Err(source) => Err(FetchError::Download { url, source }),
        }
    }

    /// Makes sure the blob `expected` (of `size` bytes, at `path` on the
    /// mirror) is in the store: fetched and checked if it is not there
    /// yet. Returns whether it was downloaded.
    pub fn fetch_verified(&self, path: &str, expected: Digest, size: u64, store: &Store) -> Result<bool, FetchError> {
        if store.has_blob(&expected) {
            return Ok(false);
        }
        let url = self.url(path);
        let Some((reader, _)) = self.open(path)? else {
            return Err(FetchError::Status { url, status: 404 });
        };
        let mut writer = store.blob_writer()?;
        let copied =
            bale_http::copy_declared(reader, size, &mut writer, &self.limits).map_err(|source| match source {
                bale_http::DownloadError::Overlong { .. } => {
                    FetchError::Overlong { url: url.clone(), expected, expected_size: size }
                }
                source => FetchError::Download { url: url.clone(), source },
            })?;
        match writer.commit(Some(expected)) {
            // Same digest means same bytes, so the size matched too.
            Ok(_) => Ok(true),
            Err(StoreError::DigestMismatch { actual, .. }) => {
                Err(FetchError::Mismatch { url, expected, actual, expected_size: size, actual_size: copied })
            }
            Err(e) => Err(e.into()),
        }
    }
}
