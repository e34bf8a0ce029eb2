//! The serving loop's state: requests on the listening socket → [`decide`]
//! → admission → open beneath the root (`content.rs`) → a transfer task
//! (`task.rs`) on a worker thread, owning an ephemeral socket and
//! a [`Transfer`] or an upload; finished transfers report back (one log
//! line each) and free their slot.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};

use pbxnet_inventory::Protocol;
use pbxnet_runtime::events::Events;

use super::content::{open_content, Active};
use super::events::{self, refusal_outcome, tftp_outcome, Ended};
use super::files::{self, OpenError};
use super::sockets::{bind_transfer, path_mtu, send_error};
use super::status::{Running, Totals};
use super::task::{self, Finished};
use super::workers::Workers;
use crate::server::{Admission, Decision, IgnoreReason, PortPicker, RefuseReason};
use crate::wire::{ErrorCode, Mode};
use crate::{decide, negotiate, Negotiated, TftpConfig, Transfer};

/// What wakes the main loop.
pub(crate) enum Event {
    /// A datagram on the listening socket (its length, in the buffer).
    Request(usize, SocketAddr),
    /// A transfer ended.
    Finished(Finished),
}

/// The listening side and the transfers it started.
pub(super) struct Serve {
    pub(super) active: Active,
    listen: UdpSocket,
    ports: Option<PortPicker>,
    admission: Admission,
    done_tx: mpsc::UnboundedSender<Finished>,
    done_rx: mpsc::UnboundedReceiver<Finished>,
    stop_tx: watch::Sender<bool>,
    stop_rx: watch::Receiver<bool>,
    pub(super) running: HashMap<u64, Running>,
    next_id: u64,
    pub(super) totals: Totals,
    buf: Vec<u8>,
    workers: Workers,
    pub(super) events: Events,
}

impl Serve {
    pub(super) fn new(
        listen: UdpSocket,
        active: Active,
        workers: Workers,
        events: Events,
    ) -> Serve {
        let seed: u64 = rand::random();
        let cfg = active.cfg();
        let ports = cfg.port_range.map(|(a, b)| PortPicker::new(seed, a, b));
        let admission = Admission::new(cfg.max_transfers, cfg.max_transfers_per_client);
        let (done_tx, done_rx) = mpsc::unbounded_channel::<Finished>();
        let (stop_tx, stop_rx) = watch::channel(false);
        Serve {
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
            events,
        }
    }

    pub(super) async fn next_event(&mut self) -> Event {
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

    pub(super) async fn handle(&mut self, event: Event) {
        match event {
            Event::Request(n, peer) => {
                self.totals.requests += 1;
                // A request repeated from the port of a running transfer
                // (the client retransmitted before our first answer came)
                // is that transfer's: no second transfer to the same port.
                if self.running.values().any(|r| r.client == peer) {
                    self.totals.duplicate_requests += 1;
                    tracing::debug!(client = %peer, "repeated request from a running transfer's port ignored");
                    return;
                }
                self.next_id += 1;
                let datagram = std::mem::take(&mut self.buf);
                self.request(&datagram[..n], peer, self.next_id).await;
                self.buf = datagram;
            }
            Event::Finished(f) => self.finished(f),
        }
    }

    /// A new configuration (SIGHUP): new caps and port range.
    pub(super) fn reload(&mut self, active: Active) {
        self.active = active;
        let cfg = self.active.cfg();
        self.admission
            .set_caps(cfg.max_transfers, cfg.max_transfers_per_client);
        self.ports = cfg
            .port_range
            .map(|(a, b)| PortPicker::new(rand::random(), a, b));
    }

    /// SIGTERM: aborts running transfers (each sends an ERROR) and waits
    /// up to 2 s for them to report.
    pub(super) async fn stop(mut self) {
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
    }

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
        totals.foreign_tids += f.foreign_tids;
        tracing::info!(
            client = %r.client, file = %r.file, bytes = f.bytes,
            blksize = r.blksize, windowsize = r.windowsize,
            duration_ms = f.duration.as_millis() as u64,
            retransmits = f.retransmits, outcome = %f.outcome,
            "transfer"
        );
        let ended = Ended {
            client: r.client,
            path: &r.asked,
            protocol: Protocol::Tftp,
            bytes: f.bytes,
            outcome: tftp_outcome(&f.outcome),
            user_agent: None,
            client_cert: None,
        };
        events::publish(&self.events, ended);
    }

    /// A refused request ends a transfer before it starts: published too
    /// (a chain file not found is what the inventory's verdict looks for).
    fn publish_refusal(&self, peer: SocketAddr, path: &str, reason: RefuseReason) {
        let ended = Ended {
            client: peer,
            path,
            protocol: Protocol::Tftp,
            bytes: 0,
            outcome: refusal_outcome(reason),
            user_agent: None,
            client_cert: None,
        };
        events::publish(&self.events, ended);
    }

