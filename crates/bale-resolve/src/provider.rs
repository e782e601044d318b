//! resolvo's view of a [`Universe`]: names, candidates and version sets
//! interned to resolvo's ids, requirements as unions of version sets.
//! A version set is a universe's set over the candidates of one name, so
//! no proxy solvables are needed.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::Display;

use resolvo::{
    Candidates, Condition, ConditionId, ConditionalRequirement, DenseIndex, Dependencies, DependencyProvider, Interner,
    KnownDependencies, NameId, Requirement, SolvableId, SolverCache, StringId, VersionSetId, VersionSetUnionId,
};

use crate::{Alternative, Candidate, Universe};

struct Tables<S> {
    names: Vec<String>,
    name_ids: HashMap<String, NameId>,
    /// The universe's candidate, and its name, of each solvable.
    solvables: Vec<(Candidate, NameId)>,
    sets: Vec<(NameId, S)>,
    set_ids: HashMap<(NameId, S), VersionSetId>,
    unions: Vec<Vec<VersionSetId>>,
}

impl<S> Default for Tables<S> {
    fn default() -> Self {
        Self {
            names: Vec::new(),
            name_ids: HashMap::new(),
            solvables: Vec::new(),
            sets: Vec::new(),
            set_ids: HashMap::new(),
            unions: Vec::new(),
        }
    }
}

pub(crate) struct Provider<'u, U: Universe> {
    pub(crate) universe: &'u U,
    tables: RefCell<Tables<U::Set>>,
}

impl<'u, U: Universe> Provider<'u, U> {
    pub(crate) fn new(universe: &'u U) -> Self {
        Self { universe, tables: RefCell::new(Tables::default()) }
    }

    fn intern_name(&self, name: &str) -> NameId {
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

    fn intern_set(&self, alternative: &Alternative<U::Set>) -> VersionSetId {
        let key = (self.intern_name(&alternative.name), alternative.set.clone());
        let mut tables = self.tables.borrow_mut();
        if let Some(&id) = tables.set_ids.get(&key) {
            return id;
        }
        let id = VersionSetId::from_index(tables.sets.len());
        tables.sets.push(key.clone());
        tables.set_ids.insert(key, id);
        id
    }

    /// The alternative a version set stands for.
    pub(crate) fn alternative(&self, id: VersionSetId) -> Alternative<U::Set> {
        let tables = self.tables.borrow();
        let (name, set) = &tables.sets[id.to_index()];
        Alternative { name: tables.names[name.to_index()].clone(), set: set.clone() }
    }

    pub(crate) fn candidate(&self, solvable: SolvableId) -> Candidate {
        self.tables.borrow().solvables[solvable.to_index()].0
    }

    pub(crate) fn solvable_text(&self, solvable: SolvableId) -> String {
        self.universe.candidate_text(self.candidate(solvable))
    }

    /// The alternatives of a requirement, in preference order.
    pub(crate) fn alternatives_of(&self, requirement: Requirement) -> Vec<Alternative<U::Set>> {
        let sets = match requirement {
            Requirement::Single(set) => vec![set],
            Requirement::Union(union) => self.tables.borrow().unions[union.to_index()].clone(),
        };
        sets.into_iter().map(|set| self.alternative(set)).collect()
    }

    /// What a requirement asks for, each alternative once, in order.
    pub(crate) fn wanted(&self, requirement: Requirement) -> Vec<(String, Alternative<U::Set>)> {
        let mut out: Vec<(String, Alternative<U::Set>)> = Vec::new();
        for alternative in self.alternatives_of(requirement) {
            if let Some(text) = self.universe.wanted_text(&alternative)
                && !out.iter().any(|(t, _)| *t == text)
            {
                out.push((text, alternative));
            }
        }
        out
    }

    /// `a (>= 1) | b` for a requirement.
    pub(crate) fn requirement_text(&self, requirement: Requirement) -> String {
        self.wanted(requirement).into_iter().map(|(text, _)| text).collect::<Vec<_>>().join(" | ")
    }

    /// One requirement met by any of `alternatives`; a locked candidate's
    /// alternative (while it still fits) goes first.
    pub(crate) fn requirement(&self, alternatives: &[Alternative<U::Set>]) -> Requirement {
        let mut sets: Vec<(VersionSetId, bool)> = Vec::new();
        for alternative in alternatives {
            let set = self.intern_set(alternative);
            if !sets.iter().any(|(s, _)| *s == set) {
                sets.push((set, self.lock_fits(alternative)));
            }
        }
        // Stable: the alternatives' own order among those that fit.
        sets.sort_by_key(|(_, fits)| !fits);
        match sets.as_slice() {
            [(single, _)] => Requirement::Single(*single),
            _ => {
                let mut tables = self.tables.borrow_mut();
                let id = VersionSetUnionId::from_index(tables.unions.len());
                tables.unions.push(sets.into_iter().map(|(s, _)| s).collect());
                Requirement::Union(id)
            }
        }
    }

    fn lock_fits(&self, alternative: &Alternative<U::Set>) -> bool {
        let universe = self.universe;
        universe
            .candidates(&alternative.name)
            .into_iter()
            .any(|c| universe.is_locked(c) && universe.matches(c, &alternative.set))
    }
}

impl<U: Universe> Interner for Provider<'_, U> {
    type NameId = NameId;
    type SolvableId = SolvableId;

