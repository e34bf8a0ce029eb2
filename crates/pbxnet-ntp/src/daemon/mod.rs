//! pbxnet-ntpd shell: a [`pbxnet_runtime::Daemon`] (the runtime owns the
//! command line, start-up, signals, reload, notify and the control socket).
//!
//! `pbxnet-ntpd [--config PATH] run | check [--json] | status [--json]
//! [tracking | sources | sourcestats | clients]`.
//!
//! `run` binds one SO_REUSEPORT socket per worker and address
//! ([`Ntpd::bind`]), starts the client side and the workers once
//! privileges are dropped (`system.rs`), answers `status` on
//! `<runtime-directory>/pbxnet-ntpd.sock` (`control.rs`), reloads on SIGHUP
//! and stops on SIGTERM/SIGINT. Keys, policy, sources and clock thresholds
//! are reloaded; listen addresses, worker count and the clock mode need a
//! restart.
//!
//! Which file owns which job:
//! - `mod.rs`: the daemon as the runtime sees it (this file);
//! - `system.rs`: the main loop's state: the announced system state, the
//!   client side, the feed to the workers, reload;
//! - `net.rs`: the server's sockets and what the workers share (counters,
//!   client tables); `worker.rs`: the worker threads; `mmsg.rs`:
//!   `recvmmsg`/`sendmmsg` batches;
//! - `upstream.rs`: the client side (sources, clock discipline, drift file);
//!   `client_net.rs`: its sockets and timestamps; `client_status.rs`: its
//!   part of `status`;
//! - `clock.rs`, `adjtime.rs`: reading and steering the system clock;
//! - `control.rs`: the control-socket requests and answers (status
//!   snapshot, clients table); `render.rs`: their text form; `metrics.rs`:
//!   the same snapshot as `/metrics`.

mod adjtime;
mod client_net;
mod client_status;
mod clock;
mod control;
mod metrics;
pub mod mmsg;
mod net;
mod render;
mod source_events;
mod system;
mod upstream;
mod worker;

use std::net::UdpSocket;

use anyhow::Context;
use pbxnet_runtime::exit::EX_SOFTWARE;
use pbxnet_runtime::{Config, Daemon, ExitContext, Failure, Invocation, NoCommand, StatusArgs};

use crate::NtpConfig;

/// What `status` shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum StatusView {
    /// The daemon, `tracking`, the server's counters and `sources`.
    #[default]
    All,
    /// The system's state, as `chronyc tracking`.
    Tracking,
    /// The upstream sources, as `chronyc sources`.
    Sources,
    /// What each source's samples say, as `chronyc sourcestats`.
    Sourcestats,
    /// The clients served, as `chronyc clients`.
    Clients,
}

/// Options of `status`.
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub(crate) struct StatusOptions {
    /// What to show.
    #[arg(value_enum, default_value_t = StatusView::All)]
    view: StatusView,
}

/// The `pbxnet-ntpd` daemon.
#[derive(Debug)]
pub(crate) struct Ntpd {
    system: system::System,
}

/// The server sockets, bound before privileges are dropped.
#[derive(Debug)]
pub(crate) struct Sockets {
    sockets: Vec<UdpSocket>,
    workers: usize,
}

impl Daemon for Ntpd {
    const NAME: &'static str = "pbxnet-ntpd";
    const ABOUT: &'static str = "NTP/SNTP server of the pbxnet site";
    const EVENTS: Option<pbxnet_inventory::Daemon> = Some(pbxnet_inventory::Daemon::Ntpd);
    type Config = NtpConfig;
    type Command = NoCommand;
    type StatusOptions = StatusOptions;
    type Request = control::Request;
    type Response = control::Answer;
    type Bound = Sockets;
    type Event = system::Event;

    async fn bind(config: &Config<Self>) -> anyhow::Result<Sockets> {
        let cfg = &config.daemon;
        let workers = if cfg.workers == 0 {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        } else {
            cfg.workers
        };
        let mut sockets = Vec::new();
        for addr in &cfg.listen {
            let n = if addr.port() == 0 { 1 } else { workers };
            for _ in 0..n {
                let s = net::open_socket(*addr, cfg.receive_buffer)
                    .with_context(|| format!("binding UDP {addr}"))?;
                sockets.push(s);
            }
        }
        Ok(Sockets { sockets, workers })
    }

    async fn start(
        bound: Sockets,
        config: Config<Self>,
        events: pbxnet_runtime::events::Events,
    ) -> anyhow::Result<Self> {
        let system =
            system::System::start(bound.sockets, bound.workers, &config.daemon, events).await?;
        Ok(Ntpd { system })
    }

    async fn next_event(&mut self) -> system::Event {
        self.system.next_event().await
    }

    async fn handle_event(&mut self, event: system::Event) -> anyhow::Result<()> {
        self.system.handle_event(event);
        Ok(())
    }

    async fn reload(&mut self, config: Config<Self>) {
        self.system.reload(config.daemon.clone()).await;
    }

    fn metrics_listen(config: &pbxnet_config::Loaded<NtpConfig>) -> Option<std::net::SocketAddr> {
        config.daemon.metrics
    }

    fn metrics(&mut self, snapshot: &mut pbxnet_runtime::metrics::Snapshot) {
        if let control::Answer::Status(status) = self.system.answer(&control::Request::Status) {
            metrics::fill(&status, snapshot);
        }
    }

    fn control(&mut self, request: control::Request) -> anyhow::Result<control::Answer> {
        Ok(self.system.answer(&request))
    }

    async fn stop(mut self) -> anyhow::Result<()> {
        self.system.stop();
        tracing::info!("pbxnet-ntpd stopping");
        Ok(())
    }

    fn status_request() -> control::Request {
        control::Request::Status
    }

    fn render_status(answer: control::Answer, json: bool) -> anyhow::Result<String> {
        render_answer(answer, StatusView::All, json)
    }

    fn status(
        invocation: &Invocation,
        args: &StatusArgs<StatusOptions>,
    ) -> Result<String, Failure> {
        let view = args.options.view;
        let request = match view {
            StatusView::Clients => control::Request::Clients,
            _ => control::Request::Status,
        };
        let answer = invocation.ask::<Self>(&request)?;
        render_answer(answer, view, args.json).exit_code(EX_SOFTWARE)
    }

    fn command(_: &Invocation, command: NoCommand) -> Result<(), Failure> {
        match command {}
    }
}

/// `status` output: the answer as JSON, or the view as text.
fn render_answer(answer: control::Answer, view: StatusView, json: bool) -> anyhow::Result<String> {
    use control::Answer;
    if json {
        return Ok(match &answer {
            Answer::Status(s) => serde_json::to_string_pretty(s)?,
            Answer::Clients(c) => serde_json::to_string_pretty(c)?,
        });
    }
    let no_sources = "no upstream source is configured\n".to_string();
    Ok(match (answer, view) {
        (Answer::Clients(c), _) => render::clients(&c),
        (Answer::Status(s), StatusView::Tracking) => render::tracking(&s),
        (Answer::Status(s), StatusView::Sources) => {
            s.client.as_ref().map_or(no_sources, render::sources)
        }
        (Answer::Status(s), StatusView::Sourcestats) => {
            s.client.as_ref().map_or(no_sources, render::sourcestats)
        }
        (Answer::Status(s), _) => render::status(&s),
    })
}

/// The command line, for generated documentation (man pages).
pub fn cli() -> clap::Command {
    pbxnet_runtime::command::<Ntpd>()
}

/// Entry point of the `pbxnet-ntpd` binary.
pub fn main() -> std::process::ExitCode {
    pbxnet_runtime::main::<Ntpd>()
}
