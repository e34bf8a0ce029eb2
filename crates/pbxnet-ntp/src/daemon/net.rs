//! UDP sockets with kernel receive timestamps, and the per-socket worker.
//!
//! Each worker owns one SO_REUSEPORT socket and one [`Server`] core on its
//! own thread (a current-thread tokio runtime), so the two cores of the
//! machine serve in parallel without sharing a lock on the hot path. The
//! kernel spreads clients over the sockets by 4-tuple hash, so one client
//! always lands on the same worker and its rate-limit slot.
//!
//! Datagrams are fetched in batches of up to 32 with `recvmmsg`.
//!
//! Receive time: SO_TIMESTAMPNS, the kernel's CLOCK_REALTIME stamp taken when
//! the datagram arrived (falls back to reading the clock if absent). Transmit
//! time: read inside the core's hook right before the reply is signed, then
//! the reply goes straight to `sendto`.

use crate::{NtpTimestamp, Server, ServerAction, ServerConfig, ServerStats, SystemState};
use nix::sys::socket::{
    bind, setsockopt, socket, sockopt, AddressFamily, ControlMessageOwned, MsgFlags, SockFlag,
    SockType, SockaddrStorage,
};
use std::io::{self, IoSliceMut};
use std::net::{SocketAddr, UdpSocket as StdUdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use tokio::io::Interest;
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

fn to_std(a: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = a.as_sockaddr_in() {
        return Some(SocketAddr::V4((*v4).into()));
    }
    a.as_sockaddr_in6().map(|v6| SocketAddr::V6((*v6).into()))
}

pub(crate) struct Received {
    pub(crate) len: usize,
    pub(crate) from: SocketAddr,
    pub(crate) kernel_ts: Option<NtpTimestamp>,
    pub(crate) truncated: bool,
}

/// Datagrams fetched per `recvmmsg` call.
const RX_BATCH: usize = 32;
/// Receive buffer per datagram (longer NTP packets are truncated and dropped).
pub(crate) const RX_BUF: usize = 1024;

/// Receive up to [`RX_BATCH`] datagrams with one `recvmmsg` call, with their
/// kernel receive timestamps. Fills `meta` (cleared first).
pub(crate) fn recv_batch(
    fd: RawFd,
    bufs: &mut [[u8; RX_BUF]],
    meta: &mut Vec<Received>,
) -> io::Result<usize> {
    meta.clear();
    // Fresh headers per call: the kernel rewrites msg_controllen/msg_namelen
    // in place and nix does not reset them.
    let mut headers = nix::sys::socket::MultiHeaders::<SockaddrStorage>::preallocate(
        bufs.len(),
        Some(nix::cmsg_space!(nix::sys::time::TimeSpec)),
    );
    let mut iovs: Vec<[IoSliceMut<'_>; 1]> = bufs
        .iter_mut()
        .map(|b| [IoSliceMut::new(&mut b[..])])
        .collect();
    let res = nix::sys::socket::recvmmsg(
        fd,
        &mut headers,
        iovs.iter_mut(),
        MsgFlags::MSG_DONTWAIT,
        None,
    )?;
    for msg in res {
        let mut kernel_ts = None;
        if let Ok(cmsgs) = msg.cmsgs() {
            for c in cmsgs {
                if let ControlMessageOwned::ScmTimestampns(t) = c {
                    kernel_ts = Some(NtpTimestamp::from_unix(t.tv_sec(), t.tv_nsec() as u32));
                }
            }
        }
        let Some(from) = msg.address.as_ref().and_then(to_std) else {
            meta.push(Received {
                len: 0,
                from: SocketAddr::from(([0, 0, 0, 0], 0)),
                kernel_ts,
                truncated: true,
            });
            continue;
        };
        meta.push(Received {
            len: msg.bytes,
            from,
            kernel_ts,
            truncated: msg.flags.contains(MsgFlags::MSG_TRUNC) || msg.bytes > RX_BUF,
        });
    }
    Ok(meta.len())
}

/// Send a batch of replies with one `sendmmsg`, the remainder (partial send,
/// full socket buffer) one by one.
async fn send_all(
    sock: &tokio::net::UdpSocket,
    bufs: &[[u8; crate::MAX_REPLY_LEN]],
    meta: &[(usize, SocketAddr)],
    stats: &mut WorkerStats,
) {
    let mut sent = 0;
    if meta.len() > 1 {
        let fd = sock.as_raw_fd();
        let r = sock.try_io(Interest::WRITABLE, || {
            let mut headers =
                nix::sys::socket::MultiHeaders::<SockaddrStorage>::preallocate(meta.len(), None);
            let iovs: Vec<[std::io::IoSlice<'_>; 1]> = meta
                .iter()
                .zip(bufs)
                .map(|((len, _), b)| [std::io::IoSlice::new(&b[..*len])])
                .collect();
            let addrs: Vec<Option<SockaddrStorage>> = meta
                .iter()
                .map(|(_, a)| Some(SockaddrStorage::from(*a)))
                .collect();
            let none: [nix::sys::socket::ControlMessage<'_>; 0] = [];
            let res = nix::sys::socket::sendmmsg(
                fd,
                &mut headers,
                iovs.iter(),
                &addrs,
                none,
                MsgFlags::MSG_DONTWAIT,
            )?;
            Ok(res.count())
        });
        if let Ok(k) = r {
            sent = k;
        }
    }
    for ((len, to), b) in meta.iter().zip(bufs).skip(sent) {
        let reply = &b[..*len];
        match sock.try_send_to(reply, *to) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if sock.send_to(reply, *to).await.is_err() {
                    stats.send_errors += 1;
                }
            }
            Err(_) => stats.send_errors += 1,
        }
    }
}

/// Wall clock now as an NTP timestamp.
pub(crate) fn now_ntp() -> NtpTimestamp {
    NtpTimestamp::from_unix_duration(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default(),
    )
}

/// Run one worker until the process exits.
pub(crate) fn run_worker(
    index: usize,
    sock: StdUdpSocket,
    mut feed: Feed,
    shared: Arc<Shared>,
    seed: [u64; 2],
    clock: super::clock::ClockReader,
    send_batching: bool,
) -> io::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let sock = tokio::net::UdpSocket::from_std(sock)?;
        let fd = sock.as_raw_fd();
        let (cfg, state) = {
            let cur = feed.borrow_and_update();
            (cur.0.clone(), cur.1)
        };
        let mut server = Server::new(cfg, state, seed);
        let epoch = Instant::now();
        let mut bufs = vec![[0u8; RX_BUF]; RX_BATCH];
        let mut meta: Vec<Received> = Vec::with_capacity(RX_BATCH);
        let mut out_bufs =
            vec![[0u8; crate::MAX_REPLY_LEN]; if send_batching { RX_BATCH } else { 0 }];
        let mut out_meta: Vec<(usize, SocketAddr)> = Vec::with_capacity(RX_BATCH);
        let mut obuf = [0u8; crate::MAX_REPLY_LEN];
        let mut shell = WorkerStats::default();
        loop {
            tokio::select! {
                r = sock.readable() => r?,
                c = feed.changed() => {
                    if c.is_err() {
                        return Ok(());
                    }
                    let cur = feed.borrow_and_update().clone();
                    server.reload(cur.0.clone());
                    server.update_system(cur.1);
                    continue;
                }
            }
            let mut handled = 0usize;
            // Bounded work per wake-up: at most 8 batches, then yield.
            for _ in 0..8 {
                let r = sock.try_io(Interest::READABLE, || recv_batch(fd, &mut bufs, &mut meta));
                let n = match r {
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => {
                        tracing::debug!(worker = index, error = %e, "recvmmsg failed");
                        break;
                    }
                };
                handled += n;
                // Our time = real time + the simulated phase (0 unless simulated).
                let shift = clock.snapshot();
                let tx_time = || shift.apply(now_ntp());
                let now_ms = epoch.elapsed().as_millis() as u64;
                for (rx, buf) in meta.iter().zip(bufs.iter()) {
                    if rx.truncated {
                        shell.truncated += 1;
                        continue;
                    }
                    let recv_ts = match rx.kernel_ts {
                        Some(t) => shift.apply(t),
                        None => {
                            shell.no_kernel_timestamp += 1;
                            shift.apply(now_ntp())
                        }
                    };
                    if send_batching {
                        let k = out_meta.len();
                        let action = server.handle(
                            &buf[..rx.len],
                            rx.from.ip(),
                            recv_ts,
                            now_ms,
                            tx_time,
                            &mut out_bufs[k],
                        );
                        if let ServerAction::Respond(reply) = action {
                            out_meta.push((reply.len(), rx.from));
                        }
                        continue;
                    }
                    let action = server.handle(
                        &buf[..rx.len],
                        rx.from.ip(),
                        recv_ts,
                        now_ms,
                        tx_time,
                        &mut obuf,
                    );
                    // Send each reply at once, right after its transmit
                    // timestamp was taken.
                    if let ServerAction::Respond(reply) = action {
                        match sock.try_send_to(reply, rx.from) {
                            Ok(_) => {}
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                                if sock.send_to(reply, rx.from).await.is_err() {
                                    shell.send_errors += 1;
                                }
                            }
                            Err(_) => shell.send_errors += 1,
                        }
                    }
                }
                if !out_meta.is_empty() {
                    send_all(&sock, &out_bufs, &out_meta, &mut shell).await;
                    out_meta.clear();
                }
                if n < RX_BATCH {
                    break;
                }
            }
            if handled > 0 {
                // Publish after every batch: one uncontended lock per batch.
                shell.server = server.stats().clone();
                if let Some(slot) = shared.stats.get(index) {
                    if let Ok(mut s) = slot.lock() {
                        *s = shell.clone();
                    }
                }
            }
        }
    })
}
