//! Package metadata v1: the OCI config of a package artifact. Shape
//! documented in `docs/package-metadata.md`.

use bale_fileset::Digest;
use serde::{Deserialize, Serialize};

pub const PACKAGE_MEDIA_TYPE: &str = "application/vnd.bale.package.v1+json";
/// The `artifactType` of a package's manifest.
pub const PACKAGE_ARTIFACT_TYPE: &str = "application/vnd.bale.package.v1";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PackageMetadata {
    pub schema_version: u32,
    pub media_type: String,
    pub name: String,
    pub version: String,
    /// Where the package comes from (`debian:bookworm`); absent for
    /// bale-native packages, whose names are rooted in DNS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<String>,
    pub content: ContentInfo,
    pub file_index: BlobRef,
    #[serde(default)]
    pub dependencies: Vec<Dependency>,
    #[serde(default)]
    pub provides: Vec<Provide>,
    /// An SPDX licence expression, `NOASSERTION` when unknown.
    pub license: String,
    pub purl: String,
    pub provenance: Provenance,
    #[serde(default, skip_serializing_if = "Dropped::is_empty")]
    pub dropped: Dropped,
}

/// The canonical tar: its digest is the package's content id and OCI
/// `diff_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentInfo {
    pub digest: Digest,
    /// Bytes of the uncompressed canonical tar.
    pub size: u64,
    /// Regular files (hard links not counted).
    pub files: u64,
    /// All entries: files, directories, symlinks, hard links.
    pub entries: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlobRef {
    pub digest: Digest,
    pub size: u64,
}

/// One requirement, satisfied by any of its alternatives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Dependency {
    pub any_of: Vec<DependencyAlternative>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DependencyAlternative {
    pub name: String,
    /// A relation and version, such as `>= 2.36`; absent means any version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Provide {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// How the content came to be. Nothing machine-specific (no host paths, no
/// times) so that anyone packing the same input gets the same metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum Provenance {
    /// `bale pack` of a directory.
    Directory,
    /// `bale pack` of a tar file, whose bytes hashed to `sha256`.
    Tar { sha256: Digest },
}

/// What was left out of the source on purpose.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Dropped {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub maintainer_scripts: Vec<String>,
}

impl Dropped {
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty() && self.maintainer_scripts.is_empty()
    }
}

impl PackageMetadata {
    pub fn id(&self) -> String {
        match &self.origin {
            Some(origin) => format!("{origin}/{}@{}", self.name, self.version),
            None => format!("{}@{}", self.name, self.version),
        }
    }
}

/// A purl for a bale-native package: `pkg:generic/<name>@<version>`, with
/// the version percent-encoded as the purl spec asks.
pub fn generic_purl(name: &str, version: &str) -> String {
    let mut encoded = String::new();
    for b in version.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'~') {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("pkg:generic/{name}@{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purls_encode_versions() {
        assert_eq!(generic_purl("hello", "1.0"), "pkg:generic/hello@1.0");
        assert_eq!(generic_purl("example.com/app", "1:2+b1"), "pkg:generic/example.com/app@1%3A2%2Bb1");
    }
}
