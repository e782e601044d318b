//! Turns resolvo's proof that nothing satisfies a request into sentences a
//! person can act on: the chain of requirements from what was asked for down
//! to the missing version or the conflict, with package names and versions.
//!
//! resolvo's conflict graph has the request (root) and the candidates
//! involved as nodes, `requires` edges from a node to each candidate of one
//! of its requirements, and conflict edges (a restriction, or two
//! candidates of one name). A node cannot be installed when it has a
//! conflict edge, or a requirement none of whose candidates can be; the
//! nodes are marked in that order, so every explanation only descends to
//! nodes marked before it and dependency cycles cannot loop it.

use resolvo::conflict::{Conflict, ConflictCause, ConflictEdge, ConflictNode};
use resolvo::{Requirement, SolvableId, Solver};

use crate::Universe;
use crate::provider::Provider;

/// At most this many reasons are given for one package.
const REASONS_PER_PACKAGE: usize = 3;
/// At most this many lines in the whole explanation.
const LINES: usize = 12;

pub(crate) fn explain<U: Universe>(conflict: &Conflict, solver: &Solver<Provider<'_, U>>) -> String {
    let graph = conflict.graph(solver);
    let provider = solver.provider();
    let nodes: Vec<ConflictNode<SolvableId>> = graph.graph.raw_nodes().iter().map(|n| n.weight).collect();
    let mut analysis = Analysis {
        provider,
        root: graph.root_node.index(),
        requires: vec![Vec::new(); nodes.len()],
        conflicts: vec![Vec::new(); nodes.len()],
        marked: vec![None; nodes.len()],
        parent: vec![None; nodes.len()],
        memo: vec![None; nodes.len()],
        nodes,
    };
    for edge in graph.graph.raw_edges() {
        let (source, target) = (edge.source().index(), edge.target().index());
        match edge.weight {
            ConflictEdge::Requires(requirement) => {
                let groups = &mut analysis.requires[source];
                match groups.iter_mut().find(|(r, _)| *r == requirement) {
                    Some((_, targets)) => {
                        if !targets.contains(&target) {
                            targets.push(target);
                        }
                    }
                    None => groups.push((requirement, vec![target])),
                }
            }
            ConflictEdge::Conflict(cause) => analysis.conflicts[source].push((cause, target)),
        }
    }
    analysis.mark();
    analysis.find_paths();
    let lines = analysis.root_lines();
    if lines.is_empty() {
        // Not expected: fall back on resolvo's own rendering of the graph.
        return conflict.display_user_friendly(solver).to_string();
    }
    let mut text = String::new();
    for line in &lines {
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str("- ");
        text.push_str(line);
    }
    text
}

struct Analysis<'g, 'p, U: Universe> {
    provider: &'g Provider<'p, U>,
    nodes: Vec<ConflictNode<SolvableId>>,
    root: usize,
    /// Per node, its requirements in the graph with their candidate nodes.
    requires: Vec<Vec<(Requirement, Vec<usize>)>>,
    /// Per node, its outgoing conflict edges.
    conflicts: Vec<Vec<(ConflictCause<SolvableId>, usize)>>,
    /// Per node, when it was found not installable (lower is earlier).
    marked: Vec<Option<usize>>,
    /// Per node, the node and requirement it is first reached by from the
    /// root through requirements.
    parent: Vec<Option<(usize, Requirement)>>,
    memo: Vec<Option<Vec<String>>>,
}

impl<U: Universe> Analysis<'_, '_, U> {
    fn solvable(&self, node: usize) -> Option<SolvableId> {
        match self.nodes[node] {
            ConflictNode::Solvable(solvable) => Some(solvable),
            _ => None,
        }
    }

    /// The name a node is a candidate of.
    fn name(&self, node: usize) -> Option<&str> {
        self.solvable(node).map(|s| self.provider.universe.name_of(self.provider.candidate(s)))
    }

