//! The workspace's crates, their targets and their dependencies on each
//! other, from `cargo metadata --no-deps` (offline: nothing is resolved).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use serde_json::Value;

/// What a target is (cargo's `kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TargetKind {
    Lib,
    Bin,
    Example,
    Bench,
    Test,
    BuildScript,
}

#[derive(Debug, Clone)]
pub(crate) struct TargetSpec {
    pub(crate) kind: TargetKind,
    pub(crate) root: PathBuf,
}

/// How one workspace crate depends on another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum DepKind {
    Normal,
    Build,
    Dev,
}

impl DepKind {
    /// The arrow drawn from the dependent to the dependency.
    pub(crate) fn arrow(self) -> &'static str {
        match self {
            DepKind::Normal => "->",
            DepKind::Build => "-build->",
            DepKind::Dev => "-dev->",
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct CrateSpec {
    pub(crate) name: String,
    pub(crate) dir: PathBuf,
    pub(crate) manifest: PathBuf,
    pub(crate) targets: Vec<TargetSpec>,
    /// Dependencies on other crates of the workspace (by path).
    pub(crate) deps: Vec<(String, DepKind)>,
}

/// The workspace members of the workspace at `root`.
pub(crate) fn members(root: &Path) -> Result<Vec<CrateSpec>> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--no-deps",
            "--offline",
            "--format-version",
            "1",
        ])
        .current_dir(root)
        .output()
        .context("running cargo metadata")?;
    if !out.status.success() {
        bail!(
            "cargo metadata: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let meta: Value = serde_json::from_slice(&out.stdout).context("reading cargo metadata")?;
    let packages = meta["packages"]
        .as_array()
        .context("cargo metadata: no packages")?;
    let mut crates: Vec<CrateSpec> = packages.iter().filter_map(crate_spec).collect();
    crates.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(crates)
}

fn crate_spec(package: &Value) -> Option<CrateSpec> {
    let manifest = PathBuf::from(package["manifest_path"].as_str()?);
    let dir = manifest.parent()?.to_path_buf();
    let targets = package["targets"]
        .as_array()?
        .iter()
        .filter_map(|t| {
            let kinds = t["kind"].as_array()?;
            let kind = kinds.iter().find_map(|k| target_kind(k.as_str()?))?;
            Some(TargetSpec {
                kind,
                root: PathBuf::from(t["src_path"].as_str()?),
            })
        })
        .collect();
    let deps = package["dependencies"]
        .as_array()?
        .iter()
        .filter(|d| d["path"].is_string())
        .filter_map(|d| {
            let kind = match d["kind"].as_str() {
                Some("dev") => DepKind::Dev,
                Some("build") => DepKind::Build,
                _ => DepKind::Normal,
            };
            Some((d["name"].as_str()?.to_string(), kind))
        })
        .collect();
    Some(CrateSpec {
        name: package["name"].as_str()?.to_string(),
        dir,
        manifest,
        targets,
        deps,
    })
}

fn target_kind(kind: &str) -> Option<TargetKind> {
    Some(match kind {
        "lib" | "rlib" | "dylib" | "cdylib" | "staticlib" | "proc-macro" => TargetKind::Lib,
        "bin" => TargetKind::Bin,
        "example" => TargetKind::Example,
        "bench" => TargetKind::Bench,
        "test" => TargetKind::Test,
        "custom-build" => TargetKind::BuildScript,
        _ => return None,
    })
}
