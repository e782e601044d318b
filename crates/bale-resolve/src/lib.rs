//! A dependency solver generic over a content source's universe of names,
//! candidates and requirements, built on resolvo (a CDCL SAT solver).
//!
//! A source describes its universe through [`Universe`]: the candidates of
//! each name (at most one is installed per name), the source's own
//! selections among them (version ranges, "provides X", "not Y") and, per
//! candidate, its requirements (each satisfied by any of its alternatives)
//! and the restrictions it puts on other names if they are installed.
//! This crate interns all of that for resolvo, prefers locked candidates,
//! and turns resolvo's proof of unsatisfiability into sentences, asking
//! the universe for the words. It knows nothing of any source: Debian's
//! universe (versions, Provides, Conflicts/Breaks, architectures) is in
//! `bale-debian`'s `solve` module; PyPI's will be another implementation.
//! npm, which installs several versions of one name, does not fit the
//! one-candidate-per-name rule and will not use it.

mod explain;
mod provider;

use std::cmp::Ordering;
use std::hash::Hash;

use resolvo::{ConditionalRequirement, Problem, Solver, UnsolvableOrCancelled};

use provider::Provider;

/// A candidate, as the universe numbers them.
pub type Candidate = usize;

/// One alternative of a requirement, or one restriction: the candidates of
/// `name` that `set` selects.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Alternative<S> {
    pub name: String,
    pub set: S,
}

/// What a candidate needs and forbids.
#[derive(Debug, Clone)]
pub struct Dependencies<S> {
    /// Each requirement is met by a candidate of any of its alternatives,
    /// tried in order.
    pub requirements: Vec<Vec<Alternative<S>>>,
    /// If a candidate of `name` is installed, it must be in `set`.
    pub restrictions: Vec<Alternative<S>>,
}

/// A source's universe, as the solver sees it.
pub trait Universe {
    /// A selection among the candidates of one name.
    type Set: Clone + Eq + Hash;

    /// The candidates of `name`, any order; none when the name is unknown.
    fn candidates(&self, name: &str) -> Vec<Candidate>;
    /// The name a candidate is a candidate of.
    fn name_of(&self, candidate: Candidate) -> &str;
    /// The candidate's version, for people.
    fn version_text(&self, candidate: Candidate) -> String;
    /// `name version`, for people.
    fn candidate_text(&self, candidate: Candidate) -> String {
        format!("{} {}", self.name_of(candidate), self.version_text(candidate))
    }
    /// Which of two candidates of one name to try first (`Less`: `a`).
    fn preference(&self, a: Candidate, b: Candidate) -> Ordering;
    /// Whether `set` selects `candidate`.
    fn matches(&self, candidate: Candidate, set: &Self::Set) -> bool;
    fn dependencies(&self, candidate: Candidate) -> Dependencies<Self::Set>;
    /// A candidate to prefer above all (from a lock file), while it is
    /// still allowed.
    fn is_locked(&self, candidate: Candidate) -> bool;

    /// What an alternative asks for, as the source writes it
    /// (`libfoo (>= 2)`); `None` for sets that only restrict.
    fn wanted_text(&self, alternative: &Alternative<Self::Set>) -> Option<String>;
    /// Why nothing satisfies `alternative` (a phrase: "the index has libfoo
    /// 1.0 only").
    fn why_missing(&self, alternative: &Alternative<Self::Set>) -> String;
    /// Why a restriction of `candidate` rules out `other` (a phrase that
    /// starts with a verb: "conflicts with x (<< 2)").
    fn restriction_text(&self, restriction: &Alternative<Self::Set>, other: &str) -> String;
    /// A set as resolvo's own rendering shows it.
    fn set_text(&self, set: &Self::Set) -> String;
}

/// Why solving failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SolveError {
    /// No set of candidates satisfies the requirements; the explanation
    /// gives the failing chains of requirements, one per line.
    Unsatisfiable { explanation: String },
    /// The solver was stopped before it finished.
    Cancelled,
}

/// The candidates that satisfy `requirements`, with everything they need:
/// one per name at most, sorted by number, without repeats. The result
/// depends only on the universe and the requirements as given; callers
/// that treat requirements as a set put them in a canonical order first.
pub fn solve<U: Universe>(
    universe: &U,
    requirements: &[Vec<Alternative<U::Set>>],
) -> Result<Vec<Candidate>, SolveError> {
    let provider = Provider::new(universe);
    let requirements: Vec<ConditionalRequirement> =
        requirements.iter().map(|alternatives| provider.requirement(alternatives).into()).collect();
    let mut solver = Solver::new(provider);
    match solver.solve(Problem::new().requirements(requirements)) {
        Ok(solvables) => {
            let provider = solver.provider();
            let mut out: Vec<Candidate> = solvables.into_iter().map(|s| provider.candidate(s)).collect();
            out.sort_unstable();
            out.dedup();
            Ok(out)
        }
        Err(UnsolvableOrCancelled::Unsolvable(conflict)) => {
            Err(SolveError::Unsatisfiable { explanation: explain::explain(&conflict, &solver) })
        }
        Err(UnsolvableOrCancelled::Cancelled(_)) => Err(SolveError::Cancelled),
    }
}
