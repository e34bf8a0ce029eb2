//! Loading the configuration at start-up and on SIGHUP.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use pbxnet_config::{ConfigPaths, ConfigReport, DaemonConfig, Diagnostic, Loaded};

use crate::cli::GlobalArgs;
use crate::host::{load_checked, no_host_checks, HostChecks};
use crate::{logging, notify};

/// Holds the configuration in force. A reload validates the new files fully
/// and swaps them in whole, or keeps the old configuration and logs every
/// error: a daemon never runs half a configuration.
pub struct Reloader<D> {
    paths: ConfigPaths,
    current: Arc<Loaded<D>>,
    host_checks: HostChecks<D>,
}

impl<D: std::fmt::Debug> std::fmt::Debug for Reloader<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reloader")
            .field("paths", &self.paths)
            .field("current", &self.current)
            .finish_non_exhaustive()
    }
}

impl<D: DaemonConfig> Reloader<D> {
    /// Loads the configuration from `location` (see [`ConfigPaths::resolve`]).
    pub fn new(location: Option<PathBuf>) -> Result<Self, ConfigReport> {
        Self::with_host_checks(location, no_host_checks::<D>)
    }

    /// As [`Reloader::new`], with the shell's [`HostChecks`] run on every load.
    pub fn with_host_checks(
        location: Option<PathBuf>,
        host_checks: HostChecks<D>,
    ) -> Result<Self, ConfigReport> {
        let paths = ConfigPaths::resolve(location.as_deref(), D::FILE_NAME);
        let current = Arc::new(load_checked::<D>(&paths, host_checks)?);
        Ok(Reloader {
            paths,
            current,
            host_checks,
        })
    }

    /// The configuration in force.
    pub fn current(&self) -> Arc<Loaded<D>> {
        self.current.clone()
    }

    /// The files this reloader reads.
    pub fn paths(&self) -> &ConfigPaths {
        &self.paths
    }

    /// Re-reads the files. On success the new configuration is in force and
    /// returned; on error every problem is logged, systemd is told, and the
    /// old configuration stays in force.
    pub fn reload(&mut self) -> Result<Arc<Loaded<D>>, ConfigReport> {
        notify::reloading();
        let result = load_checked::<D>(&self.paths, self.host_checks);
        let outcome = match result {
            Ok(loaded) => {
                log_warnings(&loaded.warnings);
                logging::set_level(loaded.site.log.level);
                self.current = Arc::new(loaded);
                tracing::info!(files = ?self.current.files, "configuration reloaded");
                notify::status("running; configuration reloaded");
                Ok(self.current.clone())
            }
            Err(report) => {
                for d in &report.diagnostics {
                    log_diagnostic(d);
                }
                tracing::error!(
                    errors = report.error_count(),
                    "reload refused: the new configuration has errors; still running with the previous one"
                );
                notify::status("running; last reload refused (configuration errors), previous configuration kept");
                Err(report)
            }
        };
        notify::ready();
        outcome
    }
}

fn log_diagnostic(d: &Diagnostic) {
    let text = d.to_string();
    if d.is_error() {
        tracing::error!(file = %d.file.display(), line = d.line, column = d.column, key = %d.key, "{}", text.trim_end());
    } else {
        tracing::warn!(file = %d.file.display(), line = d.line, column = d.column, key = %d.key, "{}", text.trim_end());
    }
}

fn log_warnings(warnings: &[Diagnostic]) {
    for w in warnings {
        log_diagnostic(w);
    }
}

/// Start-up for `run`: loads the configuration (on error prints every
/// problem to stderr and returns exit code 78), then installs logging as the
/// site configures it and logs any warnings.
pub fn startup<D: DaemonConfig>(global: &GlobalArgs) -> Result<Reloader<D>, ExitCode> {
    startup_with::<D>(global, no_host_checks::<D>)
}

/// [`startup`] with the shell's [`HostChecks`].
pub fn startup_with<D: DaemonConfig>(
    global: &GlobalArgs,
    host_checks: HostChecks<D>,
) -> Result<Reloader<D>, ExitCode> {
    match Reloader::<D>::with_host_checks(global.config.clone(), host_checks) {
        Ok(reloader) => {
            let current = reloader.current();
            logging::init(&current.site.log);
            log_warnings(&current.warnings);
            tracing::info!(files = ?current.files, version = env!("CARGO_PKG_VERSION"), "configuration loaded");
            Ok(reloader)
        }
        Err(report) => {
            eprintln!("{report}");
            eprintln!(
                "refusing to start: fix the configuration (check it with the `check` subcommand)"
            );
            Err(ExitCode::from(crate::EX_CONFIG))
        }
    }
}
