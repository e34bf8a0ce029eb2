//! One transfer task: owns the ephemeral socket and the state machine (a
//! read [`Transfer`] or an [`Upload`]), drives it (poll_transmit → send;
//! recv/timer → handle_*), answers datagrams from any other endpoint with
//! ERROR 5, and reports the outcome to the main loop.

use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};

use super::files::Content;
use super::sockets::{errored_destinations, same_endpoint, TransferSocket};
use crate::wire::{self, ErrorCode};
use crate::{Event, Outcome, Sink, Transfer, Upload};

/// A finished transfer, reported by its task.
#[derive(Debug)]
pub(crate) struct Finished {
    pub(super) id: u64,
    pub(super) outcome: String,
    pub(super) bytes: u64,
    pub(super) retransmits: u64,
    /// Datagrams from another endpoint than the client (RFC 1350's
    /// foreign TIDs).
    pub(super) foreign_tids: u64,
    pub(super) duration: Duration,
}

/// Foreign datagrams answered with ERROR 5 per transfer; more are counted
/// and dropped, so a spoofed flood is not reflected without bound.
const FOREIGN_ANSWERS: u64 = 16;

/// What the task needs from a state machine.
pub(crate) trait Machine {
    fn handle_datagram(&mut self, now: Instant, d: &[u8]);
    fn handle_timeout(&mut self, now: Instant);
    fn handle_unreachable(&mut self, now: Instant);
    fn abort(&mut self, now: Instant, msg: &str);
    fn poll_transmit(&mut self, now: Instant, out: &mut Vec<u8>) -> bool;
    fn poll_event(&mut self) -> Option<Event>;
    fn poll_timeout(&self) -> Option<Instant>;
    fn is_done(&self) -> bool;
    /// Payload bytes so far, and retransmissions.
    fn progress(&self) -> (u64, u64);
}

impl Machine for Transfer<Content> {
    fn handle_datagram(&mut self, now: Instant, d: &[u8]) {
        Transfer::handle_datagram(self, now, d)
    }
    fn handle_timeout(&mut self, now: Instant) {
        Transfer::handle_timeout(self, now)
    }
    fn handle_unreachable(&mut self, now: Instant) {
        Transfer::handle_unreachable(self, now)
    }
    fn abort(&mut self, now: Instant, msg: &str) {
        Transfer::abort(self, now, msg)
    }
    fn poll_transmit(&mut self, now: Instant, out: &mut Vec<u8>) -> bool {
        Transfer::poll_transmit(self, now, out)
    }
    fn poll_event(&mut self) -> Option<Event> {
        Transfer::poll_event(self)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Transfer::poll_timeout(self)
    }
    fn is_done(&self) -> bool {
        Transfer::is_done(self)
    }
    fn progress(&self) -> (u64, u64) {
        (self.stats().bytes_acked, self.stats().retransmits)
    }
}

impl<K: Sink> Machine for Upload<K> {
    fn handle_datagram(&mut self, now: Instant, d: &[u8]) {
        Upload::handle_datagram(self, now, d)
    }
    fn handle_timeout(&mut self, now: Instant) {
        Upload::handle_timeout(self, now)
    }
    fn handle_unreachable(&mut self, now: Instant) {
        Upload::handle_unreachable(self, now)
    }
    fn abort(&mut self, now: Instant, msg: &str) {
        Upload::abort(self, now, msg)
    }
    fn poll_transmit(&mut self, now: Instant, out: &mut Vec<u8>) -> bool {
        Upload::poll_transmit(self, now, out)
    }
    fn poll_event(&mut self) -> Option<Event> {
        Upload::poll_event(self)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Upload::poll_timeout(self)
    }
    fn is_done(&self) -> bool {
        Upload::is_done(self)
    }
    fn progress(&self) -> (u64, u64) {
        (self.received(), 0)
    }
}

