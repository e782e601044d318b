//! Debian's universe for the generic solver (`bale-resolve`): dependency
//! resolution for binary packages as apt applies the relationship fields
//! to one architecture.
//!
//! - `Depends` and `Pre-Depends` are requirements; `a | b` is satisfied by
//!   either, and the solver tries earlier alternatives and newer versions
//!   first (a locked version, when still allowed, before any other).
//! - Version relations use Debian's ordering (epochs, `~`).
//! - `Provides`: a provider satisfies an unversioned dependency on the name
//!   it provides; a versioned provide `v (= 1.2)` also satisfies versioned
//!   dependencies on `v` that 1.2 meets; an unversioned provide never
//!   satisfies a versioned dependency. Among several providers the one with
//!   the higher Priority, then the first by name, is tried first.
//! - `Conflicts` and `Breaks` forbid installing a matching package, or a
//!   package providing the name, next to the one declaring them — never that
//!   package itself.
//! - `:any`/`:native` qualifiers mean the plain name; `Architecture: all`
//!   packages are candidates next to the requested architecture's.
//! - Nothing is installed unless the request needs it, Essential included.
//!
//! Encoding:
//! - A solver *name* is a real package name; its candidates are that
//!   package's versions built for the requested architecture or `all`, so
//!   the one-candidate-per-name rule is Debian's one version per package.
//! - A dependency atom `v (op x)` becomes several alternatives of one
//!   requirement: the versions of the real package `v` that satisfy
//!   `(op x)`, then, for every package `P` providing `v`, the versions of
//!   `P` whose `Provides` satisfies the atom.
//! - `Conflicts`/`Breaks` of `P` on `x (op y)` become restrictions, which
//!   apply to a name only if it ends up installed: "the installed `x`, if
//!   any, must not match `(op y)`", and for every other package `Q`
//!   providing `x`, "the installed `Q`, if any, must not provide `x` as the
//!   atom describes". `P`'s own name is never restricted, so a package may
//!   provide and conflict with the same virtual name.

use std::cell::RefCell;
use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt::{self, Display};

use bale_resolve::{Alternative, Candidate, Dependencies, SolveError, Universe};

use crate::Version;
use crate::packages::{BinaryPackage, PackageIndex, PackagesError};
use crate::relation::{Atom, Relation};

#[cfg(test)]
mod tests;

/// What to resolve.
#[derive(Debug)]
pub struct Request<'a> {
    pub index: &'a PackageIndex,
    /// The architecture solved for, e.g. `amd64`: packages built for it or
    /// for `all` are candidates.
    pub architecture: String,
    /// What the user asked for, each maybe with a version constraint.
    pub roots: Vec<Atom>,
    /// Versions to prefer (from a lockfile) while they are still allowed.
    pub locked: HashMap<String, Version>,
}

/// The packages to install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// Positions in the index, sorted by (name, version), without repeats.
    pub packages: Vec<usize>,
}

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// No set of packages satisfies the request; `explanation` gives the
    /// chains of requirements that fail, one per line.
    #[error("no set of packages satisfies the request:\n{explanation}")]
    Unsatisfiable { explanation: String },
    /// A requested name that no package in the index has or provides.
    #[error("no package in the index is called {name} or provides it")]
    UnknownRoot { name: String },
    /// A stanza of the index the solver needed does not parse.
    #[error(transparent)]
    Index(PackagesError),
    /// The solver was stopped before it finished.
    #[error("the solver was cancelled")]
    Cancelled,
}

impl ResolveError {
    /// What to do about it, for people.
    pub fn help(&self) -> Option<&'static str> {
        Some(match self {
            Self::Index(_) => "the archive's index is damaged at that stanza: retry later or use another mirror",
            _ => "`bale debian show NAME` shows the versions and dependencies the archive has",
        })
    }
}

