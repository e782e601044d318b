//! The bridge between a Debian `Packages` index and resolvo: names,
//! candidates, version sets and the dependencies of each candidate.
//!
//! Encoding:
//! - A resolvo *name* is a real package name; its candidates are that
//!   package's versions built for the requested architecture or `all`, so
//!   resolvo's one-solvable-per-name rule is Debian's one version per package.
//! - A dependency atom `v (op x)` becomes up to several version sets, all
//!   alternatives of one requirement: the versions of the real package `v`
//!   that satisfy `(op x)`, then, for every package `P` providing `v`, the
//!   versions of `P` whose `Provides` satisfies the atom (any provide for an
//!   unversioned atom; only a versioned `v (= y)` with `y` meeting `(op x)`
//!   for a versioned one). No proxy solvables are needed: a version set is
//!   just a filter over the candidates of one name.
//! - `Conflicts`/`Breaks` of `P` on `x (op y)` become resolvo *constrains*,
//!   which restrict a name only if it ends up installed: "the installed `x`,
//!   if any, must not match `(op y)`", and for every other package `Q`
//!   providing `x`, "the installed `Q`, if any, must not provide `x` as the
//!   atom describes". The name of `P` itself is never constrained, so a
//!   package may provide and conflict with the same virtual name.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::{self, Display};

use bale_debian::Version;
use bale_debian::packages::{BinaryPackage, PackageIndex, PackagesError};
use bale_debian::relation::{Atom, Relation};
use resolvo::{
    Candidates, Condition, ConditionId, ConditionalRequirement, DenseIndex, Dependencies, DependencyProvider, Interner,
    KnownDependencies, NameId, Requirement, SolvableId, SolverCache, StringId, VersionSetId, VersionSetUnionId,
};

pub(crate) type Constraint = Option<(Relation, Version)>;

/// Which field a restriction comes from; only changes the words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Clash {
    Conflicts,
    Breaks,
}

impl Clash {
    pub(crate) fn verb(self) -> &'static str {
        match self {
            Self::Conflicts => "conflicts with",
            Self::Breaks => "breaks",
        }
    }
}

/// What a version set selects among the candidates of its name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum SetKind {
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

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct SetKey {
    pub(crate) name: NameId,
    pub(crate) kind: SetKind,
}

/// An atom as the solver uses it: its target name after the architecture
/// qualifier is dealt with, and its version constraint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) name: String,
    pub(crate) constraint: Constraint,
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
pub(crate) fn constraint_text(constraint: &Constraint) -> String {
    match constraint {
        Some((relation, version)) => format!("({} {version})", relation.symbol()),
        None => String::new(),
    }
}

/// The name an atom refers to when solving for one architecture: `:any`,
/// `:native` and the architecture itself are dropped; any other qualifier
/// is kept, which names nothing in a single-architecture index.
pub(crate) fn target_name(atom: &Atom, architecture: &str) -> String {
    match atom.arch_qualifier.as_deref() {
        None | Some("any") | Some("native") => atom.name.clone(),
        Some(q) if q == architecture => atom.name.clone(),
        Some(q) => format!("{}:{q}", atom.name),
    }
}

/// Whether a provide list satisfies (or, for a conflict, matches) `name`
/// with `constraint`: any provide of the name for an unversioned atom, only
/// a versioned `name (= v)` with `v` meeting the constraint otherwise.
pub(crate) fn provides(package: &BinaryPackage, name: &str, constraint: &Constraint) -> bool {
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

#[derive(Default)]
struct Tables {
    names: Vec<String>,
    name_ids: HashMap<String, NameId>,
    /// Position in the index, and name, of each solvable.
    solvables: Vec<(usize, NameId)>,
    sets: Vec<SetKey>,
    set_ids: HashMap<SetKey, VersionSetId>,
    unions: Vec<Vec<VersionSetId>>,
}

/// resolvo's view of a `Packages` index for one architecture.
pub(crate) struct DebianProvider<'a> {
    pub(crate) index: &'a PackageIndex,
    pub(crate) architecture: &'a str,
    locked: &'a HashMap<String, Version>,
    tables: RefCell<Tables>,
    /// The first index stanza that failed to parse when the solver asked
    /// for it. resolvo's callbacks cannot fail, so the stanza counts as
    /// absent and [`crate::resolve`] reports this error instead of a result.
    pub(crate) index_error: RefCell<Option<PackagesError>>,
}

