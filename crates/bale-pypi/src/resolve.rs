//! Requirements solved against the index for one image, with the generic
//! solver: one version per distribution (as pip installs), markers
//! evaluated for the image's Python and platform, each extra a name of its
//! own (`flask[async]`) pinned to its distribution's version. The index is
//! read as the solver asks: a project's page when a name comes up, a
//! wheel's core metadata when its version is tried.

use std::cell::RefCell;
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::str::FromStr;

use bale_resolve::{Alternative, Candidate, Dependencies, SolveError, Universe};
use pep440_rs::{Operator, Version, VersionSpecifier, VersionSpecifiers};
use pep508_rs::{ExtraName, MarkerEnvironment, Requirement, VersionOrUrl};

use crate::index::{Index, IndexError, ProjectFile};
use crate::metadata::{CoreMetadata, normalize};
use crate::tags::{Environment, Tag, WheelName};

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error("the requirement {text:?}: {reason}")]
    Requirement { text: String, reason: String },
    #[error("{name} {version}: its core metadata: {reason}")]
    Metadata { name: String, version: String, reason: String },
    #[error("{name} has no wheel this image can install (Python {python}, {platform}); {detail}")]
    NoWheel { name: String, python: String, platform: String, detail: String },
    #[error("the requirements cannot all be met:\n{explanation}")]
    Unsatisfiable { explanation: String },
}

impl ResolveError {
    pub fn help(&self) -> Option<&'static str> {
        match self {
            Self::Index(e) => e.help(),
            Self::Requirement { .. } => {
                Some("write requirements as pip does (PEP 508): \"flask==3.0.*\", \"psycopg[binary]\"")
            }
            Self::Metadata { .. } => Some("the release's metadata is broken; pin another version"),
            Self::NoWheel { .. } => Some(
                "bale installs wheels only; build a release that has only a source distribution with a recipe \
                 (docs/recipes.md), or pin a version that has a wheel for this platform",
            ),
            Self::Unsatisfiable { .. } => Some("loosen or change the requirements named above"),
        }
    }
}

/// One distribution as resolved.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// Its normalised name.
    pub name: String,
    pub version: String,
    /// The wheel chosen, the most specific one the image runs.
    pub file: ProjectFile,
    /// Its core metadata, as the index served it.
    pub metadata: String,
    /// The distributions it needs here (normalised names), extras' own
    /// requirements included.
    pub requires: Vec<String>,
}

/// Parses requirement strings as a spec writes them.
pub fn parse_requirements(texts: &[String]) -> Result<Vec<Requirement>, ResolveError> {
    texts
        .iter()
        .map(|text| {
            let requirement = Requirement::from_str(text)
                .map_err(|e| ResolveError::Requirement { text: text.clone(), reason: e.to_string() })?;
            if matches!(requirement.version_or_url, Some(VersionOrUrl::Url(_))) {
                return Err(ResolveError::Requirement {
                    text: text.clone(),
                    reason: "a URL requirement cannot be pinned by the index; name a version".into(),
                });
            }
            Ok(requirement)
        })
        .collect()
}

