//! Finding, reading and validating a daemon's configuration files.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use crate::companion::CompanionFiles;
use crate::diag::{Diagnostic, Diagnostics, Severity};
use crate::host::HostInterfaces;
use crate::parse::parse_toml_detailed;
use crate::site::{RawSite, Site};
use crate::source::Source;

/// Where configuration lives when `--config` is not given.
pub const DEFAULT_CONFIG_DIR: &str = "/etc/pbxnet";

/// The file with the site-wide settings, next to each daemon's file.
pub const SITE_FILE: &str = "site.toml";

/// Implemented by each daemon's validated configuration.
pub trait DaemonConfig: Sized + Send + Sync + 'static {
    /// The daemon's file name, e.g. `"dhcp.toml"`.
    const FILE_NAME: &'static str;
    /// The serde mirror of the file. Its `Default` is what an absent file means.
    type Raw: DeserializeOwned + Default;
    /// Whether the loader reads this host's network interfaces (getifaddrs,
    /// a netlink socket) so validation can judge interface names and the
    /// server address against the host. A daemon that serves no network
    /// (licd) says no: its sandbox allows no netlink socket.
    const READS_HOST_INTERFACES: bool = true;
    /// Semantic checks: pushes every problem into `diags` and returns the
    /// validated config when it could be built. The load fails when any error
    /// was pushed, whatever this returns.
    fn validate(raw: Self::Raw, ctx: &ValidateCtx<'_>, diags: &mut Diagnostics) -> Option<Self>;

    /// Files beside the configuration that validation needs (a key file),
    /// as named in `raw` (relative paths are resolved against the config
    /// directory). The loader reads them and hands them to
    /// [`DaemonConfig::validate_with_files`]: a daemon core never opens a
    /// file itself. None by default.
    fn companion_files(raw: &Self::Raw) -> Vec<PathBuf> {
        let _ = raw;
        Vec::new()
    }

    /// [`DaemonConfig::validate`] with the companion files the loader read
    /// (by resolved path). The default ignores them.
    fn validate_with_files(
        raw: Self::Raw,
        ctx: &ValidateCtx<'_>,
        files: &CompanionFiles,
        diags: &mut Diagnostics,
    ) -> Option<Self> {
        let _ = files;
        Self::validate(raw, ctx, diags)
    }
}

/// What validation of a daemon file can see.
#[derive(Debug, Clone, Copy)]
pub struct ValidateCtx<'a> {
    /// The validated site settings.
    pub site: &'a Site,
    /// The daemon file's text, for spans.
    pub source: &'a Source,
    /// The directory the daemon file is in: relative paths in it are resolved
    /// against this.
    pub config_dir: &'a Path,
    /// This host's interfaces, read by the loader; `None` when not known
    /// (unit tests, or the host could not be read): the checks against the
    /// host are then skipped.
    pub host: Option<&'a HostInterfaces>,
}

impl ValidateCtx<'_> {
    /// Resolves a path from the config file relative to the file's directory.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.config_dir.join(path)
        }
    }
}

/// The two files a daemon reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigPaths {
    /// `site.toml`.
    pub site: PathBuf,
    /// The daemon's own file.
    pub daemon: PathBuf,
    /// True when the daemon file was named explicitly (`--config FILE`), so
    /// that its absence is an error rather than "use the defaults".
    pub daemon_explicit: bool,
}

impl ConfigPaths {
    /// `--config DIR` → `DIR/site.toml` and `DIR/<file>`; `--config FILE` →
    /// that file and `site.toml` beside it; nothing → [`DEFAULT_CONFIG_DIR`].
    pub fn resolve(location: Option<&Path>, file_name: &str) -> ConfigPaths {
        let location = location.unwrap_or(Path::new(DEFAULT_CONFIG_DIR));
        let is_file = location.is_file() || location.extension().is_some_and(|e| e == "toml");
        if is_file {
            let dir = location
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let site = dir.join(SITE_FILE);
            let site = if location.file_name().is_some_and(|n| n == SITE_FILE) {
                location.to_path_buf()
            } else {
                site
            };
            ConfigPaths {
                site,
                daemon: location.to_path_buf(),
                daemon_explicit: true,
            }
        } else {
            ConfigPaths {
                site: location.join(SITE_FILE),
                daemon: location.join(file_name),
                daemon_explicit: false,
            }
        }
    }
}