    async fn request(&mut self, datagram: &[u8], peer: SocketAddr, id: u64) {
        let active = self.active.clone();
        let cfg = active.cfg();
        let prov = cfg.provisioning(active.loaded.site.server_address);
        match decide(datagram, &cfg.policy, &prov) {
            Decision::Ignore(IgnoreReason::Malformed(e)) => {
                self.totals.malformed += 1;
                tracing::debug!(client = %peer, error = %e, "malformed datagram dropped");
            }
            Decision::Ignore(IgnoreReason::NotARequest) => {
                self.totals.malformed += 1;
            }
            Decision::Refuse {
                reason,
                code,
                message,
                name,
            } => self.refuse(peer, reason, code, &message, &name).await,
            Decision::Write(w) => self.upload(&active, w, peer, id).await,
            Decision::Read(plan) => self.download(&active, &plan, peer, id).await,
        }
    }

    /// Counts and logs a refused read, and tells the client.
    async fn refuse(
        &mut self,
        peer: SocketAddr,
        reason: RefuseReason,
        code: ErrorCode,
        message: &str,
        name: &str,
    ) {
        self.count_refusal(reason);
        self.publish_refusal(peer, name, reason);
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
        send_error(&self.listen, peer, code, message).await;
    }

    fn count_refusal(&mut self, reason: RefuseReason) {
        *self
            .totals
            .refused
            .entry(reason.label().to_string())
            .or_default() += 1;
    }

    async fn download(
        &mut self,
        active: &Active,
        plan: &crate::ReadPlan,
        peer: SocketAddr,
        id: u64,
    ) {
        let name = plan.path.joined();
        const BUSY: &str = "server busy, retry later";
        if let Err(reason) = self.admission.try_admit(peer.ip()) {
            return self
                .refuse(peer, reason, ErrorCode::NotDefined, BUSY, &name)
                .await;
        }
        // From here on the slot is held: every early return releases it.
        let serve_secured = active.cfg().policy.serve_secured;
        let (served, content, len) = match open_content(active, plan, serve_secured) {
            Ok(v) => v,
            Err((reason, code, message)) => {
                self.admission.release(peer.ip());
                return self.refuse(peer, reason, code, &message, &name).await;
            }
        };
        let sock = match bind_transfer(self.local_ip(), peer, &mut self.ports) {
            Ok(s) => s,
            Err(e) => {
                self.admission.release(peer.ip());
                tracing::warn!(client = %peer, error = %e, "no transfer port available");
                let busy = RefuseReason::ServerBusy;
                return self
                    .refuse(peer, busy, ErrorCode::NotDefined, BUSY, &name)
                    .await;
            }
        };
        let cfg = active.cfg();
        let tsize = (plan.mode == Mode::Octet).then_some(len);
        let neg = negotiate(
            &plan.options,
            &limits(cfg, self.local_ip(), peer),
            tsize,
            false,
        );
        let now = Instant::now();
        let transfer = Transfer::new(now, content, plan.mode, &neg, cfg.timing.clone());
        let progress = self.register(id, (peer, name), served.clone(), &neg, now, 0);
        tracing::debug!(client = %peer, file = %served, blksize = neg.blksize, windowsize = neg.windowsize, "transfer started");
        let task = task::drive(
            id,
            sock,
            transfer,
            progress,
            self.done_tx.clone(),
            self.stop_rx.clone(),
            |_| None,
        );
        self.workers.spawn(task);
    }

    /// Accept a WRQ into the upload folder: the data goes to a hidden
    /// temporary file that is renamed into place (never replacing a file
    /// unless `uploads.overwrite`) when the last block arrives, and removed
    /// otherwise.
    async fn upload(&mut self, active: &Active, w: crate::WritePlan, peer: SocketAddr, id: u64) {
        let Some(root) = active.root.clone() else {
            let why = "no root folder";
            return self
                .refuse_upload(
                    peer,
                    &w,
                    RefuseReason::WriteRefused,
                    ErrorCode::AccessViolation,
                    why,
                )
                .await;
        };
        let cap = match self.admit_upload(active.cfg(), &w, &root, peer) {
            Ok(cap) => cap,
            Err((reason, code, message)) => {
                return self.refuse_upload(peer, &w, reason, code, &message).await;
            }
        };
        let (folder, name) = w
            .destination
            .split_once('/')
            .unwrap_or(("", &w.destination));
        let tmp = format!("{folder}/.upload-{id}-{name}");
        let file = match root.create_new(&tmp) {
            Ok(f) => f,
            Err(e) => {
                self.admission.release(peer.ip());
                let why = match e {
                    OpenError::NotFound => "upload folder missing".to_string(),
                    OpenError::Denied(w) => w.to_string(),
                    OpenError::Io(e) => e.kind().to_string(),
                };
                let message = format!("cannot create: {why}");
                return self
                    .refuse_upload(
                        peer,
                        &w,
                        RefuseReason::WriteRefused,
                        ErrorCode::AccessViolation,
                        &message,
                    )
                    .await;
            }
        };
        let sock = match bind_transfer(self.local_ip(), peer, &mut self.ports) {
            Ok(s) => s,
            Err(e) => {
                self.admission.release(peer.ip());
                root.remove(&tmp);
                tracing::warn!(client = %peer, error = %e, "no transfer port available");
                send_error(
                    &self.listen,
                    peer,
                    ErrorCode::NotDefined,
                    "server busy, retry later",
                )
                .await;
                return;
            }
        };
        let cfg = active.cfg();
        let neg = negotiate(&w.options, &limits(cfg, self.local_ip(), peer), None, true);
        let now = Instant::now();
        let sink = files::StagedUpload::new(file, root, tmp, w.destination.clone(), w.overwrite);
        let upload = crate::Upload::new(now, sink, w.mode, &neg, cap, cfg.timing.clone());
        let file = format!("{} (upload)", w.destination);
        let progress = self.register(id, (peer, w.destination.clone()), file, &neg, now, cap);
        // The file was committed (or removed) by its sink: nothing to do.
        let task = task::drive(
            id,
            sock,
            upload,
            progress,
            self.done_tx.clone(),
            self.stop_rx.clone(),
            |_| None,
        );
        self.workers.spawn(task);
    }