/// Solves `requirements` for `env` against `index`, preferring the
/// versions in `locked` (normalised name → version).
///
/// The solver needs every candidate up front; the index is read as names
/// come up. So: list the projects known so far, solve, and when the
/// candidates tried needed a project not listed yet, list it and solve
/// again. Core metadata, fetched when a version is first tried, is kept
/// across rounds.
pub fn resolve(
    index: &Index,
    env: &Environment,
    requirements: &[Requirement],
    locked: &BTreeMap<String, String>,
) -> Result<Vec<Resolved>, ResolveError> {
    let markers = env.markers().ok_or_else(|| ResolveError::Requirement {
        text: env.python_full.clone(),
        reason: "the image's Python version is not a PEP 440 version".into(),
    })?;
    let python = Version::from_str(&env.python_full)
        .map_err(|e| ResolveError::Requirement { text: env.python_full.clone(), reason: e.to_string() })?;
    let supported = env.supported();
    let applicable: Vec<&Requirement> = requirements.iter().filter(|r| r.evaluate_markers(&markers, &[])).collect();
    let mut projects: BTreeMap<String, Vec<(Version, ProjectFile)>> = BTreeMap::new();
    let mut pending: Vec<String> = applicable.iter().map(|r| normalize(r.name.as_ref())).collect();
    let metadata: MetadataCache = RefCell::new(HashMap::new());
    // The extras asked for so far, as solver names (`flask[async]`).
    let mut extras: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    for requirement in &applicable {
        for alternative in alternatives_of(requirement).into_iter().skip(1) {
            extras.insert(alternative.name);
        }
    }
    let mut rounds = 0;
    loop {
        rounds += 1;
        if rounds > MAX_ROUNDS {
            return Err(ResolveError::Unsatisfiable {
                explanation: format!("the requirements reach further than {MAX_ROUNDS} levels of dependencies"),
            });
        }
        pending.sort();
        pending.dedup();
        for name in pending.drain(..) {
            if let std::collections::btree_map::Entry::Vacant(slot) = projects.entry(name) {
                let listed = list(index, env, &supported, &python, slot.key())?;
                slot.insert(listed);
            }
        }
        let universe = PypiUniverse::new(index, &markers, &projects, &extras, locked, &metadata);
        let mut wanted = Vec::new();
        for requirement in &applicable {
            wanted.extend(alternatives_of(requirement).into_iter().map(|a| vec![a]));
        }
        let solved = bale_resolve::solve(&universe, &wanted);
        if let Some(failure) = universe.failure.borrow_mut().take() {
            return Err(failure);
        }
        let unknown = std::mem::take(&mut *universe.unknown.borrow_mut());
        if !unknown.is_empty() {
            for name in unknown {
                match name.split_once('[') {
                    Some((base, _)) => {
                        pending.push(base.to_string());
                        extras.insert(name);
                    }
                    None => pending.push(name),
                }
            }
            continue;
        }
        let solved = solved.map_err(|e| match e {
            SolveError::Unsatisfiable { explanation } => ResolveError::Unsatisfiable { explanation },
            SolveError::Cancelled => ResolveError::Unsatisfiable { explanation: "the solver was stopped".into() },
        })?;
        return Ok(universe.resolved(&solved));
    }
}

/// A requirement as the solver's alternatives: its distribution, and each
/// extra it asks for.
fn alternatives_of(requirement: &Requirement) -> Vec<Alternative<VersionSpecifiers>> {
    let name = normalize(requirement.name.as_ref());
    let set = match &requirement.version_or_url {
        Some(VersionOrUrl::VersionSpecifier(specifiers)) => specifiers.clone(),
        _ => VersionSpecifiers::empty(),
    };
    let mut out = vec![Alternative { name: name.clone(), set: set.clone() }];
    for extra in &requirement.extras {
        out.push(Alternative { name: format!("{name}[{extra}]"), set: set.clone() });
    }
    out
}

/// The versions of `base` with a wheel the image runs, each with its most
/// specific wheel; an error when there is none at all.
fn list(
    index: &Index,
    env: &Environment,
    supported: &[Tag],
    python: &Version,
    base: &str,
) -> Result<Vec<(Version, ProjectFile)>, ResolveError> {
    let files = index.project(base)?;
    let mut best: BTreeMap<Version, (usize, ProjectFile)> = BTreeMap::new();
    let mut sdists = 0usize;
    for file in files {
        let Some(wheel) = WheelName::parse(&file.filename) else {
            sdists += usize::from(file.filename.ends_with(".tar.gz") || file.filename.ends_with(".zip"));
            continue;
        };
        if file.yanked || normalize(&wheel.name) != base {
            continue;
        }
        let Some(rank) = wheel.rank(supported) else { continue };
        if let Some(requires) = &file.requires_python
            && VersionSpecifiers::from_str(requires).is_ok_and(|s| !s.contains(python))
        {
            continue;
        }
        let Ok(version) = Version::from_str(&wheel.version) else { continue };
        if best.get(&version).is_none_or(|(r, _)| rank < *r) {
            best.insert(version, (rank, file));
        }
    }
    if best.is_empty() {
        let detail = if sdists > 0 {
            format!("the index has {sdists} source distributions of it and no wheel for this platform")
        } else {
            "the index lists no wheel of it that fits".to_string()
        };
        let glibc = env.glibc.map_or_else(|| "no glibc".to_string(), |(a, b)| format!("glibc {a}.{b}"));
        return Err(ResolveError::NoWheel {
            name: base.to_string(),
            python: env.python_version(),
            platform: format!("{glibc}, {}", env.machine),
            detail,
        });
    }
    Ok(best.into_iter().map(|(v, (_, f))| (v, f)).collect())
}

/// Core metadata by (name, version): its text and what it says.
type MetadataCache = RefCell<HashMap<(String, String), Rc<(String, CoreMetadata)>>>;

