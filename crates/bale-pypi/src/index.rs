//! The package index: where it is (the spec, `PIP_INDEX_URL`, the host's
//! pip configuration — never a host written into bale), and what it says
//! through the JSON simple API (PEP 691): a project's files with their
//! sha256, each wheel's core metadata beside it (PEP 658), and the files.

use std::io::{Read, Write};
use std::path::PathBuf;

use bale_fileset::Digest;
use bale_http::NetLimits;
use serde::Deserialize;
use url::Url;

use crate::metadata::{MAX_METADATA, normalize};

/// The largest project page read (the biggest projects' pages are a few MB).
const MAX_PAGE: u64 = 64 << 20;

const JSON_API: &str = "application/vnd.pypi.simple.v1+json";

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("no package index is configured for [pypi] packages")]
    NotConfigured,
    #[error("the index URL {url:?} ({origin}) is not an http or https URL")]
    BadUrl { url: String, origin: String },
    #[error("{url}: {reason}")]
    Fetch { url: String, reason: String },
    #[error("the index has no project {name:?} ({url})")]
    NoProject { name: String, url: String },
    #[error("{url}: {what} is not what the JSON simple API (PEP 691) sends: {reason}")]
    BadAnswer { url: String, what: String, reason: String },
    #[error("{file}: its sha256 is {actual}, the index said {expected}")]
    Digest { file: String, expected: String, actual: Digest },
}

impl IndexError {
    pub fn help(&self) -> Option<&'static str> {
        Some(match self {
            Self::NotConfigured => {
                "set `index = \"URL\"` in the spec's [pypi] table, PIP_INDEX_URL, or index-url in pip's \
                 configuration (pip config set global.index-url URL)"
            }
            Self::BadUrl { .. } => "give the index's simple API URL, such as https://HOST/simple/",
            Self::Fetch { .. } => "check the index URL and the network, then retry",
            Self::NoProject { .. } => "check the requirement's name, or whether this index serves it",
            Self::BadAnswer { .. } => {
                "the index must speak PEP 691's JSON (Accept: application/vnd.pypi.simple.v1+json)"
            }
            Self::Digest { .. } => "the index or a proxy served other bytes than it listed; nothing was stored",
        })
    }
}

/// Where the index came from, for messages and provenance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexLocation {
    pub url: Url,
    /// `the spec`, `PIP_INDEX_URL`, or the pip configuration file.
    pub origin: String,
}

/// The index: the spec's, else `PIP_INDEX_URL`, else `index-url` of the
/// host's pip configuration files (in pip's order, the last one that sets
/// it wins, `[install]` over `[global]`).
pub fn locate(spec_index: Option<&str>) -> Result<IndexLocation, IndexError> {
    let found = spec_index
        .map(|url| (url.to_string(), "the spec".to_string()))
        .or_else(|| std::env::var("PIP_INDEX_URL").ok().filter(|u| !u.is_empty()).map(|u| (u, "PIP_INDEX_URL".into())))
        .or_else(pip_config_index);
    let (text, origin) = found.ok_or(IndexError::NotConfigured)?;
    let mut url =
        Url::parse(text.trim()).map_err(|_| IndexError::BadUrl { url: text.clone(), origin: origin.clone() })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(IndexError::BadUrl { url: text, origin });
    }
    if !url.path().ends_with('/') {
        url.set_path(&format!("{}/", url.path()));
    }
    Ok(IndexLocation { url, origin })
}

/// pip's configuration files, lowest precedence first.
fn pip_config_files() -> Vec<PathBuf> {
    let mut files = vec![PathBuf::from("/etc/xdg/pip/pip.conf"), PathBuf::from("/etc/pip.conf")];
    if let Some(home) = std::env::var_os("HOME").map(PathBuf::from) {
        files.push(home.join(".pip/pip.conf"));
        let config = std::env::var_os("XDG_CONFIG_HOME").map_or_else(|| home.join(".config"), PathBuf::from);
        files.push(config.join("pip/pip.conf"));
    }
    if let Some(file) = std::env::var_os("PIP_CONFIG_FILE") {
        files.push(PathBuf::from(file));
    }
    files
}

