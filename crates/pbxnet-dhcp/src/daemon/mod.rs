//! The tokio shell of `pbxnet-dhcpd`: sockets, timers, signals, control
//! socket. All protocol decisions are the core's ([`crate::Server`]).
//!
//! One UDP socket per served interface, bound to 0.0.0.0:67 with
//! SO_BINDTODEVICE (so the receiving interface is known and broadcasts go out
//! the right port), SO_BROADCAST and a large receive buffer (SO_RCVBUFFORCE
//! when root, else SO_RCVBUF). Each socket task drains at most
//! [`BATCH`] datagrams per wakeup, runs them through the core under one lock,
//! hands the batch's lease changes to the store's writer thread, sends the
//! OFFERs and NAKs at once and queues the ACKs behind that commit: a sender
//! task sends them only once the commit is durable (group commit: nothing is
//! ACKed before it is on disk; the writer merges the commits queued during
//! one fsync, and waits at least [`store::MIN_COMMIT_INTERVAL`] between two
//! commits, so one fsync covers many ACKs under load). Replies leave with
//! `sendmmsg`, as many per call as are ready, through a per-destination
//! [`crate::Pacer`]: after a stall the queued requests are answered far
//! faster than a relay reads, so at most a burst goes to one destination at
//! once and the rest follow at the pacer's rate (`pace_port`).

mod store;
mod sys;

pub use store::{read_all, CommitTicket, OpenError, SqliteStore, APPLICATION_ID, SCHEMA_VERSION};

use std::net::{Ipv4Addr, SocketAddrV4};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use pbxnet_runtime::exit::{EX_DATAERR, EX_IOERR, EX_SOFTWARE, EX_USAGE};
use pbxnet_runtime::{Config, Daemon, ExitContext, Failure, Invocation, NoOptions};
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;

use crate::config::DhcpConfig;
use crate::server::{Destination, Event, Interface, Outcome, Server};
use crate::{Counters, DropReason, Lease, LeaseStore, PaceLimit, Pacer, PoolUsage};

/// Datagrams handled per socket wakeup before yielding.
pub const BATCH: usize = 256;
/// Largest datagram read; longer ones are truncated and so dropped as
/// malformed by the strict decoder.
const MAX_DATAGRAM: usize = 1500;
/// Daemon name (control socket file name).
const NAME: &str = "pbxnet-dhcpd";

/// The daemon's own subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// List leases held by the running daemon.
    Leases(LeasesArgs),
    /// Act on one lease of the running daemon.
    Lease {
        #[command(subcommand)]
        action: LeaseAction,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum LeaseAction {
    /// Free the lease of an address or MAC.
    Release {
        /// IPv4 address or MAC address.
        target: String,
    },
}

#[derive(Debug, clap::Args)]
pub(crate) struct LeasesArgs {
    /// JSON output.
    #[arg(long)]
    json: bool,
    /// Only this MAC.
    #[arg(long)]
    mac: Option<String>,
    /// Only this address.
    #[arg(long)]
    ip: Option<Ipv4Addr>,
    /// Only this class.
    #[arg(long)]
    class: Option<String>,
    /// Only expired / released leases.
    #[arg(long)]
    expired: bool,
}

/// A control-socket request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum CtlRequest {
    /// Every lease.
    Leases,
    /// Counters and pool usage.
    Status,
    /// Release the lease of an IP or MAC.
    Release(String),
}

/// One lease as shown by `leases`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LeaseView {
    /// MAC.
    pub mac: String,
    /// Address.
    pub ip: Ipv4Addr,
    /// State.
    pub state: String,
    /// Unix seconds.
    pub expires: u64,
    /// Class.
    pub class: String,
    /// Option profile of the class (current configuration).
    pub profile: String,
    /// Option 60.
    pub vendor_class: String,
    /// Option 12.
    pub hostname: String,
}

/// Counters with labels.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatusView {
    /// Version.
    pub version: String,
    /// Seconds since start.
    pub uptime: u64,
    /// Raw counters.
    pub counters: Counters,
    /// Drops by label.
    pub dropped: Vec<(String, u64)>,
    /// Pool usage.
    pub pools: Vec<PoolUsage>,
    /// Reply pacing, all interfaces together.
    #[serde(default)]
    pub pacing: PacingView,
}

