//! The daemon skeleton every pbxnet daemon runs on, and the shell plumbing
//! under it: the command line (`run`, `check`, `status`, the daemon's own
//! subcommands, `--config`, `--version`), logging, systemd readiness and
//! watchdog, signals, config reload that keeps the old config on error,
//! privilege dropping, the local control socket and its client, printing
//! that survives a closed pipe, and sysexits exit codes.
//!
//! A daemon implements [`Daemon`] and its binary is one line:
//!
//! ```ignore
//! fn main() -> std::process::ExitCode {
//!     pbxnet_runtime::main::<pbxnet_ntp::daemon::Ntpd>()
//! }
//! ```
//!
//! Which file owns which job: `cli.rs` the command line and `check`,
//! `daemon.rs` the [`Daemon`] trait, [`main`] and the subcommands' side of
//! the control socket, `run.rs` start-up and the serving loop, `reload.rs`
//! configuration loading and SIGHUP, `host.rs` host checks, `control.rs`
//! the control socket, `events.rs` the event socket, `metrics/` the
//! `/metrics` listener and its snapshot,
//! `notify.rs` sd_notify and the watchdog, `signals.rs`, `privileges.rs`,
//! `logging.rs`, `output.rs` (stdout) and `exit.rs` (exit codes).

#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod cli;
pub mod control;
mod daemon;
pub mod events;
pub mod exit;
mod host;
pub mod logging;
pub mod metrics;
pub mod notify;
pub mod output;
pub mod privileges;
mod reload;
mod run;
pub mod signals;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

pub use cli::{
    check, check_paths, check_paths_with, check_with, render_report, CheckArgs, GlobalArgs,
    NoCommand, NoOptions, StatusArgs,
};
pub use daemon::{ask_at, Config, Daemon, Invocation};
pub use exit::{ExitContext, Failure, EX_CONFIG};
pub use host::{load_checked, no_host_checks, HostChecks};
pub use reload::{startup, startup_with, Reloader};

type DaemonCli<D> = cli::Cli<<D as Daemon>::Command, <D as Daemon>::StatusOptions>;

/// The command line of daemon `D` as a clap `Command` (man pages, shell
/// completion).
pub fn command<D: Daemon>() -> clap::Command {
    let command = DaemonCli::<D>::command()
        .name(D::NAME)
        .bin_name(D::NAME)
        .about(D::ABOUT);
    D::customize(command)
}

/// `run` for daemon `D`: what `main` does when no subcommand (or `run`) is
/// given. Returns when the daemon stopped: 0 after SIGTERM, 78 on a
/// configuration it refused, 71 on an error while serving.
pub fn run<D: Daemon>(invocation: &Invocation) -> ExitCode {
    run::run::<D>(invocation)
}

/// The `main` of daemon `D`'s binary: parses the command line and runs the
/// subcommand (`run` when none is given).
pub fn main<D: Daemon>() -> ExitCode {
    let matches = command::<D>().get_matches();
    let parsed = DaemonCli::<D>::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let invocation = Invocation {
        global: parsed.global,
    };
    let outcome = match parsed.command.unwrap_or(cli::Command::Run) {
        cli::Command::Run => return run::<D>(&invocation),
        cli::Command::Check(args) => return D::check(&invocation, &args),
        cli::Command::Status(args) => D::status(&invocation, &args)
            .and_then(|text| output::print(&text).exit_code(exit::EX_IOERR)),
        cli::Command::Daemon(command) => D::command(&invocation, command),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(D::NAME),
    }
}