/// Picks the packages that satisfy `request`, with everything they depend on.
///
/// The result depends only on the index and the request, and not on the
/// order of `roots`: the same inputs always give the same packages.
pub fn resolve(request: &Request<'_>) -> Result<Resolution, ResolveError> {
    let index = request.index;
    // The request is a set: solve it in one canonical order, so the order in
    // which a spec lists packages cannot change the outcome.
    let mut roots: Vec<(String, String, &Atom)> =
        request.roots.iter().map(|root| (target_name(root, &request.architecture), root.to_string(), root)).collect();
    roots.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    roots.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
    let universe = DebianUniverse::new(index, &request.architecture, &request.locked);
    if let Some((name, _, _)) =
        roots.iter().find(|(name, _, _)| universe.versions(name).is_empty() && universe.providers(name).is_empty())
    {
        if let Some(error) = universe.index_error.take() {
            return Err(ResolveError::Index(error));
        }
        return Err(ResolveError::UnknownRoot { name: name.clone() });
    }
    let requirements: Vec<Vec<Alternative<SetKind>>> =
        roots.iter().map(|(_, _, root)| universe.root_requirement(root)).collect();
    let outcome = bale_resolve::solve(&universe, &requirements);
    // An answer (or a failure) reached with a stanza missing is no answer.
    if let Some(error) = universe.index_error.take() {
        return Err(ResolveError::Index(error));
    }
    match outcome {
        Ok(mut packages) => {
            packages.sort_by(|&a, &b| {
                let (pa, pb) = (index.get(a), index.get(b));
                pa.name.cmp(&pb.name).then_with(|| pa.version.cmp(&pb.version)).then(a.cmp(&b))
            });
            packages.dedup();
            Ok(Resolution { packages })
        }
        Err(SolveError::Unsatisfiable { explanation }) => Err(ResolveError::Unsatisfiable { explanation }),
        Err(SolveError::Cancelled) => Err(ResolveError::Cancelled),
    }
}

/// Like [`resolve`], and then takes the selection's Recommends as apt
/// does by default: each group not yet met by the selection is added to
/// the request, its first alternative that still resolves, until nothing
/// more can be added. A recommendation that cannot be met is left out.
pub fn resolve_with_recommends(request: &Request<'_>) -> Result<Resolution, ResolveError> {
    let mut roots = request.roots.clone();
    let mut resolution = resolve(request)?;
    let mut tried: std::collections::HashSet<String> = std::collections::HashSet::new();
    loop {
        let selected: Vec<&BinaryPackage> = resolution.packages.iter().map(|&p| request.index.get(p)).collect();
        let mut grown = None;
        'groups: for group in selected.iter().flat_map(|p| &p.recommends) {
            if met(group, &selected) || !tried.insert(group_text(group)) {
                continue;
            }
            for atom in group {
                let mut trial = roots.clone();
                trial.push(atom.clone());
                let attempt = Request {
                    index: request.index,
                    architecture: request.architecture.clone(),
                    roots: trial.clone(),
                    locked: request.locked.clone(),
                };
                if let Ok(found) = resolve(&attempt) {
                    grown = Some((trial, found));
                    break 'groups;
                }
            }
        }
        match grown {
            Some((trial, found)) => {
                roots = trial;
                resolution = found;
            }
            None => return Ok(resolution),
        }
    }
}

fn group_text(group: &[Atom]) -> String {
    group.iter().map(ToString::to_string).collect::<Vec<_>>().join(" | ")
}

/// Whether some package of `selected` meets one alternative of `group`:
/// by name (in the version asked for) or by what it provides.
fn met(group: &[Atom], selected: &[&BinaryPackage]) -> bool {
    group.iter().any(|atom| {
        selected.iter().any(|p| {
            (p.name == atom.name && atom.matches_version(&p.version)) || provides(p, &atom.name, &atom.constraint)
        })
    })
}

/// The Recommends of `selected` that the selection does not meet, as
/// (package name, the groups left out as Debian writes them).
pub fn left_out_recommends(selected: &[BinaryPackage]) -> Vec<(String, Vec<String>)> {
    let all: Vec<&BinaryPackage> = selected.iter().collect();
    let mut out = Vec::new();
    for package in selected {
        let missing: Vec<String> = package.recommends.iter().filter(|g| !met(g, &all)).map(|g| group_text(g)).collect();
        if !missing.is_empty() {
            out.push((package.name.clone(), missing));
        }
    }
    out.sort();
    out
}

pub(crate) type Constraint = Option<(Relation, Version)>;

/// Which field a restriction comes from; only changes the words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Clash {
    Conflicts,
    Breaks,
}

impl Clash {
    fn verb(self) -> &'static str {
        match self {
            Self::Conflicts => "conflicts with",
            Self::Breaks => "breaks",
        }
    }
}

