//! pbxnet-ntpd shell: a [`pbxnet_runtime::Daemon`] (the runtime owns the
//! command line, start-up, signals, reload, notify and the control socket).
//!
//! `pbxnet-ntpd [--config PATH] run | check [--json] | status [--json]`.
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
//! - `net.rs`: the server's sockets and worker threads; `mmsg.rs`:
//!   `recvmmsg`/`sendmmsg` batches;
//! - `upstream.rs`: the client side (sources, clock discipline, drift file);
//!   `client_net.rs`: its sockets and timestamps;
//! - `clock.rs`, `adjtime.rs`: reading and steering the system clock;
//! - `control.rs`: the control-socket requests, the status snapshot and its
//!   text form.

mod adjtime;
mod client_net;
mod clock;
mod control;
pub mod mmsg;
mod net;
mod system;
mod upstream;

use std::net::UdpSocket;

use anyhow::Context;
use pbxnet_runtime::{Config, Daemon, Failure, Invocation, NoCommand, NoOptions};

use crate::NtpConfig;

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
    type Config = NtpConfig;
    type Command = NoCommand;
    type StatusOptions = NoOptions;
    type Request = control::Request;
    type Response = control::Snapshot;
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

    async fn start(bound: Sockets, config: Config<Self>) -> anyhow::Result<Self> {
        let system = system::System::start(bound.sockets, bound.workers, &config.daemon).await?;
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

    fn control(&mut self, request: control::Request) -> anyhow::Result<control::Snapshot> {
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

    fn render_status(snapshot: control::Snapshot, json: bool) -> anyhow::Result<String> {
        if json {
            Ok(serde_json::to_string_pretty(&snapshot)?)
        } else {
            Ok(control::render(&snapshot))
        }
    }

    fn command(_: &Invocation, command: NoCommand) -> Result<(), Failure> {
        match command {}
    }
}

/// The command line, for generated documentation (man pages).
pub fn cli() -> clap::Command {
    pbxnet_runtime::command::<Ntpd>()
}

/// Entry point of the `pbxnet-ntpd` binary.
pub fn main() -> std::process::ExitCode {
    pbxnet_runtime::main::<Ntpd>()
}
