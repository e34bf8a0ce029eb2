//! The tokio shell of `pbxnet-dhcpd`: a [`pbxnet_runtime::Daemon`] (the
//! runtime owns the command line, start-up, signals, reload, notify and the
//! control socket). All protocol decisions are the core's
//! ([`crate::Server`]).
//!
//! Which file owns which job:
//! - `mod.rs`: the daemon as the runtime sees it: what is opened with the
//!   start-up privileges (database, core, sockets), the tasks started, the
//!   housekeeping tick, reload and stop;
//! - `commands.rs`: the daemon's own subcommands (`leases`, `lease release`);
//! - `transfer.rs`: `leases export|import` (JSON lines) and `db init|upgrade`;
//! - `control.rs`: control-socket requests, the `status`/`leases` views and
//!   their text form;
//! - `metrics.rs`: `/metrics`: counters and pool usage as Prometheus metrics;
//! - `sockets.rs`: the interfaces served and their sockets;
//! - `serve.rs`: the serving loop of one interface, conflict probes, core
//!   events to log lines;
//! - `send.rs`: replies: group commit before ACKs, pacing per destination,
//!   `sendmmsg`;
//! - `store/`: the SQLite lease database (schema and reading; the writer
//!   thread);
//! - `sys.rs`: ARP entries and ICMP conflict probes (raw system calls).

mod clock;
mod commands;
mod control;
mod metrics;
mod send;
mod serve;
mod sockets;
mod store;
mod sys;
mod transfer;

pub use control::{CtlRequest, CtlResponse, LeaseView, PacingView, StatusView};
pub use serve::BATCH;
pub use store::pg::{self, PgStore};
pub use store::{
    read_all, reply_address, CommitTicket, Committed, OpenError, SqliteStore, Store,
    APPLICATION_ID, SCHEMA_VERSION,
};
pub use transfer::LeaseLine;

use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use pbxnet_runtime::events::Events;
use pbxnet_runtime::{Config, Daemon, Failure, Invocation, NoOptions};
use rand::SeedableRng;

use crate::config::{DhcpConfig, LeaseBackend};
use crate::server::Server;
use crate::LeaseStore;
use clock::now_ms;
use commands::{leases_cmd, release_cmd, Command, DbAction, LeaseAction, LeasesAction};
use control::{control, render_status, NAME};
use send::pace_port;
use serve::{log_events, serve_port, Shared};
use sockets::{interfaces, open_socket, Port};

/// Exit codes, in `--help` (the man page lists them too).
const EXIT_CODES: &str = "Exit codes:
  0   success; for check: the configuration is valid (warnings allowed)
  1   check: the configuration has errors
  64  bad command-line value (e.g. leases --mac with a malformed MAC)
  65  lease release: no such lease, or the target is neither an IP nor a MAC
  69  status / lease release: the daemon's control socket does not answer
  70  internal error
  71  run: an operating-system call failed (sockets, interfaces)
  74  reading state or printing failed (e.g. leases: no lease database)
  77  status / lease release: permission denied on the control socket
  78  run: the configuration was refused (see check)";

/// Opens the lease store `[leases]` names and loads every lease.
fn open_store(cfg: &DhcpConfig) -> Result<Store> {
    match &cfg.leases {
        LeaseBackend::Sqlite => {
            let db = &cfg.lease_database;
            if let Some(dir) = db.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating the state directory {}", dir.display()))?;
            }
            let store = SqliteStore::open(db).context("opening the lease database")?;
            tracing::info!(path = %db.display(), leases = store.len(), "lease database loaded");
            Ok(Store::Sqlite(store))
        }
        LeaseBackend::Postgres(pg) => {
            let store = PgStore::open(pg).context("opening the PostgreSQL lease store")?;
            // Never the connection string: it may name users and hosts.
            tracing::info!(site = %pg.site, leases = store.len(), "PostgreSQL lease store loaded");
            Ok(Store::Postgres(Box::new(store)))
        }
    }
}

/// The command line as a clap `Command` (man pages, shell completion).
pub fn cli() -> clap::Command {
    pbxnet_runtime::command::<Dhcpd>()
}

/// Entry point of the `pbxnet-dhcpd` binary.
pub fn main() -> ExitCode {
    pbxnet_runtime::main::<Dhcpd>()
}

/// The `pbxnet-dhcpd` daemon.
pub(crate) struct Dhcpd {
    started: u64,
    shared: Shared,
    events: Events,
    ports: Vec<Arc<Port>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// Housekeeping every second: the core walks a bounded slice of the
    /// leases per call (Server::handle_timeout, SWEEP_SLICE), so a tick
    /// costs about the same at 1,000 leases as at 500,000, and trims the
    /// flood table (which a stream of new clients would otherwise grow to
    /// its cap: a HashMap never gives memory back).
    tick: tokio::time::Interval,
}

/// The lease database, the core and the interface sockets, opened with
/// the start-up privileges.
pub(crate) struct Bound {
    server: Server<Store>,
    ports: Vec<Arc<Port>>,
}

impl Daemon for Dhcpd {
    const NAME: &'static str = NAME;
    const ABOUT: &'static str = "pbxnet DHCPv4 server";
    const EVENTS: Option<pbxnet_inventory::Daemon> = Some(pbxnet_inventory::Daemon::Dhcpd);
    type Config = DhcpConfig;
    type Command = Command;
    type StatusOptions = NoOptions;
    type Request = CtlRequest;
    type Response = CtlResponse;
    type Bound = Bound;
    /// The housekeeping tick.
    type Event = ();