/// What a set selects among the candidates (versions) of one package.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SetKind {
    /// Versions of the real package that meet the constraint.
    Real(Constraint),
    /// Versions of the package that provide `virtual_name` so as to satisfy
    /// the constraint.
    Provides { virtual_name: String, constraint: Constraint },
    /// Versions of the real package that a Conflicts/Breaks leaves alone.
    NotReal { clash: Clash, constraint: Constraint },
    /// Versions of the package that do not provide `virtual_name` in a way a
    /// Conflicts/Breaks on it matches.
    NotProviding { clash: Clash, virtual_name: String, constraint: Constraint },
}

/// An atom as the solver uses it: its target name after the architecture
/// qualifier is dealt with, and its version constraint.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    name: String,
    constraint: Constraint,
}

impl Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some((relation, version)) = &self.constraint {
            write!(f, " ({} {version})", relation.symbol())?;
        }
        Ok(())
    }
}

/// Formats a constraint as Debian writes it, `(>= 1.2)`, or nothing.
fn constraint_text(constraint: &Constraint) -> String {
    match constraint {
        Some((relation, version)) => format!("({} {version})", relation.symbol()),
        None => String::new(),
    }
}

/// The name an atom refers to when solving for one architecture: `:any`,
/// `:native` and the architecture itself are dropped; any other qualifier
/// is kept, which names nothing in a single-architecture index.
fn target_name(atom: &Atom, architecture: &str) -> String {
    match atom.arch_qualifier.as_deref() {
        None | Some("any") | Some("native") => atom.name.clone(),
        Some(q) if q == architecture => atom.name.clone(),
        Some(q) => format!("{}:{q}", atom.name),
    }
}

/// Whether a provide list satisfies (or, for a conflict, matches) `name`
/// with `constraint`: any provide of the name for an unversioned atom, only
/// a versioned `name (= v)` with `v` meeting the constraint otherwise.
fn provides(package: &BinaryPackage, name: &str, constraint: &Constraint) -> bool {
    package.provides.iter().any(|provided| {
        provided.name == name
            && match constraint {
                None => true,
                Some((relation, bound)) => match &provided.constraint {
                    Some((Relation::Exactly, version)) => relation.holds(version, bound),
                    _ => false,
                },
            }
    })
}

fn meets(version: &Version, constraint: &Constraint) -> bool {
    constraint.as_ref().is_none_or(|(relation, bound)| relation.holds(version, bound))
}

/// Lower is preferred when several packages provide the same name.
fn priority_rank(package: &BinaryPackage) -> u8 {
    match package.priority.as_deref() {
        Some("required") => 0,
        Some("important") => 1,
        Some("standard") => 2,
        Some("optional") => 3,
        Some("extra") => 4,
        _ => 5,
    }
}

/// A `Packages` index for one architecture, as a solver universe.
#[derive(Debug)]
pub struct DebianUniverse<'a> {
    index: &'a PackageIndex,
    architecture: &'a str,
    locked: &'a HashMap<String, Version>,
    /// The first index stanza that failed to parse when the solver asked
    /// for it. The solver's callbacks cannot fail, so the stanza counts as
    /// absent and [`resolve`] reports this error instead of a result.
    index_error: RefCell<Option<PackagesError>>,
}

impl<'a> DebianUniverse<'a> {
    pub fn new(index: &'a PackageIndex, architecture: &'a str, locked: &'a HashMap<String, Version>) -> Self {
        Self { index, architecture, locked, index_error: RefCell::default() }
    }

    fn keep_error(&self, result: Result<Vec<usize>, PackagesError>) -> Vec<usize> {
        result.unwrap_or_else(|error| {
            self.index_error.borrow_mut().get_or_insert(error);
            Vec::new()
        })
    }

    /// Every version of a real package, newest first.
    fn versions(&self, name: &str) -> Vec<usize> {
        self.keep_error(self.index.versions(name))
    }

    /// Packages providing `name`.
    fn providers(&self, name: &str) -> Vec<usize> {
        self.keep_error(self.index.providers(name))
    }

    fn arch_ok(&self, package: &BinaryPackage) -> bool {
        package.architecture == self.architecture || package.architecture == "all"
    }

    /// The versions of a real package the solver may pick, newest first,
    /// one position per distinct version.
    fn real_versions(&self, name: &str) -> Vec<usize> {
        let mut out: Vec<usize> = Vec::new();
        for position in self.versions(name) {
            let package = self.index.get(position);
            if !self.arch_ok(package) {
                continue;
            }
            if out.last().is_some_and(|&last| self.index.get(last).version == package.version) {
                continue;
            }
            out.push(position);
        }
        out
    }

