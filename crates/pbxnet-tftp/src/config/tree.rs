//! Checks of what the configuration names outside itself: the served tree
//! (quotas, macros, device templates, the upload folder). The shell reads
//! it ([`TreeSnapshot`]) at start-up, on reload and in `check`; these
//! functions only look at that data. (The server address against the
//! host's interfaces is checked with the site, by pbxnet-config.)

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use pbxnet_config::{Diagnostic, Severity, Template};

use super::validated::{Anchors, TftpConfig};
use crate::devices;
use crate::path::resolves_inside;

/// Most entries the shell reads from the served tree (with depth at most
/// [`crate::MAX_DEPTH`]): a check of a huge tree stays bounded.
pub const TREE_MAX_ENTRIES: usize = 20_000;

/// What the shell found at `files.root`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootFacts {
    /// The root could not be read.
    Unavailable {
        /// The system's error, as text.
        error: String,
    },
    /// The root exists but is not a directory.
    NotADirectory,
    /// A directory.
    Directory {
        /// Where it resolves (symlinks followed).
        resolved: PathBuf,
    },
}

/// One regular file beneath the root (symlinks are not followed by the walk).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeFile {
    /// Root-relative path.
    pub rel: String,
    /// Size in bytes.
    pub len: u64,
    /// Its text, for the files [`TftpConfig::wants_text`] names (valid UTF-8 only).
    pub text: Option<String>,
}

/// A root-relative folder the configuration names, as the shell found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderFacts {
    /// Root-relative path, as configured.
    pub rel: String,
    /// Where it resolves (symlinks followed); `None` when it does not exist.
    pub resolved: Option<PathBuf>,
    /// True for a directory (after symlinks).
    pub is_dir: bool,
}

/// The served tree as the shell read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeSnapshot {
    /// The root itself.
    pub root: RootFacts,
    /// Regular files, depth-first (at most [`TREE_MAX_ENTRIES`]).
    pub files: Vec<TreeFile>,
    /// The folders of [`TftpConfig::named_folders`].
    pub folders: Vec<FolderFacts>,
}

impl TftpConfig {
    /// True when the checks need the text of this file: a macro file small
    /// enough to be expanded, or a device template.
    pub fn wants_text(&self, rel: &str, len: u64) -> bool {
        (self.is_macro_file(rel) && len <= self.macro_max_size) || self.is_template(rel)
    }

    fn is_template(&self, rel: &str) -> bool {
        rel.rsplit_once('/')
            .is_some_and(|(folder, _)| folder == self.device_template_folder)
    }

    /// Root-relative folders whose resolution the checks need: the template
    /// folder and, when uploads are on, the upload folder.
    pub fn named_folders(&self) -> Vec<String> {
        let mut v = vec![self.device_template_folder.clone()];
        if let Some(u) = &self.policy.uploads {
            v.push(u.folder.clone());
        }
        v
    }

