//! The server's UDP sockets (SO_REUSEPORT, kernel receive timestamps) and
//! what the worker threads (`worker.rs`) share with the main loop: their
//! counters and client tables.

use crate::{
    merge_client_records, ClientRecord, ClientTable, NtpTimestamp, ServerConfig, ServerStats,
    SystemState,
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
    /// Per-worker counters, published after every batch.
    pub(crate) stats: Vec<Mutex<WorkerStats>>,
    /// Per-worker client tables (`status clients`), updated after every
    /// batch.
    pub(crate) clients: Vec<Mutex<ClientTable>>,
    /// The workers' monotonic clock origin (rate limiting, last seen).
    pub(crate) epoch: Instant,
}

impl Shared {
    /// Monotonic ms since the workers' epoch.
    pub(crate) fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Every worker's client records, merged per address.
    pub(crate) fn client_records(&self) -> Vec<ClientRecord> {
        let mut all = Vec::new();
        for t in &self.clients {
            if let Ok(t) = t.lock() {
                all.extend(t.records());
            }
        }
        merge_client_records(all)
    }

    /// Sum of all workers' counters.
    pub(crate) fn total(&self) -> WorkerStats {
        let mut t = WorkerStats::default();
        for s in &self.stats {
            if let Ok(s) = s.lock() {
                t.server.add(&s.server);
                t.truncated += s.truncated;
                t.no_kernel_timestamp += s.no_kernel_timestamp;
                t.send_errors += s.send_errors;
            }
        }
        t
    }
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