    fn display_solvable(&self, solvable: SolvableId) -> impl Display + '_ {
        self.solvable_text(solvable)
    }

    fn display_merged_solvables(&self, solvables: &[SolvableId]) -> impl Display + '_ {
        let mut candidates: Vec<Candidate> = solvables.iter().map(|&s| self.candidate(s)).collect();
        candidates.sort_by(|&a, &b| self.universe.preference(a, b).then(a.cmp(&b)));
        match candidates.first() {
            None => String::new(),
            Some(&first) => format!(
                "{} {}",
                self.universe.name_of(first),
                candidates.iter().map(|&c| self.universe.version_text(c)).collect::<Vec<_>>().join(" | ")
            ),
        }
    }

    fn display_name(&self, name: NameId) -> impl Display + '_ {
        self.name(name)
    }

    fn display_version_set(&self, version_set: VersionSetId) -> impl Display + '_ {
        self.universe.set_text(&self.alternative(version_set).set)
    }

    fn display_string(&self, _string_id: StringId) -> impl Display + '_ {
        // No candidate is ever excluded with a reason, so resolvo has no
        // string of ours to show.
        String::new()
    }

    fn version_set_name(&self, version_set: VersionSetId) -> NameId {
        self.tables.borrow().sets[version_set.to_index()].0
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

impl<U: Universe> DependencyProvider for Provider<'_, U> {
    async fn filter_candidates(
        &self,
        candidates: &[SolvableId],
        version_set: VersionSetId,
        inverse: bool,
    ) -> Vec<SolvableId> {
        let set = self.alternative(version_set).set;
        candidates.iter().copied().filter(|&s| self.universe.matches(self.candidate(s), &set) != inverse).collect()
    }

    async fn get_candidates(&self, name: NameId) -> Option<Candidates<SolvableId>> {
        let found = self.universe.candidates(&self.name(name));
        if found.is_empty() {
            return None;
        }
        let mut candidates = Candidates::default();
        let mut tables = self.tables.borrow_mut();
        for candidate in found {
            let solvable = SolvableId::from_index(tables.solvables.len());
            tables.solvables.push((candidate, name));
            if self.universe.is_locked(candidate) {
                candidates.favored = Some(solvable);
            }
            candidates.candidates.push(solvable);
        }
        Some(candidates)
    }

    async fn sort_candidates(&self, _solver: &SolverCache<Self>, solvables: &mut [SolvableId]) {
        // The universe's preference; the candidate number only makes the
        // order total.
        solvables.sort_by(|&a, &b| {
            let (ca, cb) = (self.candidate(a), self.candidate(b));
            self.universe.preference(ca, cb).then(ca.cmp(&cb))
        });
    }

    async fn get_dependencies(&self, solvable: SolvableId) -> Dependencies {
        let dependencies = self.universe.dependencies(self.candidate(solvable));
        let requirements: Vec<ConditionalRequirement> =
            dependencies.requirements.iter().map(|alternatives| self.requirement(alternatives).into()).collect();
        let constrains = dependencies.restrictions.iter().map(|r| self.intern_set(r)).collect();
        Dependencies::Known(KnownDependencies { requirements, constrains })
    }
}