    /// Names of the packages (other than `name` itself) that provide `name`
    /// in a way that satisfies `constraint`, most preferred first: by
    /// Priority, then by name.
    fn provider_names(&self, name: &str, constraint: &Constraint) -> Vec<String> {
        let mut found: Vec<(u8, &str)> = Vec::new();
        for position in self.providers(name) {
            let package = self.index.get(position);
            if package.name == name || !self.arch_ok(package) || !provides(package, name, constraint) {
                continue;
            }
            let rank = priority_rank(package);
            match found.iter_mut().find(|(_, n)| *n == package.name) {
                Some(entry) => entry.0 = entry.0.min(rank),
                None => found.push((rank, &package.name)),
            }
        }
        found.sort();
        found.into_iter().map(|(_, n)| n.to_string()).collect()
    }

    /// One requirement satisfied by any of the atoms: real packages first,
    /// then providers, atom by atom.
    fn alternatives(&self, atoms: &[Atom]) -> Vec<Alternative<SetKind>> {
        let mut out = Vec::new();
        for atom in atoms {
            let target = target_name(atom, self.architecture);
            let constraint = atom.constraint.clone();
            out.push(Alternative { name: target.clone(), set: SetKind::Real(constraint.clone()) });
            for provider in self.provider_names(&target, &constraint) {
                let set = SetKind::Provides { virtual_name: target.clone(), constraint: constraint.clone() };
                out.push(Alternative { name: provider, set });
            }
        }
        out
    }

    /// What the user asked for by name: that package itself when the index
    /// has it (as apt installs the named package, not something providing
    /// it); only a purely virtual name is satisfied by its providers.
    fn root_requirement(&self, atom: &Atom) -> Vec<Alternative<SetKind>> {
        let target = target_name(atom, self.architecture);
        if self.real_versions(&target).is_empty() {
            return self.alternatives(std::slice::from_ref(atom));
        }
        vec![Alternative { name: target, set: SetKind::Real(atom.constraint.clone()) }]
    }

    /// The restrictions that one Conflicts/Breaks atom of `package` adds.
    fn restrictions(&self, package: &BinaryPackage, clash: Clash, atom: &Atom, out: &mut Vec<Alternative<SetKind>>) {
        let target = target_name(atom, self.architecture);
        let constraint = atom.constraint.clone();
        if target != package.name && !self.real_versions(&target).is_empty() {
            out.push(Alternative {
                name: target.clone(),
                set: SetKind::NotReal { clash, constraint: constraint.clone() },
            });
        }
        for provider in self.provider_names(&target, &constraint) {
            if provider == package.name {
                continue;
            }
            let set = SetKind::NotProviding { clash, virtual_name: target.clone(), constraint: constraint.clone() };
            out.push(Alternative { name: provider, set });
        }
    }

    /// The atom an alternative was made from.
    fn target(alternative: &Alternative<SetKind>) -> Option<Target> {
        match &alternative.set {
            SetKind::Real(constraint) => {
                Some(Target { name: alternative.name.clone(), constraint: constraint.clone() })
            }
            SetKind::Provides { virtual_name, constraint } => {
                Some(Target { name: virtual_name.clone(), constraint: constraint.clone() })
            }
            SetKind::NotReal { .. } | SetKind::NotProviding { .. } => None,
        }
    }
}

