//! pbxnet-tftpd shell: CLI, sockets, one task per transfer, signals,
//! control socket.
//!
//! `pbxnet-tftpd [--config PATH] run | check [--json] | status [--json]`.
//!
//! `run` loads and validates the config (exit 78 on error), binds the
//! listening socket, drops privileges (site `user`), sends READY=1, then
//! runs one select loop: requests on the listening socket → [`decide`] →
//! admission → open beneath the root → spawn a transfer task that owns a
//! connected ephemeral socket and a [`Transfer`]; finished transfers report
//! back (one log line each) and free their slot. SIGHUP
//! reloads (keeping the old config on error); SIGTERM aborts running
//! transfers with an ERROR and exits.

mod files;
mod host;
mod task;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use pbxnet_config::Loaded;
use pbxnet_runtime::{Config, Daemon, Failure, Invocation, NoCommand, NoOptions};
use serde::{Deserialize, Serialize};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};

use crate::server::{Admission, Decision, IgnoreReason, PortPicker, RefuseReason};
use crate::wire::{self, ErrorCode, Mode};
use crate::{decide, negotiate, TftpConfig, Transfer};

use files::{Content, OpenError, Root};

/// The `pbxnet-tftpd` daemon.
pub(crate) struct Tftpd {
    /// The address the listening socket is bound to (a change needs a restart).
    bound_listen: SocketAddr,
    started: Instant,
    active: Active,
    listen: UdpSocket,
    ports: Option<PortPicker>,
    admission: Admission,
    done_tx: mpsc::UnboundedSender<Finished>,
    done_rx: mpsc::UnboundedReceiver<Finished>,
    stop_tx: watch::Sender<bool>,
    stop_rx: watch::Receiver<bool>,
    running: HashMap<u64, Running>,
    next_id: u64,
    totals: Totals,
    buf: Vec<u8>,
    workers: Workers,
}

/// What wakes the main loop.
pub(crate) enum Event {
    /// A datagram on the listening socket (its length, in `buf`).
    Request(usize, SocketAddr),
    /// A transfer ended.
    Finished(Finished),
}

impl Daemon for Tftpd {
    const NAME: &'static str = "pbxnet-tftpd";
    const ABOUT: &'static str = "TFTP server for switch, AP and phone provisioning";
    const CONTROL_SOCKET_REQUIRED: bool = false;
    type Config = TftpConfig;
    type Command = NoCommand;
    type StatusOptions = NoOptions;
    type Request = Request;
    type Response = StatusReport;
    type Bound = UdpSocket;
    type Event = Event;

    async fn bind(config: &Config<Self>) -> Result<UdpSocket> {
        let addr = config.daemon.listen;
        bind_listen(addr).with_context(|| format!("binding {addr}"))
    }

    async fn start(listen: UdpSocket, config: Config<Self>) -> Result<Self> {
        // Transfers run on worker threads; the main loop on this one.
        let workers =
            Workers::start(config.daemon.threads).context("starting the worker threads")?;
        let active = Active::new(config);
        let seed: u64 = rand::random();
        let ports = active
            .cfg()
            .port_range
            .map(|(a, b)| PortPicker::new(seed, a, b));
        let admission = Admission::new(
            active.cfg().max_transfers,
            active.cfg().max_transfers_per_client,
        );
        let (done_tx, done_rx) = mpsc::unbounded_channel::<Finished>();
        let (stop_tx, stop_rx) = watch::channel(false);
        tracing::info!(listen = %listen.local_addr()?, root = %active.cfg().root.display(), "pbxnet-tftpd ready");
        Ok(Tftpd {
            bound_listen: active.cfg().listen,
            started: Instant::now(),
            active,
            listen,
            ports,
            admission,
            done_tx,
            done_rx,
            stop_tx,
            stop_rx,
            running: HashMap::new(),
            next_id: 0,
            totals: Totals::default(),
            buf: vec![0u8; 2048],
            workers,
        })
    }

