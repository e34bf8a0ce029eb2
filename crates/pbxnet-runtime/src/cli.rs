//! The command line every daemon shares: `run` (the default), `check
//! [--json]`, `status [--json]`, the daemon's own subcommands beside them,
//! `--config` and `--version`.

use std::fmt::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use pbxnet_config::{ConfigPaths, ConfigReport, DaemonConfig, Diagnostic};

use crate::host::HostChecks;

/// The command line of a daemon whose own subcommands are `C` and whose
/// `status` takes the extra options `S`. Name, version and description are
/// the daemon's, set by [`crate::command`].
#[derive(Debug, Parser)]
#[command(version)]
pub(crate) struct Cli<C: Subcommand, S: Args> {
    #[command(flatten)]
    pub(crate) global: GlobalArgs,
    #[command(subcommand)]
    pub(crate) command: Option<Command<C, S>>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command<C: Subcommand, S: Args> {
    /// Run the daemon (the default).
    Run,
    /// Validate the configuration and print every problem.
    Check(CheckArgs),
    /// Ask the running daemon for its status.
    Status(StatusArgs<S>),
    #[command(flatten)]
    Daemon(C),
}

/// No daemon-specific subcommands.
#[derive(Debug, Clone, Copy, Subcommand)]
pub enum NoCommand {}

/// No options beyond `--json`.
#[derive(Debug, Clone, Copy, Default, Args)]
pub struct NoOptions {}

/// Options of the `status` subcommand.
#[derive(Debug, Clone, Default, Args)]
pub struct StatusArgs<S: Args> {
    /// Machine-readable output (JSON).
    #[arg(long)]
    pub json: bool,
    /// The daemon's own options.
    #[command(flatten)]
    pub options: S,
}

/// Options every daemon takes.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Configuration directory (holding site.toml and the daemon's file) or
    /// the daemon's file itself.
    #[arg(
        long,
        short = 'c',
        global = true,
        env = "PBXNET_CONFIG",
        value_name = "DIR|FILE"
    )]
    pub config: Option<PathBuf>,
}

/// Options of the `check` subcommand.
#[derive(Debug, Clone, Default, Args)]
pub struct CheckArgs {
    /// Print the diagnostics as JSON (one array) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Renders diagnostics for a terminal (text) or a program (JSON array).
pub fn render_report(diagnostics: &[Diagnostic], json: bool) -> String {
    if json {
        serde_json::to_string_pretty(diagnostics).unwrap_or_else(|_| "[]".into())
    } else {
        let report = ConfigReport {
            diagnostics: diagnostics.to_vec(),
        };
        report.to_string()
    }
}

/// `check`: validates the configuration, prints every problem, and exits 0
/// when the daemon could start on it, 1 otherwise.
pub fn check<D: DaemonConfig>(global: &GlobalArgs, args: &CheckArgs) -> ExitCode {
    check_with::<D>(global, args, crate::host::no_host_checks::<D>)
}

/// [`check`] with the shell's [`HostChecks`] (what `run` would find on this
/// host at start-up).
pub fn check_with<D: DaemonConfig>(
    global: &GlobalArgs,
    args: &CheckArgs,
    host_checks: HostChecks<D>,
) -> ExitCode {
    check_paths_with::<D>(
        &ConfigPaths::resolve(global.config.as_deref(), D::FILE_NAME),
        args,
        host_checks,
    )
}

/// [`check`] with explicit paths.
pub fn check_paths<D: DaemonConfig>(paths: &ConfigPaths, args: &CheckArgs) -> ExitCode {
    check_paths_with::<D>(paths, args, crate::host::no_host_checks::<D>)
}

/// [`check_with`] with explicit paths.
pub fn check_paths_with<D: DaemonConfig>(
    paths: &ConfigPaths,
    args: &CheckArgs,
    host_checks: HostChecks<D>,
) -> ExitCode {
    let result = crate::host::load_checked::<D>(paths, host_checks);
    let (diagnostics, ok, files) = match &result {
        Ok(loaded) => (loaded.warnings.clone(), true, loaded.files.clone()),
        Err(report) => (report.diagnostics.clone(), false, Vec::new()),
    };
    let mut out = String::new();
    if args.json {
        out = render_report(&diagnostics, true);
    } else {
        if !diagnostics.is_empty() {
            let _ = writeln!(out, "{}", render_report(&diagnostics, false));
        }
        if ok {
            let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
            let what = if names.is_empty() {
                "built-in defaults".to_string()
            } else {
                names.join(", ")
            };
            let _ = writeln!(out, "configuration OK ({what})");
        }
    }
    if !out.is_empty() {
        let _ = crate::output::print(&out);
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
