//! What the configuration names on this host, read for the core's checks
//! ([`TftpConfig::check_tree`]) at start-up, on every reload and by
//! `check`: the served tree (bounded walk: depth 4, 20,000 entries, the
//! texts the checks need), and the HTTPS certificate files.

use std::path::Path;
use std::time::SystemTime;

use pbxnet_config::{ConfigPaths, Diagnostic, Site};

use crate::{
    FolderFacts, RootFacts, TftpConfig, TreeFile, TreeSnapshot, MAX_DEPTH, TREE_MAX_ENTRIES,
};

/// The [`pbxnet_runtime::HostChecks`] of pbxnet-tftpd.
pub(crate) fn host_checks(cfg: &TftpConfig, site: &Site, paths: &ConfigPaths) -> Vec<Diagnostic> {
    let mut out = cfg.check_tree(&snapshot(cfg), site.server_address);
    if cfg.https.enabled {
        out.extend(super::tls::check(
            &cfg.https,
            site.server_address,
            &paths.daemon,
            SystemTime::now(),
        ));
    }
    out
}

/// Read the served tree as `cfg` names it.
pub(crate) fn snapshot(cfg: &TftpConfig) -> TreeSnapshot {
    let root = match std::fs::metadata(&cfg.root) {
        Err(e) => RootFacts::Unavailable {
            error: e.to_string(),
        },
        Ok(m) if !m.is_dir() => RootFacts::NotADirectory,
        Ok(_) => RootFacts::Directory {
            resolved: std::fs::canonicalize(&cfg.root).unwrap_or_else(|_| cfg.root.clone()),
        },
    };
    let mut files = Vec::new();
    if let RootFacts::Directory { resolved } = &root {
        walk(cfg, &cfg.root, String::new(), 0, &mut files);
        add_linked_templates(cfg, resolved, &mut files);
    }
    let folders = cfg
        .named_folders()
        .into_iter()
        .map(|rel| {
            let path = cfg.root.join(&rel);
            FolderFacts {
                resolved: std::fs::canonicalize(&path).ok(),
                is_dir: path.is_dir(),
                rel,
            }
        })
        .collect();
    TreeSnapshot {
        root,
        files,
        folders,
    }
}

fn file_facts(cfg: &TftpConfig, path: &Path, rel: String, len: u64) -> TreeFile {
    let text = cfg
        .wants_text(&rel, len)
        .then(|| std::fs::read_to_string(path).ok())
        .flatten();
    TreeFile { rel, len, text }
}

fn walk(cfg: &TftpConfig, dir: &Path, prefix: String, depth: usize, out: &mut Vec<TreeFile>) {
    if depth >= MAX_DEPTH || out.len() >= TREE_MAX_ENTRIES {
        return;
    }
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let rel = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() {
            walk(cfg, &e.path(), rel, depth + 1, out);
        } else if ft.is_file() {
            if let Ok(m) = e.metadata() {
                out.push(file_facts(cfg, &e.path(), rel, m.len()));
            }
        }
    }
}

/// Device templates that are symlinks to a file inside the root are served
/// (the daemon follows symlinks beneath the root), so they are checked too;
/// the walk itself does not follow symlinks.
fn add_linked_templates(cfg: &TftpConfig, root: &Path, out: &mut Vec<TreeFile>) {
    for d in &cfg.devices {
        for rel in crate::template_candidates(&cfg.device_template_folder, d) {
            if out.iter().any(|f| f.rel == rel) {
                continue;
            }
            let path = cfg.root.join(&rel);
            let inside =
                std::fs::canonicalize(&path).is_ok_and(|r| crate::resolves_inside(&r, root));
            match std::fs::metadata(&path) {
                Ok(m) if m.is_file() && inside => out.push(file_facts(cfg, &path, rel, m.len())),
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests;