    async fn next_event(&mut self) -> Event {
        loop {
            tokio::select! {
                r = self.listen.recv_from(&mut self.buf) => match r {
                    Ok((n, peer)) => return Event::Request(n, peer),
                    Err(e) => tracing::debug!(error = %e, "recv on listening socket"),
                },
                Some(f) = self.done_rx.recv() => return Event::Finished(f),
            }
        }
    }

    async fn handle_event(&mut self, event: Event) -> Result<()> {
        match event {
            Event::Request(n, peer) => {
                self.totals.requests += 1;
                // A request repeated from the port of a running transfer
                // (the client retransmitted before our first answer came)
                // is that transfer's: no second transfer to the same port.
                if self.running.values().any(|r| r.client == peer) {
                    self.totals.duplicate_requests += 1;
                    tracing::debug!(client = %peer, "repeated request from a running transfer's port ignored");
                    return Ok(());
                }
                self.next_id += 1;
                handle_request(
                    &self.buf[..n],
                    peer,
                    self.next_id,
                    &self.active,
                    &self.listen,
                    &mut self.admission,
                    &mut self.ports,
                    &mut self.totals,
                    &mut self.running,
                    &self.done_tx,
                    &self.stop_rx,
                    &mut self.workers,
                )
                .await;
            }
            Event::Finished(f) => self.finished(f),
        }
        Ok(())
    }

    async fn reload(&mut self, loaded: Config<Self>) {
        if loaded.daemon.listen != self.bound_listen {
            tracing::warn!(old = %self.bound_listen, new = %loaded.daemon.listen, "server.listen changed: restart the daemon to apply it");
        }
        self.active = Active::new(loaded);
        let cfg = self.active.cfg();
        self.admission
            .set_caps(cfg.max_transfers, cfg.max_transfers_per_client);
        self.ports = cfg
            .port_range
            .map(|(a, b)| PortPicker::new(rand::random(), a, b));
    }

    fn control(&mut self, request: Request) -> Result<StatusReport> {
        let Request::Status = request;
        Ok(self.status())
    }

    async fn stop(mut self) -> Result<()> {
        tracing::info!(
            active = self.running.len(),
            "stopping: aborting running transfers"
        );
        let _ = self.stop_tx.send(true);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        while !self.running.is_empty() {
            match tokio::time::timeout_at(deadline, self.done_rx.recv()).await {
                // Each aborted transfer gets its log line, as any other end.
                Ok(Some(f)) => self.finished(f),
                _ => break,
            }
        }
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
                c.about("Ask the running daemon for its active transfers and totals")
            })
    }
}

impl Tftpd {
    /// A transfer ended: free its slot, count it, log one line.
    fn finished(&mut self, f: Finished) {
        let Some(r) = self.running.remove(&f.id) else {
            return;
        };
        self.admission.release(r.client.ip());
        let totals = &mut self.totals;
        *totals.outcomes.entry(f.outcome.clone()).or_default() += 1;
        totals.bytes_sent += f.bytes;
        totals.retransmits += f.retransmits;
        tracing::info!(
            client = %r.client, file = %r.file, bytes = f.bytes,
            blksize = r.blksize, windowsize = r.windowsize,
            duration_ms = f.duration.as_millis() as u64,
            retransmits = f.retransmits, outcome = %f.outcome,
            "transfer"
        );
    }

