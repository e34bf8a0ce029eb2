//! Subscribing to a daemon's event socket (`<runtime-directory>/<daemon>.events`):
//! one task per daemon reads JSON lines, refuses (and counts) lines the
//! schema does not accept, counts the publisher's `lost` gaps, and hands
//! each accepted line to the event log's writer. A daemon that is down or
//! restarting is reconnected with exponential backoff.
//!
//! The writer's queue is bounded: when the log falls behind, this task
//! stops reading, the daemon's queue for us fills, and the daemon drops
//! and counts (the `lost` marker we receive next). The daemon is never slowed.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pbxnet_inventory::{Daemon, Envelope, Event};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::net::UnixStream;
use tokio::sync::mpsc;

use crate::names::short_name;
use crate::store::LogLine;

/// Longest line accepted (a line is a few hundred bytes).
pub const MAX_LINE: usize = 64 * 1024;

/// Reconnection delays: doubling from `FIRST` up to `MAX`, back to `FIRST`
/// once a connection was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    next: Duration,
}

impl Backoff {
    /// First delay.
    pub const FIRST: Duration = Duration::from_millis(100);
    /// Longest delay: a daemon restarted by systemd is followed within it.
    pub const MAX: Duration = Duration::from_secs(5);

    /// A fresh backoff.
    pub fn new() -> Backoff {
        Backoff { next: Self::FIRST }
    }

    /// The delay before the next attempt (and doubles the one after).
    pub fn failed(&mut self) -> Duration {
        let now = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        now
    }

    /// A connection was made.
    pub fn connected(&mut self) {
        self.next = Self::FIRST;
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new()
    }
}

/// One subscription's counters.
#[derive(Debug, Default)]
pub struct SubscriptionCounters {
    connected: AtomicBool,
    connects: AtomicU64,
    accepted: AtomicU64,
    refused: AtomicU64,
    lost: AtomicU64,
    last_refusal: Mutex<Option<String>>,
}

/// One subscription, as `status` and the API show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionStatus {
    /// `dhcpd`, …
    pub daemon: String,
    /// The socket.
    pub socket: PathBuf,
    /// Connected now.
    pub connected: bool,
    /// Connections made since start.
    pub connects: u64,
    /// Lines accepted.
    pub accepted: u64,
    /// Lines the schema refused (or too long, or from another daemon).
    pub refused: u64,
    /// Events the daemon reported it dropped for us (`lost` markers).
    pub lost: u64,
    /// Why the last refused line was refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_refusal: Option<String>,
}

impl SubscriptionCounters {
    /// A snapshot.
    pub fn status(&self, daemon: Daemon, socket: PathBuf) -> SubscriptionStatus {
        SubscriptionStatus {
            daemon: short_name(daemon).into(),
            socket,
            connected: self.connected.load(Ordering::Relaxed),
            connects: self.connects.load(Ordering::Relaxed),
            accepted: self.accepted.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
            lost: self.lost.load(Ordering::Relaxed),
            last_refusal: self.last_refusal.lock().ok().and_then(|g| g.clone()),
        }
    }

    fn refuse(&self, daemon: Daemon, why: String) {
        let n = self.refused.fetch_add(1, Ordering::Relaxed);
        // The first refusals are logged; the rest are counted (a publisher
        // speaking a newer schema would otherwise flood the journal).
        if n < 10 {
            tracing::warn!(daemon = short_name(daemon), reason = %why, "event line refused");
        }
        if let Ok(mut g) = self.last_refusal.lock() {
            *g = Some(why);
        }
    }
}

/// What a line is, judged against the schema and the socket it came on.
pub fn judge(daemon: Daemon, line: &str) -> Result<Envelope, String> {
    let env = Envelope::from_json_line(line).map_err(|e| e.to_string())?;
    if env.daemon != daemon {
        return Err(format!(
            "envelope names daemon {} on {}'s socket",
            short_name(env.daemon),
            short_name(daemon)
        ));
    }
    Ok(env)
}

