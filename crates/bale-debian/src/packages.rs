//! A suite's `Packages` index: every binary package with its relations and
//! the sha256 its `.deb` must have.

use std::collections::HashMap;
use std::sync::OnceLock;

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
    /// What apt installs by default beside the package; bale does not
    /// unless the spec asks (`recommends = true`), and says what it left out.
    #[serde(default)]
    pub recommends: Vec<Alternatives>,
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
    /// The suite whose index listed it, as configured (`bookworm`,
    /// `bookworm-security`); empty when it came from elsewhere (a lock
    /// written before suites were recorded), which means the main suite.
    #[serde(default)]
    pub suite: String,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{index}, stanza at line {line} ({package}): {reason}")]
pub struct PackagesError {
    pub index: String,
    pub line: usize,
    pub package: String,
    pub reason: String,
}

impl BinaryPackage {
    /// Parses one stanza; `label` names its source in errors.
    pub fn from_stanza(text: &str, component: &str, label: &str) -> Result<Self, PackagesError> {
        parse_stanza(text, 1, component, label)
    }

    /// The package as a `Packages` stanza, with the fields bale reads (so
    /// [`Self::from_stanza`] gives back an equal package).
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
        field("Recommends", &groups(&self.recommends));
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
    recommends: Option<&'a str>,
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
///
/// A suite's index has some 63,000 stanzas and a resolution reads a few
/// hundred, so adding a file only finds each stanza's bounds, its name and
/// the names it provides; a stanza is parsed in full the first time it is
/// asked for. A stanza that does not parse is an error when it is asked
/// for, naming the file, line and package.
#[derive(Debug, Default)]
pub struct PackageIndex {
    files: Vec<IndexFileText>,
    stanzas: Vec<StanzaSpan>,
    parsed: Vec<OnceLock<Box<Result<BinaryPackage, PackagesError>>>>,
    by_name: HashMap<Box<str>, Vec<u32>>,
    providers: HashMap<Box<str>, Vec<u32>>,
}

#[derive(Debug)]
struct IndexFileText {
    text: String,
    suite: String,
    component: String,
    /// Names the file in errors.
    label: String,
}

#[derive(Debug, Clone, Copy)]
struct StanzaSpan {
    file: u32,
    start: u32,
    end: u32,
    /// 1-based line of the stanza's first line.
    line: u32,
}

impl PackageIndex {
    /// Adds every stanza of one `Packages` file. `index` names the file in
    /// errors.
    pub fn add(&mut self, text: impl Into<String>, component: &str, index: &str) -> Result<(), PackagesError> {
        self.add_from_suite(text, "", component, index)
    }

    /// [`Self::add`] for the index of `suite`, which its packages record.
    pub fn add_from_suite(
        &mut self,
        text: impl Into<String>,
        suite: &str,
        component: &str,
        index: &str,
    ) -> Result<(), PackagesError> {
        let text = text.into();
        let too_big = || PackagesError {
            index: index.to_string(),
            line: 0,
            package: "?".into(),
            reason: "the index is larger than 4 GiB".into(),
        };
        let file = u32::try_from(self.files.len()).map_err(|_| too_big())?;
        if u32::try_from(text.len()).is_err() {
            return Err(too_big());
        }
        for stanza in scan_in_parallel(&text) {
            let position = u32::try_from(self.stanzas.len()).map_err(|_| too_big())?;
            self.by_name.entry(stanza.name.into()).or_default().push(position);
            for provided in stanza.provides {
                let list = self.providers.entry(provided.into()).or_default();
                if list.last() != Some(&position) {
                    list.push(position);
                }
            }
            // Fits: the text length was checked above.
            self.stanzas.push(StanzaSpan {
                file,
                start: stanza.start as u32,
                end: stanza.end as u32,
                line: stanza.line as u32,
            });
            self.parsed.push(OnceLock::new());
        }
        self.files.push(IndexFileText {
            text,
            suite: suite.to_string(),
            component: component.to_string(),
            label: index.to_string(),
        });
        Ok(())
    }