fn pip_config_index() -> Option<(String, String)> {
    let mut found = None;
    for file in pip_config_files() {
        let Ok(text) = bale_fileset::safe_fs::read_regular(&file, 1 << 20) else { continue };
        let text = String::from_utf8_lossy(&text);
        let (mut global, mut install) = (None, None);
        let mut section = String::new();
        for line in text.lines().map(str::trim) {
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = name.trim().to_string();
            } else if let Some((key, value)) = line.split_once(['=', ':'])
                && matches!(key.trim(), "index-url" | "index_url")
            {
                match section.as_str() {
                    "global" => global = Some(value.trim().to_string()),
                    "install" => install = Some(value.trim().to_string()),
                    _ => {}
                }
            }
        }
        if let Some(url) = install.or(global) {
            found = Some((url, file.display().to_string()));
        }
    }
    found
}

/// One file of a project, as the index lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectFile {
    pub filename: String,
    pub url: Url,
    pub sha256: Digest,
    pub requires_python: Option<String>,
    pub yanked: bool,
    pub size: Option<u64>,
    /// The sha256 of its core metadata file, when the index gives one.
    pub metadata_sha256: Option<Digest>,
    /// Whether the index serves its core metadata beside it (PEP 658).
    pub has_metadata: bool,
}

#[derive(Deserialize)]
struct Page {
    files: Vec<PageFile>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct PageFile {
    filename: String,
    url: String,
    #[serde(default)]
    hashes: std::collections::BTreeMap<String, String>,
    requires_python: Option<String>,
    #[serde(default)]
    yanked: serde_json::Value,
    size: Option<u64>,
    #[serde(alias = "dist-info-metadata")]
    core_metadata: Option<serde_json::Value>,
}

/// An index client.
#[derive(Debug)]
pub struct Index {
    pub location: IndexLocation,
    agent: ureq::Agent,
    limits: NetLimits,
    /// A private directory wheels are downloaded into once, for their
    /// metadata and for installing.
    scratch: Option<PathBuf>,
}

impl Index {
    pub fn new(location: IndexLocation) -> Self {
        let limits = NetLimits::from_env();
        Self { location, agent: bale_http::agent(&limits), limits, scratch: None }
    }

    /// Downloads go to `dir` (which only this process writes), each file
    /// once.
    pub fn with_scratch(mut self, dir: PathBuf) -> Self {
        self.scratch = Some(dir);
        self
    }

    /// Where downloads go, when [`Index::with_scratch`] said.
    pub fn scratch(&self) -> Option<&std::path::Path> {
        self.scratch.as_deref()
    }

    /// `file`, downloaded into `dir` and checked, or found there from an
    /// earlier call.
    pub fn fetch(&self, file: &ProjectFile, dir: &std::path::Path) -> Result<PathBuf, IndexError> {
        let fail = |reason: String| IndexError::Fetch { url: file.url.to_string(), reason };
        let safe = !file.filename.is_empty()
            && !file.filename.starts_with('.')
            && file.filename.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+' | '!'));
        if !safe {
            return Err(fail(format!("the file name {:?} is not one bale writes", file.filename)));
        }
        let path = dir.join(&file.filename);
        if path.is_file() {
            return Ok(path);
        }
        let part = dir.join(format!(".part-{}", file.filename));
        let mut out = std::fs::File::create(&part).map_err(|e| fail(format!("{}: {e}", part.display())))?;
        let downloaded = self.download(file, &mut out);
        drop(out);
        if let Err(e) = downloaded {
            let _ = std::fs::remove_file(&part);
            return Err(e);
        }
        std::fs::rename(&part, &path).map_err(|e| fail(format!("{}: {e}", path.display())))?;
        Ok(path)
    }

    /// The files of the project `name`. Files without a sha256 are left
    /// out: nothing could check them.
    pub fn project(&self, name: &str) -> Result<Vec<ProjectFile>, IndexError> {
        let page_url = self
            .location
            .url
            .join(&format!("{}/", normalize(name)))
            .map_err(|e| IndexError::Fetch { url: self.location.url.to_string(), reason: e.to_string() })?;
        let (status, body) = self.get(&page_url, JSON_API, MAX_PAGE)?;
        if status == 404 {
            return Err(IndexError::NoProject { name: name.to_string(), url: page_url.to_string() });
        }
        if status != 200 {
            return Err(IndexError::Fetch { url: page_url.to_string(), reason: format!("HTTP {status}") });
        }
        let bad = |reason: String| IndexError::BadAnswer {
            url: page_url.to_string(),
            what: "the project page".into(),
            reason,
        };
        let page: Page = serde_json::from_slice(&body).map_err(|e| bad(e.to_string()))?;
        let mut files = Vec::new();
        for file in page.files {
            let Some(sha256) =
                file.hashes.get("sha256").and_then(|h| format!("sha256:{}", h.to_ascii_lowercase()).parse().ok())
            else {
                continue;
            };
            let url = page_url.join(&file.url).map_err(|e| bad(format!("{}: {e}", file.url)))?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err(bad(format!("{} is not an http URL", file.url)));
            }
            let has_metadata = file.core_metadata.as_ref().is_some_and(|m| m.as_bool() != Some(false) && !m.is_null());
            let metadata_sha256 = file
                .core_metadata
                .as_ref()
                .and_then(|m| m.get("sha256"))
                .and_then(|h| h.as_str())
                .and_then(|h| format!("sha256:{h}").parse().ok());
            let yanked = match &file.yanked {
                serde_json::Value::Bool(b) => *b,
                serde_json::Value::String(_) => true,
                _ => false,
            };
            files.push(ProjectFile {
                filename: file.filename,
                url,
                sha256,
                requires_python: file.requires_python,
                yanked,
                size: file.size,
                metadata_sha256,
                has_metadata,
            });
        }
        Ok(files)
    }