/// Whether a send or receive error means the client is gone: an ICMP
/// unreachable kind of error, and the error queue names the client (or no
/// one: a local error about the datagram just sent to it). An ICMP error
/// drawn by an ERROR 5 sent to a foreign endpoint is not the client's.
fn client_unreachable(e: &std::io::Error, sock: &UdpSocket, client: SocketAddr) -> bool {
    let unreachable = matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::HostUnreachable
            | std::io::ErrorKind::NetworkUnreachable
    );
    if !unreachable {
        return false;
    }
    let destinations = errored_destinations(sock);
    destinations.is_empty() || destinations.iter().any(|d| same_endpoint(*d, client))
}

/// RFC 1350 §4: a datagram from another endpoint is answered with ERROR 5
/// and does not disturb the transfer.
async fn answer_foreign(sock: &UdpSocket, from: SocketAddr, count: u64, out: &mut Vec<u8>) {
    tracing::debug!(from = %from, "datagram from a foreign transfer ID");
    if count <= FOREIGN_ANSWERS {
        out.clear();
        wire::encode_error(ErrorCode::UnknownTid, "unknown transfer ID", out);
        let _ = sock.send_to(out, from).await;
    }
}

/// The transfer's one timer: a timerfd, because pacing pauses are a few
/// hundred microseconds and tokio's timer wheel rounds every deadline up to
/// the next millisecond (a 1 ms pause cost 0.6 s per 32 MiB at 8192/window
/// 64). A timerfd's hrtimer gets no timer slack, so it fires within a few
/// microseconds of the deadline.
struct Timer {
    fd: AsyncFd<TimerFdHandle>,
    /// The deadline the timerfd is set to, if armed.
    armed: Option<Instant>,
}

struct TimerFdHandle(TimerFd);

impl AsRawFd for TimerFdHandle {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

impl Timer {
    fn new() -> std::io::Result<Timer> {
        let fd = TimerFd::new(
            ClockId::CLOCK_MONOTONIC,
            TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
        )?;
        // tokio deprecates the safe constructor because it cannot check
        // that the descriptor outlives the registration (its replacement is
        // `unsafe`, which this crate forbids). Here it does: the AsyncFd
        // owns the TimerFd, which owns the descriptor, and is never
        // `into_inner`ed or forgotten, so the descriptor stays open and
        // keeps its number until the AsyncFd deregisters it on drop.
        #[allow(deprecated)]
        let fd = AsyncFd::with_interest(TimerFdHandle(fd), Interest::READABLE)?;
        Ok(Timer { fd, armed: None })
    }

    /// Make sure the timer fires no later than `deadline`. Re-arms only
    /// when the deadline moves earlier (or nothing is armed): in lock-step
    /// the RTO moves later on every ACK, and a syscall per block would be
    /// wasted. A timer that fires early is re-armed after the caller checks
    /// the clock.
    fn arm(&mut self, now: Instant, deadline: Instant) {
        if self.armed.is_some_and(|a| a <= deadline) {
            return;
        }
        // A zero `it_value` would disarm the timerfd: fire in 1 ns instead.
        let rel = deadline
            .saturating_duration_since(now)
            .max(Duration::from_nanos(1));
        let set = self.fd.get_ref().0.set(
            Expiration::OneShot(TimeSpec::from_duration(rel)),
            TimerSetTimeFlags::empty(),
        );
        match set {
            Ok(()) => self.armed = Some(deadline),
            Err(e) => tracing::warn!(error = %e, "timerfd_settime failed"),
        }
    }