    /// The `status` answer.
    fn status(&self) -> StatusReport {
        let now = Instant::now();
        StatusReport {
            version: env!("CARGO_PKG_VERSION").to_string(),
            uptime_seconds: now.duration_since(self.started).as_secs(),
            active: self
                .running
                .values()
                .map(|r| ActiveInfo {
                    client: r.client,
                    file: r.file.clone(),
                    blksize: r.blksize,
                    windowsize: r.windowsize,
                    bytes: r.progress.load(Ordering::Relaxed),
                    seconds: now.duration_since(r.started).as_secs_f64(),
                })
                .collect(),
            totals: self.totals.clone(),
        }
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

/// Transfer worker threads, each running its own current-thread tokio
/// runtime. A transfer is assigned to one worker (round robin) and its
/// socket and timer are registered with that worker's reactor, so every
/// wake-up of a transfer happens on the thread that runs it: no
/// cross-thread hand-off per datagram (a multi-thread runtime with 8
/// workers on one CPU woke idle siblings to steal work on every block).
struct Workers {
    handles: Vec<tokio::runtime::Handle>,
    next: usize,
}

impl Workers {
    /// Start `threads` workers (0: one per CPU). One per CPU, not more: in
    /// a 100-client storm 8 workers on 2 CPUs took 51 s and 2 took 46 s
    /// (docs/performance.md): a worker that wakes with several transfers
    /// ready serves them all before sleeping again, and more workers split
    /// the same work into more wake-ups. (The four per CPU of the earlier
    /// multi-thread runtime, decisions.md, no longer helps.)
    fn start(threads: usize) -> std::io::Result<Workers> {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let n = if threads == 0 { cpus } else { threads };
        let mut handles = Vec::with_capacity(n);
        for i in 0..n {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            handles.push(rt.handle().clone());
            // The thread lives as long as the process: a current-thread
            // runtime runs its tasks only inside `block_on`.
            std::thread::Builder::new()
                .name(format!("tftp-worker-{i}"))
                .spawn(move || rt.block_on(std::future::pending::<()>()))?;
        }
        Ok(Workers { handles, next: 0 })
    }

    /// Run `f` (a transfer) on the next worker.
    fn spawn(&mut self, f: impl std::future::Future<Output = ()> + Send + 'static) {
        let h = &self.handles[self.next];
        self.next = (self.next + 1) % self.handles.len();
        h.spawn(f);
    }
}

/// Control socket request.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Request {
    Status,
}

/// One running transfer in `status`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ActiveInfo {
    client: SocketAddr,
    file: String,
    blksize: u16,
    windowsize: u16,
    bytes: u64,
    seconds: f64,
}

/// Totals since start.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Totals {
    requests: u64,
    malformed: u64,
    /// Requests from the port of a running transfer, ignored.
    #[serde(default)]
    duplicate_requests: u64,
    refused: HashMap<String, u64>,
    outcomes: HashMap<String, u64>,
    bytes_sent: u64,
    retransmits: u64,
}

/// `status` answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StatusReport {
    version: String,
    uptime_seconds: u64,
    active: Vec<ActiveInfo>,
    totals: Totals,
}

/// `status`: the answer as text (sorted by client) or JSON.
fn render_status(mut report: StatusReport, json: bool) -> Result<String> {
    use std::fmt::Write as _;
    report.active.sort_by_key(|a| a.client);
    if json {
        return Ok(serde_json::to_string_pretty(&report)?);
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "pbxnet-tftpd {} up {}s: {} active transfer(s)",
        report.version,
        report.uptime_seconds,
        report.active.len()
    );
    for a in &report.active {
        let _ = writeln!(
            out,
            "  {:<22} {:<40} {:>12} bytes  blksize {:<5} window {:<3} {:.1}s",
            a.client, a.file, a.bytes, a.blksize, a.windowsize, a.seconds
        );
    }
    let t = &report.totals;
    let _ = writeln!(
        out,
        "totals: {} requests, {} malformed, {} repeated, {} bytes sent, {} retransmits",
        t.requests, t.malformed, t.duplicate_requests, t.bytes_sent, t.retransmits
    );
    let mut o: Vec<_> = t.outcomes.iter().collect();
    o.sort();
    for (k, v) in o {
        let _ = writeln!(out, "  outcome {k}: {v}");
    }
    let mut r: Vec<_> = t.refused.iter().collect();
    r.sort();
    for (k, v) in r {
        let _ = writeln!(out, "  refused {k}: {v}");
    }
    Ok(out)
}