    /// The core metadata of `file` (`URL.metadata`, PEP 658), checked
    /// against the sha256 the index gives for it, when it gives one.
    pub fn metadata(&self, file: &ProjectFile) -> Result<String, IndexError> {
        // Not served beside it: read from the wheel itself (which is then
        // at hand for installing).
        if !file.has_metadata
            && let Some(scratch) = &self.scratch
        {
            let path = self.fetch(file, scratch)?;
            return crate::wheel::read_metadata(&path, &file.filename).map_err(|e| IndexError::BadAnswer {
                url: file.url.to_string(),
                what: "the wheel".into(),
                reason: e.problem,
            });
        }
        let url = Url::parse(&format!("{}.metadata", file.url.as_str().split('#').next().unwrap_or_default()))
            .map_err(|e| IndexError::Fetch { url: file.url.to_string(), reason: e.to_string() })?;
        let (status, body) = self.get(&url, "*/*", MAX_METADATA)?;
        if status != 200 {
            return Err(IndexError::Fetch {
                url: url.to_string(),
                reason: format!("HTTP {status} (the index must serve core metadata beside each wheel, PEP 658)"),
            });
        }
        if let Some(expected) = &file.metadata_sha256 {
            let actual = bale_fileset::sha256_bytes(&body);
            if actual != *expected {
                return Err(IndexError::Digest {
                    file: format!("{}.metadata", file.filename),
                    expected: expected.to_string(),
                    actual,
                });
            }
        }
        String::from_utf8(body).map_err(|_| IndexError::BadAnswer {
            url: url.to_string(),
            what: "the core metadata".into(),
            reason: "it is not UTF-8".into(),
        })
    }

    /// Downloads `file` into `out`, checked against the index's sha256.
    pub fn download(&self, file: &ProjectFile, out: &mut impl Write) -> Result<u64, IndexError> {
        let fail = |reason: String| IndexError::Fetch { url: file.url.to_string(), reason };
        let response =
            self.agent.get(file.url.as_str()).call().map_err(|e| fail(bale_http::describe(&e, &self.limits)))?;
        if response.status() != 200 {
            return Err(fail(format!("HTTP {}", response.status())));
        }
        let declared = file
            .size
            .or_else(|| response.headers().get("content-length").and_then(|v| v.to_str().ok()?.parse().ok()))
            .unwrap_or(self.limits.max_blob);
        let mut hashing = bale_fileset::HashingWriter::new(out);
        let received =
            bale_http::copy_declared(response.into_body().into_reader(), declared, &mut hashing, &self.limits)
                .map_err(|e| fail(e.to_string()))?;
        let (_, actual, _) = hashing.into_parts();
        if actual != file.sha256 {
            return Err(IndexError::Digest { file: file.filename.clone(), expected: file.sha256.to_string(), actual });
        }
        Ok(received)
    }

    fn get(&self, url: &Url, accept: &str, max: u64) -> Result<(u16, Vec<u8>), IndexError> {
        let fail = |reason: String| IndexError::Fetch { url: url.to_string(), reason };
        let response = self
            .agent
            .get(url.as_str())
            .header("Accept", accept)
            .call()
            .map_err(|e| fail(bale_http::describe(&e, &self.limits)))?;
        let status = response.status().as_u16();
        let mut body = Vec::new();
        response.into_body().into_reader().take(max + 1).read_to_end(&mut body).map_err(|e| fail(e.to_string()))?;
        if body.len() as u64 > max {
            return Err(fail(format!("the answer is larger than the {max} bytes bale reads")));
        }
        Ok((status, body))
    }
}
