//! The daemon skeleton: what a daemon is to the runtime ([`Daemon`]) and
//! the one `main` every daemon binary calls ([`main`]).
//!
//! A daemon supplies its configuration type, how it binds and starts, its
//! event source and handlers, its control-socket requests and how `status`
//! prints. The skeleton supplies everything around them: the command line,
//! logging, start-up (exit 78 on a bad configuration), the privilege drop,
//! `READY=1` once the sockets are bound, the watchdog, SIGHUP reload keeping
//! the old configuration on error, SIGTERM, the control socket with its
//! client, printing that survives a closed pipe, and exit codes.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Subcommand};
use pbxnet_config::{ConfigPaths, DaemonConfig, Diagnostic, Loaded, Site};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::events::Events;
use crate::exit::{ExitContext, Failure, EX_CONFIG, EX_NOPERM, EX_SOFTWARE, EX_UNAVAILABLE};
use crate::{control, CheckArgs, GlobalArgs, StatusArgs};

/// The configuration a daemon runs on (site settings and its own file).
pub type Config<D> = Arc<Loaded<<D as Daemon>::Config>>;

/// A pbxnet daemon, as the skeleton drives it.
///
/// `run` calls, in this order: [`bind`](Daemon::bind) (with the start-up
/// privileges), the control and event sockets are opened and privileges are dropped to
/// the site `user`, [`start`](Daemon::start), `READY=1`; then one loop
/// hands each [`next_event`](Daemon::next_event) to
/// [`handle_event`](Daemon::handle_event), each control request to
/// [`control`](Daemon::control) and each accepted reload to
/// [`reload`](Daemon::reload), until SIGTERM calls [`stop`](Daemon::stop).
/// An error from any of them ends the daemon with exit code 71 (EX_OSERR).
///
/// Handlers run on the loop's thread, one at a time: a daemon needs no lock
/// for state only its handlers touch.
#[allow(async_fn_in_trait)] // driven on one current-thread runtime: no Send bound wanted
pub trait Daemon: Sized {
    /// Binary name, also the control socket's file name (`<NAME>.sock`).
    const NAME: &'static str;
    /// One line for `--help` and the man page.
    const ABOUT: &'static str;
    /// Whether `run` fails when the control socket cannot be created; when
    /// false the daemon serves without it (and `status` cannot reach it).
    const CONTROL_SOCKET_REQUIRED: bool = true;
    /// The name the daemon publishes its events under on its event socket
    /// (`<runtime-directory>/<NAME>.events`, see [`crate::events`]); `None`:
    /// no event socket, and [`start`](Daemon::start) gets a publisher that
    /// never sends.
    const EVENTS: Option<pbxnet_inventory::Daemon> = None;

    /// The daemon's configuration file.
    type Config: DaemonConfig;
    /// The daemon's own subcommands ([`NoCommand`](crate::NoCommand): none).
    type Command: Subcommand;
    /// Options of `status` beyond `--json` ([`NoOptions`](crate::NoOptions): none).
    type StatusOptions: Args;
    /// A control-socket request.
    type Request: Serialize + DeserializeOwned + Send + 'static;
    /// A control-socket answer.
    type Response: Serialize + DeserializeOwned + Send + 'static;
    /// What [`bind`](Daemon::bind) prepared for [`start`](Daemon::start).
    type Bound;
    /// What the daemon's own sources (sockets, timers, tasks) deliver.
    type Event;

    /// Binds the sockets and opens what needs the start-up privileges.
    fn bind(config: &Config<Self>) -> impl Future<Output = anyhow::Result<Self::Bound>>;
    /// Starts serving, after the privilege drop and before `READY=1`.
    /// `events` publishes on the event socket (inert when nobody
    /// subscribes, or when [`EVENTS`](Daemon::EVENTS) is `None`).
    fn start(
        bound: Self::Bound,
        config: Config<Self>,
        events: Events,
    ) -> impl Future<Output = anyhow::Result<Self>>;
    /// Waits for the next event. Must be cancel-safe: the loop drops it
    /// when a signal or a control request comes first.
    async fn next_event(&mut self) -> Self::Event;
    /// Handles one event.
    async fn handle_event(&mut self, event: Self::Event) -> anyhow::Result<()>;
    /// Applies a configuration that was validated in full (SIGHUP).
    async fn reload(&mut self, config: Config<Self>);
    /// Answers a control-socket request.
    fn control(&mut self, request: Self::Request) -> anyhow::Result<Self::Response>;
    /// SIGTERM: finish or persist what is in flight.
    async fn stop(self) -> anyhow::Result<()>;

    /// Where `GET /metrics` listens (`[metrics]` in the daemon's file);
    /// `None`: no metrics listener. Read at start-up only. None by default.
    fn metrics_listen(config: &Loaded<Self::Config>) -> Option<SocketAddr> {
        let _ = config;
        None
    }
    /// Fills `snapshot` with the daemon's counters and gauges for
    /// `/metrics`. Runs on the loop, between two events: copy numbers,
    /// do no I/O. Nothing by default (the runtime adds `pbxnet_build_info`).
    fn metrics(&mut self, snapshot: &mut crate::metrics::Snapshot) {
        let _ = snapshot;
    }

