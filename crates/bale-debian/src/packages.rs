//! A suite's `Packages` index: every binary package with its relations and
//! the sha256 its `.deb` must have.

use std::collections::HashMap;

use bale_fileset::Digest;

use crate::control;
use crate::relation::{Alternatives, Atom, parse_relations};
use crate::version::Version;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MultiArch {
    No,
    Same,
    Foreign,
    Allowed,
}

/// One stanza of `Packages`.
#[derive(Debug, Clone)]
pub struct BinaryPackage {
    pub name: String,
    pub version: Version,
    pub architecture: String,
    pub multi_arch: MultiArch,
    pub essential: bool,
    pub priority: Option<String>,
    pub section: Option<String>,
    /// Source package name and version (the binary's own version if absent).
    pub source: String,
    pub source_version: Version,
    pub depends: Vec<Alternatives>,
    pub pre_depends: Vec<Alternatives>,
    pub provides: Vec<Atom>,
    pub conflicts: Vec<Atom>,
    pub breaks: Vec<Atom>,
    /// Path of the .deb relative to the mirror root.
    pub filename: String,
    pub size: u64,
    pub sha256: Digest,
    pub installed_size_kib: Option<u64>,
    /// The first line of the description.
    pub summary: String,
    pub component: String,
}

#[derive(Debug, thiserror::Error)]
#[error("{index}, stanza at line {line} ({package}): {reason}")]
pub struct PackagesError {
    pub index: String,
    pub line: usize,
    pub package: String,
    pub reason: String,
}

/// All packages of one or more `Packages` files, indexed by name and by
/// what they provide.
#[derive(Debug, Default)]
pub struct PackageIndex {
    packages: Vec<BinaryPackage>,
    by_name: HashMap<String, Vec<usize>>,
    providers: HashMap<String, Vec<usize>>,
}

impl PackageIndex {
    /// Adds every stanza of one `Packages` file. `index` names the file in
    /// errors.
    pub fn add(&mut self, text: &str, component: &str, index: &str) -> Result<(), PackagesError> {
        let paragraphs = control::parse(text).map_err(|e| PackagesError {
            index: index.to_string(),
            line: e.line,
            package: "?".into(),
            reason: e.reason.to_string(),
        })?;
        self.packages.reserve(paragraphs.len());
        for p in paragraphs {
            let package = p.get("Package").unwrap_or("?").to_string();
            let fail = |reason: String| PackagesError {
                index: index.to_string(),
                line: p.line,
                package: package.clone(),
                reason,
            };
            let field = |name: &str| p.get(name).ok_or_else(|| fail(format!("the `{name}` field is missing")));
            let version: Version = field("Version")?.parse().map_err(|e: crate::VersionError| fail(e.to_string()))?;
            let relations = |name: &str| -> Result<Vec<Alternatives>, PackagesError> {
                p.get(name)
                    .map(parse_relations)
                    .transpose()
                    .map_err(|e| fail(format!("{name}: {e}")))
                    .map(Option::unwrap_or_default)
            };
            let flat = |name: &str| relations(name).map(|groups| groups.into_iter().flatten().collect::<Vec<Atom>>());
            let (source, source_version) = match p.get("Source") {
                Some(text) => match text.split_once('(') {
                    Some((name, rest)) => (
                        name.trim().to_string(),
                        rest.trim_end_matches(')')
                            .trim()
                            .parse()
                            .map_err(|e: crate::VersionError| fail(e.to_string()))?,
                    ),
                    None => (text.trim().to_string(), version.clone()),
                },
                None => (package.clone(), version.clone()),
            };
            let sha256: Digest = format!("sha256:{}", field("SHA256")?)
                .parse()
                .map_err(|_| fail("the `SHA256` field is not a sha256".into()))?;
            let record = BinaryPackage {
                name: package.clone(),
                architecture: field("Architecture")?.to_string(),
                multi_arch: match p.get("Multi-Arch") {
                    Some("same") => MultiArch::Same,
                    Some("foreign") => MultiArch::Foreign,
                    Some("allowed") => MultiArch::Allowed,
                    _ => MultiArch::No,
                },
                essential: p.get("Essential").is_some_and(|v| v == "yes"),
                priority: p.get("Priority").map(str::to_string),
                section: p.get("Section").map(str::to_string),
                source,
                source_version,
                depends: relations("Depends")?,
                pre_depends: relations("Pre-Depends")?,
                provides: flat("Provides")?,
                conflicts: flat("Conflicts")?,
                breaks: flat("Breaks")?,
                filename: field("Filename")?.to_string(),
                size: field("Size")?.parse().map_err(|_| fail("the `Size` field is not a number".into()))?,
                sha256,
                installed_size_kib: p.get("Installed-Size").and_then(|s| s.parse().ok()),
                summary: p.get("Description").unwrap_or("").lines().next().unwrap_or("").to_string(),
                component: component.to_string(),
                version,
            };
            let position = self.packages.len();
            self.by_name.entry(record.name.clone()).or_default().push(position);
            for provided in &record.provides {
                self.providers.entry(provided.name.clone()).or_default().push(position);
            }
            self.packages.push(record);
        }
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.packages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.packages.is_empty()
    }

    pub fn all(&self) -> &[BinaryPackage] {
        &self.packages
    }

    pub fn get(&self, position: usize) -> &BinaryPackage {
        &self.packages[position]
    }

    /// Every version of a real package called `name`, newest first.
    pub fn versions(&self, name: &str) -> Vec<usize> {
        let mut found = self.by_name.get(name).cloned().unwrap_or_default();
        found.sort_by(|a, b| self.packages[*b].version.cmp(&self.packages[*a].version));
        found
    }

    /// Packages that provide `name` (a virtual package or an alias).
    pub fn providers(&self, name: &str) -> &[usize] {
        self.providers.get(name).map_or(&[], Vec::as_slice)
    }

    /// The newest version of `name`.
    pub fn newest(&self, name: &str) -> Option<&BinaryPackage> {
        self.versions(name).first().map(|&i| &self.packages[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "Package: libc6\nSource: glibc\nVersion: 2.36-9+deb12u9\nArchitecture: amd64\nMulti-Arch: same\nDepends: libgcc-s1\nBreaks: python3 (<< 3.7)\nFilename: pool/main/g/glibc/libc6_2.36-9+deb12u9_amd64.deb\nSize: 2757936\nSHA256: 0b6f5e2a8c1f0b0e3a4f5b6c7d8e9f00112233445566778899aabbccddeeff00\nDescription: GNU C Library: Shared libraries\n Contains the standard libraries.\n\nPackage: mawk\nVersion: 1.3.4.20200120-3.1\nArchitecture: amd64\nProvides: awk\nFilename: pool/main/m/mawk/mawk.deb\nSize: 1\nSHA256: 1111111111111111111111111111111111111111111111111111111111111111\n";

    #[test]
    fn parses_stanzas() {
        let mut index = PackageIndex::default();
        index.add(SAMPLE, "main", "Packages").unwrap();
        let libc = index.newest("libc6").unwrap();
        assert_eq!(libc.source, "glibc");
        assert_eq!(libc.multi_arch, MultiArch::Same);
        assert_eq!(libc.breaks[0].to_string(), "python3 (<< 3.7)");
        assert_eq!(libc.summary, "GNU C Library: Shared libraries");
        assert_eq!(index.providers("awk").len(), 1);
        let err = index.add("Package: x\nVersion: 1\n", "main", "Packages").unwrap_err().to_string();
        assert!(err.contains("(x)") && err.contains("is missing"), "{err}");
    }
}