/// Reply pacing counters (`status`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PacingView {
    /// Replies that waited for their destination's pace.
    pub delayed: u64,
    /// Replies dropped on a full pacing queue.
    pub dropped: u64,
    /// Replies waiting now.
    pub held: u64,
}

/// A control-socket response.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum CtlResponse {
    /// Leases.
    Leases(Vec<LeaseView>),
    /// Status.
    Status(Box<StatusView>),
    /// Addresses released.
    Released(Vec<Ipv4Addr>),
    /// Refused.
    Error(String),
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn mac_str(m: [u8; 6]) -> String {
    pbxnet_config::MacAddr(m).to_string()
}

/// The command line as a clap `Command` (man pages, shell completion).
pub fn cli() -> clap::Command {
    pbxnet_runtime::command::<Dhcpd>()
}

/// Entry point of the `pbxnet-dhcpd` binary.
pub fn main() -> ExitCode {
    pbxnet_runtime::main::<Dhcpd>()
}

/// `status` as text.
fn render_status(s: &StatusView) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(out, "version {}  uptime {}s", s.version, s.uptime);
    let names = [
        "", "discover", "offer", "request", "decline", "ack", "nak", "release", "inform",
    ];
    for (i, n) in names.iter().enumerate().skip(1) {
        let _ = writeln!(
            out,
            "{n:>10}: received {:>10}  sent {:>10}",
            s.counters.received[i], s.counters.sent[i]
        );
    }
    for (l, n) in &s.dropped {
        let _ = writeln!(out, "dropped {l}: {n}");
    }
    for p in &s.pools {
        let _ = writeln!(out, "pool {}: {}/{}", p.pool, p.used, p.size);
    }
    let _ = writeln!(
        out,
        "paced replies: delayed {}  dropped {}  waiting {}",
        s.pacing.delayed, s.pacing.dropped, s.pacing.held
    );
    out
}

/// `lease release`: asks the running daemon to free a lease.
fn release_cmd(invocation: &Invocation, target: String) -> Result<(), Failure> {
    match invocation.ask::<Dhcpd>(&CtlRequest::Release(target))? {
        CtlResponse::Released(ips) => {
            let text: String = ips.iter().map(|ip| format!("released {ip}\n")).collect();
            pbxnet_runtime::output::print(&text).exit_code(EX_IOERR)
        }
        CtlResponse::Error(e) => Err(Failure::new(EX_DATAERR, anyhow::anyhow!("{e}"))),
        other => Err(Failure::new(
            EX_SOFTWARE,
            anyhow::anyhow!("unexpected answer {other:?}"),
        )),
    }
}

fn view(cfg: &crate::ServerConfig, l: &Lease) -> LeaseView {
    let profile = cfg
        .classes
        .iter()
        .find(|c| *c.name == *l.class)
        .map(|c| cfg.profiles[c.profile].name.clone())
        .unwrap_or_default();
    LeaseView {
        profile,
        mac: mac_str(l.mac),
        ip: l.ip,
        state: l.state.as_str().to_string(),
        expires: l.expires,
        class: l.class.to_string(),
        vendor_class: l.vendor_class.to_string(),
        hostname: l.hostname.to_string(),
    }
}