/// Everything derived from one loaded configuration.
struct Active {
    loaded: Arc<Loaded<TftpConfig>>,
    root: Option<Arc<Root>>,
}

impl Active {
    fn new(loaded: Arc<Loaded<TftpConfig>>) -> Active {
        let root = match Root::open(&loaded.daemon.root) {
            Ok(r) => Some(Arc::new(r)),
            Err(e) => {
                tracing::warn!(root = %loaded.daemon.root.display(), error = %e, "root not available: serving generated files only");
                None
            }
        };
        Active { loaded, root }
    }
    fn cfg(&self) -> &TftpConfig {
        &self.loaded.daemon
    }
}

/// A finished transfer, reported by its task.
#[derive(Debug)]
pub(crate) struct Finished {
    id: u64,
    outcome: String,
    bytes: u64,
    retransmits: u64,
    duration: Duration,
}

struct Running {
    client: SocketAddr,
    file: String,
    blksize: u16,
    windowsize: u16,
    started: Instant,
    progress: Arc<AtomicU64>,
    /// Upload folder room an upload holds until it ends (its size cap).
    reserved: u64,
}

/// Room left in the upload folder under `uploads.folder-quota`: the quota
/// less the files already there (hidden temporaries excepted) and the room
/// reserved by the uploads in progress.
fn upload_room(cfg: &TftpConfig, folder: &str, running: &HashMap<u64, Running>) -> u64 {
    let quota = cfg.policy.uploads.as_ref().map_or(0, |u| u.folder_quota);
    let on_disk: u64 = std::fs::read_dir(cfg.root.join(folder))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with(".upload-"))
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum();
    let reserved: u64 = running.values().map(|r| r.reserved).sum();
    quota.saturating_sub(on_disk.saturating_add(reserved))
}

fn bind_listen(addr: SocketAddr) -> Result<UdpSocket> {
    let sock = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    // A boot storm sends hundreds of RRQs at once.
    let _ = sock.set_recv_buffer_size(1 << 20);
    sock.set_nonblocking(true)?;
    sock.bind(&addr.into())?;
    Ok(UdpSocket::from_std(sock.into())?)
}

async fn send_error(sock: &UdpSocket, to: SocketAddr, code: ErrorCode, msg: &str) {
    let mut out = Vec::new();
    wire::encode_error(code, msg, &mut out);
    let _ = sock.send_to(&out, to).await;
}

/// Bind the transfer socket: same local IP as the listener, port from the
/// range or the kernel, connected to the client.
fn bind_transfer(
    local_ip: IpAddr,
    peer: SocketAddr,
    ports: &mut Option<PortPicker>,
) -> std::io::Result<std::net::UdpSocket> {
    let mk = |port: u16| -> std::io::Result<std::net::UdpSocket> {
        let s = std::net::UdpSocket::bind(SocketAddr::new(local_ip, port))?;
        s.connect(peer)?;
        s.set_nonblocking(true)?;
        Ok(s)
    };
    let std_sock = match ports {
        None => mk(0)?,
        Some(p) => {
            let mut last = std::io::Error::from(std::io::ErrorKind::AddrInUse);
            let mut found = None;
            for port in p.candidates(1024) {
                match mk(port) {
                    Ok(s) => {
                        found = Some(s);
                        break;
                    }
                    Err(e) => last = e,
                }
            }
            found.ok_or(last)?
        }
    };
    Ok(std_sock)
}

fn path_mtu(sock: &std::net::UdpSocket) -> Option<u16> {
    let mtu = nix::sys::socket::getsockopt(sock, nix::sys::socket::sockopt::IpMtu).ok()?;
    u16::try_from(mtu).ok()
}