    /// Stanzas in the index, whether parsed yet or not.
    pub fn len(&self) -> usize {
        self.stanzas.len()
    }

    pub fn is_empty(&self) -> bool {
        self.stanzas.is_empty()
    }

    /// The package at `position`, parsed on first use.
    pub fn package(&self, position: usize) -> Result<&BinaryPackage, PackagesError> {
        let Some(span) = self.stanzas.get(position) else {
            return Err(PackagesError {
                index: "the package index".into(),
                line: 0,
                package: "?".into(),
                reason: format!("no stanza at position {position}"),
            });
        };
        let parsed = self.parsed[position].get_or_init(|| {
            let file = &self.files[span.file as usize];
            let text = &file.text[span.start as usize..span.end as usize];
            Box::new(
                parse_stanza(text, span.line as usize, &file.component, &file.label)
                    .map(|package| BinaryPackage { suite: file.suite.clone(), ..package }),
            )
        });
        parsed.as_ref().as_ref().map_err(Clone::clone)
    }

    /// The package at a position that [`Self::versions`] or
    /// [`Self::providers`] returned: those have parsed already.
    ///
    /// # Panics
    /// For any other position whose stanza does not parse.
    pub fn get(&self, position: usize) -> &BinaryPackage {
        match self.package(position) {
            Ok(package) => package,
            Err(e) => panic!("index position {position} was not handed out by the index: {e}"),
        }
    }

    /// Every version of a real package called `name`, newest first.
    pub fn versions(&self, name: &str) -> Result<Vec<usize>, PackagesError> {
        let positions = self.by_name.get(name).map_or(&[][..], Vec::as_slice);
        let mut found = Vec::with_capacity(positions.len());
        for &position in positions {
            let package = self.package(position as usize)?;
            // The scan read the name only; the parsed stanza has the last word.
            if package.name == name {
                found.push((position as usize, &package.version));
            }
        }
        found.sort_by(|a, b| b.1.cmp(a.1));
        Ok(found.into_iter().map(|(position, _)| position).collect())
    }

    /// Packages that provide `name` (a virtual package or an alias).
    pub fn providers(&self, name: &str) -> Result<Vec<usize>, PackagesError> {
        let positions = self.providers.get(name).map_or(&[][..], Vec::as_slice);
        let mut found = Vec::with_capacity(positions.len());
        for &position in positions {
            let package = self.package(position as usize)?;
            // The scan read names only; the parsed stanza has the last word.
            if package.provides.iter().any(|atom| atom.name == name) {
                found.push(position as usize);
            }
        }
        Ok(found)
    }
}

/// What [`scan`] reads of a stanza.
struct ScannedStanza<'a> {
    start: usize,
    end: usize,
    line: usize,
    name: &'a str,
    provides: Vec<&'a str>,
}

/// [`scan`] of a large text in two halves at once, split at an empty line
/// (which ends a paragraph for the parser too); the result is the same as
/// one scan's.
fn scan_in_parallel(text: &str) -> Vec<ScannedStanza<'_>> {
    const WORTH_SPLITTING: usize = 4 << 20;
    let split = (text.len() > WORTH_SPLITTING)
        .then(|| memchr::memmem::find(&text.as_bytes()[text.len() / 2..], b"\n\n"))
        .flatten()
        .map(|at| text.len() / 2 + at + 1);
    let Some(split) = split else {
        return scan(text, 0, text.len(), 1).0;
    };
    let (mut first, (second, _)) = std::thread::scope(|scope| {
        let second = scope.spawn(|| scan(text, split, text.len(), 1));
        let first = scan(text, 0, split, 1);
        (first, second.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
    });
    let lines_before = first.1;
    first.0.extend(second.into_iter().map(|stanza| ScannedStanza { line: stanza.line + lines_before, ..stanza }));
    first.0
}

