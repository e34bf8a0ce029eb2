//! File-level imports inside one crate: which file uses an item of which
//! other file, through `crate::`, `super::`, `self::` and child-module paths,
//! following `use` re-exports (and globs) to the file that defines the item.
//! `mod name;` itself is not an import: a parent declaring its children is
//! the tree, not a dependency.

use std::collections::BTreeMap;

use super::tree::Tree;

/// How deep re-exports are followed before giving up (a `use` loop).
const MAX_HOPS: usize = 32;

/// Where a path ends: at a module, or at an item defined in a module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Module(usize),
    ItemIn(usize),
}

impl Target {
    fn module(self) -> usize {
        match self {
            Target::Module(m) | Target::ItemIn(m) => m,
        }
    }
}

/// `(from file, to file)` → the first line in `from` that makes the import.
pub(crate) type FileEdges = BTreeMap<(usize, usize), usize>;

/// Every file-to-file import of non-test code in `tree`.
pub(crate) fn file_edges(tree: &Tree) -> FileEdges {
    let mut edges = FileEdges::new();
    for (id, module) in tree.modules.iter().enumerate() {
        let from = module.file;
        if module.test || tree.files[from].test {
            continue;
        }
        for path in &module.paths {
            // A lone `crate`/`super` is a visibility (`pub(crate)`), a lone
            // name is a value or a type: neither names another module.
            if path.segments.len() < 2 && path.binds.is_none() && !path.glob {
                continue;
            }
            let Some(target) = resolve(tree, id, &path.segments, 0) else {
                continue;
            };
            let to = tree.modules[target.module()].file;
            if to != from && !tree.files[to].test {
                let line = edges.entry((from, to)).or_insert(path.line);
                *line = (*line).min(path.line);
            }
        }
    }
    edges
}

/// Resolves `segments` as written in `module`; `None` for paths outside the
/// crate (std, dependencies) and for local names.
fn resolve(tree: &Tree, module: usize, segments: &[String], hops: usize) -> Option<Target> {
    if hops > MAX_HOPS {
        return None;
    }
    let (first, rest) = segments.split_first()?;
    let mods = &tree.modules;
    let start = match first.as_str() {
        "crate" | "$crate" => tree.root_of(module),
        "self" => module,
        "super" => {
            let mut at = mods[module].parent?;
            let mut rest = rest;
            while rest.first().is_some_and(|s| s == "super") {
                at = mods[at].parent?;
                rest = &rest[1..];
            }
            return walk(tree, at, rest, hops);
        }
        name => {
            if let Some(&child) = mods[module].children.get(name) {
                child
            } else if let Some(import) = mods[module].imports.get(name) {
                if import.as_slice() == segments {
                    return None;
                }
                let via = resolve(tree, module, import, hops + 1)?;
                return match via {
                    Target::Module(m) => walk(tree, m, rest, hops),
                    item => Some(item),
                };
            } else {
                return None;
            }
        }
    };
    walk(tree, start, rest, hops)
}

/// Follows `rest` down from module `at`.
fn walk(tree: &Tree, mut at: usize, rest: &[String], hops: usize) -> Option<Target> {
    let mut i = 0;
    while let Some(name) = rest.get(i) {
        let m = &tree.modules[at];
        if let Some(&child) = m.children.get(name) {
            at = child;
        } else if m.items.contains(name) {
            return Some(Target::ItemIn(at));
        } else if let Some(import) = m.imports.get(name) {
            match resolve(tree, at, import, hops + 1) {
                Some(Target::Module(next)) => at = next,
                Some(item) => return Some(item),
                None => return Some(Target::ItemIn(at)),
            }
        } else if let Some(next) = through_glob(tree, at, name, hops) {
            // Look the same name up again in the glob's module.
            at = next;
            continue;
        } else {
            return Some(Target::ItemIn(at));
        }
        i += 1;
    }
    Some(Target::Module(at))
}

/// The module a `use …::*` in `at` brings `name` from, if any.
fn through_glob(tree: &Tree, at: usize, name: &str, hops: usize) -> Option<usize> {
    tree.modules[at].globs.iter().find_map(|glob| {
        let Target::Module(g) = resolve(tree, at, glob, hops + 1)? else {
            return None;
        };
        let m = &tree.modules[g];
        let has = g != at
            && (m.children.contains_key(name)
                || m.items.contains(name)
                || m.imports.contains_key(name));
        has.then_some(g)
    })
}