/// `leases`: reads the lease database directly (read-only; WAL lets it run
/// beside the daemon).
fn leases_cmd(invocation: &Invocation, args: &LeasesArgs) -> Result<(), Failure> {
    use std::fmt::Write as _;
    let loaded = invocation.load::<Dhcpd>()?;
    let db = &loaded.daemon.lease_database;
    if !db.exists() {
        return Err(Failure::new(
            EX_IOERR,
            anyhow::anyhow!(
                "no lease database at {} (has the daemon run yet?)",
                db.display()
            ),
        ));
    }
    let mut all: Vec<LeaseView> = store::read_all(db)
        .exit_code(EX_IOERR)?
        .iter()
        .map(|l| view(&loaded.daemon.server, l))
        .collect();
    let now = now_ms() / 1000;
    let mac = match &args.mac {
        Some(m) => Some(
            m.parse::<pbxnet_config::MacAddr>()
                .map_err(|e| Failure::new(EX_USAGE, anyhow::Error::msg(e)))?
                .to_string(),
        ),
        None => None,
    };
    all.retain(|l| {
        mac.as_ref().is_none_or(|m| &l.mac == m)
            && args.ip.is_none_or(|ip| l.ip == ip)
            && args.class.as_ref().is_none_or(|c| &l.class == c)
            && (!args.expired || l.expires <= now || l.state == "released")
    });
    all.sort_by_key(|l| u32::from(l.ip));
    let mut out = String::new();
    if args.json {
        out = serde_json::to_string_pretty(&all).exit_code(EX_SOFTWARE)?;
    } else {
        let _ = writeln!(
            out,
            "{:<17} {:<15} {:<9} {:>10} {:<20} {:<22} {:<16} HOSTNAME",
            "MAC", "IP", "STATE", "EXPIRES-IN", "CLASS", "PROFILE", "VENDOR-CLASS"
        );
        for l in all {
            let left = l.expires as i64 - now as i64;
            let _ = writeln!(
                out,
                "{:<17} {:<15} {:<9} {:>9}s {:<20} {:<22} {:<16} {}",
                l.mac, l.ip, l.state, left, l.class, l.profile, l.vendor_class, l.hostname
            );
        }
    }
    pbxnet_runtime::output::print(&out).exit_code(EX_IOERR)
}

/// An interface socket.
#[derive(Debug)]
struct Port {
    iface: Interface,
    sock: UdpSocket,
    /// Replies per destination, paced (crate::Pacer explains why).
    pace: Mutex<Pacer<SocketAddrV4, Pending>>,
    /// Wakes [`pace_port`] when the pacer holds replies.
    paced: tokio::sync::Notify,
    /// Zero of the pacer's clock.
    epoch: std::time::Instant,
}

impl Port {
    fn new(iface: Interface, sock: UdpSocket) -> Self {
        Self {
            iface,
            sock,
            pace: Mutex::new(Pacer::new(PaceLimit::DEFAULT)),
            paced: tokio::sync::Notify::new(),
            epoch: std::time::Instant::now(),
        }
    }

    fn clock(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

fn interfaces(wanted: &[String]) -> Result<Vec<Interface>> {
    let mut out: Vec<Interface> = Vec::new();
    for ifa in nix::ifaddrs::getifaddrs().context("listing interfaces")? {
        let Some(addr) = ifa
            .address
            .as_ref()
            .and_then(|a| a.as_sockaddr_in())
            .map(|a| a.ip())
        else {
            continue;
        };
        if addr.is_loopback() || out.iter().any(|i| i.name == ifa.interface_name) {
            continue;
        }
        if !wanted.is_empty() && !wanted.contains(&ifa.interface_name) {
            continue;
        }
        let index = nix::net::if_::if_nametoindex(ifa.interface_name.as_str())
            .with_context(|| format!("index of {}", ifa.interface_name))?;
        out.push(Interface {
            index,
            name: ifa.interface_name.clone(),
            addr,
        });
    }
    for w in wanted {
        if !out.iter().any(|i| &i.name == w) {
            bail!("interface {w} (site.toml `interfaces`) does not exist or has no IPv4 address");
        }
    }
    if out.is_empty() {
        bail!("no interface with an IPv4 address to serve on");
    }
    Ok(out)
}

fn open_socket(iface: &Interface, rcvbuf: u64) -> Result<UdpSocket> {
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).context("socket")?;
    s.set_reuse_address(true)?;
    s.set_broadcast(true)?;
    s.bind_device(Some(iface.name.as_bytes()))
        .with_context(|| format!("SO_BINDTODEVICE {} (needs root or CAP_NET_RAW)", iface.name))?;
    let size = usize::try_from(rcvbuf).unwrap_or(usize::MAX);
    if pbxnet_runtime::privileges::is_root() {
        let fd = std::os::fd::AsFd::as_fd(&s);
        let forced = i32::try_from(size).unwrap_or(i32::MAX);
        if let Err(e) = nix::sys::socket::setsockopt(
            &fd,
            nix::sys::socket::sockopt::RcvBufForce,
            &(forced as usize),
        ) {
            tracing::warn!(error = %e, "SO_RCVBUFFORCE failed, using SO_RCVBUF");
            s.set_recv_buffer_size(size)?;
        }
    } else {
        s.set_recv_buffer_size(size)?;
    }
    s.set_nonblocking(true)?;
    s.bind(&SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 67).into())
        .with_context(|| format!("binding 0.0.0.0:67 on {}", iface.name))?;
    UdpSocket::from_std(s.into()).context("registering the socket")
}