    fn text(&self, node: usize) -> String {
        match self.nodes[node] {
            ConflictNode::Solvable(solvable) => self.provider.solvable_text(solvable),
            ConflictNode::Root => "the request".into(),
            ConflictNode::UnresolvedDependency => "nothing".into(),
            ConflictNode::Excluded(_) => "an excluded package".into(),
        }
    }

    /// Marks, in order, the nodes that cannot be installed.
    fn mark(&mut self) {
        let mut order = 0;
        for node in 0..self.nodes.len() {
            if matches!(self.nodes[node], ConflictNode::UnresolvedDependency | ConflictNode::Excluded(_)) {
                self.marked[node] = Some(order);
                order += 1;
            }
        }
        loop {
            let mut changed = false;
            for node in 0..self.nodes.len() {
                if self.marked[node].is_some() {
                    continue;
                }
                let blocked = !self.conflicts[node].is_empty()
                    || self.requires[node].iter().any(|(_, targets)| targets.iter().all(|&t| self.marked[t].is_some()));
                if blocked {
                    self.marked[node] = Some(order);
                    order += 1;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
    }

    /// Breadth-first from the root along requirements, so a needed package
    /// can be explained by the shortest chain that asks for it.
    fn find_paths(&mut self) {
        let mut seen = vec![false; self.nodes.len()];
        seen[self.root] = true;
        let mut queue = std::collections::VecDeque::from([self.root]);
        while let Some(node) = queue.pop_front() {
            for (requirement, targets) in &self.requires[node] {
                for &target in targets {
                    if !seen[target] {
                        seen[target] = true;
                        self.parent[target] = Some((node, *requirement));
                        queue.push_back(target);
                    }
                }
            }
        }
    }

    /// "requested a, a 1 requires b (>= 2)": why `node` is wanted at all.
    fn path(&self, node: usize) -> String {
        let mut steps = Vec::new();
        let mut at = node;
        while let Some((parent, requirement)) = self.parent[at] {
            let wanted = self.provider.requirement_text(requirement);
            if parent == self.root {
                steps.push(format!("requested {wanted}"));
            } else {
                steps.push(format!("{} requires {wanted}", self.text(parent)));
            }
            at = parent;
            if steps.len() > self.nodes.len() {
                break;
            }
        }
        if steps.is_empty() {
            return "it is part of the conflict".into();
        }
        steps.reverse();
        steps.join(", ")
    }

    fn root_lines(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        let groups = self.requires[self.root].clone();
        for (requirement, targets) in groups {
            if !targets.iter().all(|&t| self.marked[t].is_some()) {
                continue;
            }
            let wanted = self.provider.requirement_text(requirement);
            if let Some(reason) = self.missing(requirement, &targets) {
                lines.push(format!("requested {wanted}, but no candidate: {reason}"));
                continue;
            }
            for (name, subject, reasons) in self.candidate_groups(&targets, usize::MAX) {
                let prefix = if name == wanted { String::new() } else { format!("requested {wanted}: ") };
                for reason in reasons {
                    lines.push(format!("{prefix}{subject} {reason}"));
                }
            }
        }
        let mut unique: Vec<String> = Vec::new();
        for line in lines {
            if !unique.contains(&line) {
                unique.push(line);
            }
        }
        if unique.len() > LINES {
            let more = unique.len() - LINES;
            unique.truncate(LINES);
            unique.push(format!("… and {more} more"));
        }
        unique
    }

    /// For a requirement whose only "candidate" is the unresolved node, why
    /// nothing matches it.
    fn missing(&self, requirement: Requirement, targets: &[usize]) -> Option<String> {
        if targets.iter().any(|&t| self.solvable(t).is_some()) {
            return None;
        }
        let universe = self.provider.universe;
        let wanted = self.provider.wanted(requirement);
        let reasons: Vec<String> = match wanted.as_slice() {
            [(_, single)] => vec![universe.why_missing(single)],
            _ => wanted.iter().map(|(text, a)| format!("for {text}, {}", universe.why_missing(a))).collect(),
        };
        Some(reasons.join("; "))
    }

    /// The candidates among `targets`, grouped by package name and by
    /// identical reasons, as (name, "name v1, v2", reasons), each reason a
    /// phrase that starts with a verb.
    fn candidate_groups(&mut self, targets: &[usize], below: usize) -> Vec<(String, String, Vec<String>)> {
        let mut groups: Vec<(String, Vec<String>, Vec<String>)> = Vec::new();
        for &target in targets {
            if self.marked[target].is_none_or(|m| m >= below) {
                continue;
            }
            let Some(solvable) = self.solvable(target) else { continue };
            let candidate = self.provider.candidate(solvable);
            let universe = self.provider.universe;
            let (name, version) = (universe.name_of(candidate).to_string(), universe.version_text(candidate));
            let reasons = self.reasons(target);
            if reasons.is_empty() {
                continue;
            }
            match groups.iter_mut().find(|(n, _, r)| *n == name && *r == reasons) {
                Some((_, versions, _)) => versions.push(version),
                None => groups.push((name, vec![version], reasons)),
            }
        }
        groups
            .into_iter()
            .map(|(name, versions, reasons)| {
                let subject = format!("{name} {}", versions.join(", "));
                (name, subject, reasons)
            })
            .collect()
    }

    /// Why a marked solvable cannot be installed, as phrases starting with
    /// a verb ("requires …", "conflicts with …").
    fn reasons(&mut self, node: usize) -> Vec<String> {
        if let Some(done) = &self.memo[node] {
            return done.clone();
        }
        let Some(rank) = self.marked[node] else { return Vec::new() };
        let mut out = Vec::new();
        for (cause, target) in self.conflicts[node].clone() {
            out.push(self.conflict_reason(node, cause, target));
        }
        for (requirement, targets) in self.requires[node].clone() {
            if out.len() >= REASONS_PER_PACKAGE {
                break;
            }
            // Only requirements that were already hopeless when this node
            // was marked explain it; that also keeps cycles out.
            if !targets.iter().all(|&t| self.marked[t].is_some_and(|m| m < rank)) {
                continue;
            }
            let wanted = self.provider.requirement_text(requirement);
            if let Some(reason) = self.missing(requirement, &targets) {
                out.push(format!("requires {wanted}, but no candidate: {reason}"));
                continue;
            }
            for (_, subject, reasons) in self.candidate_groups(&targets, rank) {
                for reason in reasons {
                    out.push(format!("requires {wanted} which, as {subject}, {reason}"));
                }
            }
        }
        out.truncate(REASONS_PER_PACKAGE);
        self.memo[node] = Some(out.clone());
        out
    }

    fn conflict_reason(&self, node: usize, cause: ConflictCause<SolvableId>, target: usize) -> String {
        let (other, needed) = (self.text(target), self.path(target));
        match cause {
            ConflictCause::Constrains(set) => {
                let restriction = self.provider.alternative(set);
                let phrase = self.provider.universe.restriction_text(&restriction, &other);
                format!("{phrase}, but {other} is needed: {needed}")
            }
            ConflictCause::ForbidMultipleInstances => {
                // resolvo links the versions of one package in a chain whose
                // edges need not join the two that clash: name the other
                // versions of the package that the conflict involves.
                let name = self.name(node).unwrap_or_default().to_string();
                let others: Vec<usize> =
                    (0..self.nodes.len()).filter(|&n| n != node && self.name(n) == Some(name.as_str())).collect();
                let Some(&first) = others.iter().find(|&&n| self.parent[n].is_some()).or(others.first()) else {
                    return format!("cannot be installed (only one version of {name} at a time)");
                };
                let other = self.text(first);
                format!(
                    "cannot be installed alongside {other} (only one version of {name} at a time), \
                     but {other} is needed: {}",
                    self.path(first)
                )
            }
            ConflictCause::Locked(locked) => {
                format!("is not the locked version {}", self.provider.solvable_text(locked))
            }
            ConflictCause::Excluded => "is excluded".into(),
        }
    }
}
