//! A suite's `Packages` index: every binary package with its relations and
//! the sha256 its `.deb` must have.

use std::collections::HashMap;

use bale_fileset::Digest;

use crate::control;
use crate::relation::{Alternatives, Atom, parse_relations};
use crate::version::Version;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum MultiArch {
    No,
    Same,
    Foreign,
    Allowed,
}

/// One stanza of `Packages`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
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

impl BinaryPackage {
    /// The package as a `Packages` stanza, with the fields bale reads (so
    /// [`PackageIndex::add`] gives back an equal package).
    pub fn to_stanza(&self) -> String {
        let mut out = String::new();
        let mut field = |key: &str, value: &str| {
            if !value.is_empty() {
                out.push_str(key);
                out.push_str(": ");
                out.push_str(value);
                out.push('\n');
            }
        };
        let groups = |groups: &[Alternatives]| {
            groups
                .iter()
                .map(|g| g.iter().map(ToString::to_string).collect::<Vec<_>>().join(" | "))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let atoms = |atoms: &[Atom]| atoms.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
        field("Package", &self.name);
        field("Version", self.version.as_str());
        field("Architecture", &self.architecture);
        field(
            "Multi-Arch",
            match self.multi_arch {
                MultiArch::No => "",
                MultiArch::Same => "same",
                MultiArch::Foreign => "foreign",
                MultiArch::Allowed => "allowed",
            },
        );
        field("Essential", if self.essential { "yes" } else { "" });
        field("Priority", self.priority.as_deref().unwrap_or(""));
        field("Section", self.section.as_deref().unwrap_or(""));
        field("Source", &format!("{} ({})", self.source, self.source_version));
        field("Pre-Depends", &groups(&self.pre_depends));
        field("Depends", &groups(&self.depends));
        field("Provides", &atoms(&self.provides));
        field("Conflicts", &atoms(&self.conflicts));
        field("Breaks", &atoms(&self.breaks));
        field("Filename", &self.filename);
        field("Size", &self.size.to_string());
        field("SHA256", &self.sha256.hex());
        field("Installed-Size", &self.installed_size_kib.map(|s| s.to_string()).unwrap_or_default());
        field("Description", &self.summary);
        out
    }
}

/// The fields of one stanza that bale reads.
#[derive(Default)]
struct Stanza<'a> {
    package: Option<&'a str>,
    version: Option<&'a str>,
    architecture: Option<&'a str>,
    multi_arch: Option<&'a str>,
    essential: Option<&'a str>,
    priority: Option<&'a str>,
    section: Option<&'a str>,
    source: Option<&'a str>,
    depends: Option<&'a str>,
    pre_depends: Option<&'a str>,
    provides: Option<&'a str>,
    conflicts: Option<&'a str>,
    breaks: Option<&'a str>,
    filename: Option<&'a str>,
    size: Option<&'a str>,
    sha256: Option<&'a str>,
    installed_size: Option<&'a str>,
    description: Option<&'a str>,
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
    pub fn add<'a>(&mut self, text: &'a str, component: &str, index: &str) -> Result<(), PackagesError> {
        let paragraphs = control::parse(text).map_err(|e| PackagesError {
            index: index.to_string(),
            line: e.line,
            package: "?".into(),
            reason: e.reason.to_string(),
        })?;
        self.packages.reserve(paragraphs.len());
        for p in paragraphs {
            // One pass over the fields: Packages files spell field names in
            // their canonical case, and a suite has tens of thousands of
            // stanzas, so a lookup per field would dominate.
            let mut f = Stanza::default();
            for (key, value) in p.fields() {
                let slot = match key {
                    "Package" => &mut f.package,
                    "Version" => &mut f.version,
                    "Architecture" => &mut f.architecture,
                    "Multi-Arch" => &mut f.multi_arch,
                    "Essential" => &mut f.essential,
                    "Priority" => &mut f.priority,
                    "Section" => &mut f.section,
                    "Source" => &mut f.source,
                    "Depends" => &mut f.depends,
                    "Pre-Depends" => &mut f.pre_depends,
                    "Provides" => &mut f.provides,
                    "Conflicts" => &mut f.conflicts,
                    "Breaks" => &mut f.breaks,
                    "Filename" => &mut f.filename,
                    "Size" => &mut f.size,
                    "SHA256" => &mut f.sha256,
                    "Installed-Size" => &mut f.installed_size,
                    "Description" => &mut f.description,
                    _ => continue,
                };
                *slot = Some(value);
            }
            let package = f.package.unwrap_or("?").to_string();
            let fail = |reason: String| PackagesError {
                index: index.to_string(),
                line: p.line,
                package: package.clone(),
                reason,
            };
            let required = |value: Option<&'a str>, name: &str| {
                value.ok_or_else(|| fail(format!("the `{name}` field is missing")))
            };
            let version: Version =
                required(f.version, "Version")?.parse().map_err(|e: crate::VersionError| fail(e.to_string()))?;
            let relations = |value: Option<&str>, name: &str| -> Result<Vec<Alternatives>, PackagesError> {
                value
                    .map(parse_relations)
                    .transpose()
                    .map_err(|e| fail(format!("{name}: {e}")))
                    .map(Option::unwrap_or_default)
            };
            let flat = |value: Option<&str>, name: &str| {
                relations(value, name).map(|groups| groups.into_iter().flatten().collect::<Vec<Atom>>())
            };
            let (source, source_version) = match f.source {
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
            let sha256: Digest = format!("sha256:{}", required(f.sha256, "SHA256")?)
                .parse()
                .map_err(|_| fail("the `SHA256` field is not a sha256".into()))?;
            let record = BinaryPackage {
                name: package.clone(),
                architecture: required(f.architecture, "Architecture")?.to_string(),
                multi_arch: match f.multi_arch {
                    Some("same") => MultiArch::Same,
                    Some("foreign") => MultiArch::Foreign,
                    Some("allowed") => MultiArch::Allowed,
                    _ => MultiArch::No,
                },
                essential: f.essential == Some("yes"),
                priority: f.priority.map(str::to_string),
                section: f.section.map(str::to_string),
                source,
                source_version,
                depends: relations(f.depends, "Depends")?,
                pre_depends: relations(f.pre_depends, "Pre-Depends")?,
                provides: flat(f.provides, "Provides")?,
                conflicts: flat(f.conflicts, "Conflicts")?,
                breaks: flat(f.breaks, "Breaks")?,
                filename: required(f.filename, "Filename")?.to_string(),
                size: required(f.size, "Size")?.parse().map_err(|_| fail("the `Size` field is not a number".into()))?,
                sha256,
                installed_size_kib: f.installed_size.and_then(|s| s.parse().ok()),
                summary: f.description.unwrap_or("").lines().next().unwrap_or("").to_string(),
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

#[cfg(test)]
mod stanza_tests {
    use super::*;

    #[test]
    fn a_package_survives_its_own_stanza() {
        let text = "Package: app\nVersion: 1:2.0-1\nArchitecture: amd64\nMulti-Arch: foreign\nSource: app-src (1:2.0-1)\nPre-Depends: dpkg (>= 1.15)\nDepends: libc6 (>= 2.36) | libc6-udeb, foo:any\nProvides: x (= 1), y\nConflicts: z (<< 2)\nBreaks: w\nFilename: pool/a.deb\nSize: 10\nSHA256: 1111111111111111111111111111111111111111111111111111111111111111\nInstalled-Size: 5\nDescription: an app\n";
        let mut index = PackageIndex::default();
        index.add(text, "main", "Packages").unwrap();
        let original = index.get(0).clone();
        let mut again = PackageIndex::default();
        again.add(&original.to_stanza(), "main", "lock").unwrap();
        assert_eq!(again.get(0).to_stanza(), original.to_stanza());
        assert_eq!(again.get(0).depends, original.depends);
        assert_eq!(again.get(0).sha256, original.sha256);
    }
}