/// A successfully loaded configuration.
#[derive(Debug, Clone)]
pub struct Loaded<D> {
    /// Site-wide settings.
    pub site: Site,
    /// The daemon's settings.
    pub daemon: D,
    /// The files that were read (absent files are not listed).
    pub files: Vec<PathBuf>,
    /// Warnings found while loading (the load still succeeded).
    pub warnings: Vec<Diagnostic>,
}

/// Every problem that stopped a configuration from loading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigReport {
    /// Errors and warnings, sorted by file and position.
    pub diagnostics: Vec<Diagnostic>,
}

impl ConfigReport {
    /// Number of errors.
    pub fn error_count(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }
}

impl std::fmt::Display for ConfigReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for d in &self.diagnostics {
            writeln!(f, "{d}")?;
        }
        let errors = self.error_count();
        let warnings = self.diagnostics.len() - errors;
        write!(
            f,
            "{errors} error{}, {warnings} warning{}",
            if errors == 1 { "" } else { "s" },
            if warnings == 1 { "" } else { "s" }
        )
    }
}

impl std::error::Error for ConfigReport {}

/// Reads a file; an absent file is `Ok(None)` unless `required`.
fn read_optional(path: &Path, required: bool, diags: &mut Diagnostics) -> Option<Source> {
    match Source::read(path) {
        Ok(source) => {
            warn_if_world_writable(path, diags);
            Some(source)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => None,
        Err(e) => {
            diags.push(
                Diagnostic::file(Severity::Error, path, format!("cannot read the file: {e}"))
                    .with_hint("check the path given with --config and the file's permissions"),
            );
            None
        }
    }
}

fn warn_if_world_writable(path: &Path, diags: &mut Diagnostics) {
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.permissions().mode() & 0o002 != 0 {
            diags.push(
                Diagnostic::file(
                    Severity::Warning,
                    path,
                    "the file is writable by every user",
                )
                .with_hint(format!("run `chmod o-w {}`", path.display())),
            );
        }
    }
}

/// Refuses a secret (key) file that other users can read. Returns the
/// problem as a sentence, for a diagnostic or a log line.
pub fn check_secret_file_mode(path: &Path) -> Result<(), String> {
    let meta =
        std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    secret_file_mode_problem(path, meta.permissions().mode())
}

/// [`check_secret_file_mode`] on a mode already read (by the shell): a
/// secret file at `path` must not be readable by group or others.
pub fn secret_file_mode_problem(path: &Path, mode: u32) -> Result<(), String> {
    let mode = mode & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "{} holds secret keys but has mode {mode:04o} (readable by group or others); run `chmod 600 {}`",
            path.display(),
            path.display()
        ));
    }
    Ok(())
}

/// Loads and validates `site.toml` only, without checking it against this
/// host (what the client subcommands need: the socket and state paths).
pub fn load_site(paths: &ConfigPaths) -> Result<(Site, Vec<Diagnostic>), ConfigReport> {
    let mut diags = Diagnostics::new();
    let site = load_site_into(paths, None, &mut diags);
    finish(diags).map(|warnings| (site, warnings))
}

fn load_site_into(
    paths: &ConfigPaths,
    host: Option<&HostInterfaces>,
    diags: &mut Diagnostics,
) -> Site {
    let Some(source) = read_optional(&paths.site, false, diags) else {
        // The defaults, with diagnostics about them naming the absent file;
        // not checked against the host (nothing the installer wrote).
        return Site::validate(
            RawSite::default(),
            &Source::new(&paths.site, ""),
            None,
            diags,
        );
    };
    parse_then_validate::<RawSite, _>(&source, diags, |raw, semantic| {
        Site::validate(raw, &source, host, semantic)
    })
}

