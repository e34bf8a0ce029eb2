//! `status`: the control-socket request, the answer (running transfers and
//! totals since start) and its text form.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use pbxnet_runtime::events::EventCounters;

use super::http::HttpStatus;

/// Control socket request.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Request {
    Status,
}

/// One running transfer in `status`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct ActiveInfo {
    client: SocketAddr,
    file: String,
    blksize: u16,
    windowsize: u16,
    bytes: u64,
    seconds: f64,
}

/// Totals since start.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct Totals {
    pub(super) requests: u64,
    pub(super) malformed: u64,
    /// Requests from the port of a running transfer, ignored.
    #[serde(default)]
    pub(super) duplicate_requests: u64,
    pub(super) refused: HashMap<String, u64>,
    pub(super) outcomes: HashMap<String, u64>,
    pub(super) bytes_sent: u64,
    pub(super) retransmits: u64,
    /// Datagrams to a transfer port from another endpoint than its client,
    /// answered with ERROR 5 (RFC 1350 §4).
    #[serde(default)]
    pub(super) foreign_tids: u64,
}

/// `status` answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StatusReport {
    version: String,
    uptime_seconds: u64,
    active: Vec<ActiveInfo>,
    totals: Totals,
    /// The HTTP(S) front end.
    #[serde(default)]
    http: HttpStatus,
    /// The event socket: subscribers, events published, lines dropped.
    #[serde(default)]
    events: EventCounters,
}

/// `status`: the answer as text (sorted by client) or JSON.
pub(super) fn render_status(mut report: StatusReport, json: bool) -> Result<String> {
    use std::fmt::Write as _;
    report.active.sort_by_key(|a| a.client);
    if json {
        return Ok(serde_json::to_string_pretty(&report)?);
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "pbxnet-tftpd {} up {}s: {} active transfer(s)",
        report.version,
        report.uptime_seconds,
        report.active.len()
    );
    for a in &report.active {
        let _ = writeln!(
            out,
            "  {:<22} {:<40} {:>12} bytes  blksize {:<5} window {:<3} {:.1}s",
            a.client, a.file, a.bytes, a.blksize, a.windowsize, a.seconds
        );
    }
    let t = &report.totals;
    let _ = writeln!(
        out,
        "totals: {} requests, {} malformed, {} repeated, {} bytes sent, {} retransmits, {} foreign TID",
        t.requests,
        t.malformed,
        t.duplicate_requests,
        t.bytes_sent,
        t.retransmits,
        t.foreign_tids
    );
    let mut o: Vec<_> = t.outcomes.iter().collect();
    o.sort();
    for (k, v) in o {
        let _ = writeln!(out, "  outcome {k}: {v}");
    }
    let mut r: Vec<_> = t.refused.iter().collect();
    r.sort();
    for (k, v) in r {
        let _ = writeln!(out, "  refused {k}: {v}");
    }
    report.http.render(&mut out);
    let _ = writeln!(out, "events: {}", report.events);
    Ok(out)
}

/// A transfer in progress, as `status` and its end-of-transfer log line
/// show it.
pub(super) struct Running {
    pub(super) client: SocketAddr,
    pub(super) file: String,
    /// The path as the client asked for it (the event's `path`).
    pub(super) asked: String,
    pub(super) blksize: u16,
    pub(super) windowsize: u16,
    pub(super) started: Instant,
    pub(super) progress: Arc<AtomicU64>,
    /// Upload folder room an upload holds until it ends (its size cap).
    pub(super) reserved: u64,
}

/// The `status` answer.
pub(super) fn report(
    started: Instant,
    running: &HashMap<u64, Running>,
    totals: &Totals,
    http: HttpStatus,
    events: EventCounters,
) -> StatusReport {
    let now = Instant::now();
    StatusReport {
        version: env!("CARGO_PKG_VERSION").to_string(),
        uptime_seconds: now.duration_since(started).as_secs(),
        active: running
            .values()
            .map(|r| ActiveInfo {
                client: r.client,
                file: r.file.clone(),
                blksize: r.blksize,
                windowsize: r.windowsize,
                bytes: r.progress.load(Ordering::Relaxed),
                seconds: now.duration_since(r.started).as_secs_f64(),
            })
            .collect(),
        totals: totals.clone(),
        http,
        events,
    }
}
