//! pbxnet-tftpd shell: a [`pbxnet_runtime::Daemon`] (the runtime owns the
//! command line, start-up, signals, reload, notify and the control socket).
//!
//! `pbxnet-tftpd [--config PATH] run | check [--json] | status [--json]`.
//!
//! `run` binds the listening socket, starts the worker threads, then
//! serves: requests → [`crate::decide`] → admission → open beneath the
//! root → a transfer task; SIGHUP reloads (keeping the old config on
//! error); SIGTERM aborts running transfers with an ERROR and exits.
//!
//! Which file owns which job:
//! - `mod.rs`: the daemon as the runtime sees it (this file);
//! - `sockets.rs`: the listening socket, transfer sockets, path MTU, ERROR;
//! - `serve.rs`: the serving loop's state: requests, refusals, admission,
//!   downloads and uploads started, transfers finished;
//! - `content.rs`: what a read serves (files, macros, device templates,
//!   generated files);
//! - `task.rs`: one transfer on its worker (socket, timer, state machine);
//!   `workers.rs`: the worker threads;
//! - `files.rs`: the root (`openat2` beneath it), read-ahead, staged uploads;
//! - `host.rs`: the served tree read for `check`, start-up and reload;
//! - `status.rs`: the control-socket request, the status answer and its text;
//! - `metrics.rs`: `/metrics`: transfers, bytes and refusals per protocol;
//! - `events.rs`: transfer ends as published events (the event socket);
//! - `http/`: the HTTP/1.1 and HTTPS front end (same content as TFTP reads);
//! - `tls.rs`: HTTPS certificate (configured or self-signed), rustls
//!   configuration, client certificates per folder, their `check`.

mod content;
mod events;
mod files;
mod host;
mod http;
mod metrics;
mod serve;
mod sockets;
mod status;
mod task;
mod tls;
mod workers;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use pbxnet_runtime::{Config, Daemon, Failure, Invocation, NoCommand, NoOptions};
use tokio::net::UdpSocket;

use crate::TftpConfig;
use content::Active;
use serve::{Event, Serve};
use sockets::bind_listen;
use status::{render_status, report, Request, StatusReport};
use workers::Workers;

/// The `pbxnet-tftpd` daemon.
pub(crate) struct Tftpd {
    /// The address the listening socket is bound to (a change needs a restart).
    bound_listen: SocketAddr,
    started: Instant,
    serve: Serve,
    http: http::HttpFront,
}

/// What is bound before the privilege drop: the TFTP socket and the
/// HTTP(S) listeners.
pub(crate) struct Bound {
    udp: UdpSocket,
    tcp: http::HttpListeners,
}

impl Daemon for Tftpd {
    const NAME: &'static str = "pbxnet-tftpd";
    const ABOUT: &'static str = "TFTP, HTTP and HTTPS server for switch, AP and phone provisioning";
    const CONTROL_SOCKET_REQUIRED: bool = false;
    const EVENTS: Option<pbxnet_inventory::Daemon> = Some(pbxnet_inventory::Daemon::Tftpd);
    type Config = TftpConfig;
    type Command = NoCommand;
    type StatusOptions = NoOptions;
    type Request = Request;
    type Response = StatusReport;
    type Bound = Bound;
    type Event = Event;

    async fn bind(config: &Config<Self>) -> Result<Bound> {
        let addr = config.daemon.listen;
        let udp = bind_listen(addr).with_context(|| format!("binding {addr}"))?;
        let tcp = http::bind(&config.daemon)?;
        Ok(Bound { udp, tcp })
    }

    async fn start(
        bound: Bound,
        config: Config<Self>,
        events: pbxnet_runtime::events::Events,
    ) -> Result<Self> {
        // Transfers and HTTP connections run on worker threads; the main
        // loop (and the HTTP accept loops) on this one.
        let workers =
            Workers::start(config.daemon.threads).context("starting the worker threads")?;
        let active = Active::new(config);
        let http = http::HttpFront::start(bound.tcp, active.clone(), &workers, events.clone())?;
        let listen = bound.udp;
        tracing::info!(listen = %listen.local_addr()?, root = %active.cfg().root.display(), "pbxnet-tftpd ready");
        Ok(Tftpd {
            bound_listen: active.cfg().listen,
            started: Instant::now(),
            serve: Serve::new(listen, active, workers, events),
            http,
        })
    }

    async fn next_event(&mut self) -> Event {
        self.serve.next_event().await
    }

    async fn handle_event(&mut self, event: Event) -> Result<()> {
        self.serve.handle(event).await;
        Ok(())
    }

    async fn reload(&mut self, loaded: Config<Self>) {
        if loaded.daemon.listen != self.bound_listen {
            tracing::warn!(old = %self.bound_listen, new = %loaded.daemon.listen, "server.listen changed: restart the daemon to apply it");
        }
        let active = Active::new(loaded);
        self.http.reload(active.clone());
        self.serve.reload(active);
    }

    fn metrics_listen(config: &pbxnet_config::Loaded<TftpConfig>) -> Option<SocketAddr> {
        config.daemon.metrics
    }

    fn metrics(&mut self, snapshot: &mut pbxnet_runtime::metrics::Snapshot) {
        metrics::fill(
            &self.serve.totals,
            self.serve.running.len(),
            &self.http.status(),
            snapshot,
        );
    }

    fn control(&mut self, request: Request) -> Result<StatusReport> {
        let Request::Status = request;
        Ok(report(
            self.started,
            &self.serve.running,
            &self.serve.totals,
            self.http.status(),
            self.serve.events.counters(),
        ))
    }

    async fn stop(self) -> Result<()> {
        self.serve.stop().await;
        Ok(())
    }

    fn host_checks(
        config: &TftpConfig,
        site: &pbxnet_config::Site,
        paths: &pbxnet_config::ConfigPaths,
    ) -> Vec<pbxnet_config::Diagnostic> {
        host::host_checks(config, site, paths)
    }

    fn status_request() -> Request {
        Request::Status
    }

    fn render_status(report: StatusReport, json: bool) -> Result<String> {
        render_status(report, json)
    }

    fn command(_: &Invocation, command: NoCommand) -> Result<(), Failure> {
        match command {}
    }

    fn customize(command: clap::Command) -> clap::Command {
        command
            .mut_subcommand("check", |c| {
                c.about("Validate the configuration and the served tree; print every problem")
            })
            .mut_subcommand("status", |c| {
                c.about(
                    "Ask the running daemon for its active transfers, HTTP(S) counters and totals",
                )
            })
    }
}

/// The command line, for generated documentation (man pages).
pub fn cli() -> clap::Command {
    pbxnet_runtime::command::<Tftpd>()
}

/// Entry point of the `pbxnet-tftpd` binary.
pub fn main() -> ExitCode {
    pbxnet_runtime::main::<Tftpd>()
}