type Shared = Arc<Mutex<Server<SqliteStore>>>;

/// The `pbxnet-dhcpd` daemon.
pub(crate) struct Dhcpd {
    started: u64,
    shared: Shared,
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
    server: Server<SqliteStore>,
    ports: Vec<Arc<Port>>,
}

impl Daemon for Dhcpd {
    const NAME: &'static str = NAME;
    const ABOUT: &'static str = "pbxnet DHCPv4 server";
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
        let db = &cfg.lease_database;
        if let Some(dir) = db.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating the state directory {}", dir.display()))?;
        }
        let store = SqliteStore::open(db).context("opening the lease database")?;
        tracing::info!(path = %db.display(), leases = store.len(), "lease database loaded");
        let mut server =
            Server::new(cfg.server.clone(), store, seed).context("building the server")?;
        let ifs = interfaces(&config.site.interfaces)?;
        server.set_interfaces(ifs.clone());
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

    async fn start(bound: Bound, config: Config<Self>) -> Result<Self> {
        let shared: Shared = Arc::new(Mutex::new(bound.server));
        let mut tasks = Vec::new();
        for p in &bound.ports {
            tasks.push(tokio::spawn(pace_port(p.clone())));
            tasks.push(tokio::spawn(serve_port(
                p.clone(),
                bound.ports.clone(),
                shared.clone(),
                config.daemon.probe_timeout,
            )));
        }
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Ok(Dhcpd {
            started: now_ms(),
            shared,
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
            log_events(&mut s);
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

    fn control(&mut self, request: CtlRequest) -> Result<CtlResponse> {
        let mut s = self.shared.lock().expect("core lock");
        Ok(control(&mut s, &self.ports, request, self.started))
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
            Command::Leases(args) => leases_cmd(invocation, &args),
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
    }
}

fn control(
    s: &mut Server<SqliteStore>,
    ports: &[Arc<Port>],
    req: CtlRequest,
    started: u64,
) -> CtlResponse {
    let now = now_ms();
    match req {
        CtlRequest::Leases => CtlResponse::Leases(
            s.store()
                .all()
                .into_iter()
                .map(|l| view(s.config(), l))
                .collect(),
        ),
        CtlRequest::Status => {
            let c = s.counters().clone();
            CtlResponse::Status(Box::new(StatusView {
                version: env!("CARGO_PKG_VERSION").to_string(),
                uptime: (now - started) / 1000,
                dropped: DropReason::ALL
                    .iter()
                    .map(|d| (d.label().to_string(), c.dropped[*d as usize]))
                    .collect(),
                counters: c,
                pools: s.pool_usage(now / 1000),
                pacing: ports.iter().fold(PacingView::default(), |mut v, p| {
                    let pace = p.pace.lock().expect("pacer lock");
                    let c = pace.counters();
                    v.delayed += c.delayed;
                    v.dropped += c.dropped;
                    v.held += pace.held() as u64;
                    v
                }),
            }))
        }
        CtlRequest::Release(target) => {
            let ips: Vec<Ipv4Addr> = if let Ok(ip) = target.parse::<Ipv4Addr>() {
                vec![ip]
            } else if let Ok(mac) = target.parse::<pbxnet_config::MacAddr>() {
                s.store()
                    .all()
                    .into_iter()
                    .filter(|l| l.mac == mac.0)
                    .map(|l| l.ip)
                    .collect()
            } else {
                return CtlResponse::Error(format!(
                    "`{target}` is neither an IPv4 address nor a MAC address"
                ));
            };
            let mut done = Vec::new();
            for ip in ips {
                if s.store_mut().remove(ip).is_some() {
                    done.push(ip);
                }
            }
            if let Err(e) = s.store_mut().commit() {
                return CtlResponse::Error(format!("lease store: {e}"));
            }
            if done.is_empty() {
                return CtlResponse::Error(format!("no lease for {target}"));
            }
            tracing::info!(released = ?done, "leases released by operator");
            CtlResponse::Released(done)
        }
    }
}

fn log_events(s: &mut Server<SqliteStore>) {
    while let Some(e) = s.poll_event() {
        match e {
            Event::PoolHigh(u) => {
                tracing::warn!(pool = %u.pool, used = u.used, size = u.size, "pool above 90 % use")
            }
            Event::PoolExhausted(u) => {
                tracing::warn!(pool = %u.pool, size = u.size, "pool exhausted: new clients get no address")
            }
            Event::PoolRecovered(u) => {
                tracing::info!(pool = %u.pool, used = u.used, size = u.size, "pool back under 90 % use")
            }
            Event::Conflict { ip } => {
                tracing::warn!(%ip, "conflict probe: a never-used address answers ICMP echo (static host inside a pool?): on probation")
            }
            Event::Declined { ip, mac } => {
                tracing::warn!(%ip, mac = %mac_str(mac), "address declined by a client (in use elsewhere?): on probation")
            }
        }
    }
}

#[derive(Debug)]
struct Pending {
    to: SocketAddrV4,
    bytes: Vec<u8>,
}

/// ACKs of one batch, released when its commit is durable.
struct Outgoing {
    ticket: Option<store::CommitTicket>,
    replies: Vec<Pending>,
}

/// Whether a reply must wait for the batch's commit: only an ACK promises
/// a lease. OFFERs and NAKs promise nothing durable (an OFFER is not
/// persisted at all), so they leave at once instead of queueing behind
/// earlier commits; that halves the reply bursts a commit releases.
fn needs_commit(kind: crate::MessageType) -> bool {
    kind == crate::MessageType::Ack
}

/// Sends each batch's ACKs, in order, once its commit succeeded; a failed
/// commit withholds them (no ACK without a durable lease). Batches whose
/// commits are already durable when an earlier one resolves go out in the
/// same `sendmmsg` calls (the writer merges queued commits, so they
/// usually are).
async fn sender(port: Arc<Port>, mut rx: tokio::sync::mpsc::Receiver<Outgoing>) {
    use tokio::sync::oneshot::error::TryRecvError;
    const GONE: &str = "lease writer gone";
    let mut ready: Vec<Pending> = Vec::new();
    let mut held: Option<Outgoing> = None;
    loop {
        let o = match held.take() {
            Some(o) => o,
            None => match rx.recv().await {
                Some(o) => o,
                None => return,
            },
        };
        let result = match o.ticket {
            None => Ok(()),
            Some(t) => t.await.unwrap_or_else(|_| Err(GONE.into())),
        };
        release(&mut ready, o.replies, result);
        while let Ok(mut o) = rx.try_recv() {
            let result = match o.ticket.as_mut().map(|t| t.try_recv()) {
                None => Ok(()),
                Some(Ok(r)) => r,
                Some(Err(TryRecvError::Closed)) => Err(GONE.into()),
                Some(Err(TryRecvError::Empty)) => {
                    held = Some(o);
                    break;
                }
            };
            release(&mut ready, o.replies, result);
        }
        transmit(&port, std::mem::take(&mut ready)).await;
    }
}

fn release(ready: &mut Vec<Pending>, replies: Vec<Pending>, commit: Result<(), String>) {
    match commit {
        Ok(()) => ready.extend(replies),
        Err(e) => tracing::error!(
            error = %e,
            "lease store commit failed: withholding {} replies",
            replies.len()
        ),
    }
}

/// Conflict probe for one DISCOVER: ICMP echo, report, hand the DISCOVER
/// to the core again (at most 3 addresses per DISCOVER).
async fn probe(
    port: Arc<Port>,
    shared: Shared,
    tx: tokio::sync::mpsc::Sender<Outgoing>,
    mut ip: Ipv4Addr,
    bytes: Vec<u8>,
    timeout: Duration,
) {
    for attempt in 0..3u16 {
        let ifname = port.iface.name.clone();
        let ident = (std::process::id() as u16) ^ attempt ^ (u32::from(ip) as u16);
        let in_use =
            match tokio::task::spawn_blocking(move || sys::icmp_probe(&ifname, ip, timeout, ident))
                .await
            {
                Ok(Ok(v)) => v,
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, %ip, "conflict probe failed; offering without it");
                    false
                }
                Err(_) => false,
            };
        let mut send_now = None;
        let (out, next) = {
            let mut s = shared.lock().expect("core lock");
            let now = now_ms();
            s.handle_probe_result(now, ip, in_use);
            let mut reply = Vec::new();
            let outcome = s.handle(now, port.iface.index, &bytes, &mut reply);
            let ticket = s.store_mut().begin_commit();
            log_events(&mut s);
            match outcome {
                Outcome::Reply { dest, kind } if !needs_commit(kind) => {
                    send_now = Some(Pending {
                        to: socket_addr(&port, dest),
                        bytes: reply,
                    });
                    (
                        Outgoing {
                            ticket,
                            replies: Vec::new(),
                        },
                        None,
                    )
                }
                Outcome::Reply { dest, .. } => (
                    Outgoing {
                        ticket,
                        replies: vec![Pending {
                            to: socket_addr(&port, dest),
                            bytes: reply,
                        }],
                    },
                    None,
                ),
                Outcome::Probe { ip: next } => (
                    Outgoing {
                        ticket,
                        replies: Vec::new(),
                    },
                    Some(next),
                ),
                _ => (
                    Outgoing {
                        ticket,
                        replies: Vec::new(),
                    },
                    None,
                ),
            }
        };
        if let Some(p) = send_now {
            transmit(&port, vec![p]).await;
        }
        if out.ticket.is_some() || !out.replies.is_empty() {
            let _ = tx.send(out).await;
        }
        match next {
            Some(n) => ip = n,
            None => return,
        }
    }
}

