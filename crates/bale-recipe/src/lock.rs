//! `recipe.lock`: everything a recipe's build took, pinned by digest — the
//! recipe itself, each source's sha256, each build-root package by id and
//! content digest, and the Debian closure in the shape `bale.lock` gives
//! it — so a build tomorrow, or anyone's rebuild, takes exactly the same.

use std::path::{Path, PathBuf};

use bale_debian::lock::LockedDebian;
use bale_fileset::{Digest, safe_fs, sha256_bytes};
use serde::{Deserialize, Serialize};

use crate::RecipeError;

pub const RECIPE_LOCK_VERSION: u32 = 1;
const HEADER: &str = "# Written by bale make: every input of the recipe's build, pinned. Do not edit by hand.\n";
const MAX_LOCK_SIZE: u64 = 64 << 20;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecipeLock {
    pub version: u32,
    /// The sha256 of the recipe's bytes this lock was made for.
    pub recipe: Digest,
    #[serde(default, rename = "source", skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<LockedSource>,
    /// bale packages of the build root.
    #[serde(default, rename = "package", skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<LockedPackage>,
    /// The build root's Debian closure (one section: the build's
    /// architecture).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub debian: Vec<LockedDebian>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedSource {
    /// Its name in `/build`, or the Debian source package's name.
    pub name: String,
    pub sha256: Digest,
    /// For a Debian source: its version and what vouched for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub debian: Option<LockedDebianSource>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedDebianSource {
    pub version: String,
    /// The suite whose Sources index listed it, and its directory in the
    /// pool.
    pub suite: String,
    pub directory: String,
    /// The signed InRelease and the Sources index it lists.
    pub release: Digest,
    pub sources_index: Digest,
    /// Every file of the source package (`.dsc` first), by name.
    pub files: Vec<bale_debian::source_package::SourceFile>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedPackage {
    pub id: String,
    pub content: Digest,
}

/// `hello.recipe.toml` → `hello.recipe.lock`; any other name gets
/// `.lock` appended.
pub fn recipe_lock_path(recipe: &Path) -> PathBuf {
    let name = recipe.file_name().and_then(|n| n.to_str()).unwrap_or("recipe");
    let lock = match name.strip_suffix(".toml") {
        Some(stem) => format!("{stem}.lock"),
        None => format!("{name}.lock"),
    };
    recipe.with_file_name(lock)
}

impl RecipeLock {
    /// The lock at `path`, if there is one.
    pub fn load(path: &Path) -> Result<Option<Self>, RecipeError> {
        let bytes = match safe_fs::read_regular(path, MAX_LOCK_SIZE) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(RecipeError::Read { path: path.to_path_buf(), source }),
        };
        let text = String::from_utf8(bytes)
            .map_err(|_| RecipeError::LockParse { path: path.to_path_buf(), message: "it is not UTF-8 text".into() })?;
        let lock: Self = toml::from_str(&text).map_err(|e| RecipeError::LockParse {
            path: path.to_path_buf(),
            message: bale_image::bounded_message(&e.to_string()),
        })?;
        if lock.version != RECIPE_LOCK_VERSION {
            return Err(RecipeError::LockParse {
                path: path.to_path_buf(),
                message: format!("it is version {}; this bale reads version {RECIPE_LOCK_VERSION}", lock.version),
            });
        }
        Ok(Some(lock))
    }

    /// The lock's bytes as written.
    pub fn to_bytes(&self) -> Result<Vec<u8>, RecipeError> {
        let body = toml::to_string(self)
            .map_err(|e| RecipeError::LockParse { path: PathBuf::from("recipe.lock"), message: e.to_string() })?;
        Ok(format!("{HEADER}{body}").into_bytes())
    }

    /// Writes the lock atomically (a link planted at its name is replaced,
    /// never written through) and returns the digest of its bytes.
    pub fn save(&self, path: &Path) -> Result<Digest, RecipeError> {
        let bytes = self.to_bytes()?;
        let write = || {
            let (dir, name) = safe_fs::open_parent(path)?;
            dir.write_atomic(&name, &bytes, 0o644)
        };
        write().map_err(|source| RecipeError::Write { path: path.to_path_buf(), source })?;
        Ok(sha256_bytes(&bytes))
    }
}
