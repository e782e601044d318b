//! Dependency resolution for Debian binary packages, as apt applies the
//! relationship fields to one architecture, solved by resolvo (a CDCL SAT
//! solver).
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
//! See `provider.rs` for how this is encoded for resolvo.

use std::collections::HashMap;

use bale_debian::Version;
use bale_debian::packages::PackageIndex;
use bale_debian::relation::Atom;
use resolvo::{ConditionalRequirement, Problem, Solver, UnsolvableOrCancelled};

mod explain;
mod provider;
#[cfg(test)]
mod tests;

use provider::{DebianProvider, target_name};

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
    Index(bale_debian::packages::PackagesError),
    /// The solver was stopped before it finished.
    #[error("the solver was cancelled")]
    Cancelled,
}

/// Picks the packages that satisfy `request`, with everything they depend on.
///
/// The result depends only on the index and the request, and not on the
/// order of `roots`: the same inputs always give the same packages.
impl ResolveError {
    /// What to do about it, for people.
    pub fn help(&self) -> Option<&'static str> {
        Some(match self {
            Self::Index(_) => "the archive's index is damaged at that stanza: retry later or use another mirror",
            _ => "`bale debian show NAME` shows the versions and dependencies the archive has",
        })
    }
}

pub fn resolve(request: &Request<'_>) -> Result<Resolution, ResolveError> {
    let index = request.index;
    // The request is a set: solve it in one canonical order, so the order in
    // which a spec lists packages cannot change the outcome.
    let mut roots: Vec<(String, String, &Atom)> =
        request.roots.iter().map(|root| (target_name(root, &request.architecture), root.to_string(), root)).collect();
    roots.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    roots.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
    let provider = DebianProvider::new(index, &request.architecture, &request.locked);
    if let Some((name, _, _)) =
        roots.iter().find(|(name, _, _)| provider.versions(name).is_empty() && provider.providers(name).is_empty())
    {
        if let Some(error) = provider.index_error.take() {
            return Err(ResolveError::Index(error));
        }
        return Err(ResolveError::UnknownRoot { name: name.clone() });
    }
    let requirements: Vec<ConditionalRequirement> =
        roots.iter().map(|(_, _, root)| provider.root_requirement(root).into()).collect();
    let mut solver = Solver::new(provider);
    let outcome = solver.solve(Problem::new().requirements(requirements));
    // An answer reached with a stanza missing is no answer.
    if let Some(error) = solver.provider().index_error.take() {
        return Err(ResolveError::Index(error));
    }
    match outcome {
        Ok(solvables) => {
            let provider = solver.provider();
            let mut packages: Vec<usize> = solvables.into_iter().map(|s| provider.position(s)).collect();
            packages.sort_by(|&a, &b| {
                let (pa, pb) = (index.get(a), index.get(b));
                pa.name.cmp(&pb.name).then_with(|| pa.version.cmp(&pb.version)).then(a.cmp(&b))
            });
            packages.dedup();
            Ok(Resolution { packages })
        }
        Err(UnsolvableOrCancelled::Unsolvable(conflict)) => {
            let explanation = explain::explain(&conflict, &solver);
            match solver.provider().index_error.take() {
                Some(error) => Err(ResolveError::Index(error)),
                None => Err(ResolveError::Unsatisfiable { explanation }),
            }
        }
        Err(UnsolvableOrCancelled::Cancelled(_)) => Err(ResolveError::Cancelled),
    }
}
