//! One transfer task: owns the connected ephemeral socket and the state
//! machine (a read [`Transfer`] or an [`Upload`]), drives it
//! (poll_transmit → send; recv/timer → handle_*), and reports the outcome
//! to the main loop.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};

use super::files::Content;
use super::Finished;
use crate::{Event, Outcome, Sink, Transfer, Upload};

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

/// Drive `t` to the end. `on_finish` runs once with the outcome (uploads
/// move their file into place there) and may replace the outcome label.
pub(crate) async fn drive<M: Machine>(
    id: u64,
    sock: UdpSocket,
    mut t: M,
    progress: Arc<AtomicU64>,
    done: mpsc::UnboundedSender<Finished>,
    mut stop: watch::Receiver<bool>,
    mut on_finish: impl FnMut(&Outcome) -> Option<String>,
) {
    let mut out = Vec::with_capacity(65_536);
    let mut inbuf = vec![0u8; 65_536];
    let mut stopping = false;
    // One timer, re-armed only when the deadline changes.
    let sleep = tokio::time::sleep(std::time::Duration::from_secs(86_400));
    tokio::pin!(sleep);
    let mut armed: Option<Instant> = None;
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
        while let Some(ev) = t.poll_event() {
            let Event::Finished { outcome, duration } = ev;
            let (bytes, retransmits) = t.progress();
            let label = on_finish(&outcome).unwrap_or_else(|| match &outcome {
                Outcome::ClientError { code, message } => {
                    format!("client-error {} {message:?}", code.code())
                }
                o => o.label().to_string(),
            });
            let _ = done.send(Finished {
                id,
                outcome: label,
                bytes,
                retransmits,
                duration,
            });
        }
        if t.is_done() {
            return;
        }
        // Arm the timer only when the deadline moves earlier (or nothing is
        // armed): in lock-step the RTO moves later on every ACK, and
        // re-arming per packet is wasted work. A timer that fires early is
        // re-armed below after checking the clock.
        let deadline = t.poll_timeout();
        if let Some(d) = deadline {
            if armed.is_none_or(|a| d < a) {
                armed = Some(d);
                sleep.as_mut().reset(tokio::time::Instant::from_std(d));
            }
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
            _ = &mut sleep, if armed.is_some() => {
                armed = None;
                // Check the clock rather than trusting the timer future.
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