#[allow(clippy::too_many_arguments)]
async fn handle_request(
    datagram: &[u8],
    peer: SocketAddr,
    id: u64,
    active: &Active,
    listen: &UdpSocket,
    admission: &mut Admission,
    ports: &mut Option<PortPicker>,
    totals: &mut Totals,
    running: &mut HashMap<u64, Running>,
    done_tx: &mpsc::UnboundedSender<Finished>,
    stop_rx: &watch::Receiver<bool>,
    workers: &mut Workers,
) {
    let cfg = active.cfg();
    let prov = cfg.provisioning(active.loaded.site.server_address);
    let mut refuse = |reason: RefuseReason, code: ErrorCode, message: String, name: &str| {
        *totals
            .refused
            .entry(reason.label().to_string())
            .or_default() += 1;
        match reason {
            RefuseReason::ServerBusy | RefuseReason::ClientBusy => {
                tracing::warn!(client = %peer, file = %name, reason = reason.label(), "request refused: concurrency cap reached")
            }
            RefuseReason::NotFound => {
                tracing::info!(client = %peer, file = %name, "request refused: file not found")
            }
            _ => {
                tracing::info!(client = %peer, file = %name, reason = reason.label(), %message, "request refused")
            }
        }
        (code, message)
    };
    let plan = match decide(datagram, &cfg.policy, &prov) {
        Decision::Ignore(IgnoreReason::Malformed(e)) => {
            totals.malformed += 1;
            tracing::debug!(client = %peer, error = %e, "malformed datagram dropped");
            return;
        }
        Decision::Ignore(IgnoreReason::NotARequest) => {
            totals.malformed += 1;
            return;
        }
        Decision::Refuse {
            reason,
            code,
            message,
            name,
        } => {
            let (code, message) = refuse(reason, code, message, &name);
            send_error(listen, peer, code, &message).await;
            return;
        }
        Decision::Write(w) => {
            start_upload(
                w, peer, id, active, listen, admission, ports, totals, running, done_tx, stop_rx,
                workers,
            )
            .await;
            return;
        }
        Decision::Read(plan) => plan,
    };
    let name = plan.path.joined();
    if let Err(reason) = admission.try_admit(peer.ip()) {
        let (code, message) = refuse(
            reason,
            ErrorCode::NotDefined,
            "server busy, retry later".into(),
            &name,
        );
        send_error(listen, peer, code, &message).await;
        return;
    }
    // From here on the slot is held: every early return releases it.
    let opened = open_content(active, &plan);
    let (served, content, len) = match opened {
        Ok(v) => v,
        Err((reason, code, message)) => {
            admission.release(peer.ip());
            let (code, message) = refuse(reason, code, message, &name);
            send_error(listen, peer, code, &message).await;
            return;
        }
    };
    let local_ip = listen
        .local_addr()
        .map(|a| a.ip())
        .unwrap_or(IpAddr::from([0, 0, 0, 0]));
    let sock = match bind_transfer(local_ip, peer, ports) {
        Ok(s) => s,
        Err(e) => {
            admission.release(peer.ip());
            let (code, message) = refuse(
                RefuseReason::ServerBusy,
                ErrorCode::NotDefined,
                "server busy, retry later".into(),
                &name,
            );
            tracing::warn!(client = %peer, error = %e, "no transfer port available");
            send_error(listen, peer, code, &message).await;
            return;
        }
    };
    let mut limits = cfg.limits.clone();
    if cfg.blksize_within_mtu {
        if let Some(mtu) = path_mtu(&sock) {
            limits.max_blksize = limits.max_blksize.min(mtu.saturating_sub(32).max(512));
        }
    }
    let tsize = (plan.mode == Mode::Octet).then_some(len);
    let neg = negotiate(&plan.options, &limits, tsize, false);
    let now = Instant::now();
    let transfer = Transfer::new(now, content, plan.mode, &neg, cfg.timing.clone());
    let progress = Arc::new(AtomicU64::new(0));
    running.insert(
        id,
        Running {
            client: peer,
            file: served.clone(),
            blksize: neg.blksize,
            windowsize: neg.windowsize,
            started: now,
            progress: progress.clone(),
            reserved: 0,
        },
    );
    tracing::debug!(client = %peer, file = %served, blksize = neg.blksize, windowsize = neg.windowsize, "transfer started");
    workers.spawn(task::drive(
        id,
        sock,
        transfer,
        progress,
        done_tx.clone(),
        stop_rx.clone(),
        |_| None,
    ));
}

