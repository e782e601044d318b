//! The file index: every path of a package with its type, mode, owner, size
//! and sha256, so conflict checks and queries never open the tar.
//! Shape documented in `docs/file-index.md`.

use serde::{Deserialize, Serialize};

use crate::digest::Digest;

pub const FILE_INDEX_MEDIA_TYPE: &str = "application/vnd.bale.file-index.v1+json";

// Readers ignore fields they do not know, so optional fields can be added
// within schema version 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileIndex {
    pub schema_version: u32,
    pub media_type: String,
    /// In canonical-tar order (bytewise by path).
    pub entries: Vec<FileIndexEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileIndexEntry {
    pub path: String,
    /// `file`, `directory`, `symlink` or `hardlink`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Four octal digits, as `ls` users read them: `"0755"`.
    pub mode: String,
    pub uid: u64,
    pub gid: u64,
    /// Regular files only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Regular files only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<Digest>,
    /// Symlinks (verbatim) and hard links (a path in this set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Declared extended attributes, values in lowercase hex.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub xattrs: std::collections::BTreeMap<String, String>,
}

impl Default for FileIndex {
    fn default() -> Self {
        Self { schema_version: 1, media_type: FILE_INDEX_MEDIA_TYPE.to_string(), entries: Vec::new() }
    }
}

impl FileIndex {
    /// The canonical JSON bytes of the index (compact, fixed field order).
    pub fn to_json(&self) -> Vec<u8> {
        // Serialising plain structs of strings and integers cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Number of regular files (hard links not counted twice).
    pub fn file_count(&self) -> u64 {
        self.entries.iter().filter(|e| e.kind == "file").count() as u64
    }
}