/// The most rounds of listing newly needed projects: deeper than any real
/// dependency tree.
const MAX_ROUNDS: usize = 64;

struct Entry {
    /// The solver's name: `flask` or `flask[async]`.
    name: String,
    base: String,
    extra: Option<ExtraName>,
    version: Version,
    file: ProjectFile,
}

struct PypiUniverse<'a> {
    index: &'a Index,
    markers: &'a MarkerEnvironment,
    locked: &'a BTreeMap<String, String>,
    entries: Vec<Entry>,
    by_name: HashMap<String, Vec<Candidate>>,
    metadata: &'a MetadataCache,
    /// Projects a tried candidate needs that this round did not list.
    unknown: RefCell<Vec<String>>,
    /// The first error reading the index; the solver's answer is then void.
    failure: RefCell<Option<ResolveError>>,
}

impl<'a> PypiUniverse<'a> {
    fn new(
        index: &'a Index,
        markers: &'a MarkerEnvironment,
        projects: &BTreeMap<String, Vec<(Version, ProjectFile)>>,
        extras: &std::collections::BTreeSet<String>,
        locked: &'a BTreeMap<String, String>,
        metadata: &'a MetadataCache,
    ) -> Self {
        let mut entries = Vec::new();
        for (base, versions) in projects {
            for (version, file) in versions {
                entries.push(Entry {
                    name: base.clone(),
                    base: base.clone(),
                    extra: None,
                    version: version.clone(),
                    file: file.clone(),
                });
            }
        }
        // An extra's candidates are its distribution's versions.
        for name in extras {
            let Some((base, extra)) = name.split_once('[') else { continue };
            let Ok(extra) = ExtraName::from_str(extra.trim_end_matches(']')) else { continue };
            for (version, file) in projects.get(base).into_iter().flatten() {
                entries.push(Entry {
                    name: name.clone(),
                    base: base.to_string(),
                    extra: Some(extra.clone()),
                    version: version.clone(),
                    file: file.clone(),
                });
            }
        }
        let mut universe = Self {
            index,
            markers,
            locked,
            entries,
            by_name: HashMap::new(),
            metadata,
            unknown: RefCell::new(Vec::new()),
            failure: RefCell::new(None),
        };
        universe.index_names();
        universe
    }

    fn index_names(&mut self) {
        self.by_name.clear();
        for (i, entry) in self.entries.iter().enumerate() {
            self.by_name.entry(entry.name.clone()).or_default().push(i);
        }
    }

    fn fail(&self, error: ResolveError) {
        let mut failure = self.failure.borrow_mut();
        if failure.is_none() {
            *failure = Some(error);
        }
    }

    fn metadata_of(&self, candidate: Candidate) -> Option<Rc<(String, CoreMetadata)>> {
        let entry = &self.entries[candidate];
        let key = (entry.base.clone(), entry.version.to_string());
        if let Some(found) = self.metadata.borrow().get(&key) {
            return Some(Rc::clone(found));
        }
        let text = match self.index.metadata(&entry.file) {
            Ok(text) => text,
            Err(e) => {
                self.fail(e.into());
                return None;
            }
        };
        match CoreMetadata::parse(&text) {
            Ok(parsed) if normalize(&parsed.name) == entry.base && parsed.version == entry.version => {
                let found = Rc::new((text, parsed));
                self.metadata.borrow_mut().insert(key, Rc::clone(&found));
                Some(found)
            }
            Ok(parsed) => {
                self.fail(ResolveError::Metadata {
                    name: entry.base.clone(),
                    version: entry.version.to_string(),
                    reason: format!("it says it is {} {}", parsed.name, parsed.version),
                });
                None
            }
            Err(reason) => {
                self.fail(ResolveError::Metadata {
                    name: entry.base.clone(),
                    version: entry.version.to_string(),
                    reason,
                });
                None
            }
        }
    }

    fn resolved(&self, solved: &[Candidate]) -> Vec<Resolved> {
        let mut out: BTreeMap<String, Resolved> = BTreeMap::new();
        let mut extra_needs: Vec<(String, Vec<String>)> = Vec::new();
        for &candidate in solved {
            let entry = &self.entries[candidate];
            let requires = self.requires_of(candidate);
            if entry.extra.is_some() {
                extra_needs.push((entry.base.clone(), requires));
                continue;
            }
            let metadata = self.metadata_of(candidate).map(|m| m.0.clone()).unwrap_or_default();
            out.insert(
                entry.base.clone(),
                Resolved {
                    name: entry.base.clone(),
                    version: entry.version.to_string(),
                    file: entry.file.clone(),
                    metadata,
                    requires,
                },
            );
        }
        for (base, requires) in extra_needs {
            if let Some(resolved) = out.get_mut(&base) {
                resolved.requires.extend(requires.into_iter().filter(|r| *r != base));
                resolved.requires.sort();
                resolved.requires.dedup();
            }
        }
        out.into_values().collect()
    }