    /// The checks before an upload takes a slot: announced size, the
    /// folder quota, an existing file, then admission (the slot is held on
    /// success). Returns the upload's size cap: what is left of the folder
    /// quota, at most its own limit (that room is held until it ends).
    fn admit_upload(
        &mut self,
        cfg: &TftpConfig,
        w: &crate::WritePlan,
        root: &files::Root,
        peer: SocketAddr,
    ) -> Result<u64, (RefuseReason, ErrorCode, String)> {
        let announced = w
            .options
            .iter()
            .find(|(n, _)| n == "tsize")
            .and_then(|(_, v)| v.parse::<u64>().ok());
        if announced.is_some_and(|n| n > w.max_size) {
            let message = format!("upload larger than {} bytes", w.max_size);
            return Err((RefuseReason::OverQuota, ErrorCode::DiskFull, message));
        }
        let (folder_name, _) = w.destination.split_once('/').unwrap_or(("", ""));
        let room = upload_room(cfg, folder_name, &self.running);
        if room == 0 || announced.is_some_and(|n| n > room) {
            let message = "upload folder full".to_string();
            return Err((RefuseReason::OverQuota, ErrorCode::DiskFull, message));
        }
        let cap = w.max_size.min(room);
        if !w.overwrite && root.exists(&w.destination) {
            let message = "file already exists".to_string();
            return Err((RefuseReason::WriteRefused, ErrorCode::FileExists, message));
        }
        self.admission.try_admit(peer.ip()).map_err(|reason| {
            let message = "server busy, retry later".to_string();
            (reason, ErrorCode::NotDefined, message)
        })?;
        Ok(cap)
    }

    /// Counts and logs a refused upload, and tells the client.
    async fn refuse_upload(
        &mut self,
        peer: SocketAddr,
        w: &crate::WritePlan,
        reason: RefuseReason,
        code: ErrorCode,
        message: &str,
    ) {
        self.count_refusal(reason);
        self.publish_refusal(peer, &w.destination, reason);
        tracing::info!(client = %peer, file = %w.destination, reason = reason.label(), %message, "upload refused");
        send_error(&self.listen, peer, code, message).await;
    }

    /// The listening socket's address: transfers answer from it.
    fn local_ip(&self) -> IpAddr {
        self.listen
            .local_addr()
            .map(|a| a.ip())
            .unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    /// Records a started transfer for `status`; returns its progress counter.
    fn register(
        &mut self,
        id: u64,
        (client, asked): (SocketAddr, String),
        file: String,
        neg: &Negotiated,
        started: Instant,
        reserved: u64,
    ) -> Arc<AtomicU64> {
        let progress = Arc::new(AtomicU64::new(0));
        let running = Running {
            client,
            file,
            asked,
            blksize: neg.blksize,
            windowsize: neg.windowsize,
            started,
            progress: progress.clone(),
            reserved,
        };
        self.running.insert(id, running);
        progress
    }
}

/// Room left in the upload folder under `uploads.folder-quota`: the quota
/// less the files already there (hidden temporaries excepted) and the room
/// reserved by the uploads in progress.
fn upload_room(cfg: &TftpConfig, folder: &str, running: &HashMap<u64, Running>) -> u64 {
    let reserved: u64 = running.values().map(|r| r.reserved).sum();
    upload_room_beside(cfg, folder, reserved)
}

/// Room left in the upload folder under `uploads.folder-quota`, with
/// `reserved` bytes held by uploads in progress. TFTP and HTTP PUT both
/// check it.
pub(super) fn upload_room_beside(cfg: &TftpConfig, folder: &str, reserved: u64) -> u64 {
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
    quota.saturating_sub(on_disk.saturating_add(reserved))
}

/// The configured limits, with `blksize` kept within the path MTU when
/// `blksize-within-mtu` asks for it.
fn limits(cfg: &TftpConfig, local_ip: IpAddr, peer: SocketAddr) -> crate::Limits {
    let mut limits = cfg.limits.clone();
    if cfg.blksize_within_mtu {
        if let Some(mtu) = path_mtu(local_ip, peer) {
            limits.max_blksize = limits.max_blksize.min(mtu.saturating_sub(32).max(512));
        }
    }
    limits
}
