//! `bale.lock`: the resolved closure of a spec, every package pinned by
//! version, content digest and source digest, so a build is the same build
//! tomorrow. Written by `bale lock`, `bale build` and `bale update`; read
//! by `bale build --locked`. Documented in `docs/spec.md`.

use std::path::{Path, PathBuf};

use bale_fileset::{Digest, sha256_bytes};
use serde::{Deserialize, Serialize};

use crate::spec::Spec;

pub const LOCK_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    pub version: u32,
    /// Digest of the spec's package inputs; a different one means the spec
    /// changed since locking.
    pub inputs: Digest,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub debian: Option<LockedDebian>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedDebian {
    /// The codename the ids carry (`debian:<codename>/…`).
    pub codename: String,
    pub architecture: String,
    /// The signed InRelease the closure was resolved against.
    pub release: Digest,
    /// The merged-/usr compatibility package.
    pub base: LockedBase,
    #[serde(rename = "package")]
    pub packages: Vec<LockedPackage>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedBase {
    pub id: String,
    pub content: Digest,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedPackage {
    pub id: String,
    /// The package's content digest (its layer's diff_id).
    pub content: Digest,
    pub component: String,
    /// The suite whose index listed it (`bookworm-security`), which says
    /// where to fetch the .deb; absent in older locks, meaning the main one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub suite: String,
    /// The archive's index entry, as verified when locking: it carries the
    /// .deb's path and sha256, and the relations.
    pub stanza: String,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("cannot read {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{} is not a bale lock file: {message}", path.display())]
    Parse { path: PathBuf, message: String },
    #[error("{} was written by a newer bale (lock version {found}; this bale reads {LOCK_VERSION})", path.display())]
    Version { path: PathBuf, found: u32 },
}

/// Where the lock of a spec lives: `bale.lock` beside it.
pub fn lock_path(spec_path: &Path) -> PathBuf {
    spec_path.with_file_name("bale.lock")
}

/// What of a spec a lock depends on: the Debian request (not the mirror,
/// which may change without changing content).
pub fn inputs_digest(spec: &Spec) -> Digest {
    let debian = spec.debian.as_ref().map(|d| {
        let mut packages = d.packages.clone();
        packages.sort();
        let mut inputs = serde_json::json!({
            "suite": d.suite,
            "components": d.components,
            "architecture": d.architecture,
            "packages": packages,
            "keepDocs": d.keep_docs,
        });
        // Only a change from the default counts, so locks written before
        // the setting existed stay valid.
        if !d.updates {
            inputs["updates"] = false.into();
        }
        inputs
    });
    sha256_bytes(serde_json::json!({ "debian": debian }).to_string().as_bytes())
}

/// The largest lock bale reads (one for a thousand packages is ~500 kB).
pub const MAX_LOCK_SIZE: u64 = 64 << 20;

impl Lock {
    pub fn load(path: &Path) -> Result<Option<Self>, LockError> {
        let bytes = match bale_fileset::safe_fs::read_regular(path, MAX_LOCK_SIZE) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(LockError::Io { path: path.to_path_buf(), source }),
        };
        let text = String::from_utf8(bytes)
            .map_err(|_| LockError::Parse { path: path.to_path_buf(), message: "it is not UTF-8 text".into() })?;
        Self::parse(&text, path).map(Some)
    }

    /// Parses a lock's text; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, LockError> {
        let lock: Lock = toml::from_str(text).map_err(|e| LockError::Parse {
            path: path.to_path_buf(),
            message: crate::spec::bounded_message(&e.to_string()),
        })?;
        if lock.version > LOCK_VERSION {
            return Err(LockError::Version { path: path.to_path_buf(), found: lock.version });
        }
        Ok(lock)
    }

    /// Writes the lock atomically (temp file, then rename).
    pub fn save(&self, path: &Path) -> Result<(), LockError> {
        let body =
            toml::to_string(self).map_err(|e| LockError::Parse { path: path.to_path_buf(), message: e.to_string() })?;
        let text = format!("# Written by bale: every package of the image, pinned. Do not edit by hand.\n{body}");
        let io = |source| LockError::Io { path: path.to_path_buf(), source };
        let (dir, name) = bale_fileset::safe_fs::open_parent(path).map_err(io)?;
        dir.write_atomic(&name, text.as_bytes(), 0o644).map_err(io)
    }
}