/// Accept a WRQ into the upload folder: the data goes to a hidden temporary
/// file that is renamed into place (never replacing a file unless
/// `uploads.overwrite`) when the last block arrives, and removed otherwise.
#[allow(clippy::too_many_arguments)]
async fn start_upload(
    w: crate::WritePlan,
    peer: SocketAddr,
    id: u64,
    active: &Active,
    listen: &UdpSocket,
    admission: &mut Admission,
    ports: &mut Option<PortPicker>,
    totals: &mut Totals,
    running: &mut HashMap<u64, Running>,
    done_tx: &mpsc::UnboundedSender<Finished>,
    stop_rx: &watch::Receiver<bool>,
    workers: &mut Workers,
) {
    let cfg = active.cfg();
    let mut refuse = |reason: RefuseReason, code: ErrorCode, message: String| {
        *totals
            .refused
            .entry(reason.label().to_string())
            .or_default() += 1;
        tracing::info!(client = %peer, file = %w.destination, reason = reason.label(), %message, "upload refused");
        (code, message)
    };
    let Some(root) = active.root.clone() else {
        let (c, m) = refuse(
            RefuseReason::WriteRefused,
            ErrorCode::AccessViolation,
            "no root folder".into(),
        );
        send_error(listen, peer, c, &m).await;
        return;
    };
    let announced = w
        .options
        .iter()
        .find(|(n, _)| n == "tsize")
        .and_then(|(_, v)| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > w.max_size) {
        let (c, m) = refuse(
            RefuseReason::OverQuota,
            ErrorCode::DiskFull,
            format!("upload larger than {} bytes", w.max_size),
        );
        send_error(listen, peer, c, &m).await;
        return;
    }
    let (folder_name, _) = w.destination.split_once('/').unwrap_or(("", ""));
    let room = upload_room(cfg, folder_name, running);
    if room == 0 || announced.is_some_and(|n| n > room) {
        let (c, m) = refuse(
            RefuseReason::OverQuota,
            ErrorCode::DiskFull,
            "upload folder full".into(),
        );
        send_error(listen, peer, c, &m).await;
        return;
    }
    // The upload may take what is left of the folder quota, at most its
    // own limit; that room is held until it ends.
    let cap = w.max_size.min(room);
    if !w.overwrite && root.exists(&w.destination) {
        let (c, m) = refuse(
            RefuseReason::WriteRefused,
            ErrorCode::FileExists,
            "file already exists".into(),
        );
        send_error(listen, peer, c, &m).await;
        return;
    }
    if let Err(reason) = admission.try_admit(peer.ip()) {
        let (c, m) = refuse(
            reason,
            ErrorCode::NotDefined,
            "server busy, retry later".into(),
        );
        send_error(listen, peer, c, &m).await;
        return;
    }
    let (folder, name) = w
        .destination
        .split_once('/')
        .unwrap_or(("", &w.destination));
    let tmp = format!("{folder}/.upload-{id}-{name}");
    let file = match root.create_new(&tmp) {
        Ok(f) => f,
        Err(e) => {
            admission.release(peer.ip());
            let why = match e {
                OpenError::NotFound => "upload folder missing".to_string(),
                OpenError::Denied(w) => w.to_string(),
                OpenError::Io(e) => e.kind().to_string(),
            };
            let (c, m) = refuse(
                RefuseReason::WriteRefused,
                ErrorCode::AccessViolation,
                format!("cannot create: {why}"),
            );
            send_error(listen, peer, c, &m).await;
            return;
        }
    };
    let local_ip = listen
        .local_addr()
        .map(|a| a.ip())
        .unwrap_or(IpAddr::from([0, 0, 0, 0]));
    let sock = match bind_transfer(local_ip, peer, ports) {
        Ok(s) => s,
        Err(e) => {
            admission.release(peer.ip());
            root.remove(&tmp);
            tracing::warn!(client = %peer, error = %e, "no transfer port available");
            send_error(
                listen,
                peer,
                ErrorCode::NotDefined,
                "server busy, retry later",
            )
            .await;
            return;
        }
    };
    let mut limits = cfg.limits.clone();
    if cfg.blksize_within_mtu {
        if let Some(mtu) = path_mtu(&sock) {
            limits.max_blksize = limits.max_blksize.min(mtu.saturating_sub(32).max(512));
        }
    }
    let neg = negotiate(&w.options, &limits, None, true);
    let now = Instant::now();
    let sink = files::StagedUpload::new(file, root, tmp, w.destination.clone(), w.overwrite);
    let upload = crate::Upload::new(now, sink, w.mode, &neg, cap, cfg.timing.clone());
    let progress = Arc::new(AtomicU64::new(0));
    running.insert(
        id,
        Running {
            client: peer,
            file: format!("{} (upload)", w.destination),
            blksize: neg.blksize,
            windowsize: neg.windowsize,
            started: now,
            progress: progress.clone(),
            reserved: cap,
        },
    );
    workers.spawn(task::drive(
        id,
        sock,
        upload,
        progress,
        done_tx.clone(),
        stop_rx.clone(),
        // The file was committed (or removed) by its sink: nothing to do.
        |_| None,
    ));
}

