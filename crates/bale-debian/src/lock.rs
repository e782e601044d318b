//! The Debian source's sections of `bale.lock`: one per architecture, the
//! closure resolved for it, each package pinned by id, content digest and
//! the verified index entry that carries the .deb's sha256. The lock file
//! itself (versions, sections by source) is `bale-image`'s; the format is
//! documented in `docs/spec.md`.

use bale_fileset::Digest;
use serde::{Deserialize, Serialize};

/// The name of the Debian source's spec table and lock sections.
pub const SOURCE_NAME: &str = "debian";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedDebian {
    pub architecture: String,
    /// Digest of the spec's `[debian]` request for this architecture; a
    /// different one means the spec changed since.
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
