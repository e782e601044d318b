//! The order of the layers: dependencies before dependants.

use std::collections::{BTreeMap, BTreeSet};

use super::Member;

/// Dependencies before dependants. Packages that depend on each other (a
/// cycle, such as libc6 and libgcc-s1) are placed together, by id; ties are
/// broken by id; and the project's own packages (no origin: `[[local]]`
/// directories) go above everything from a source, so the layers that
/// change most often are the top ones. The same set always gives the same
/// order.
pub(super) fn dependency_order(members: &[Member]) -> Vec<usize> {
    let mut by_name: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, m) in members.iter().enumerate() {
        by_name.insert(&m.metadata.name, i);
    }
    for (i, m) in members.iter().enumerate() {
        for provided in &m.metadata.provides {
            by_name.entry(&provided.name).or_insert(i);
        }
    }
    let local = |i: usize| members[i].metadata.origin.is_none();
    let mut needs: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); members.len()];
    for (i, m) in members.iter().enumerate() {
        for dependency in &m.metadata.dependencies {
            if let Some(&j) = dependency.any_of.iter().find_map(|alt| by_name.get(alt.name.as_str()))
                && j != i
            {
                needs[i].insert(j);
            }
        }
        // Every source package sits below every local one.
        if local(i) {
            needs[i].extend((0..members.len()).filter(|&j| !local(j)));
        }
    }
    let components = strongly_connected(&needs);
    let mut component_of = vec![0; members.len()];
    for (c, nodes) in components.iter().enumerate() {
        for &n in nodes {
            component_of[n] = c;
        }
    }
    let id = |i: usize| members[i].record.id.as_str();
    let smallest = |c: usize| components[c].iter().map(|&i| id(i)).min().unwrap_or("");
    let mut done = vec![false; components.len()];
    let mut order = Vec::with_capacity(members.len());
    let mut placed = 0;
    while placed < components.len() {
        let mut ready: Vec<usize> = (0..components.len())
            .filter(|&c| {
                !done[c]
                    && components[c]
                        .iter()
                        .all(|&i| needs[i].iter().all(|&j| component_of[j] == c || done[component_of[j]]))
            })
            .collect();
        if ready.is_empty() {
            // Cannot happen (components form an acyclic graph); never loop.
            ready = (0..components.len()).filter(|&c| !done[c]).collect();
        }
        ready.sort_by_key(|&c| smallest(c));
        for c in ready {
            done[c] = true;
            placed += 1;
            let mut nodes = components[c].clone();
            nodes.sort_by_key(|&i| id(i));
            order.extend(nodes);
        }
    }
    order
}

/// Tarjan's strongly connected components of the graph `edges` (node →
/// the nodes it needs).
fn strongly_connected(edges: &[BTreeSet<usize>]) -> Vec<Vec<usize>> {
    struct State<'a> {
        edges: &'a [BTreeSet<usize>],
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on_stack: Vec<bool>,
        stack: Vec<usize>,
        next: usize,
        out: Vec<Vec<usize>>,
    }
    fn visit(s: &mut State<'_>, v: usize) {
        s.index[v] = Some(s.next);
        s.low[v] = s.next;
        s.next += 1;
        s.stack.push(v);
        s.on_stack[v] = true;
        for &w in s.edges[v].iter() {
            match s.index[w] {
                None => {
                    visit(s, w);
                    s.low[v] = s.low[v].min(s.low[w]);
                }
                Some(iw) if s.on_stack[w] => s.low[v] = s.low[v].min(iw),
                Some(_) => {}
            }
        }
        if Some(s.low[v]) == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack[w] = false;
                component.push(w);
                if w == v {
                    break;
                }
            }
            s.out.push(component);
        }
    }
    let n = edges.len();
    let mut state = State {
        edges,
        index: vec![None; n],
        low: vec![0; n],
        on_stack: vec![false; n],
        stack: Vec::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in 0..n {
        if state.index[v].is_none() {
            visit(&mut state, v);
        }
    }
    state.out
}
