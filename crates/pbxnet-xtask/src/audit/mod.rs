//! The code-structure audit of issue 15 (`pbxnet-xtask audit`): measured on
//! the syntax tree (syn, with proc-macro2's span locations for lines), not by
//! grep, so that comments, strings and test code never count.
//!
//! - `file-size`: a source file over [`MAX_FILE_LINES`] lines, not counting
//!   `#[cfg(test)]` items; files under `tests/`, named `tests.rs` or
//!   `*_tests.rs`, or marked `@generated` are not measured;
//! - `fn-size`: a function or method over [`MAX_FN_LINES`] lines outside tests;
//! - `file-cycle`: files of one crate that import each other, directly or
//!   round a longer loop (`use crate::…`, `super::`, `self::`, child paths,
//!   followed through re-exports to the defining file);
//! - `crate-cycle`: workspace crates that depend on each other (cargo
//!   metadata; dev- and build-dependencies included: they still tie the
//!   crates' builds together);
//! - `core-io`: a sans-IO core (pbxnet-dhcp, -tftp, -ntp, -license,
//!   -inventory) using the filesystem, the environment, the clock,
//!   randomness, sockets or tokio outside `src/daemon/` and `src/bin/`.

mod core_io;
mod graph;
mod imports;
mod size;
mod tokens;
mod tree;
mod workspace;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use anyhow::{bail, Result};

use workspace::CrateSpec;

/// Largest source file allowed, in lines outside tests.
pub const MAX_FILE_LINES: usize = 600;
/// Longest function allowed, in lines.
pub const MAX_FN_LINES: usize = 80;

/// What a finding measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Check {
    FileSize,
    FnSize,
    FileCycle,
    CrateCycle,
    CoreIo,
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Check::FileSize => "file-size",
            Check::FnSize => "fn-size",
            Check::FileCycle => "file-cycle",
            Check::CrateCycle => "crate-cycle",
            Check::CoreIo => "core-io",
        })
    }
}

/// One offender.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Finding {
    /// The crate it is in (for a crate cycle: the first crate of the cycle).
    pub krate: String,
    pub check: Check,
    /// `path:line`, the path relative to the workspace root.
    pub location: String,
    /// What was measured, and the limit.
    pub measure: String,
}

/// Audits the workspace at `root`, or only the crate `only`.
pub fn run(root: &Path, only: Option<&str>) -> Result<Vec<Finding>> {
    let crates = workspace::members(root)?;
    if let Some(name) = only {
        if !crates.iter().any(|c| c.name == name) {
            let names: Vec<&str> = crates.iter().map(|c| c.name.as_str()).collect();
            bail!(
                "no crate {name} in the workspace; expected one of: {}",
                names.join(", ")
            );
        }
    }
    let mut findings = crate_cycles(root, &crates);
    for krate in &crates {
        if only.is_none_or(|name| name == krate.name) {
            findings.extend(audit_crate(root, krate)?);
        }
    }
    findings.retain(|f| only.is_none_or(|name| f.krate == name || f.measure.contains(name)));
    findings.sort_by_key(order);
    Ok(findings)
}

/// Crate, check, then file and line in numeric order.
fn order(f: &Finding) -> (String, Check, String, usize, String) {
    let (path, line) = f.location.rsplit_once(':').unwrap_or((&f.location, ""));
    let line = line.parse().unwrap_or(0);
    (
        f.krate.clone(),
        f.check,
        path.to_string(),
        line,
        f.measure.clone(),
    )
}

/// The findings as a table, one line each, with a closing count.
pub fn render(findings: &[Finding]) -> String {
    let width = findings
        .iter()
        .map(|f| f.location.len())
        .max()
        .unwrap_or(0)
        .max(5);
    let mut out = format!("{:<12} {:<width$}  MEASURE\n", "CHECK", "WHERE");
    for f in findings {
        out.push_str(&format!(
            "{:<12} {:<width$}  {}\n",
            f.check.to_string(),
            f.location,
            f.measure
        ));
    }
    let mut per_check: BTreeMap<Check, usize> = BTreeMap::new();
    for f in findings {
        *per_check.entry(f.check).or_default() += 1;
    }
    let counts: Vec<String> = per_check.iter().map(|(c, n)| format!("{c} {n}")).collect();
    out.push_str(&match findings.len() {
        0 => "clean: no offenders\n".to_string(),
        n => format!("{n} offenders ({})\n", counts.join(", ")),
    });
    out
}

fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// The size, import-cycle and (for a core) IO findings of one crate.
pub(crate) fn audit_crate(root: &Path, krate: &CrateSpec) -> Result<Vec<Finding>> {
    let tree = tree::Tree::load(krate)?;
    let mut findings = Vec::new();
    let mut found = |check, path: &Path, line: usize, measure: String| {
        findings.push(Finding {
            krate: krate.name.clone(),
            check,
            location: format!("{}:{line}", relative(root, path)),
            measure,
        })
    };
    let core = core_io::CORE_CRATES.contains(&krate.name.as_str());
    for file in tree.files.iter().filter(|f| !f.test) {
        let lines = size::lines_outside_tests(&file.text, &file.syntax);
        if lines > MAX_FILE_LINES && !file.generated {
            found(
                Check::FileSize,
                &file.path,
                1,
                format!("{lines} lines (limit {MAX_FILE_LINES})"),
            );
        }
        for f in size::functions(&file.syntax) {
            if f.lines > MAX_FN_LINES {
                let measure = format!("fn {}: {} lines (limit {MAX_FN_LINES})", f.name, f.lines);
                found(Check::FnSize, &file.path, f.line, measure);
            }
        }
        let in_crate = relative(&krate.dir, &file.path);
        if core && file.in_lib && !core_io::IO_DIRS.iter().any(|d| in_crate.starts_with(d)) {
            for io in core_io::io_uses(&file.syntax) {
                found(
                    Check::CoreIo,
                    &file.path,
                    io.line,
                    format!("uses {}", io.what),
                );
            }
        }
    }
    let edges = imports::file_edges(&tree);
    let pairs: BTreeSet<(usize, usize)> = edges.keys().copied().collect();
    for cycle in graph::cycles(tree.files.len(), &pairs) {
        let hop = |i: usize| {
            let (from, to) = (cycle.path[i], cycle.path[(i + 1) % cycle.path.len()]);
            format!(
                "{}:{}",
                short(&tree.files[from].path, &krate.dir),
                edges[&(from, to)]
            )
        };
        let mut measure: Vec<String> = (0..cycle.path.len()).map(hop).collect();
        measure.push(short(&tree.files[cycle.path[0]].path, &krate.dir));
        let mut measure = format!("imports round: {}", measure.join(" -> "));
        if cycle.members.len() > cycle.path.len() {
            measure.push_str(&format!(" ({} files tied in all)", cycle.members.len()));
        }
        let first = cycle.path[0];
        found(
            Check::FileCycle,
            &tree.files[first].path,
            edges[&(first, cycle.path[1])],
            measure,
        );
    }
    Ok(findings)
}

/// A file's path inside its crate's `src/` (or crate directory).
fn short(path: &Path, crate_dir: &Path) -> String {
    let rel = path.strip_prefix(crate_dir).unwrap_or(path);
    rel.strip_prefix("src").unwrap_or(rel).display().to_string()
}

/// Cycles among the workspace crates' dependencies on each other.
fn crate_cycles(root: &Path, crates: &[CrateSpec]) -> Vec<Finding> {
    let index: BTreeMap<&str, usize> = crates
        .iter()
        .enumerate()
        .map(|(i, c)| (c.name.as_str(), i))
        .collect();
    let mut kinds: BTreeMap<(usize, usize), workspace::DepKind> = BTreeMap::new();
    for (i, c) in crates.iter().enumerate() {
        for (dep, kind) in &c.deps {
            if let Some(&j) = index.get(dep.as_str()) {
                let k = kinds.entry((i, j)).or_insert(*kind);
                *k = (*k).min(*kind);
            }
        }
    }
    let pairs: BTreeSet<(usize, usize)> = kinds.keys().copied().collect();
    graph::cycles(crates.len(), &pairs)
        .into_iter()
        .map(|cycle| {
            let path = &cycle.path;
            let mut round = crates[path[0]].name.clone();
            for i in 0..path.len() {
                let (a, b) = (path[i], path[(i + 1) % path.len()]);
                round.push_str(&format!(" {} {}", kinds[&(a, b)].arrow(), crates[b].name));
            }
            Finding {
                krate: crates[path[0]].name.clone(),
                check: Check::CrateCycle,
                location: relative(root, &crates[path[0]].manifest),
                measure: format!("depends round: {round}"),
            }
        })
        .collect()
}