/// Finds each stanza of `text[from..to]` (which starts a line) with its
/// `Package` name and the names in its `Provides`, following the paragraph
/// rules of [`control::parse`] (blank lines separate, `#` lines are
/// comments, continuation lines start with a space or tab); `first_line`
/// numbers its first line. Stanzas without a `Package` field cannot be
/// asked for by name and are skipped. Returns the stanzas and the number
/// of lines read.
fn scan(text: &str, from: usize, to: usize, first_line: usize) -> (Vec<ScannedStanza<'_>>, usize) {
    let bytes = &text.as_bytes()[..to];
    let mut out = Vec::new();
    let mut newlines = memchr::memchr_iter(b'\n', &bytes[from..]).map(|i| from + i);
    let mut offset = from;
    let mut line = first_line - 1;
    let mut current: Option<ScannedStanza<'_>> = None;
    let mut in_provides = false;
    while offset < to {
        let line_start = offset;
        let line_end = newlines.next().unwrap_or(to);
        offset = line_end + 1;
        line += 1;
        let content = &text[line_start..line_end];
        if is_blank(content) {
            if let Some(mut stanza) = current.take() {
                stanza.end = line_start;
                if !stanza.name.is_empty() {
                    out.push(stanza);
                }
            }
            in_provides = false;
            continue;
        }
        if content.starts_with('#') {
            continue;
        }
        let stanza = current.get_or_insert_with(|| ScannedStanza {
            start: line_start,
            end: to,
            line,
            name: "",
            provides: Vec::new(),
        });
        if content.starts_with([' ', '\t']) {
            if in_provides {
                stanza.provides.extend(provided_names(content));
            }
            continue;
        }
        in_provides = false;
        if let Some(value) = content.strip_prefix("Package:") {
            stanza.name = value.trim();
        } else if let Some(value) = content.strip_prefix("Provides:") {
            in_provides = true;
            stanza.provides.extend(provided_names(value));
        }
    }
    if let Some(stanza) = current.filter(|stanza| !stanza.name.is_empty()) {
        out.push(stanza);
    }
    (out, line + 1 - first_line)
}

/// Whether [`control::parse`] sees a blank line (a stanza separator):
/// whitespace only, Unicode's included, checked cheaply for the usual
/// line that starts with a printable ASCII character.
fn is_blank(line: &str) -> bool {
    line.bytes().next().is_none_or(|b| b.is_ascii_whitespace() || !b.is_ascii()) && line.trim().is_empty()
}

/// The package names in (part of) a `Provides` value.
fn provided_names(value: &str) -> impl Iterator<Item = &str> {
    value.split([',', '|']).filter_map(|item| {
        let name = item.trim().split(|c: char| c.is_whitespace() || c == '(' || c == ':').next().unwrap_or("");
        (!name.is_empty()).then_some(name)
    })
}

