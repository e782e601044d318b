//! Debian source packages, along the same signature chain as binary ones:
//! the verified `InRelease` lists each component's `Sources` index by
//! sha256; the index lists each file of a source package (`.dsc`, the
//! upstream tarballs, the Debian tarball or diff) by sha256 and size; each
//! file is fetched and kept only when it matches. A `.dsc` is signed by
//! its uploader, whose key is not the archive's: the archive's chain
//! vouches for it instead.

// Errors carry the archive's error whole; they end a fetch, so their size
// on the stack does not matter.
#![allow(clippy::result_large_err)]

use bale_fileset::Digest;
use bale_progress::Progress;
use bale_store::Store;

use crate::archive::{ArchiveError, IndexFile, Suite, index_text};
use crate::fetch::FetchError;

/// One file of a source package.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SourceFile {
    pub name: String,
    pub sha256: Digest,
    pub size: u64,
}

/// A source package as a verified `Sources` index lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcePackage {
    pub name: String,
    pub version: String,
    /// Its directory in the pool, such as `pool/main/b/busybox`.
    pub directory: String,
    /// The `.dsc` first, then the rest as the index lists them.
    pub files: Vec<SourceFile>,
    /// The suite whose index listed it, that suite's `InRelease` digest,
    /// and the `Sources` index's digest.
    pub suite: String,
    pub release: Digest,
    pub index: Digest,
}

impl SourcePackage {
    /// The `.dsc`'s name.
    pub fn dsc(&self) -> &str {
        self.files.first().map_or("", |f| f.name.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SourcePackageError {
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error("the Release of {suite} lists no Sources index for any of the components {components:?}")]
    NoSourcesIndex { suite: String, components: Vec<String> },
    #[error("no source package {name} {version} in {suites}{}", if versions.is_empty() { String::new() } else { format!(" (it has {})", versions.join(", ")) })]
    NotFound { name: String, version: String, suites: String, versions: Vec<String> },
    #[error("{index}: the source package {name}: {reason}")]
    Malformed { index: String, name: String, reason: String },
}

impl SourcePackageError {
    pub fn help(&self) -> Option<&'static str> {
        match self {
            Self::Archive(e) => e.help(),
            Self::Fetch(e) => e.help(),
            Self::NoSourcesIndex { .. } => Some("the mirror does not publish source packages for that suite"),
            Self::NotFound { .. } => Some(
                "give a version the archive has now (`version` of the [[source]]); older ones leave the archive \
                 when they are replaced",
            ),
            Self::Malformed { .. } => Some("the index is signed, but bale cannot read this stanza; report it"),
        }
    }
}

/// Finds `name` at `version` in the `Sources` indexes of `suite` and its
/// update suites (each fetched, or found in the store, by the sha256 its
/// verified Release lists).
pub fn find(
    suite: &Suite,
    store: &Store,
    name: &str,
    version: &str,
    progress: &dyn Progress,
) -> Result<SourcePackage, SourcePackageError> {
    let mut versions = Vec::new();
    for source in suite.all() {
        let mut any_index = false;
        for component in &source.config.components {
            let base = format!("{component}/source/Sources");
            let found = ["xz", "gz", ""]
                .iter()
                .map(|ext| if ext.is_empty() { base.clone() } else { format!("{base}.{ext}") })
                .find_map(|p| source.release.sha256.get(&p).map(|entry| (p, *entry)));
            let Some((path, (digest, size))) = found else { continue };
            any_index = true;
            let text = source.release.sha256.get(&base).copied().filter(|_| path != base);
            let file = IndexFile { path, digest, size, text };
            let fetch_path = crate::archive::index_fetch_path(source, &file);
            progress.phase(&format!("sources {} {component}", source.config.suite), Some(file.size));
            source.mirror.fetch_verified(&fetch_path, file.digest, file.size, store)?;
            progress.finish_phase();
            let url = source.mirror.url(&fetch_path);
            let text = index_text(store, &file, &url)?;
            let head = format!("Package: {name}\n");
            for stanza in text.split("\n\n") {
                let stanza = stanza.trim_start_matches('\n');
                if !stanza.starts_with(&head) {
                    continue;
                }
                let paragraphs = crate::control::parse(stanza).map_err(|e| SourcePackageError::Malformed {
                    index: url.clone(),
                    name: name.to_string(),
                    reason: e.to_string(),
                })?;
                let Some(paragraph) = paragraphs.first() else { continue };
                let found_version = paragraph.get("Version").unwrap_or_default();
                if found_version != version {
                    versions.push(found_version.to_string());
                    continue;
                }
                return stanza_to_package(paragraph, name, version, source, file.digest, &url);
            }
        }
        if !any_index && std::ptr::eq(source, suite) {
            return Err(SourcePackageError::NoSourcesIndex {
                suite: source.config.suite.clone(),
                components: source.config.components.clone(),
            });
        }
    }
    versions.sort();
    versions.dedup();
    Err(SourcePackageError::NotFound {
        name: name.to_string(),
        version: version.to_string(),
        suites: suite.all().map(|s| s.config.suite.clone()).collect::<Vec<_>>().join(", "),
        versions,
    })
}

fn stanza_to_package(
    paragraph: &crate::control::Paragraph<'_>,
    name: &str,
    version: &str,
    suite: &Suite,
    index: Digest,
    url: &str,
) -> Result<SourcePackage, SourcePackageError> {
    let malformed =
        |reason: String| SourcePackageError::Malformed { index: url.to_string(), name: name.to_string(), reason };
    let directory = paragraph.get("Directory").ok_or_else(|| malformed("it has no Directory".into()))?;
    if directory.starts_with('/') || directory.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
        return Err(malformed(format!("its Directory {directory:?} is not a path in the pool")));
    }
    let checksums = paragraph.get("Checksums-Sha256").ok_or_else(|| malformed("it has no Checksums-Sha256".into()))?;
    let mut files = Vec::new();
    for line in checksums.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let mut parts = line.split_whitespace();
        let (Some(hex), Some(size), Some(file), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(malformed(format!("the checksum line {line:?} is not `SHA256 SIZE NAME`")));
        };
        let sha256 = format!("sha256:{hex}").parse().map_err(|_| malformed(format!("{hex:?} is not a sha256")))?;
        let size = size.parse().map_err(|_| malformed(format!("{size:?} is not a size")))?;
        if file.contains('/') || file == "." || file == ".." || file.starts_with('.') {
            return Err(malformed(format!("{file:?} is not a file name")));
        }
        files.push(SourceFile { name: file.to_string(), sha256, size });
    }
    let Some(dsc) = files.iter().position(|f| f.name.ends_with(".dsc")) else {
        return Err(malformed("it lists no .dsc".into()));
    };
    let dsc = files.remove(dsc);
    files.insert(0, dsc);
    Ok(SourcePackage {
        name: name.to_string(),
        version: version.to_string(),
        directory: directory.to_string(),
        files,
        suite: suite.config.suite.clone(),
        release: suite.release_sha256,
        index,
    })
}