impl Universe for DebianUniverse<'_> {
    type Set = SetKind;

    fn candidates(&self, name: &str) -> Vec<Candidate> {
        self.real_versions(name)
    }

    fn name_of(&self, candidate: Candidate) -> &str {
        &self.index.get(candidate).name
    }

    fn version_text(&self, candidate: Candidate) -> String {
        self.index.get(candidate).version.to_string()
    }

    fn preference(&self, a: Candidate, b: Candidate) -> Ordering {
        // Newest first.
        self.index.get(b).version.cmp(&self.index.get(a).version)
    }

    fn matches(&self, candidate: Candidate, set: &SetKind) -> bool {
        let package = self.index.get(candidate);
        match set {
            SetKind::Real(constraint) => meets(&package.version, constraint),
            SetKind::Provides { virtual_name, constraint } => provides(package, virtual_name, constraint),
            SetKind::NotReal { constraint, .. } => !meets(&package.version, constraint),
            SetKind::NotProviding { virtual_name, constraint, .. } => !provides(package, virtual_name, constraint),
        }
    }

    fn dependencies(&self, candidate: Candidate) -> Dependencies<SetKind> {
        let package = self.index.get(candidate);
        let requirements =
            package.pre_depends.iter().chain(&package.depends).map(|atoms| self.alternatives(atoms)).collect();
        let mut restrictions = Vec::new();
        for atom in &package.conflicts {
            self.restrictions(package, Clash::Conflicts, atom, &mut restrictions);
        }
        for atom in &package.breaks {
            self.restrictions(package, Clash::Breaks, atom, &mut restrictions);
        }
        Dependencies { requirements, restrictions }
    }

    fn is_locked(&self, candidate: Candidate) -> bool {
        let package = self.index.get(candidate);
        self.locked.get(&package.name).is_some_and(|v| *v == package.version)
    }

    fn wanted_text(&self, alternative: &Alternative<SetKind>) -> Option<String> {
        Self::target(alternative).map(|t| t.to_string())
    }

    fn why_missing(&self, alternative: &Alternative<SetKind>) -> String {
        let Some(target) = Self::target(alternative) else { return "it is a restriction".into() };
        let name = target.name.as_str();
        if name.contains(':') {
            return format!("{name} names another architecture than {}", self.architecture);
        }
        let mut parts = Vec::new();
        let real = self.real_versions(name);
        if !real.is_empty() {
            let mut versions: Vec<String> =
                real.iter().take(5).map(|&p| self.index.get(p).version.to_string()).collect();
            if real.len() > 5 {
                versions.push(format!("and {} older", real.len() - 5));
            }
            parts.push(format!("the index has {name} {} only", versions.join(", ")));
        } else {
            let mut other: Vec<&str> =
                self.versions(name).iter().map(|&p| self.index.get(p).architecture.as_str()).collect();
            other.sort_unstable();
            other.dedup();
            if !other.is_empty() {
                parts.push(format!("{name} is built only for {}, not {}", other.join(", "), self.architecture));
            }
        }
        let mut providing = Vec::new();
        for position in self.providers(name) {
            let package = self.index.get(position);
            if package.name == name || !self.arch_ok(package) {
                continue;
            }
            for provided in package.provides.iter().filter(|p| p.name == name) {
                let how = match &provided.constraint {
                    Some(_) => format!("{} {} provides {provided}", package.name, package.version),
                    None => format!(
                        "{} {} provides {name} without a version, which cannot satisfy a versioned dependency",
                        package.name, package.version
                    ),
                };
                if !providing.contains(&how) {
                    providing.push(how);
                }
            }
        }
        if providing.len() > 4 {
            let more = providing.len() - 4;
            providing.truncate(4);
            providing.push(format!("{more} more provide it"));
        }
        parts.extend(providing);
        if parts.is_empty() {
            parts.push(format!("nothing in the index is called {name} or provides it"));
        }
        parts.join("; ")
    }

    fn restriction_text(&self, restriction: &Alternative<SetKind>, other: &str) -> String {
        match &restriction.set {
            SetKind::NotReal { clash, constraint } => {
                let what = format!("{} {}", restriction.name, constraint_text(constraint));
                format!("{} {}", clash.verb(), what.trim_end())
            }
            SetKind::NotProviding { clash, virtual_name, constraint } => {
                let what = Target { name: virtual_name.clone(), constraint: constraint.clone() };
                format!("{} {what}, which {other} provides", clash.verb())
            }
            SetKind::Real(_) | SetKind::Provides { .. } => format!("cannot be installed with {other}"),
        }
    }

    fn set_text(&self, set: &SetKind) -> String {
        match set.clone() {
            SetKind::Real(constraint) => constraint_text(&constraint),
            SetKind::Provides { virtual_name, constraint } => {
                format!("[providing {}]", Target { name: virtual_name, constraint })
            }
            SetKind::NotReal { clash, constraint: None } => format!("[none: a package {} it]", clash.verb()),
            SetKind::NotReal { clash, constraint: Some((relation, version)) } => {
                format!("[not {} {version}: a package {} those]", relation.symbol(), clash.verb())
            }
            SetKind::NotProviding { clash, virtual_name, constraint } => {
                format!("[not providing {}: a package {} it]", Target { name: virtual_name, constraint }, clash.verb())
            }
        }
    }
}
