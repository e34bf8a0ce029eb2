//! Cycles in a directed graph: Tarjan's strongly connected components, and
//! for each component of more than one node its shortest cycle through the
//! lowest node (what a reader can follow, file by file or crate by crate).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// One strongly connected component of more than one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cycle {
    /// `[a, b, c]` reads `a → b → c → a`.
    pub(crate) path: Vec<usize>,
    /// Every node of the component, sorted.
    pub(crate) members: Vec<usize>,
}

/// The cycles of the graph with `nodes` nodes and these edges.
pub(crate) fn cycles(nodes: usize, edges: &BTreeSet<(usize, usize)>) -> Vec<Cycle> {
    let mut next: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for &(a, b) in edges {
        if a != b {
            next.entry(a).or_default().push(b);
        }
    }
    let mut tarjan = Tarjan {
        next: &next,
        index: vec![None; nodes],
        low: vec![0; nodes],
        on_stack: vec![false; nodes],
        stack: Vec::new(),
        counter: 0,
        components: Vec::new(),
    };
    for node in 0..nodes {
        if tarjan.index[node].is_none() {
            tarjan.visit(node);
        }
    }
    let mut out: Vec<Cycle> = tarjan
        .components
        .into_iter()
        .filter(|c| c.len() > 1)
        .map(|mut members| {
            members.sort_unstable();
            let path = shortest_cycle(&next, &members);
            Cycle { path, members }
        })
        .collect();
    out.sort_by(|a, b| a.members.cmp(&b.members));
    out
}

struct Tarjan<'a> {
    next: &'a BTreeMap<usize, Vec<usize>>,
    index: Vec<Option<usize>>,
    low: Vec<usize>,
    on_stack: Vec<bool>,
    stack: Vec<usize>,
    counter: usize,
    components: Vec<Vec<usize>>,
}

impl Tarjan<'_> {
    fn visit(&mut self, node: usize) {
        self.index[node] = Some(self.counter);
        self.low[node] = self.counter;
        self.counter += 1;
        self.stack.push(node);
        self.on_stack[node] = true;
        let next = self.next.get(&node).cloned().unwrap_or_default();
        for succ in next {
            match self.index[succ] {
                None => {
                    self.visit(succ);
                    self.low[node] = self.low[node].min(self.low[succ]);
                }
                Some(i) if self.on_stack[succ] => self.low[node] = self.low[node].min(i),
                Some(_) => {}
            }
        }
        if Some(self.low[node]) == self.index[node] {
            let mut component = Vec::new();
            while let Some(top) = self.stack.pop() {
                self.on_stack[top] = false;
                component.push(top);
                if top == node {
                    break;
                }
            }
            self.components.push(component);
        }
    }
}

/// Breadth-first from the lowest member back to itself, inside the component.
fn shortest_cycle(next: &BTreeMap<usize, Vec<usize>>, members: &[usize]) -> Vec<usize> {
    let inside: BTreeSet<usize> = members.iter().copied().collect();
    let start = members[0];
    let mut came_from: BTreeMap<usize, usize> = BTreeMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(node) = queue.pop_front() {
        for &succ in next.get(&node).into_iter().flatten() {
            if !inside.contains(&succ) {
                continue;
            }
            if succ == start {
                let mut path = vec![node];
                let mut at = node;
                while at != start {
                    at = came_from[&at];
                    path.push(at);
                }
                path.reverse();
                return path;
            }
            if succ != start && !came_from.contains_key(&succ) {
                came_from.insert(succ, node);
                queue.push_back(succ);
            }
        }
    }
    members.to_vec()
}
