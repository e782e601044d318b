//! `bale.lock`: the resolved closure of a spec, every package pinned by
//! version, content digest and source digest, so a build is the same build
//! tomorrow. Written by `bale lock`, `bale build` and `bale update`; read
//! by `bale build --locked`. Documented in `docs/spec.md`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// 2: one list of sections per source (`[[debian]]`, one per
/// architecture), each source's sections in the source's own shape.
/// Version 1 (one `[debian]` table, ids without architecture) is read and
/// understood, and written as 2.
pub const LOCK_VERSION: u32 = 2;

/// A lock: its version and, by source name, that source's sections. This
/// module knows no source: each reads and writes its own sections
/// ([`Lock::sections`], [`Lock::set_sections`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lock {
    pub version: u32,
    #[serde(flatten)]
    pub sources: BTreeMap<String, Vec<toml::Table>>,
}

impl Default for Lock {
    fn default() -> Self {
        Self { version: LOCK_VERSION, sources: BTreeMap::new() }
    }
}

impl Lock {
    /// The sections of `source`, each parsed as that source's shape;
    /// `path` names the lock in errors.
    pub fn sections<T: DeserializeOwned>(&self, source: &str, path: &Path) -> Result<Vec<T>, LockError> {
        let Some(tables) = self.sources.get(source) else { return Ok(Vec::new()) };
        tables
            .iter()
            .map(|table| {
                T::deserialize(toml::Value::Table(table.clone())).map_err(|e| LockError::Parse {
                    path: path.to_path_buf(),
                    message: format!("[[{source}]]: {}", crate::spec::bounded_message(&e.to_string())),
                })
            })
            .collect()
    }

    /// Replaces the sections of `source` (none removes it).
    pub fn set_sections<T: Serialize>(&mut self, source: &str, sections: &[T], path: &Path) -> Result<(), LockError> {
        let tables = sections
            .iter()
            .map(|section| match toml::Value::try_from(section) {
                Ok(toml::Value::Table(table)) => Ok(table),
                Ok(_) => Err(LockError::Parse {
                    path: path.to_path_buf(),
                    message: format!("a {source} section is not a table"),
                }),
                Err(e) => Err(LockError::Parse { path: path.to_path_buf(), message: e.to_string() }),
            })
            .collect::<Result<Vec<_>, _>>()?;
        if tables.is_empty() {
            self.sources.remove(source);
        } else {
            self.sources.insert(source.to_string(), tables);
        }
        Ok(())
    }

    /// Refuses sections of sources the caller does not have (a lock of a
    /// newer bale with more sources): building without them would leave
    /// their packages out.
    pub fn check_sources(&self, known: &[&str], path: &Path) -> Result<(), LockError> {
        match self.sources.keys().find(|name| !known.contains(&name.as_str())) {
            Some(name) => Err(LockError::UnknownSource { path: path.to_path_buf(), source_name: name.clone() }),
            None => Ok(()),
        }
    }
}

/// Version 1 as version 2: the `[debian]` table becomes the one `debian`
/// section, with the top-level `inputs` (the v2 digest of a spec's only
/// architecture is the same). Each package's id gains the architecture
/// its own verified stanza declares (never guessed; a stanza without
/// `Architecture` is refused), the base package's that of the table.
fn upgrade_v1(mut lock: toml::Table, path: &Path) -> Result<Lock, LockError> {
    let parse = |message: String| LockError::Parse { path: path.to_path_buf(), message };
    let inputs = lock.remove("inputs").ok_or_else(|| parse("a version 1 lock has `inputs`".into()))?;
    let mut out = Lock::default();
    let Some(debian) = lock.remove("debian") else { return Ok(out) };
    let toml::Value::Table(mut debian) = debian else { return Err(parse("`debian` is not a table".into())) };
    let architecture = debian
        .get("architecture")
        .and_then(toml::Value::as_str)
        .ok_or_else(|| parse("[debian] has no architecture".into()))?
        .to_string();
    if let Some(toml::Value::Table(base)) = debian.get_mut("base") {
        upgrade_id(base, &architecture, path)?;
    }
    if let Some(toml::Value::Array(packages)) = debian.get_mut("package") {
        for package in packages {
            let toml::Value::Table(package) = package else {
                return Err(parse("a locked package is not a table".into()));
            };
            let stanza = package.get("stanza").and_then(toml::Value::as_str).unwrap_or("");
            let id = package.get("id").and_then(toml::Value::as_str).unwrap_or("?").to_string();
            let declared = stanza_field(stanza, "Architecture")
                .ok_or_else(|| parse(format!("the locked package {id} has no Architecture in its stanza")))?
                .to_string();
            upgrade_id(package, &declared, path)?;
        }
    }
    debian.insert("inputs".into(), inputs);
    out.sources.insert("debian".into(), vec![debian]);
    Ok(out)
}

/// `origin/name@version` → `origin/name:arch@version` in a table's `id`.
fn upgrade_id(table: &mut toml::Table, architecture: &str, path: &Path) -> Result<(), LockError> {
    let id = table
        .get("id")
        .and_then(toml::Value::as_str)
        .ok_or_else(|| LockError::Parse { path: path.to_path_buf(), message: "a locked package has no id".into() })?;
    let upgraded = match id.split_once('@') {
        Some((name, version)) => format!("{name}:{architecture}@{version}"),
        None => id.to_string(),
    };
    table.insert("id".into(), upgraded.into());
    Ok(())
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
    #[error("{} was written by a newer bale (lock version {found}; this bale reads 1 and {LOCK_VERSION})", path.display())]
    Version { path: PathBuf, found: u32 },
    #[error("{} has sections for the source {source_name:?}, which this bale does not have", path.display())]
    UnknownSource { path: PathBuf, source_name: String },
}

impl LockError {
    /// What to do about it, for people.
    pub fn help(&self) -> Option<&'static str> {
        Some(match self {
            Self::Io { .. } => return None,
            Self::Parse { .. } => "bale writes bale.lock itself: run `bale lock` to write it afresh",
            Self::Version { .. } => "use the newer bale that wrote it, or run `bale lock` to re-pin with this one",
            Self::UnknownSource { .. } => {
                "use the newer bale that wrote it; `bale lock` re-pins with this one, which drops that source's packages"
            }
        })
    }
}

/// Where the lock of a spec lives: `bale.lock` beside it.
pub fn lock_path(spec_path: &Path) -> PathBuf {
    spec_path.with_file_name("bale.lock")
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
        let table: toml::Table = toml::from_str(text).map_err(parse_err)?;
        let version = table.get("version").and_then(toml::Value::as_integer);
        match version {
            Some(1) => upgrade_v1(table, path),
            Some(v) if v == i64::from(LOCK_VERSION) => toml::from_str(text).map_err(parse_err),
            Some(found) => {
                Err(LockError::Version { path: path.to_path_buf(), found: u32::try_from(found).unwrap_or(u32::MAX) })
            }
            None => Err(LockError::Parse { path: path.to_path_buf(), message: "it has no `version`".into() }),
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