    /// Wait for the armed timer to fire (pending forever if none is armed).
    async fn fired(&mut self) {
        if self.armed.is_none() {
            return std::future::pending().await;
        }
        loop {
            let Ok(mut guard) = self.fd.readable().await else {
                return std::future::pending().await;
            };
            // Reading the expiration count resets the timerfd's readiness.
            match guard.try_io(|fd| fd.get_ref().0.wait().map_err(std::io::Error::from)) {
                Ok(_) => {
                    self.armed = None;
                    return;
                }
                Err(_would_block) => continue,
            }
        }
    }
}

/// Hand every finished event of `t` to the main loop (one per transfer).
fn report<M: Machine>(
    id: u64,
    t: &mut M,
    foreign_tids: u64,
    done: &mpsc::UnboundedSender<Finished>,
    on_finish: &mut impl FnMut(&Outcome) -> Option<String>,
) {
    while let Some(ev) = t.poll_event() {
        let Event::Finished { outcome, duration } = ev;
        let (bytes, retransmits) = t.progress();
        let label = on_finish(&outcome).unwrap_or_else(|| match &outcome {
            Outcome::ClientError { code, message } => {
                format!("client-error {} {message:?}", code.code())
            }
            o => o.label().to_string(),
        });
        // An unbounded channel: `send` never blocks.
        let _ = done.send(Finished {
            id,
            outcome: label,
            bytes,
            retransmits,
            foreign_tids,
            duration,
        });
    }
}

/// Nothing can be sent: report so that the slot is freed.
fn report_setup_failure(id: u64, done: &mpsc::UnboundedSender<Finished>, started: Instant) {
    let _ = done.send(Finished {
        id,
        outcome: "server-error".to_string(),
        bytes: 0,
        retransmits: 0,
        foreign_tids: 0,
        duration: started.elapsed(),
    });
}

/// Drive `t` to the end. `on_finish` runs once with the outcome (uploads
/// move their file into place there) and may replace the outcome label.
///
/// `socket` is registered with the runtime this future runs on: the worker
/// that owns the transfer, so that its wake-ups never cross threads.
pub(crate) async fn drive<M: Machine>(
    id: u64,
    socket: TransferSocket,
    mut t: M,
    progress: Arc<AtomicU64>,
    done: mpsc::UnboundedSender<Finished>,
    mut stop: watch::Receiver<bool>,
    mut on_finish: impl FnMut(&Outcome) -> Option<String>,
) {
    let started = Instant::now();
    let TransferSocket { sock, client } = socket;
    let (sock, mut timer) = match UdpSocket::from_std(sock).and_then(|s| Ok((s, Timer::new()?))) {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(error = %e, "cannot register the transfer socket or timer");
            report_setup_failure(id, &done, started);
            return;
        }
    };
    let mut out = Vec::with_capacity(65_536);
    let mut inbuf = vec![0u8; 65_536];
    let mut stopping = false;
    let mut foreign_tids = 0u64;
    loop {
        // Outputs first: datagrams, then events, then the timer.
        let now = Instant::now();
        while t.poll_transmit(now, &mut out) {
            if let Err(e) = sock.send_to(&out, client).await {
                if client_unreachable(&e, &sock, client) {
                    t.handle_unreachable(Instant::now());
                } else {
                    tracing::debug!(error = %e, "send failed");
                }
            }
        }
        report(id, &mut t, foreign_tids, &done, &mut on_finish);
        if t.is_done() {
            return;
        }
        let deadline = t.poll_timeout();
        if let Some(d) = deadline {
            if d <= now {
                // Already due (a pacing pause shorter than the send loop).
                t.handle_timeout(now);
                continue;
            }
            timer.arm(now, d);
        }
        tokio::select! {
            r = sock.recv_from(&mut inbuf) => {
                let now = Instant::now();
                match r {
                    Ok((n, from)) if same_endpoint(from, client) => {
                        t.handle_datagram(now, &inbuf[..n]);
                        progress.store(t.progress().0, Ordering::Relaxed);
                    }
                    Ok((_, from)) => {
                        foreign_tids += 1;
                        answer_foreign(&sock, from, foreign_tids, &mut out).await;
                    }
                    Err(e) if client_unreachable(&e, &sock, client) => t.handle_unreachable(now),
                    Err(e) => tracing::debug!(error = %e, "recv failed"),
                }
            }
            () = timer.fired() => {
                // Check the clock rather than trusting the timer.
                let now = Instant::now();
                if deadline.is_some_and(|d| now >= d) {
                    t.handle_timeout(now);
                }
            }
            r = stop.changed(), if !stopping => {
                stopping = true;
                if r.is_ok() && *stop.borrow() {
                    t.abort(Instant::now(), "server shutting down");
                }
            }
        }
    }
}