    fn requires_of(&self, candidate: Candidate) -> Vec<String> {
        let mut out: Vec<String> = self
            .dependencies(candidate)
            .requirements
            .iter()
            .flat_map(|r| r.iter().map(|a| a.name.split('[').next().unwrap_or_default().to_string()))
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

impl Universe for PypiUniverse<'_> {
    type Set = VersionSpecifiers;

    fn candidates(&self, name: &str) -> Vec<Candidate> {
        if let Some(found) = self.by_name.get(name) {
            return found.clone();
        }
        // Listed (a project, or an extra's versions) in the next round.
        self.unknown.borrow_mut().push(name.to_string());
        Vec::new()
    }

    fn name_of(&self, candidate: Candidate) -> &str {
        &self.entries[candidate].name
    }

    fn version_text(&self, candidate: Candidate) -> String {
        self.entries[candidate].version.to_string()
    }

    fn preference(&self, a: Candidate, b: Candidate) -> Ordering {
        let (a, b) = (&self.entries[a], &self.entries[b]);
        // Releases before pre-releases, then the newest.
        (a.version.any_prerelease(), std::cmp::Reverse(&a.version))
            .cmp(&(b.version.any_prerelease(), std::cmp::Reverse(&b.version)))
    }

    fn matches(&self, candidate: Candidate, set: &VersionSpecifiers) -> bool {
        let version = &self.entries[candidate].version;
        // A pre-release only where the requirement names one.
        set.contains(version) && (!version.any_prerelease() || set.iter().any(|s| s.version().any_prerelease()))
    }

    fn dependencies(&self, candidate: Candidate) -> Dependencies<VersionSpecifiers> {
        let mut requirements = Vec::new();
        let entry = &self.entries[candidate];
        if let Some(metadata) = self.metadata_of(candidate) {
            let extras: Vec<ExtraName> = entry.extra.iter().cloned().collect();
            let base_needs: Vec<&Requirement> = metadata.1.requirements(self.markers, &[]);
            for requirement in metadata.1.requirements(self.markers, &extras) {
                // An extra needs what the extra adds; the rest comes with
                // its distribution.
                if entry.extra.is_some() && base_needs.iter().any(|b| std::ptr::eq(*b, requirement)) {
                    continue;
                }
                requirements.extend(alternatives_of(requirement).into_iter().map(|a| vec![a]));
            }
        }
        if entry.extra.is_some() {
            let exact = VersionSpecifier::from_version(Operator::Equal, entry.version.clone())
                .map(|s| VersionSpecifiers::from_iter([s]))
                .unwrap_or_else(|_| VersionSpecifiers::empty());
            requirements.push(vec![Alternative { name: entry.base.clone(), set: exact }]);
        }
        Dependencies { requirements, restrictions: Vec::new() }
    }

    fn is_locked(&self, candidate: Candidate) -> bool {
        let entry = &self.entries[candidate];
        self.locked.get(&entry.base).is_some_and(|v| Version::from_str(v).is_ok_and(|v| v == entry.version))
    }

    fn wanted_text(&self, alternative: &Alternative<VersionSpecifiers>) -> Option<String> {
        Some(format!("{}{}", alternative.name, alternative.set))
    }

    fn why_missing(&self, alternative: &Alternative<VersionSpecifiers>) -> String {
        let versions: Vec<String> = self
            .by_name
            .get(alternative.name.as_str())
            .map(|c| c.iter().map(|&i| self.entries[i].version.to_string()).collect())
            .unwrap_or_default();
        if versions.is_empty() {
            format!("the index has no wheel of {} this image can install", alternative.name)
        } else {
            format!("the index has {} {} only", alternative.name, versions.join(", "))
        }
    }

    fn restriction_text(&self, restriction: &Alternative<VersionSpecifiers>, other: &str) -> String {
        format!("needs {other} {}", restriction.set)
    }

    fn set_text(&self, set: &VersionSpecifiers) -> String {
        set.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::{Index, IndexLocation};
    use bale_testkit::pypi::{Index as Fixture, WheelSpec};

    fn env() -> Environment {
        Environment { python: (3, 11), python_full: "3.11.2".into(), glibc: Some((2, 36)), machine: "x86_64".into() }
    }

    fn client(fixture: &Fixture) -> Index {
        Index::new(IndexLocation { url: url::Url::parse(&fixture.url).unwrap(), origin: "the test".into() })
    }

    fn solve(fixture: &Fixture, requirements: &[&str], locked: &[(&str, &str)]) -> Result<Vec<Resolved>, ResolveError> {
        let requirements = parse_requirements(&requirements.iter().map(|r| r.to_string()).collect::<Vec<_>>())?;
        let locked = locked.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
        resolve(&client(fixture), &env(), &requirements, &locked)
    }

    fn versions(resolved: &[Resolved]) -> Vec<String> {
        resolved.iter().map(|r| format!("{}=={}", r.name, r.version)).collect()
    }

    fn fixture() -> Fixture {
        let mut index = Fixture::new();
        index.add(
            &WheelSpec::new("App", "1.0")
                .requires("lib>=2")
                .requires("py2only; python_version < '3.0'")
                .requires("opt[fast]"),
        );
        for version in ["1.0", "2.0", "2.2"] {
            index.add(&WheelSpec::new("lib", version));
        }
        index.add(&WheelSpec::new("lib", "2.5").tag("cp312-cp312-manylinux_2_17_x86_64"));
        index.add(&WheelSpec::new("lib", "3.0rc1"));
        index.add(&WheelSpec::new("opt", "1.0").extra("fast").requires("speedup; extra == 'fast'"));
        index.add(&WheelSpec::new("speedup", "1.0").tag("cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64"));
        index
    }

    #[test]
    fn markers_extras_wheel_tags_and_pre_releases_decide_the_set() {
        let index = fixture();
        let resolved = solve(&index, &["app"], &[]).unwrap();
        assert_eq!(versions(&resolved), ["app==1.0", "lib==2.2", "opt==1.0", "speedup==1.0"]);
        let opt = resolved.iter().find(|r| r.name == "opt").unwrap();
        assert_eq!(opt.requires, ["speedup"], "the extra's requirement is the distribution's");
        let speedup = resolved.iter().find(|r| r.name == "speedup").unwrap();
        assert!(speedup.file.filename.contains("manylinux"), "{}", speedup.file.filename);
        // The lock's version is kept while it fits.
        let kept = solve(&index, &["app"], &[("lib", "2.0")]).unwrap();
        assert!(versions(&kept).contains(&"lib==2.0".to_string()));
        // A pre-release only when asked for.
        let pre = solve(&index, &["lib>=3.0rc1"], &[]).unwrap();
        assert_eq!(versions(&pre), ["lib==3.0rc1"]);
    }

    #[test]
    fn what_cannot_be_met_says_why() {
        let mut index = fixture();
        let err = solve(&index, &["lib>=5"], &[]).unwrap_err();
        assert!(matches!(err, ResolveError::Unsatisfiable { .. }), "{err}");
        assert!(err.to_string().contains("lib"), "{err}");
        index.list(
            "onlysrc",
            serde_json::json!({"filename": "onlysrc-1.0.tar.gz", "url": "../../files/onlysrc-1.0.tar.gz",
                "hashes": {"sha256": "00".repeat(32)}}),
        );
        let err = solve(&index, &["onlysrc"], &[]).unwrap_err();
        assert!(err.to_string().contains("1 source distributions"), "{err}");
        assert!(err.help().unwrap().contains("recipe"));
        let err = solve(&index, &["missing"], &[]).unwrap_err();
        assert!(err.to_string().contains("no project \"missing\""), "{err}");
        assert!(parse_requirements(&["flask @ https://example.invalid/f.whl".into()]).is_err());
    }

    #[test]
    fn a_download_that_is_not_what_the_index_listed_is_refused() {
        let index = fixture();
        let resolved = solve(&index, &["lib==1.0"], &[]).unwrap();
        let mut out = Vec::new();
        client(&index).download(&resolved[0].file, &mut out).unwrap();
        std::fs::write(index.file(&resolved[0].file.filename), b"other bytes").unwrap();
        let err = client(&index).download(&resolved[0].file, &mut Vec::new()).unwrap_err();
        assert!(matches!(err, IndexError::Digest { .. }), "{err}");
    }
}
