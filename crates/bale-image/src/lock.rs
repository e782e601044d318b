//! `bale.lock`: the resolved closure of a spec, every package pinned by
//! version, content digest and source digest, so a build is the same build
//! tomorrow. Written by `bale lock`, `bale build` and `bale update`; read
//! by `bale build --locked`. Documented in `docs/spec.md`.

use std::path::{Path, PathBuf};

use bale_fileset::{Digest, sha256_bytes};
use serde::{Deserialize, Serialize};

use crate::spec::Spec;

/// 2: one section per source and architecture, each with its own inputs
/// digest; ids name their architecture. Version 1 (one `[debian]` table,
/// ids without architecture) is read and understood, and written as 2.
pub const LOCK_VERSION: u32 = 2;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    pub version: u32,
    /// The Debian closure of each architecture, in the spec's order.
    #[serde(default, rename = "debian", skip_serializing_if = "Vec::is_empty")]
    pub debian: Vec<LockedDebian>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedDebian {
    pub architecture: String,
    /// Digest of the spec's `[debian]` request for this architecture
    /// ([`debian_inputs`]); a different one means the spec changed since.
    pub inputs: Digest,
    /// The codename the ids carry (`debian:<codename>/…`).
    pub codename: String,
    /// The signed InRelease the closure was resolved against.
    pub release: Digest,
    /// The merged-/usr compatibility package.
    pub base: LockedBase,
    #[serde(rename = "package")]
    pub packages: Vec<LockedPackage>,
}

impl Lock {
    /// The section pinning `architecture`'s closure, if it is still what
    /// the spec asks for.
    pub fn current_debian(&self, spec: &Spec, architecture: &str) -> Option<&LockedDebian> {
        self.debian.iter().find(|d| d.architecture == architecture && d.inputs == debian_inputs(spec, architecture))
    }
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

/// Lock version 1, as bale wrote it before ids named architectures.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LockV1 {
    #[allow(dead_code)]
    version: u32,
    inputs: Digest,
    #[serde(default)]
    debian: Option<LockedDebianV1>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LockedDebianV1 {
    codename: String,
    architecture: String,
    release: Digest,
    base: LockedBase,
    #[serde(rename = "package")]
    packages: Vec<LockedPackage>,
}

impl LockV1 {
    /// The same pins in version 2. Each package's architecture is the one
    /// its own verified stanza declares (`all` or the lock's), never
    /// guessed; the base package is the lock's architecture. The v1 inputs
    /// digest is the v2 digest of the spec's only architecture.
    fn upgrade(self, path: &Path) -> Result<Lock, LockError> {
        let mut debian = Vec::new();
        if let Some(d) = self.debian {
            let packages = d
                .packages
                .into_iter()
                .map(|mut p| {
                    let architecture = stanza_field(&p.stanza, "Architecture").ok_or_else(|| LockError::Parse {
                        path: path.to_path_buf(),
                        message: format!("the locked package {} has no Architecture in its stanza", p.id),
                    })?;
                    p.id = with_architecture(&p.id, architecture);
                    Ok(p)
                })
                .collect::<Result<Vec<_>, LockError>>()?;
            let base = LockedBase { id: with_architecture(&d.base.id, &d.architecture), content: d.base.content };
            debian.push(LockedDebian {
                architecture: d.architecture,
                inputs: self.inputs,
                codename: d.codename,
                release: d.release,
                base,
                packages,
            });
        }
        Ok(Lock { version: LOCK_VERSION, debian })
    }
}

/// `origin/name@version` → `origin/name:arch@version`.
fn with_architecture(id: &str, architecture: &str) -> String {
    match id.split_once('@') {
        Some((name, version)) => format!("{name}:{architecture}@{version}"),
        None => id.to_string(),
    }
}

fn stanza_field<'a>(stanza: &'a str, field: &str) -> Option<&'a str> {
    stanza.lines().find_map(|line| line.strip_prefix(field)?.strip_prefix(':').map(str::trim))
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

/// What of a spec one architecture's Debian closure depends on: the
/// request (not the mirror, which may change without changing content).
/// The architecture is the spec's own value (null when the host's is
/// meant, where the section's `architecture` tells which), so a lock
/// written before locks had sections keeps its digest.
pub fn debian_inputs(spec: &Spec, architecture: &str) -> Digest {
    let declared = if spec.is_multi_architecture() {
        Some(architecture.to_string())
    } else {
        spec.declared_architectures().into_iter().next()
    };
    let debian = spec.debian.as_ref().map(|d| {
        let mut packages = d.packages.clone();
        packages.sort();
        let mut inputs = serde_json::json!({
            "suite": d.suite,
            "components": d.components,
            "architecture": declared,
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
        let parse_err = |e: toml::de::Error| LockError::Parse {
            path: path.to_path_buf(),
            message: crate::spec::bounded_message(&e.to_string()),
        };
        #[derive(Deserialize)]
        struct Version {
            version: u32,
        }
        let Version { version } = toml::from_str(text).map_err(parse_err)?;
        match version {
            1 => toml::from_str::<LockV1>(text).map_err(parse_err)?.upgrade(path),
            LOCK_VERSION => toml::from_str(text).map_err(parse_err),
            found => Err(LockError::Version { path: path.to_path_buf(), found }),
        }
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