type Refusal = (RefuseReason, ErrorCode, String);

/// Render a configured device's `<mac>.cfg` from its template.
fn render_device(
    cfg: &TftpConfig,
    root: &Root,
    device: &crate::Device,
    server_ip: std::net::Ipv4Addr,
) -> Result<(String, Content, u64), Refusal> {
    let candidates = crate::template_candidates(&cfg.device_template_folder, device);
    let (rel, file) = match root.open_first(&candidates) {
        Ok(v) => v,
        Err(_) => {
            tracing::warn!(mac = %device.mac, folder = %cfg.device_template_folder, "no template for a configured device");
            return Err((
                RefuseReason::NotFound,
                ErrorCode::FileNotFound,
                "file not found".into(),
            ));
        }
    };
    let mut text = String::new();
    let read = std::io::Read::read_to_string(
        &mut std::io::Read::take(&file, cfg.macro_max_size),
        &mut text,
    );
    let rendered = read.map_err(|e| e.to_string()).and_then(|_| {
        crate::render_device_template(&text, device, server_ip).map_err(|e| e.to_string())
    });
    match rendered {
        Ok(body) => {
            let len = body.len() as u64;
            Ok((
                format!("{}.cfg (from {rel})", device.mac),
                Content::Memory(Arc::from(body.into_bytes())),
                len,
            ))
        }
        Err(e) => {
            tracing::warn!(mac = %device.mac, template = %rel, error = %e, "device template error; run `pbxnet-tftpd check`");
            Err((
                RefuseReason::ConfigError,
                ErrorCode::NotDefined,
                "server configuration error".into(),
            ))
        }
    }
}