/// Parses `source`, then runs the semantic checks on what could be parsed,
/// so that one run reports both kinds of problem. What the checks say about
/// an entry the parser already reported and removed (or its table) is the
/// same problem again, and is dropped.
fn parse_then_validate<R: DeserializeOwned + Default, T>(
    source: &Source,
    diags: &mut Diagnostics,
    validate: impl FnOnce(R, &mut Diagnostics) -> T,
) -> T {
    let mut parsed = parse_toml_detailed::<R>(source);
    diags.extend(std::mem::take(&mut parsed.diagnostics));
    let mut semantic = Diagnostics::new();
    let value = validate(parsed.value.take().unwrap_or_default(), &mut semantic);
    diags.extend(
        semantic
            .into_sorted()
            .into_iter()
            .filter(|d| !(d.file == source.path && parsed.covers(&d.key))),
    );
    value
}

fn finish(diags: Diagnostics) -> Result<Vec<Diagnostic>, ConfigReport> {
    if diags.has_errors() {
        Err(ConfigReport {
            diagnostics: diags.into_sorted(),
        })
    } else {
        Ok(diags.into_sorted())
    }
}

/// Loads the site and daemon files, validates them, and returns the
/// validated config or every problem found (in both files).
pub fn load<D: DaemonConfig>(location: Option<&Path>) -> Result<Loaded<D>, ConfigReport> {
    load_paths(&ConfigPaths::resolve(location, D::FILE_NAME))
}

/// Like [`load`], with explicit paths.
pub fn load_paths<D: DaemonConfig>(paths: &ConfigPaths) -> Result<Loaded<D>, ConfigReport> {
    load_paths_with::<D>(paths, |_, _, _| Vec::new())
}

/// Like [`load_paths`], then `host_checks` on the config that validation
/// built (even one with errors, so that one run reports every problem): a
/// daemon shell's checks of what the configuration names on this host (the
/// files it serves, the host's addresses), read by the shell and judged by
/// its core. Their errors refuse the configuration like validation's.
pub fn load_paths_with<D: DaemonConfig>(
    paths: &ConfigPaths,
    host_checks: impl FnOnce(&D, &Site, &ConfigPaths) -> Vec<Diagnostic>,
) -> Result<Loaded<D>, ConfigReport> {
    let mut diags = Diagnostics::new();
    let mut files = Vec::new();
    if paths.site.exists() {
        files.push(paths.site.clone());
    }
    // The host's interfaces: what `run` will find, so that `check` and a
    // reload judge the configuration against the same host. Unreadable (no
    // /proc, seccomp): the checks against the host are skipped.
    let host = if D::READS_HOST_INTERFACES {
        HostInterfaces::read().ok()
    } else {
        None
    };
    let site = load_site_into(paths, host.as_ref(), &mut diags);
    let source = read_optional(&paths.daemon, paths.daemon_explicit, &mut diags);
    if source.is_some() {
        files.push(paths.daemon.clone());
    }
    let source = source.unwrap_or_else(|| Source::new(&paths.daemon, ""));
    let config_dir = paths.daemon.parent().unwrap_or(Path::new("."));
    let ctx = ValidateCtx {
        site: &site,
        source: &source,
        config_dir,
        host: host.as_ref(),
    };
    let daemon = parse_then_validate::<D::Raw, _>(&source, &mut diags, |raw, semantic| {
        let files = CompanionFiles::read(D::companion_files(&raw).iter().map(|p| ctx.resolve(p)));
        D::validate_with_files(raw, &ctx, &files, semantic)
    });
    if let Some(daemon) = &daemon {
        diags.extend(host_checks(daemon, &site, paths));
    }
    let warnings = finish(diags)?;
    match daemon {
        Some(daemon) => Ok(Loaded {
            site,
            daemon,
            files,
            warnings,
        }),
        None => Err(ConfigReport {
            diagnostics: vec![Diagnostic::file(
                Severity::Error,
                &paths.daemon,
                "the configuration could not be built (validation returned no value without reporting why: this is a bug)",
            )],
        }),
    }
}