/// Runs the subscription until the writer's queue closes.
pub async fn subscribe(
    daemon: Daemon,
    path: PathBuf,
    tx: mpsc::Sender<(LogLine, Envelope)>,
    counters: Arc<SubscriptionCounters>,
) {
    let mut backoff = Backoff::new();
    let mut logged_down = false;
    loop {
        match UnixStream::connect(&path).await {
            Ok(stream) => {
                backoff.connected();
                logged_down = false;
                counters.connected.store(true, Ordering::Relaxed);
                counters.connects.fetch_add(1, Ordering::Relaxed);
                tracing::info!(daemon = short_name(daemon), socket = %path.display(), "subscribed");
                let end = read_lines(daemon, stream, &tx, &counters).await;
                counters.connected.store(false, Ordering::Relaxed);
                match end {
                    Ok(()) => tracing::info!(
                        daemon = short_name(daemon),
                        "event stream closed; reconnecting"
                    ),
                    Err(ReadEnd::WriterGone) => return,
                    Err(ReadEnd::Io(e)) => {
                        tracing::warn!(daemon = short_name(daemon), error = %e, "event stream failed; reconnecting")
                    }
                }
            }
            Err(e) => {
                if !logged_down {
                    tracing::info!(daemon = short_name(daemon), socket = %path.display(), error = %e, "no event socket yet; retrying with backoff");
                    logged_down = true;
                }
            }
        }
        if tx.is_closed() {
            return;
        }
        tokio::time::sleep(backoff.failed()).await;
    }
}

enum ReadEnd {
    WriterGone,
    Io(std::io::Error),
}

async fn read_lines(
    daemon: Daemon,
    stream: UnixStream,
    tx: &mpsc::Sender<(LogLine, Envelope)>,
    counters: &SubscriptionCounters,
) -> Result<(), ReadEnd> {
    let mut reader = BufReader::new(stream);
    let mut buf = Vec::with_capacity(1024);
    loop {
        buf.clear();
        let n = (&mut reader)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut buf)
            .await
            .map_err(ReadEnd::Io)?;
        if n == 0 {
            return Ok(());
        }
        if buf.last() != Some(&b'\n') {
            if buf.len() > MAX_LINE {
                counters.refuse(daemon, format!("line longer than {MAX_LINE} bytes"));
                skip_to_newline(&mut reader).await.map_err(ReadEnd::Io)?;
                continue;
            }
            // EOF inside a line: the daemon stopped mid-write.
            return Ok(());
        }
        let Ok(text) = std::str::from_utf8(&buf) else {
            counters.refuse(daemon, "line is not UTF-8".into());
            continue;
        };
        let text = text.trim_end();
        if text.is_empty() {
            continue;
        }
        match judge(daemon, text) {
            Ok(env) => {
                counters.accepted.fetch_add(1, Ordering::Relaxed);
                if let Event::Lost(l) = &env.event {
                    counters.lost.fetch_add(l.count, Ordering::Relaxed);
                }
                let line = LogLine {
                    daemon: short_name(daemon),
                    at: env.at,
                    line: text.to_string(),
                };
                tx.send((line, env))
                    .await
                    .map_err(|_| ReadEnd::WriterGone)?;
            }
            Err(why) => counters.refuse(daemon, why),
        }
    }
}

async fn skip_to_newline(reader: &mut BufReader<UnixStream>) -> std::io::Result<()> {
    loop {
        let chunk = reader.fill_buf().await?;
        if chunk.is_empty() {
            return Ok(());
        }
        if let Some(i) = chunk.iter().position(|b| *b == b'\n') {
            reader.consume(i + 1);
            return Ok(());
        }
        let n = chunk.len();
        reader.consume(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap_and_resets() {
        let mut b = Backoff::new();
        let delays: Vec<u64> = (0..8).map(|_| b.failed().as_millis() as u64).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
        b.connected();
        assert_eq!(b.failed(), Backoff::FIRST);
    }

    #[test]
    fn lines_are_judged_by_schema_and_socket() {
        let ok = r#"{"v":1,"daemon":"ntpd","at":5,"event":{"type":"ntp-request","client_ip":"192.168.92.20","version":4,"auth":"none"}}"#;
        assert!(judge(Daemon::Ntpd, ok).is_ok());
        assert!(judge(Daemon::Dhcpd, ok).unwrap_err().contains("ntpd"));
        let v2 = ok.replace("\"v\":1", "\"v\":2");
        assert!(judge(Daemon::Ntpd, &v2).is_err());
        assert!(judge(Daemon::Ntpd, "{not json").is_err());
    }
}