    /// Every problem of the served tree (`server_ip`: the site's
    /// `server-address`, for rendering the device templates).
    pub fn check_tree(&self, tree: &TreeSnapshot, server_ip: Ipv4Addr) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        let root = match &tree.root {
            RootFacts::Unavailable { error } => {
                let mut d = Anchors::at(
                    &self.anchors.root,
                    Severity::Warning,
                    format!("{}: {error}", self.root.display()),
                );
                d.set_hint("only the generated files (os_ins.alu, os8_ins.alu, hap_instruction.ini) will be served until the folder exists");
                out.push(d);
                None
            }
            RootFacts::NotADirectory => {
                let mut d = Anchors::at(
                    &self.anchors.root,
                    Severity::Error,
                    format!("{} is not a directory", self.root.display()),
                );
                d.set_hint("expected the folder holding Omniswitch/, ThirdParty_Devices/, Secured_Config/, Binary/");
                out.push(d);
                return out;
            }
            RootFacts::Directory { resolved } => Some(resolved.as_path()),
        };
        if root.is_some() {
            self.check_files(tree, &mut out);
            self.check_templates(tree, server_ip, &mut out);
            self.check_template_folder(tree, root, &mut out);
        }
        self.check_upload_folder(tree, root, &mut out);
        out
    }

    /// Quotas and macros of every file.
    fn check_files(&self, tree: &TreeSnapshot, out: &mut Vec<Diagnostic>) {
        let mut repo_total = 0u64;
        for f in &tree.files {
            let first = f.rel.split('/').next().unwrap_or("");
            if self
                .repository_folders
                .iter()
                .any(|r| r.eq_ignore_ascii_case(first))
            {
                repo_total += f.len;
            }
            if let Some(q) = self.file_quota(&f.rel) {
                if f.len > q {
                    let mut d = Anchors::at(
                        &self.anchors.root,
                        Severity::Error,
                        format!(
                            "{}: {} bytes exceeds the OmniSwitch file quota of {q} bytes",
                            f.rel, f.len
                        ),
                    );
                    d.set_hint("OmniSwitch files are limited to 0.5 MB (files.omniswitch-quota); such a file is refused, never served half");
                    out.push(d);
                }
            }
            if !self.is_macro_file(&f.rel) {
                continue;
            }
            if f.len > self.macro_max_size {
                let mut d = Anchors::at(&self.anchors.root, Severity::Error, format!("{}: {} bytes is over files.macro-max-size ({} bytes), so its ${{server_ip}} cannot be expanded; it is refused, never served unexpanded", f.rel, f.len, self.macro_max_size));
                d.set_hint("raise files.macro-max-size, or take the file's pattern out of files.macro-files if it holds no macro");
                out.push(d);
            } else if let Some(Err(e)) = f.text.as_deref().map(Template::parse) {
                let mut d = Anchors::at(
                    &self.anchors.root,
                    Severity::Error,
                    format!("{}: {e}", f.rel),
                );
                d.set_hint("fix the file: ${server_ip} is the only macro, $${ writes a literal ${");
                out.push(d);
            }
        }
        if repo_total > self.repository_quota {
            let mut d = Anchors::at(
                &self.anchors.root,
                Severity::Warning,
                format!(
                    "the repository ({}) holds {repo_total} bytes, over the quota of {} bytes",
                    self.repository_folders.join(", "),
                    self.repository_quota
                ),
            );
            d.set_hint(
                "the seed limits the configuration repository to 20 MB (files.repository-quota)",
            );
            out.push(d);
        }
    }

    /// Each configured device has a template that renders.
    fn check_templates(&self, tree: &TreeSnapshot, server_ip: Ipv4Addr, out: &mut Vec<Diagnostic>) {
        for d in &self.devices {
            let found = devices::template_candidates(&self.device_template_folder, d)
                .into_iter()
                .find_map(|c| tree.files.iter().find(|f| f.rel == c));
            let Some(file) = found else {
                let mut w = Anchors::at(
                    &self.anchors.root,
                    Severity::Warning,
                    format!(
                        "no template for device {} ({}/{}.cfg or default.cfg)",
                        d.mac,
                        self.device_template_folder,
                        d.model.as_deref().unwrap_or("<model>")
                    ),
                );
                w.key = "devices".into();
                w.set_hint("its <mac>.cfg will be \"file not found\" until a template exists");
                out.push(w);
                continue;
            };
            let text = file.text.as_deref().unwrap_or_default();
            if let Err(e) = devices::render(text, d, server_ip) {
                let mut w = Anchors::at(
                    &self.anchors.root,
                    Severity::Error,
                    format!("{} for device {}: {e}", file.rel, d.mac),
                );
                w.key = "devices".into();
                w.set_hint("define the variable in the device's vars, or fix the template");
                out.push(w);
            }
        }
    }

    /// The template folder resolves beneath the root: the daemon opens
    /// templates beneath it, so one outside would fail every `<mac>.cfg`.
    fn check_template_folder(
        &self,
        tree: &TreeSnapshot,
        root: Option<&Path>,
        out: &mut Vec<Diagnostic>,
    ) {
        let (Some(root), Some(folder)) = (root, self.folder(tree, &self.device_template_folder))
        else {
            return;
        };
        if let Some(resolved) = folder
            .resolved
            .as_deref()
            .filter(|r| !resolves_inside(r, root))
        {
            let mut d = Anchors::at(
                &self.anchors.template_folder,
                Severity::Error,
                format!(
                    "{} resolves to {}, outside the root {}",
                    folder.rel,
                    resolved.display(),
                    root.display()
                ),
            );
            d.set_hint("templates are read beneath the root only (symlinks may not leave it): move the templates into the root, or point devices.template-folder at a folder inside it");
            out.push(d);
        }
    }

    /// Uploads on: the folder exists beneath the root, and what it holds
    /// is counted against its quota.
    fn check_upload_folder(
        &self,
        tree: &TreeSnapshot,
        root: Option<&Path>,
        out: &mut Vec<Diagnostic>,
    ) {
        let Some(up) = &self.policy.uploads else {
            return;
        };
        let facts = self.folder(tree, &up.folder);
        let resolved = facts.and_then(|f| f.resolved.as_deref().filter(|_| f.is_dir));
        let problem = match (resolved, root) {
            (None, _) => Some(format!(
                "uploads are enabled but {} does not exist (or is not a folder)",
                self.root.join(&up.folder).display()
            )),
            (Some(r), Some(root)) if !resolves_inside(r, root) => Some(format!(
                "{} resolves to {}, outside the root",
                up.folder,
                r.display()
            )),
            _ => None,
        };
        if let Some(message) = problem {
            let mut d = Anchors::at(&self.anchors.upload_folder, Severity::Error, message);
            d.set_hint(format!("create the folder beneath the root (mkdir {}) and let the daemon's user write to it, or set uploads.enabled = false", self.root.join(&up.folder).display()));
            out.push(d);
            return;
        }
        let prefix = format!("{}/", up.folder);
        let used: u64 = tree
            .files
            .iter()
            .filter(|f| f.rel.starts_with(&prefix))
            .map(|f| f.len)
            .sum();
        if used >= up.folder_quota {
            let mut d = Anchors::at(&self.anchors.upload_folder, Severity::Warning, format!("{} holds {used} bytes, at or over uploads.folder-quota ({} bytes): every upload is refused (disk full)", up.folder, up.folder_quota));
            d.set_hint("remove files from the upload folder, or raise uploads.folder-quota");
            out.push(d);
        }
    }

    fn folder<'t>(&self, tree: &'t TreeSnapshot, rel: &str) -> Option<&'t FolderFacts> {
        tree.folders.iter().find(|f| f.rel == rel)
    }
}
