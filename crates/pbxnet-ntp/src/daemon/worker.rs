//! The server workers: one plain thread per socket.
//!
//! Each worker owns one SO_REUSEPORT socket and one [`Server`] core on its
//! own plain thread (no async runtime), so the two cores of the machine
//! serve in parallel without sharing a lock on the hot path. The kernel
//! spreads clients over the sockets by 4-tuple hash, so one client always
//! lands on the same worker and its rate-limit slot.
//!
//! The loop is: a blocking `recvmmsg` with MSG_WAITFORONE (sleeps until one
//! request arrives, then takes whatever else is already queued, up to
//! [`RX_BATCH`]), the core on each request, one `sendmmsg` with all the
//! replies of the batch. Two system calls per batch and one wake-up per
//! batch; under load a batch fills up by itself, so the cost per request
//! falls as the rate rises. Configuration and system-state updates arrive
//! through a `watch` channel and are applied before a batch is answered.
//!
//! Receive time: SO_TIMESTAMPNS, the kernel's CLOCK_REALTIME stamp taken when
//! each datagram arrived (falls back to reading the clock if absent).
//! Transmit time: read once per batch right before the `sendmmsg` (the core
//! prepares each reply, then completes it with that time and signs it).
//! Trade-off: the k-th reply of a batch leaves after the k−1 before it, so
//! its transmit timestamp is early by their kernel send time (and by the
//! signing of the replies after it), about 3 µs per reply on the benchmark
//! machine; a batch holds one request unless requests queued while the
//! previous batch was served. With `send-batching = false` each reply is
//! stamped and sent on its own (`sendto`), at about 1 µs more per request.
//!
//! Optional coalescing (`coalesce-us`): after a batch of 2 or more (but not
//! a full one), sleep that long before the next `recvmmsg`, so that under
//! load one wake-up serves more requests. Off by default.

//!
//! After every batch a worker publishes its counters and records the
//! batch's clients in its [`ClientTable`] (one uncontended lock each), so
//! `status` and `status clients` are current as soon as the batch is
//! answered.

use pbxnet_inventory::{Event, NtpRequestEvent};
use pbxnet_runtime::events::Events;

