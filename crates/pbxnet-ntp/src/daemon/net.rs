//! UDP sockets with kernel receive timestamps, and the per-socket worker.
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

use super::mmsg::{RecvBatch, SendBatch};
use crate::{
    NtpTimestamp, PendingReply, Server, ServerAction, ServerConfig, ServerStats, SystemState,
};
use nix::sys::socket::{
    bind, setsockopt, socket, sockopt, AddressFamily, SockFlag, SockType, SockaddrStorage,
};
use std::io;
use std::net::{SocketAddr, UdpSocket as StdUdpSocket};
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;

/// What the workers share with the control loop.
#[derive(Debug)]
pub(crate) struct Shared {
    /// Per-worker counters, published every few hundred ms.
    pub(crate) stats: Vec<Mutex<WorkerStats>>,
}

/// Counters of one worker (core + shell).
#[derive(Debug, Default, Clone, serde::Serialize)]
pub(crate) struct WorkerStats {
    pub(crate) server: ServerStats,
    pub(crate) truncated: u64,
    pub(crate) no_kernel_timestamp: u64,
    pub(crate) send_errors: u64,
}

/// Current configuration and system state, pushed to the workers.
pub(crate) type Feed = watch::Receiver<Arc<(ServerConfig, SystemState)>>;

/// Open one UDP socket: SO_REUSEPORT, SO_TIMESTAMPNS, receive buffer sized
/// (SO_RCVBUFFORCE when permitted, else SO_RCVBUF).
pub(crate) fn open_socket(addr: SocketAddr, rcvbuf: usize) -> io::Result<StdUdpSocket> {
    let fam = if addr.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    let fd = socket(
        fam,
        SockType::Datagram,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    setsockopt(&fd, sockopt::ReuseAddr, &true)?;
    setsockopt(&fd, sockopt::ReusePort, &true)?;
    if addr.is_ipv6() {
        setsockopt(&fd, sockopt::Ipv6V6Only, &true)?;
    }
    setsockopt(&fd, sockopt::ReceiveTimestampns, &true)?;
    if setsockopt(&fd, sockopt::RcvBufForce, &rcvbuf).is_err() {
        // Not root: the kernel caps this at net.core.rmem_max.
        let _ = setsockopt(&fd, sockopt::RcvBuf, &rcvbuf);
    }
    bind(fd.as_raw_fd(), &SockaddrStorage::from(addr))?;
    Ok(StdUdpSocket::from(fd))
}

/// Datagrams fetched per `recvmmsg` call (and replies per `sendmmsg`).
pub(crate) const RX_BATCH: usize = 64;

/// Wall clock now as an NTP timestamp.
pub(crate) fn now_ntp() -> NtpTimestamp {
    NtpTimestamp::from_unix_duration(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default(),
    )
}

/// Hot-path settings of a worker (`[server]` keys that need a restart).
#[derive(Debug, Clone, Copy)]
pub(crate) struct WorkerOptions {
    /// One `sendmmsg` per batch (else one `sendto` per reply).
    pub(crate) send_batching: bool,
    /// Wait before the next batch when the last one held 2 or more requests.
    pub(crate) coalesce: Duration,
}

/// Starts one worker thread per socket, each with its own seed, fed by
/// `feed`; returns the counters they share with the control loop.
pub(crate) fn spawn_workers(
    sockets: Vec<StdUdpSocket>,
    feed: Feed,
    clock: &super::clock::ClockReader,
    cfg: &crate::NtpConfig,
) -> io::Result<Arc<Shared>> {
    let shared = Arc::new(Shared {
        stats: (0..sockets.len())
            .map(|_| Mutex::new(WorkerStats::default()))
            .collect(),
    });
    let seed_base: u64 = rand::random();
    let opts = WorkerOptions {
        send_batching: cfg.send_batching,
        coalesce: cfg.coalesce,
    };
    for (i, sock) in sockets.into_iter().enumerate() {
        let feed = feed.clone();
        let shared = shared.clone();
        let clock = clock.clone();
        let seed = [
            seed_base ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
            seed_base.rotate_left(17) ^ i as u64,
        ];
        std::thread::Builder::new()
            .name(format!("ntp-worker-{i}"))
            .spawn(move || {
                if let Err(e) = run_worker(i, sock, feed, shared, seed, clock, opts) {
                    tracing::error!(worker = i, error = %e, "worker stopped");
                }
            })?;
    }
    Ok(shared)
}

/// Run one worker until the daemon drops the configuration feed (or the
/// process exits).
pub(crate) fn run_worker(
    index: usize,
    sock: StdUdpSocket,
    mut feed: Feed,
    shared: Arc<Shared>,
    seed: [u64; 2],
    clock: super::clock::ClockReader,
    opts: WorkerOptions,
) -> io::Result<()> {
    let send_batching = opts.send_batching;
    // Blocking: the thread sleeps in recvmmsg, and a full send buffer makes
    // sendmmsg wait instead of dropping replies.
    sock.set_nonblocking(false)?;
    let fd = sock.as_raw_fd();
    let (cfg, state) = {
        let cur = feed.borrow_and_update();
        (cur.0.clone(), cur.1)
    };
    let mut server = Server::new(cfg, state, seed);
    let epoch = Instant::now();
    let mut rx = RecvBatch::new(RX_BATCH);
    let mut tx = SendBatch::new(RX_BATCH);
    let mut pending: Vec<PendingReply> = Vec::with_capacity(RX_BATCH);
    let mut obuf = [0u8; crate::MAX_REPLY_LEN];
    let mut shell = WorkerStats::default();
    if !opts.coalesce.is_zero() {
        // The default 50 µs timer slack would stretch a 100 µs wait by half.
        let _ = nix::sys::prctl::set_timerslack(1000);
    }
    loop {
        // Coalescing: requests queued while the last batch was served, so
        // the rate is high; wait a little for more rather than wake up for
        // one or two. A full batch means a backlog: no waiting then.
        if !opts.coalesce.is_zero() && (2..RX_BATCH).contains(&rx.len()) {
            std::thread::sleep(opts.coalesce);
        }
        if let Err(e) = rx.recv(fd, libc::MSG_WAITFORONE) {
            match e.kind() {
                io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock => {}
                _ => {
                    // Transient (ENOMEM, …): do not spin on it.
                    tracing::debug!(worker = index, error = %e, "recvmmsg failed");
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
            continue;
        }
        // Keys, policy and what we announce, as of now: applied before
        // this batch is answered.
        match feed.has_changed() {
            Ok(false) => {}
            Ok(true) => {
                let cur = feed.borrow_and_update().clone();
                server.reload(cur.0.clone());
                server.update_system(cur.1);
            }
            Err(_) => return Ok(()),
        }
        // Our time = real time + the simulated phase (0 unless simulated).
        let shift = clock.snapshot();
        let now_ms = epoch.elapsed().as_millis() as u64;
        for i in 0..rx.len() {
            let (m, request) = rx.get(i);
            let from = match m.from {
                Some(a) if !m.truncated => a,
                _ => {
                    shell.truncated += 1;
                    continue;
                }
            };
            let recv_ts = match m.kernel_ts {
                Some((s, ns)) => shift.apply(NtpTimestamp::from_unix(s, ns)),
                None => {
                    shell.no_kernel_timestamp += 1;
                    shift.apply(now_ntp())
                }
            };
            if !send_batching {
                // Stamp and send each reply on its own.
                let tx_time = || shift.apply(now_ntp());
                let action = server.handle(request, from.ip(), recv_ts, now_ms, tx_time, &mut obuf);
                if let ServerAction::Respond(reply) = action {
                    if sock.send_to(reply, from).is_err() {
                        shell.send_errors += 1;
                    }
                }
                continue;
            }
            // The send batch has the receive batch's capacity.
            let Some(buf) = tx.next_buf(from) else {
                break;
            };
            if let Some(p) = server.prepare(request, from.ip(), recv_ts, now_ms, &mut buf[..]) {
                tx.commit(p.len());
                pending.push(p);
            }
        }
        if !pending.is_empty() {
            // One transmit time for the batch, as late as possible: right
            // before signing and sending.
            let t3 = shift.apply(now_ntp());
            for (i, p) in pending.iter().enumerate() {
                // `complete` refuses only if the signing key vanished (no
                // reload happens within a batch); it counted why.
                if server.complete(p, t3, tx.reply_mut(i)) == ServerAction::Ignore {
                    tx.cancel(i);
                }
            }
            let f = tx.flush(fd, 0);
            shell.send_errors += f.failed as u64;
            pending.clear();
        }
        // Publish after every batch: one uncontended lock per batch, so
        // `status` is current as soon as the batch is answered.
        shell.server = server.stats().clone();
        if let Some(slot) = shared.stats.get(index) {
            if let Ok(mut s) = slot.lock() {
                *s = shell.clone();
            }
        }
    }
}

/// Sum of all workers' counters.
pub(crate) fn total(stats: &[Mutex<WorkerStats>]) -> (ServerStats, u64, u64, u64) {
    let mut t = ServerStats::default();
    let (mut trunc, mut nots, mut send) = (0, 0, 0);
    for s in stats {
        if let Ok(s) = s.lock() {
            t.add(&s.server);
            trunc += s.truncated;
            nots += s.no_kernel_timestamp;
            send += s.send_errors;
        }
    }
    (t, trunc, nots, send)
}