    /// The control socket of the running daemon.
    fn control_socket(config: &Loaded<Self::Config>) -> PathBuf {
        control::socket_path(&config.site.runtime_directory, Self::NAME)
    }

    /// Where the subcommands find the running daemon's control socket
    /// (default: from `site.toml` alone).
    fn client_socket(invocation: &Invocation) -> Result<PathBuf, Failure> {
        invocation.site_control_socket::<Self>()
    }

    /// The request `status` sends.
    fn status_request() -> Self::Request;
    /// Renders the answer to [`status_request`](Daemon::status_request).
    fn render_status(answer: Self::Response, json: bool) -> anyhow::Result<String>;
    /// `status`: asks the running daemon and renders its answer.
    fn status(
        invocation: &Invocation,
        args: &StatusArgs<Self::StatusOptions>,
    ) -> Result<String, Failure> {
        let answer = invocation.ask::<Self>(&Self::status_request())?;
        Self::render_status(answer, args.json).exit_code(EX_SOFTWARE)
    }
    /// Checks of what the configuration names on this host (the files a
    /// daemon serves), read by the shell and judged by its core: run at
    /// start-up, on every reload and by `check` ([`crate::HostChecks`]).
    /// None by default.
    fn host_checks(config: &Self::Config, site: &Site, paths: &ConfigPaths) -> Vec<Diagnostic> {
        crate::no_host_checks(config, site, paths)
    }
    /// `check`: validates the configuration, prints every problem; 0 when
    /// the daemon could start on it, 1 otherwise.
    fn check(invocation: &Invocation, args: &CheckArgs) -> ExitCode {
        crate::check_paths_with::<Self::Config>(
            &invocation.paths::<Self>(),
            args,
            Self::host_checks,
        )
    }
    /// Runs one of the daemon's own subcommands.
    fn command(invocation: &Invocation, command: Self::Command) -> Result<(), Failure>;
    /// Adjusts the generated command line (subcommand help texts).
    fn customize(command: clap::Command) -> clap::Command {
        command
    }
}

/// The command line as given, for the subcommands.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// `--config`.
    pub global: GlobalArgs,
}

impl Invocation {
    /// The files a daemon whose own file is `file_name` reads.
    pub fn paths_for(&self, file_name: &str) -> ConfigPaths {
        ConfigPaths::resolve(self.global.config.as_deref(), file_name)
    }

    /// The files the daemon `D` reads.
    pub fn paths<D: Daemon>(&self) -> ConfigPaths {
        self.paths_for(D::Config::FILE_NAME)
    }

    /// Loads the whole configuration of a daemon whose file is `C` (exit 78
    /// on an error).
    pub fn load_config<C: DaemonConfig>(&self) -> Result<Loaded<C>, Failure> {
        pbxnet_config::load_paths::<C>(&self.paths_for(C::FILE_NAME))
            .map_err(|report| Failure::new(EX_CONFIG, anyhow::anyhow!("{report}")))
    }

    /// Loads the whole configuration of `D` (exit 78 on an error).
    pub fn load<D: Daemon>(&self) -> Result<Loaded<D::Config>, Failure> {
        self.load_config::<D::Config>()
    }

    /// The control socket of daemon `name` (whose file is `file_name`) from
    /// `site.toml` alone (exit 78 on an error), so that the subcommands work
    /// while the daemon's own file is being edited.
    pub fn site_control_socket_of(&self, file_name: &str, name: &str) -> Result<PathBuf, Failure> {
        match pbxnet_config::load_site(&self.paths_for(file_name)) {
            Ok((site, _)) => Ok(control::socket_path(&site.runtime_directory, name)),
            Err(report) => Err(Failure::new(EX_CONFIG, anyhow::anyhow!("{report}"))),
        }
    }

    /// [`site_control_socket_of`](Invocation::site_control_socket_of) for `D`.
    pub fn site_control_socket<D: Daemon>(&self) -> Result<PathBuf, Failure> {
        self.site_control_socket_of(D::Config::FILE_NAME, D::NAME)
    }

    /// Sends one request to the running daemon `D` and returns its answer.
    pub fn ask<D: Daemon>(&self, request: &D::Request) -> Result<D::Response, Failure> {
        ask_at(&D::client_socket(self)?, request)
    }
}

/// Sends one request to the daemon listening on `path` and returns its
/// answer. Exit 69 when no daemon answers, 77 when the socket refuses us,
/// 70 when the answer is not understood.
pub fn ask_at<Req: Serialize, Resp: DeserializeOwned>(
    path: &Path,
    request: &Req,
) -> Result<Resp, Failure> {
    control::request(path, request).map_err(|e| {
        let io = e.chain().find_map(|c| c.downcast_ref::<std::io::Error>());
        let code = match io {
            Some(io) if io.kind() == std::io::ErrorKind::PermissionDenied => EX_NOPERM,
            Some(_) => EX_UNAVAILABLE,
            None => EX_SOFTWARE,
        };
        Failure::new(code, e)
    })
}