impl<'a> DebianProvider<'a> {
    pub(crate) fn new(index: &'a PackageIndex, architecture: &'a str, locked: &'a HashMap<String, Version>) -> Self {
        Self { index, architecture, locked, tables: RefCell::default(), index_error: RefCell::default() }
    }

    fn keep_error(&self, result: Result<Vec<usize>, PackagesError>) -> Vec<usize> {
        result.unwrap_or_else(|error| {
            self.index_error.borrow_mut().get_or_insert(error);
            Vec::new()
        })
    }

    /// Every version of a real package, newest first.
    pub(crate) fn versions(&self, name: &str) -> Vec<usize> {
        self.keep_error(self.index.versions(name))
    }

    /// Packages providing `name`.
    pub(crate) fn providers(&self, name: &str) -> Vec<usize> {
        self.keep_error(self.index.providers(name))
    }

    pub(crate) fn arch_ok(&self, package: &BinaryPackage) -> bool {
        package.architecture == self.architecture || package.architecture == "all"
    }

    /// The versions of a real package the solver may pick, newest first,
    /// one position per distinct version.
    pub(crate) fn real_versions(&self, name: &str) -> Vec<usize> {
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
    pub(crate) fn provider_names(&self, name: &str, constraint: &Constraint) -> Vec<String> {
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

    pub(crate) fn intern_name(&self, name: &str) -> NameId {
        let mut tables = self.tables.borrow_mut();
        if let Some(&id) = tables.name_ids.get(name) {
            return id;
        }
        let id = NameId::from_index(tables.names.len());
        tables.names.push(name.to_string());
        tables.name_ids.insert(name.to_string(), id);
        id
    }

    pub(crate) fn name(&self, id: NameId) -> String {
        self.tables.borrow().names[id.to_index()].clone()
    }

    fn intern_set(&self, name: NameId, kind: SetKind) -> VersionSetId {
        let key = SetKey { name, kind };
        let mut tables = self.tables.borrow_mut();
        if let Some(&id) = tables.set_ids.get(&key) {
            return id;
        }
        let id = VersionSetId::from_index(tables.sets.len());
        tables.sets.push(key.clone());
        tables.set_ids.insert(key, id);
        id
    }

    pub(crate) fn set(&self, id: VersionSetId) -> SetKey {
        self.tables.borrow().sets[id.to_index()].clone()
    }

    /// Position in the index of a solvable.
    pub(crate) fn position(&self, solvable: SolvableId) -> usize {
        self.tables.borrow().solvables[solvable.to_index()].0
    }

    pub(crate) fn package(&self, solvable: SolvableId) -> &'a BinaryPackage {
        self.index.get(self.position(solvable))
    }

    /// The version sets of a requirement, in preference order.
    pub(crate) fn sets_of(&self, requirement: Requirement) -> Vec<VersionSetId> {
        match requirement {
            Requirement::Single(set) => vec![set],
            Requirement::Union(union) => self.tables.borrow().unions[union.to_index()].clone(),
        }
    }

    /// The atoms a requirement was made of, as the solver reads them, in
    /// order and without repeats.
    pub(crate) fn targets_of(&self, requirement: Requirement) -> Vec<Target> {
        let mut out: Vec<Target> = Vec::new();
        for set in self.sets_of(requirement) {
            let key = self.set(set);
            let target = match key.kind {
                SetKind::Real(constraint) => Target { name: self.name(key.name), constraint },
                SetKind::Provides { virtual_name, constraint } => Target { name: virtual_name, constraint },
                SetKind::NotReal { .. } | SetKind::NotProviding { .. } => continue,
            };
            if !out.contains(&target) {
                out.push(target);
            }
        }
        out
    }

    /// `a (>= 1) | b` for a requirement.
    pub(crate) fn requirement_text(&self, requirement: Requirement) -> String {
        self.targets_of(requirement).iter().map(ToString::to_string).collect::<Vec<_>>().join(" | ")
    }

    /// One requirement satisfied by any of the alternatives: real packages
    /// first, then providers, alternative by alternative.
    pub(crate) fn requirement(&self, alternatives: &[Atom]) -> Requirement {
        let mut sets: Vec<VersionSetId> = Vec::new();
        let mut push = |set: VersionSetId| {
            if !sets.contains(&set) {
                sets.push(set);
            }
        };
        for atom in alternatives {
            let target = target_name(atom, self.architecture);
            let constraint = atom.constraint.clone();
            push(self.intern_set(self.intern_name(&target), SetKind::Real(constraint.clone())));
            for provider in self.provider_names(&target, &constraint) {
                let kind = SetKind::Provides { virtual_name: target.clone(), constraint: constraint.clone() };
                push(self.intern_set(self.intern_name(&provider), kind));
            }
        }
        if !self.locked.is_empty() {
            // A lockfile's earlier choice among alternatives (or providers)
            // stays the first choice while it still fits.
            let fits: Vec<bool> = sets.iter().map(|&set| self.lock_fits(set)).collect();
            let mut order: Vec<usize> = (0..sets.len()).collect();
            order.sort_by_key(|&i| !fits[i]);
            sets = order.into_iter().map(|i| sets[i]).collect();
        }
        match sets.as_slice() {
            [single] => Requirement::Single(*single),
            _ => {
                let mut tables = self.tables.borrow_mut();
                let id = VersionSetUnionId::from_index(tables.unions.len());
                tables.unions.push(sets);
                Requirement::Union(id)
            }
        }
    }

    /// What the user asked for by name: that package itself when the index
    /// has it (as apt installs the named package, not something providing
    /// it); only a purely virtual name is satisfied by its providers.
    pub(crate) fn root_requirement(&self, atom: &Atom) -> Requirement {
        let target = target_name(atom, self.architecture);
        if self.real_versions(&target).is_empty() {
            return self.requirement(std::slice::from_ref(atom));
        }
        Requirement::Single(self.intern_set(self.intern_name(&target), SetKind::Real(atom.constraint.clone())))
    }

    /// Whether the locked version of a version set's package is in the set.
    fn lock_fits(&self, set: VersionSetId) -> bool {
        let key = self.set(set);
        let name = self.name(key.name);
        let Some(wanted) = self.locked.get(&name) else { return false };
        self.real_versions(&name)
            .into_iter()
            .map(|p| self.index.get(p))
            .any(|package| package.version == *wanted && self.matches(package, &key.kind))
    }

    /// The constrains that one Conflicts/Breaks atom of `package` adds.
    fn restrictions(&self, package: &BinaryPackage, clash: Clash, atom: &Atom, out: &mut Vec<VersionSetId>) {
        let target = target_name(atom, self.architecture);
        let constraint = atom.constraint.clone();
        if target != package.name && !self.real_versions(&target).is_empty() {
            let kind = SetKind::NotReal { clash, constraint: constraint.clone() };
            out.push(self.intern_set(self.intern_name(&target), kind));
        }
        for provider in self.provider_names(&target, &constraint) {
            if provider == package.name {
                continue;
            }
            let kind = SetKind::NotProviding { clash, virtual_name: target.clone(), constraint: constraint.clone() };
            out.push(self.intern_set(self.intern_name(&provider), kind));
        }
    }

    fn matches(&self, package: &BinaryPackage, kind: &SetKind) -> bool {
        match kind {
            SetKind::Real(constraint) => meets(&package.version, constraint),
            SetKind::Provides { virtual_name, constraint } => provides(package, virtual_name, constraint),
            SetKind::NotReal { constraint, .. } => !meets(&package.version, constraint),
            SetKind::NotProviding { virtual_name, constraint, .. } => !provides(package, virtual_name, constraint),
        }
    }

    /// `name version` of a solvable.
    pub(crate) fn solvable_text(&self, solvable: SolvableId) -> String {
        let package = self.package(solvable);
        format!("{} {}", package.name, package.version)
    }
}

impl Interner for DebianProvider<'_> {
    type NameId = NameId;
    type SolvableId = SolvableId;