async fn serve_port(
    port: Arc<Port>,
    _all: Vec<Arc<Port>>,
    shared: Shared,
    probe_timeout: Duration,
) {
    let mut bufs: Vec<Vec<u8>> = (0..BATCH).map(|_| vec![0u8; MAX_DATAGRAM + 1]).collect();
    let mut lens = vec![0usize; BATCH];
    // Deep enough to ride out fsync stalls of the writer (each entry is one
    // wakeup's replies); when full the socket task waits and the kernel buffer
    // takes over.
    let (tx, rx) = tokio::sync::mpsc::channel::<Outgoing>(65_536);
    tokio::spawn(sender(port.clone(), rx));
    loop {
        if let Err(e) = port.sock.readable().await {
            tracing::error!(error = %e, interface = %port.iface.name, "socket failed");
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        let mut n = 0;
        while n < BATCH {
            match port.sock.try_recv_from(&mut bufs[n]) {
                Ok((len, _src)) => {
                    lens[n] = len;
                    n += 1;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    tracing::debug!(error = %e, "recv failed");
                    break;
                }
            }
        }
        if n == 0 {
            continue;
        }
        let mut send_now = Vec::new();
        let out = {
            let mut s = shared.lock().expect("core lock");
            let now = now_ms();
            let mut replies = Vec::new();
            let mut probes = Vec::new();
            for i in 0..n {
                if lens[i] > MAX_DATAGRAM {
                    s.count_drop(DropReason::Malformed);
                    continue;
                }
                let mut reply = Vec::new();
                let outcome = s.handle(now, port.iface.index, &bufs[i][..lens[i]], &mut reply);
                tracing::debug!(interface = %port.iface.name, len = lens[i], ?outcome, "datagram handled");
                match outcome {
                    Outcome::Reply { dest, kind } if !needs_commit(kind) => {
                        send_now.push(Pending {
                            to: socket_addr(&port, dest),
                            bytes: reply,
                        })
                    }
                    Outcome::Reply { dest, .. } => replies.push(Pending {
                        to: socket_addr(&port, dest),
                        bytes: reply,
                    }),
                    Outcome::Probe { ip } => probes.push((ip, bufs[i][..lens[i]].to_vec())),
                    _ => {}
                }
            }
            let ticket = s.store_mut().begin_commit();
            log_events(&mut s);
            for (ip, bytes) in probes {
                tokio::spawn(probe(
                    port.clone(),
                    shared.clone(),
                    tx.clone(),
                    ip,
                    bytes,
                    probe_timeout,
                ));
            }
            Outgoing { ticket, replies }
        };
        transmit(&port, send_now).await;
        if (out.ticket.is_some() || !out.replies.is_empty()) && tx.send(out).await.is_err() {
            return;
        }
    }
}

/// Hands replies to the port's pacer and sends those that may leave now;
/// the rest leave from [`pace_port`].
async fn transmit(port: &Port, replies: Vec<Pending>) {
    if replies.is_empty() {
        return;
    }
    let mut now = Vec::with_capacity(replies.len());
    let held = {
        let mut pace = port.pace.lock().expect("pacer lock");
        let t = port.clock();
        for r in replies {
            pace.push(t, r.to, r, &mut now);
        }
        pace.held() > 0
    };
    send_all(port, &now).await;
    if held {
        port.paced.notify_one();
    }
}

/// Sends the replies the pacer held, each as soon as its destination may
/// take it (tokio's timer has 1 ms steps: a wakeup releases about one
/// millisecond's worth, within the burst bound).
async fn pace_port(port: Arc<Port>) {
    let mut out = Vec::new();
    let mut logged = 0;
    loop {
        port.paced.notified().await;
        loop {
            let (next, dropped) = {
                let mut pace = port.pace.lock().expect("pacer lock");
                let next = pace.poll(port.clock(), &mut out);
                (next, pace.counters().dropped)
            };
            send_all(&port, &out).await;
            out.clear();
            if dropped > logged {
                tracing::warn!(
                    interface = %port.iface.name,
                    dropped = dropped - logged,
                    "replies dropped: a destination's pacing queue was full"
                );
                logged = dropped;
            }
            match next {
                Some(due) => {
                    tokio::time::sleep_until(tokio::time::Instant::from_std(
                        port.epoch + Duration::from_nanos(due),
                    ))
                    .await
                }
                None => break,
            }
        }
    }
}

fn socket_addr(port: &Port, dest: Destination) -> SocketAddrV4 {
    match dest {
        Destination::Relay(ip) => SocketAddrV4::new(ip, 67),
        Destination::Unicast(ip) => SocketAddrV4::new(ip, 68),
        Destination::Broadcast => SocketAddrV4::new(Ipv4Addr::BROADCAST, 68),
        Destination::UnicastNoArp { ip, mac } => {
            match sys::set_arp(&port.sock, &port.iface.name, ip, mac) {
                Ok(()) => SocketAddrV4::new(ip, 68),
                Err(e) => {
                    tracing::debug!(error = %e, %ip, "cannot add ARP entry; broadcasting instead");
                    SocketAddrV4::new(Ipv4Addr::BROADCAST, 68)
                }
            }
        }
    }
}

/// Most datagrams per `sendmmsg` (the kernel's UIO_MAXIOV).
const SEND_BATCH: usize = 1024;

/// Sends `replies` in order with as few `sendmmsg` calls as the kernel
/// allows. A datagram the kernel refuses (no route, …) is skipped and
/// logged at debug, as a failed `sendto` was.
async fn send_all(port: &Port, replies: &[Pending]) {
    use nix::sys::socket::{sendmmsg, MsgFlags, MultiHeaders, SockaddrIn};
    use std::os::fd::AsRawFd;
    if replies.is_empty() {
        return;
    }
    let addrs: Vec<Option<SockaddrIn>> = replies
        .iter()
        .map(|p| Some(SockaddrIn::from(p.to)))
        .collect();
    let fd = port.sock.as_raw_fd();
    let mut done = 0;
    while done < replies.len() {
        let end = replies.len().min(done + SEND_BATCH);
        let chunk = &replies[done..end];
        let to = &addrs[done..end];
        let sent = port
            .sock
            .async_io(tokio::io::Interest::WRITABLE, || {
                let iovs: Vec<[std::io::IoSlice<'_>; 1]> = chunk
                    .iter()
                    .map(|p| [std::io::IoSlice::new(&p.bytes)])
                    .collect();
                let mut hdrs = MultiHeaders::<SockaddrIn>::preallocate(chunk.len(), None);
                sendmmsg(fd, &mut hdrs, &iovs, to, [], MsgFlags::empty())
                    .map(|r| r.count())
                    .map_err(std::io::Error::from)
            })
            .await;
        match sent {
            Ok(n) => done += n.max(1),
            Err(e) => {
                // The first datagram failed; the rest may not.
                tracing::debug!(error = %e, to = %to[0].map(|a| a.to_string()).unwrap_or_default(), "send failed");
                done += 1;
            }
        }
    }
}
