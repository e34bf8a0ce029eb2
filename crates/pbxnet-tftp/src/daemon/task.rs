//! One transfer task: owns the connected ephemeral socket and the state
//! machine (a read [`Transfer`] or an [`Upload`]), drives it
//! (poll_transmit → send; recv/timer → handle_*), and reports the outcome
//! to the main loop.

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
use crate::{Event, Outcome, Sink, Transfer, Upload};

/// A finished transfer, reported by its task.
#[derive(Debug)]
pub(crate) struct Finished {
    pub(super) id: u64,
    pub(super) outcome: String,
    pub(super) bytes: u64,
    pub(super) retransmits: u64,
    pub(super) duration: Duration,
}

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

fn is_unreachable(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::HostUnreachable
            | std::io::ErrorKind::NetworkUnreachable
    )
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
        duration: started.elapsed(),
    });
}

/// Drive `t` to the end. `on_finish` runs once with the outcome (uploads
/// move their file into place there) and may replace the outcome label.
///
/// `sock` is registered with the runtime this future runs on: the worker
/// that owns the transfer, so that its wake-ups never cross threads.
pub(crate) async fn drive<M: Machine>(
    id: u64,
    sock: std::net::UdpSocket,
    mut t: M,
    progress: Arc<AtomicU64>,
    done: mpsc::UnboundedSender<Finished>,
    mut stop: watch::Receiver<bool>,
    mut on_finish: impl FnMut(&Outcome) -> Option<String>,
) {
    let started = Instant::now();
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
    loop {
        // Outputs first: datagrams, then events, then the timer.
        let now = Instant::now();
        while t.poll_transmit(now, &mut out) {
            if let Err(e) = sock.send(&out).await {
                if is_unreachable(&e) {
                    t.handle_unreachable(Instant::now());
                } else {
                    tracing::debug!(error = %e, "send failed");
                }
            }
        }
        report(id, &mut t, &done, &mut on_finish);
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
            r = sock.recv(&mut inbuf) => {
                let now = Instant::now();
                match r {
                    Ok(n) => {
                        t.handle_datagram(now, &inbuf[..n]);
                        progress.store(t.progress().0, Ordering::Relaxed);
                    }
                    Err(e) if is_unreachable(&e) => t.handle_unreachable(now),
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