    fn display_solvable(&self, solvable: SolvableId) -> impl Display + '_ {
        self.solvable_text(solvable)
    }

    fn display_merged_solvables(&self, solvables: &[SolvableId]) -> impl Display + '_ {
        let mut packages: Vec<&BinaryPackage> = solvables.iter().map(|&s| self.package(s)).collect();
        packages.sort_by(|a, b| b.version.cmp(&a.version));
        match packages.first() {
            None => String::new(),
            Some(first) => format!(
                "{} {}",
                first.name,
                packages.iter().map(|p| p.version.to_string()).collect::<Vec<_>>().join(" | ")
            ),
        }
    }

    fn display_name(&self, name: NameId) -> impl Display + '_ {
        self.name(name)
    }

    fn display_version_set(&self, version_set: VersionSetId) -> impl Display + '_ {
        match self.set(version_set).kind {
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

    fn display_string(&self, _string_id: StringId) -> impl Display + '_ {
        // No candidate is ever excluded with a reason, so resolvo has no
        // string of ours to show.
        String::new()
    }

    fn version_set_name(&self, version_set: VersionSetId) -> NameId {
        self.tables.borrow().sets[version_set.to_index()].name
    }

    fn solvable_name(&self, solvable: SolvableId) -> NameId {
        self.tables.borrow().solvables[solvable.to_index()].1
    }

    fn version_sets_in_union(&self, version_set_union: VersionSetUnionId) -> impl Iterator<Item = VersionSetId> {
        self.tables.borrow().unions[version_set_union.to_index()].clone().into_iter()
    }

    fn resolve_condition(&self, _condition: ConditionId) -> Condition {
        unreachable!("bale-resolve never creates conditional requirements")
    }
}