    async fn bind(config: &Config<Self>) -> Result<Bound> {
        let cfg = &config.daemon;
        let seed = {
            let mut b = [0u8; 32];
            let t = now_ms().to_le_bytes();
            b[..8].copy_from_slice(&t);
            b[8..12].copy_from_slice(&std::process::id().to_le_bytes());
            // Address choice only: not a secret.
            rand::rngs::StdRng::from_seed(b)
        };
        let store = open_store(cfg)?;
        let mut server =
            Server::new(cfg.server.clone(), store, seed).context("building the server")?;
        let ifs = interfaces(&config.site.interfaces)?;
        server.set_interfaces(ifs.clone());
        server.report_leases(true);
        let mut ports = Vec::new();
        for i in &ifs {
            tracing::info!(interface = %i.name, addr = %i.addr, "serving DHCP on port 67");
            ports.push(Arc::new(Port::new(
                i.clone(),
                open_socket(i, cfg.receive_buffer)?,
            )));
        }
        Ok(Bound { server, ports })
    }

    async fn start(bound: Bound, config: Config<Self>, events: Events) -> Result<Self> {
        let shared: Shared = Arc::new(Mutex::new(bound.server));
        let mut tasks = Vec::new();
        for p in &bound.ports {
            tasks.push(tokio::spawn(pace_port(p.clone())));
            tasks.push(tokio::spawn(serve_port(
                p.clone(),
                shared.clone(),
                config.daemon.probe_timeout,
                events.clone(),
            )));
        }
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Ok(Dhcpd {
            started: now_ms(),
            shared,
            events,
            ports: bound.ports,
            tasks,
            tick,
        })
    }

    async fn next_event(&mut self) {
        self.tick.tick().await;
    }

    async fn handle_event(&mut self, (): ()) -> Result<()> {
        let ticket = {
            let mut s = self.shared.lock().expect("core lock");
            s.handle_timeout(now_ms());
            // Housekeeping ACKs nothing: no lease lines to hold back.
            let _ = log_events(&mut s);
            s.store_mut().begin_commit()
        };
        // Reclaimed leases gate no reply: the loop does not wait for
        // their fsync (a synchronous commit here stalled receiving).
        if let Some(t) = ticket {
            tokio::spawn(async move {
                if let Ok(Err(e)) = t.await {
                    tracing::error!(error = %e, "lease commit failed");
                }
            });
        }
        Ok(())
    }

    async fn reload(&mut self, config: Config<Self>) {
        let mut s = self.shared.lock().expect("core lock");
        match s.reconfigure(config.daemon.server.clone()) {
            Ok(()) => tracing::info!("DHCP configuration applied; existing leases kept until they expire or are released"),
            Err(e) => tracing::error!(error = %e, "reload refused, previous configuration kept"),
        }
    }

    fn metrics_listen(config: &pbxnet_config::Loaded<DhcpConfig>) -> Option<std::net::SocketAddr> {
        config.daemon.metrics
    }

    fn metrics(&mut self, snapshot: &mut pbxnet_runtime::metrics::Snapshot) {
        let s = self.shared.lock().expect("core lock");
        metrics::fill(&s, &self.ports, snapshot);
    }

    fn control(&mut self, request: CtlRequest) -> Result<CtlResponse> {
        let mut s = self.shared.lock().expect("core lock");
        Ok(control(
            &mut s,
            &self.ports,
            request,
            self.started,
            &self.events,
        ))
    }

    async fn stop(self) -> Result<()> {
        tracing::info!("stopping");
        {
            let mut s = self.shared.lock().expect("core lock");
            if let Err(e) = s.store_mut().commit() {
                tracing::error!(error = %e, "final lease commit failed");
            }
        }
        for t in self.tasks {
            t.abort();
        }
        Ok(())
    }

    fn status_request() -> CtlRequest {
        CtlRequest::Status
    }

    fn render_status(answer: CtlResponse, json: bool) -> Result<String> {
        match answer {
            CtlResponse::Status(s) if json => Ok(serde_json::to_string_pretty(&s)?),
            CtlResponse::Status(s) => Ok(render_status(&s)),
            other => bail!("unexpected answer {other:?}"),
        }
    }

    fn command(invocation: &Invocation, command: Command) -> Result<(), Failure> {
        match command {
            Command::Leases(args) => match args.action {
                None => leases_cmd(invocation, &args),
                Some(LeasesAction::Export(t)) => {
                    transfer::export(&transfer::Target::resolve(invocation, t.sqlite, t.site)?)
                }
                Some(LeasesAction::Import { target: t, file }) => transfer::import(
                    &transfer::Target::resolve(invocation, t.sqlite, t.site)?,
                    file,
                ),
            },
            Command::Db { action } => transfer::db(invocation, action == DbAction::Upgrade),
            Command::Lease {
                action: LeaseAction::Release { target },
            } => release_cmd(invocation, target),
        }
    }

    fn customize(command: clap::Command) -> clap::Command {
        command
            .mut_subcommand("run", |c| c.about("Run the server (the default)"))
            .mut_subcommand("status", |c| {
                c.about("Counters and pool usage of the running daemon")
            })
            .after_help(EXIT_CODES)
    }
}