/// Fetches every file of `package` into the store (each by its sha256),
/// from the mirror of the suite that listed it.
pub fn fetch_files(
    suite: &Suite,
    directory: &str,
    listed_by: &str,
    files: &[SourceFile],
    store: &Store,
    progress: &dyn Progress,
) -> Result<(), SourcePackageError> {
    let source = suite.all().find(|s| s.config.suite == listed_by).unwrap_or(suite);
    for file in files {
        progress.phase(&format!("source {}", file.name), Some(file.size));
        source.mirror.fetch_verified(&format!("{directory}/{}", file.name), file.sha256, file.size, store)?;
        progress.finish_phase();
    }
    Ok(())
}

/// The date of the newest entry of a `debian/changelog` (its first
/// ` -- NAME <EMAIL>  DATE` trailer), in seconds since the epoch: what
/// Debian's tools take as `SOURCE_DATE_EPOCH`.
pub fn changelog_date(text: &str) -> Option<i64> {
    let trailer = text.lines().find(|l| l.starts_with(" -- "))?;
    let (_, date) = trailer.split_once(">  ")?;
    crate::release::parse_rfc2822(date.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changelog_trailer_gives_the_date() {
        let text = "busybox (1:1.35.0-4) unstable; urgency=medium\n\n  * Fix.\n\n -- Jane Doe <jane@example.org>  Tue, 02 Apr 2024 10:00:00 +0200\n\nbusybox (1:1.35.0-3) unstable; urgency=low\n\n -- X <x@example.org>  Mon, 01 Jan 2024 00:00:00 +0000\n";
        assert_eq!(changelog_date(text), Some(1_712_044_800));
        assert_eq!(changelog_date("no trailer\n"), None);
    }
}