use super::clock::{ClockReader, Shift};
use super::mmsg::{RecvBatch, SendBatch};
use super::net::{now_ntp, Feed, Shared, WorkerOptions, WorkerStats, RX_BATCH};
use crate::{
    ClientTable, NtpTimestamp, PendingReply, Server, ServerAction, CLIENT_TABLE_SLOTS,
    MAX_REPLY_LEN,
};
use std::io;
use std::net::{IpAddr, UdpSocket as StdUdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Starts one worker thread per socket, each with its own seed, fed by
/// `feed`; returns the counters they share with the control loop.
pub(crate) fn spawn_workers(
    sockets: Vec<StdUdpSocket>,
    feed: Feed,
    clock: &ClockReader,
    cfg: &crate::NtpConfig,
    events: &Events,
) -> io::Result<Arc<Shared>> {
    let seed_base: u64 = rand::random();
    let shared = Arc::new(Shared {
        stats: (0..sockets.len())
            .map(|_| Mutex::new(WorkerStats::default()))
            .collect(),
        clients: (0..sockets.len())
            .map(|i| {
                let seed = [
                    seed_base.rotate_left(29) ^ i as u64,
                    seed_base ^ 0x5bd1_e995,
                ];
                Mutex::new(ClientTable::new(CLIENT_TABLE_SLOTS, seed))
            })
            .collect(),
        epoch: Instant::now(),
    });
    let opts = WorkerOptions {
        send_batching: cfg.send_batching,
        coalesce: cfg.coalesce,
    };
    for (i, sock) in sockets.into_iter().enumerate() {
        let feed = feed.clone();
        let shared = shared.clone();
        let clock = clock.clone();
        let events = events.clone();
        let seed = [
            seed_base ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
            seed_base.rotate_left(17) ^ i as u64,
        ];
        std::thread::Builder::new()
            .name(format!("ntp-worker-{i}"))
            .spawn(move || {
                if let Err(e) = run_worker(i, sock, (feed, events), shared, seed, clock, opts) {
                    tracing::error!(worker = i, error = %e, "worker stopped");
                }
            })?;
    }
    Ok(shared)
}

/// One worker's state between batches.
struct Worker {
    index: usize,
    fd: RawFd,
    server: Server,
    rx: RecvBatch,
    tx: SendBatch,
    pending: Vec<PendingReply>,
    obuf: [u8; MAX_REPLY_LEN],
    shell: WorkerStats,
    /// The batch's clients and whether each was answered.
    seen: Vec<(IpAddr, bool)>,
    opts: WorkerOptions,
}

/// Run one worker until the daemon drops the configuration feed (or the
/// process exits).
fn run_worker(
    index: usize,
    sock: StdUdpSocket,
    (mut feed, events): (Feed, Events),
    shared: Arc<Shared>,
    seed: [u64; 2],
    clock: ClockReader,
    opts: WorkerOptions,
) -> io::Result<()> {
    // Blocking: the thread sleeps in recvmmsg, and a full send buffer makes
    // sendmmsg wait instead of dropping replies.
    sock.set_nonblocking(false)?;
    let (cfg, state) = {
        let cur = feed.borrow_and_update();
        (cur.0.clone(), cur.1)
    };
    let mut w = Worker {
        index,
        fd: sock.as_raw_fd(),
        server: Server::new(cfg, state, seed),
        rx: RecvBatch::new(RX_BATCH),
        tx: SendBatch::new(RX_BATCH),
        pending: Vec::with_capacity(RX_BATCH),
        obuf: [0u8; MAX_REPLY_LEN],
        shell: WorkerStats::default(),
        seen: Vec::with_capacity(RX_BATCH),
        opts,
    };
    if !opts.coalesce.is_zero() {
        // The default 50 µs timer slack would stretch a 100 µs wait by half.
        let _ = nix::sys::prctl::set_timerslack(1000);
    }
    loop {
        if !w.receive() {
            continue;
        }
        // Keys, policy and what we announce, as of now: applied before
        // this batch is answered.
        match feed.has_changed() {
            Ok(false) => {}
            Ok(true) => {
                let cur = feed.borrow_and_update().clone();
                w.server.reload(cur.0.clone());
                w.server.update_system(cur.1);
            }
            Err(_) => return Ok(()),
        }
        // Our time = real time + the simulated phase (0 unless simulated).
        let shift = clock.snapshot();
        let now_ms = shared.now_ms();
        // Requests are recorded only while someone subscribes: one atomic
        // load per batch when nobody does.
        w.server.report_requests(events.active());
        w.answer_batch(&sock, shift, now_ms);
        w.publish(&shared, now_ms);
        publish_requests(&mut w.server, &events);
    }
}

impl Worker {
    /// Waits for the next batch; false when the call failed (retry).
    fn receive(&mut self) -> bool {
        // Coalescing: requests queued while the last batch was served, so
        // the rate is high; wait a little for more rather than wake up for
        // one or two. A full batch means a backlog: no waiting then.
        if !self.opts.coalesce.is_zero() && (2..RX_BATCH).contains(&self.rx.len()) {
            std::thread::sleep(self.opts.coalesce);
        }
        match self.rx.recv(self.fd, libc::MSG_WAITFORONE) {
            Ok(_) => true,
            Err(e) => {
                if !matches!(
                    e.kind(),
                    io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock
                ) {
                    // Transient (ENOMEM, …): do not spin on it.
                    tracing::debug!(worker = self.index, error = %e, "recvmmsg failed");
                    std::thread::sleep(Duration::from_millis(10));
                }
                false
            }
        }
    }

    /// Answers every request of the batch: prepared into the send batch
    /// and sent with one `sendmmsg`, or one by one without send batching.
    fn answer_batch(&mut self, sock: &StdUdpSocket, shift: Shift, now_ms: u64) {
        for i in 0..self.rx.len() {
            let (m, request) = self.rx.get(i);
            let from = match m.from {
                Some(a) if !m.truncated => a,
                _ => {
                    self.shell.truncated += 1;
                    continue;
                }
            };
            let recv_ts = match m.kernel_ts {
                Some((s, ns)) => shift.apply(NtpTimestamp::from_unix(s, ns)),
                None => {
                    self.shell.no_kernel_timestamp += 1;
                    shift.apply(now_ntp())
                }
            };
            let answered = if self.opts.send_batching {
                // The send batch has the receive batch's capacity.
                let Some(buf) = self.tx.next_buf(from) else {
                    break;
                };
                let p = self
                    .server
                    .prepare(request, from.ip(), recv_ts, now_ms, &mut buf[..]);
                if let Some(p) = p {
                    self.tx.commit(p.len());
                    self.pending.push(p);
                }
                p.is_some()
            } else {
                // Stamp and send each reply on its own.
                let tx_time = || shift.apply(now_ntp());
                let action = self.server.handle(
                    request,
                    from.ip(),
                    recv_ts,
                    now_ms,
                    tx_time,
                    &mut self.obuf,
                );
                if let ServerAction::Respond(reply) = action {
                    if sock.send_to(reply, from).is_err() {
                        self.shell.send_errors += 1;
                    }
                    true
                } else {
                    false
                }
            };
            self.seen.push((from.ip(), answered));
        }
        self.send_pending(shift);
    }

    /// One transmit time for the batch, as late as possible: right before
    /// signing and sending.
    fn send_pending(&mut self, shift: Shift) {
        if self.pending.is_empty() {
            return;
        }
        let t3 = shift.apply(now_ntp());
        for (i, p) in self.pending.iter().enumerate() {
            // `complete` refuses only if the signing key vanished (no
            // reload happens within a batch); it counted why.
            if self.server.complete(p, t3, self.tx.reply_mut(i)) == ServerAction::Ignore {
                self.tx.cancel(i);
            }
        }
        let f = self.tx.flush(self.fd, 0);
        self.shell.send_errors += f.failed as u64;
        self.pending.clear();
    }

    /// Publishes the counters and the batch's clients: one uncontended lock
    /// each per batch.
    fn publish(&mut self, shared: &Shared, now_ms: u64) {
        self.shell.server = self.server.stats().clone();
        if let Some(Ok(mut s)) = shared.stats.get(self.index).map(|m| m.lock()) {
            *s = self.shell.clone();
        }
        if let Some(Ok(mut t)) = shared.clients.get(self.index).map(|m| m.lock()) {
            for (ip, answered) in self.seen.drain(..) {
                t.record(ip, now_ms, answered);
            }
        }
        self.seen.clear();
    }
}

/// The batch's client requests on the event socket (IPv4 clients: the
/// inventory attributes them through DHCP leases).
fn publish_requests(server: &mut Server, events: &Events) {
    for r in server.take_requests() {
        let client_ip = match r.client {
            IpAddr::V4(v4) => v4,
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => v4,
                None => continue,
            },
        };
        events.publish(|| {
            Event::NtpRequest(NtpRequestEvent {
                client_ip,
                version: r.version,
                key_id: r.key_id,
                auth: r.auth,
                kod: r.kod.map(str::to_string),
            })
        });
    }
}