/// Find the content for a read: a file beneath the root (exact, then case
/// folded) takes precedence over the generated one. Quotas and macros are
/// applied here.
fn open_content(
    active: &Active,
    plan: &crate::ReadPlan,
) -> Result<(String, Content, u64), Refusal> {
    let cfg = active.cfg();
    let server_ip = active.loaded.site.server_address;
    // `<mac>.cfg` in any spelling: also look for the canonical file name.
    let mac = crate::mac_of_request(plan.path.file_name());
    let mut candidates = plan.candidates.clone();
    if let Some(m) = &mac {
        let canonical = format!("{m}.cfg");
        if canonical != plan.path.file_name() {
            candidates.push(canonical.clone());
            for f in &cfg.policy.search_folders {
                candidates.push(format!("{f}/{canonical}"));
            }
        }
    }
    let found = match &active.root {
        Some(root) => match root.open_first(&candidates) {
            Ok((_, file)) if !cfg.policy.serve_secured && root.is_secured(&file) => {
                return Err((
                    RefuseReason::Secured,
                    ErrorCode::AccessViolation,
                    crate::PathError::Secured.to_string(),
                ))
            }
            Ok(v) => Some(v),
            Err(OpenError::NotFound) => None,
            Err(OpenError::Denied(why)) => {
                return Err((
                    RefuseReason::BadPath,
                    ErrorCode::AccessViolation,
                    format!("access violation: {why}"),
                ))
            }
            Err(OpenError::Io(e)) => {
                return Err((
                    RefuseReason::NotFound,
                    ErrorCode::NotDefined,
                    format!("read error: {}", e.kind()),
                ))
            }
        },
        None => None,
    };
    let found = match (found, &mac, &active.root) {
        (None, Some(m), Some(root)) => match cfg.device(m) {
            Some(device) => {
                return render_device(cfg, root, device, server_ip);
            }
            None => None,
        },
        (f, _, _) => f,
    };
    let Some((rel, file)) = found else {
        return match &plan.generated {
            Some(g) => {
                let len = g.len() as u64;
                Ok((
                    format!("{} (generated)", plan.path.joined()),
                    Content::Memory(Arc::from(g.clone())),
                    len,
                ))
            }
            None => Err((
                RefuseReason::NotFound,
                ErrorCode::FileNotFound,
                "file not found".into(),
            )),
        };
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    if let Some(q) = cfg.file_quota(&rel) {
        if len > q {
            return Err((
                RefuseReason::OverQuota,
                ErrorCode::DiskFull,
                format!("{rel} exceeds the {q}-byte quota"),
            ));
        }
    }
    if cfg.is_macro_file(&rel) && len > cfg.macro_max_size {
        // Served as is it could reach a device with a literal ${server_ip}:
        // refused, and said (check reports it too).
        tracing::warn!(file = %rel, bytes = len, macro_max_size = cfg.macro_max_size, "macro file over files.macro-max-size refused (its ${{server_ip}} cannot be expanded); run `pbxnet-tftpd check`");
        return Err((
            RefuseReason::ConfigError,
            ErrorCode::NotDefined,
            "server configuration error".into(),
        ));
    }
    if cfg.is_macro_file(&rel) {
        let mut bytes = Vec::with_capacity(len as usize);
        std::io::Read::read_to_end(
            &mut std::io::Read::take(&file, cfg.macro_max_size + 1),
            &mut bytes,
        )
        .map_err(|e| {
            (
                RefuseReason::NotFound,
                ErrorCode::NotDefined,
                format!("read error: {}", e.kind()),
            )
        })?;
        return match crate::expand_macros(&bytes, server_ip) {
            Ok(Some(expanded)) => {
                let l = expanded.len() as u64;
                Ok((rel, Content::Memory(Arc::from(expanded)), l))
            }
            Ok(None) => {
                let l = bytes.len() as u64;
                Ok((rel, Content::Memory(Arc::from(bytes)), l))
            }
            Err(e) => {
                tracing::warn!(file = %rel, error = %e, "macro error in served file; run `pbxnet-tftpd check`");
                Err((
                    RefuseReason::ConfigError,
                    ErrorCode::NotDefined,
                    "server configuration error".into(),
                ))
            }
        };
    }
    Ok((rel, Content::File(files::ReadAhead::new(file)), len))
}
