//! Host checks: what a validated configuration names on this host, read by
//! the shell and judged by its core, run by `run`, reload and `check` alike.

use pbxnet_config::{ConfigPaths, ConfigReport, DaemonConfig, Diagnostic, Loaded, Site};

/// A daemon shell's checks of what a validated configuration names on this
/// host (files it serves, the host's addresses): the shell reads them, its
/// core judges them, and the diagnostics count like validation's (an error
/// refuses the configuration). Run at start-up, on every reload and by
/// `check` (see [`pbxnet_config::load_paths_with`]), so the three agree.
pub type HostChecks<D> = fn(&D, &Site, &ConfigPaths) -> Vec<Diagnostic>;

/// No host checks.
pub fn no_host_checks<D>(_: &D, _: &Site, _: &ConfigPaths) -> Vec<Diagnostic> {
    Vec::new()
}

/// Loads `paths` with the shell's `host_checks`.
pub fn load_checked<D: DaemonConfig>(
    paths: &ConfigPaths,
    host_checks: HostChecks<D>,
) -> Result<Loaded<D>, ConfigReport> {
    pbxnet_config::load_paths_with::<D>(paths, host_checks)
}