impl DependencyProvider for DebianProvider<'_> {
    async fn filter_candidates(
        &self,
        candidates: &[SolvableId],
        version_set: VersionSetId,
        inverse: bool,
    ) -> Vec<SolvableId> {
        let kind = self.set(version_set).kind;
        candidates.iter().copied().filter(|&s| self.matches(self.package(s), &kind) != inverse).collect()
    }

    async fn get_candidates(&self, name: NameId) -> Option<Candidates<SolvableId>> {
        let text = self.name(name);
        let positions = self.real_versions(&text);
        if positions.is_empty() {
            return None;
        }
        let wanted = self.locked.get(&text);
        let mut candidates = Candidates::default();
        let mut tables = self.tables.borrow_mut();
        for position in positions {
            let solvable = SolvableId::from_index(tables.solvables.len());
            tables.solvables.push((position, name));
            if wanted.is_some_and(|v| *v == self.index.get(position).version) {
                candidates.favored = Some(solvable);
            }
            candidates.candidates.push(solvable);
        }
        Some(candidates)
    }

    async fn sort_candidates(&self, _solver: &SolverCache<Self>, solvables: &mut [SolvableId]) {
        // Newest first; equal versions cannot occur within one name, the
        // position only makes the order total.
        solvables.sort_by(|&a, &b| {
            let (pa, pb) = (self.position(a), self.position(b));
            self.index.get(pb).version.cmp(&self.index.get(pa).version).then(pa.cmp(&pb))
        });
    }

    async fn get_dependencies(&self, solvable: SolvableId) -> Dependencies {
        let package = self.package(solvable);
        let requirements: Vec<ConditionalRequirement> = package
            .pre_depends
            .iter()
            .chain(&package.depends)
            .map(|alternatives| self.requirement(alternatives).into())
            .collect();
        let mut constrains = Vec::new();
        for atom in &package.conflicts {
            self.restrictions(package, Clash::Conflicts, atom, &mut constrains);
        }
        for atom in &package.breaks {
            self.restrictions(package, Clash::Breaks, atom, &mut constrains);
        }
        Dependencies::Known(KnownDependencies { requirements, constrains })
    }
}
