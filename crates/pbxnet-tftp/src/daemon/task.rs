//! One transfer task: owns the connected ephemeral socket and the
//! [`Transfer`], drives it (poll_transmit → send; recv/timer → handle_*),
//! and reports the outcome to the main loop.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};

use super::files::Content;
use super::Finished;
use crate::{Event, Transfer};

fn is_unreachable(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::HostUnreachable
            | std::io::ErrorKind::NetworkUnreachable
    ) || e.raw_os_error() == Some(libc::EHOSTUNREACH)
}

pub(crate) async fn drive(
    id: u64,
    sock: UdpSocket,
    mut t: Transfer<Content>,
    progress: Arc<AtomicU64>,
    done: mpsc::UnboundedSender<Finished>,
    mut stop: watch::Receiver<bool>,
) {
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
        while let Some(ev) = t.poll_event() {
            let Event::Finished { outcome, duration } = ev;
            let stats = t.stats();
            let _ = done.send(Finished {
                id,
                outcome: match &outcome {
                    crate::Outcome::ClientError { code, message } => {
                        format!("client-error {} {message:?}", code.code())
                    }
                    o => o.label().to_string(),
                },
                bytes: stats.bytes_acked,
                retransmits: stats.retransmits,
                duration,
            });
        }
        if t.is_done() {
            return;
        }
        let deadline = t.poll_timeout();
        tokio::select! {
            r = sock.recv(&mut inbuf) => {
                let now = Instant::now();
                match r {
                    Ok(n) => {
                        t.handle_datagram(now, &inbuf[..n]);
                        progress.store(t.stats().bytes_acked, Ordering::Relaxed);
                        // Drain what else is queued without waiting.
                        for _ in 0..64 {
                            match sock.try_recv(&mut inbuf) {
                                Ok(n) => t.handle_datagram(now, &inbuf[..n]),
                                Err(_) => break,
                            }
                        }
                    }
                    Err(e) if is_unreachable(&e) => t.handle_unreachable(now),
                    Err(e) => tracing::debug!(error = %e, "recv failed"),
                }
            }
            _ = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d.into()).await,
                    None => std::future::pending().await,
                }
            } => {
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