/// Parses one stanza (`text`, starting at line `first_line` of its file).
fn parse_stanza(text: &str, first_line: usize, component: &str, index: &str) -> Result<BinaryPackage, PackagesError> {
    let paragraphs = control::parse(text).map_err(|e| PackagesError {
        index: index.to_string(),
        line: first_line + e.line - 1,
        package: "?".into(),
        reason: e.reason.to_string(),
    })?;
    let [p] = paragraphs.as_slice() else {
        return Err(PackagesError {
            index: index.to_string(),
            line: first_line,
            package: "?".into(),
            reason: format!("expected one stanza, found {}", paragraphs.len()),
        });
    };
    // One pass over the fields: Packages files spell field names in their
    // canonical case.
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
            "Recommends" => &mut f.recommends,
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
        line: first_line + p.line - 1,
        package: package.clone(),
        reason,
    };
    let required = |value: Option<&str>, name: &str| -> Result<String, PackagesError> {
        value.map(str::to_string).ok_or_else(|| fail(format!("the `{name}` field is missing")))
    };
    let version: Version =
        required(f.version, "Version")?.parse().map_err(|e: crate::VersionError| fail(e.to_string()))?;
    let relations = |value: Option<&str>, name: &str| -> Result<Vec<Alternatives>, PackagesError> {
        value.map(parse_relations).transpose().map_err(|e| fail(format!("{name}: {e}"))).map(Option::unwrap_or_default)
    };
    let flat = |value: Option<&str>, name: &str| {
        relations(value, name).map(|groups| groups.into_iter().flatten().collect::<Vec<Atom>>())
    };
    let (source, source_version) = match f.source {
        Some(text) => match text.split_once('(') {
            Some((name, rest)) => (
                name.trim().to_string(),
                rest.trim_end_matches(')').trim().parse().map_err(|e: crate::VersionError| fail(e.to_string()))?,
            ),
            None => (text.trim().to_string(), version.clone()),
        },
        None => (package.clone(), version.clone()),
    };
    let sha256: Digest = format!("sha256:{}", required(f.sha256, "SHA256")?)
        .parse()
        .map_err(|_| fail("the `SHA256` field is not a sha256".into()))?;
    Ok(BinaryPackage {
        name: package.clone(),
        architecture: required(f.architecture, "Architecture")?,
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
        recommends: relations(f.recommends, "Recommends")?,
        provides: flat(f.provides, "Provides")?,
        conflicts: flat(f.conflicts, "Conflicts")?,
        breaks: flat(f.breaks, "Breaks")?,
        filename: required(f.filename, "Filename")?,
        size: required(f.size, "Size")?.parse().map_err(|_| fail("the `Size` field is not a number".into()))?,
        sha256,
        installed_size_kib: f.installed_size.and_then(|s| s.parse().ok()),
        summary: f.description.unwrap_or("").lines().next().unwrap_or("").to_string(),
        component: component.to_string(),
        suite: String::new(),
        version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "Package: libc6\nSource: glibc\nVersion: 2.36-9+deb12u9\nArchitecture: amd64\nMulti-Arch: same\nDepends: libgcc-s1\nBreaks: python3 (<< 3.7)\nFilename: pool/main/g/glibc/libc6_2.36-9+deb12u9_amd64.deb\nSize: 2757936\nSHA256: 0b6f5e2a8c1f0b0e3a4f5b6c7d8e9f00112233445566778899aabbccddeeff00\nDescription: GNU C Library: Shared libraries\n Contains the standard libraries.\n\nPackage: mawk\nVersion: 1.3.4.20200120-3.1\nArchitecture: amd64\nProvides: awk\nFilename: pool/main/m/mawk/mawk.deb\nSize: 1\nSHA256: 1111111111111111111111111111111111111111111111111111111111111111\n";

    #[test]
    fn parses_stanzas() {
        let mut index = PackageIndex::default();
        index.add(SAMPLE, "main", "Packages").unwrap();
        let libc = index.get(index.versions("libc6").unwrap()[0]);
        assert_eq!(libc.source, "glibc");
        assert_eq!(libc.multi_arch, MultiArch::Same);
        assert_eq!(libc.breaks[0].to_string(), "python3 (<< 3.7)");
        assert_eq!(libc.summary, "GNU C Library: Shared libraries");
        assert_eq!(index.providers("awk").unwrap().len(), 1);
        index.add("Package: x\nVersion: 1\n", "main", "Packages").unwrap();
        let err = index.versions("x").unwrap_err().to_string();
        assert!(err.contains("(x)") && err.contains("is missing") && err.contains("line 1"), "{err}");
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
        again.add(original.to_stanza(), "main", "lock").unwrap();
        assert_eq!(again.get(0).to_stanza(), original.to_stanza());
        assert_eq!(again.get(0).depends, original.depends);
        assert_eq!(again.get(0).sha256, original.sha256);
    }
}

#[cfg(test)]
mod scan_tests {
    use super::*;

    fn stanza(name: &str, extra: &str) -> String {
        format!(
            "Package: {name}\nVersion: 1.0\nArchitecture: amd64\n{extra}Filename: pool/{name}.deb\nSize: 1\nSHA256: {}\n",
            "ab".repeat(32)
        )
    }

    #[test]
    fn the_scan_agrees_with_the_full_parser() {
        let text = format!(
            "# a comment line\n{}\n \t\n{}\r\n\n\n{}\n{}",
            stanza("a", "Provides: x (= 1), y:any,\n z\n"),
            stanza("b", "Description: two\n lines\n"),
            stanza("c", "Provides: x\n"),
            // The last stanza ends without a blank line or newline.
            stanza("d", "").trim_end(),
        );
        let mut index = PackageIndex::default();
        index.add(text.as_str(), "main", "Packages").unwrap();
        assert_eq!(index.len(), control::parse(&text).unwrap().len());
        for name in ["a", "b", "c", "d"] {
            let versions = index.versions(name).unwrap();
            assert_eq!(versions.len(), 1, "{name}");
            assert_eq!(index.get(versions[0]).name, name);
        }
        let names = |virtual_name| {
            let providers = index.providers(virtual_name).unwrap();
            providers.iter().map(|&p| index.get(p).name.clone()).collect::<Vec<_>>()
        };
        assert_eq!(names("x"), ["a", "c"]);
        assert_eq!(names("y"), ["a"]);
        assert_eq!(names("z"), ["a"]);
        assert!(names("lines").is_empty());
    }

    #[test]
    fn a_broken_stanza_is_reported_with_its_file_line_and_package() {
        let text = format!("{}\n{}\n{}", stanza("good", ""), stanza("bad", "Depends: libc6 (>= \n"), stanza("z", ""));
        let mut index = PackageIndex::default();
        index.add(text, "main", "main/binary-amd64/Packages").unwrap();
        assert_eq!(index.versions("good").unwrap().len(), 1);
        let err = index.versions("bad").unwrap_err().to_string();
        assert!(err.starts_with("main/binary-amd64/Packages, stanza at line 8 (bad): Depends:"), "{err}");
        // The same error each time it is asked for.
        assert_eq!(index.versions("bad").unwrap_err().to_string(), err);
    }

    #[test]
    fn the_scan_splits_where_the_parser_does() {
        // A line of Unicode whitespace separates stanzas for the parser.
        let text = format!("{}\u{a0}\n{}", stanza("a", "Provides: x | y\n"), stanza("b", ""));
        let mut index = PackageIndex::default();
        index.add(text.as_str(), "main", "Packages").unwrap();
        assert_eq!(index.len(), control::parse(&text).unwrap().len());
        assert_eq!(index.versions("a").unwrap().len(), 1);
        assert_eq!(index.versions("b").unwrap().len(), 1);
        assert_eq!(index.providers("y").unwrap().len(), 1);
    }

    #[test]
    fn scanning_in_two_halves_gives_the_one_scan() {
        let mut text = String::new();
        let mut i = 0;
        while text.len() < 5 << 20 {
            text.push_str(&stanza(&format!("p{i}"), if i % 7 == 0 { "Provides: v\n" } else { "" }));
            text.push_str(if i % 11 == 0 { "\n# a comment\n\n" } else { "\n" });
            i += 1;
        }
        let whole = scan(&text, 0, text.len(), 1).0;
        let halves = scan_in_parallel(&text);
        let key = |s: &ScannedStanza<'_>| (s.start, s.end, s.line, s.name.to_string(), s.provides.join(","));
        assert_eq!(whole.len(), i);
        assert_eq!(whole.iter().map(key).collect::<Vec<_>>(), halves.iter().map(key).collect::<Vec<_>>());
        let mut index = PackageIndex::default();
        index.add(text.as_str(), "main", "Packages").unwrap();
        let last = index.versions(&format!("p{}", i - 1)).unwrap();
        assert_eq!(index.get(last[0]).name, format!("p{}", i - 1));
        assert_eq!(index.providers("v").unwrap().len(), i.div_ceil(7));
    }

    #[test]
    fn stanzas_without_a_name_cannot_be_found() {
        let mut index = PackageIndex::default();
        index.add("Version: 1\n\nPackage: p\nVersion: 2\n", "main", "Packages").unwrap();
        assert_eq!(index.len(), 1);
        assert!(index.versions("").unwrap().is_empty());
    }
}
