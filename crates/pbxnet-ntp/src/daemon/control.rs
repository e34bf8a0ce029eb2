//! Control socket (pbxnet-runtime's length-prefixed JSON at
//! `<runtime-directory>/pbxnet-ntpd.sock`): `{"command":"status"}` (the
//! snapshot of the server and the client side) and `{"command":"clients"}`
//! (the clients the server workers have seen). `render.rs` prints them.

use super::client_status::ClientStatus;
use super::clock::ClockReader;
use super::net::Shared;
use crate::{ClientRecord, LeapIndicator, ServerStats, SystemState};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// What the control loop knows.
#[derive(Debug)]
pub(crate) struct View {
    pub(crate) started: Instant,
    pub(crate) workers: Arc<Shared>,
    pub(crate) state: SystemState,
    pub(crate) local_stratum: Option<u8>,
    pub(crate) key_file: Option<PathBuf>,
    pub(crate) keys: usize,
    pub(crate) clock: ClockReader,
    /// The event socket (its counters for `status`).
    pub(crate) events: pbxnet_runtime::events::Events,
}

/// The status snapshot (shared by daemon and `status` client).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Snapshot {
    pub(crate) version: String,
    pub(crate) uptime_s: u64,
    pub(crate) workers: usize,
    pub(crate) synchronized: bool,
    /// `normal`, `insert-second`, `delete-second` or `unsynchronised`.
    pub(crate) leap: String,
    pub(crate) stratum: u8,
    pub(crate) refid: String,
    /// When the clock was last set or corrected (Unix seconds).
    #[serde(default)]
    pub(crate) reference_time_unix: Option<f64>,
    pub(crate) root_delay_s: f64,
    pub(crate) root_dispersion_s: f64,
    pub(crate) root_distance_s: f64,
    pub(crate) precision: i8,
    pub(crate) local_stratum: Option<u8>,
    pub(crate) key_file: Option<PathBuf>,
    pub(crate) keys: usize,
    pub(crate) server: ServerStats,
    pub(crate) replies_total: u64,
    pub(crate) drop_truncated: u64,
    pub(crate) no_kernel_timestamp: u64,
    pub(crate) send_errors: u64,
    /// The client side, when sources are configured.
    pub(crate) client: Option<ClientStatus>,
    /// The event socket: subscribers, events published, lines dropped.
    #[serde(default)]
    pub(crate) events: pbxnet_runtime::events::EventCounters,
}

/// The clients the server has seen (`status clients`).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ClientsReport {
    /// Per-worker table size (the oldest clients are evicted beyond it).
    pub(crate) table_slots_per_worker: usize,
    pub(crate) workers: usize,
    pub(crate) clients: Vec<ClientLine>,
}

/// One client host.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ClientLine {
    pub(crate) address: std::net::IpAddr,
    /// NTP requests received.
    pub(crate) requests: u64,
    /// Requests not answered (rate limit, access, authentication, malformed).
    pub(crate) dropped: u64,
    /// Mean interval between its requests (s).
    pub(crate) interval_s: Option<f64>,
    /// Seconds since its last request.
    pub(crate) last_s: f64,
}

/// Requests understood on the control socket.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "kebab-case")]
pub(crate) enum Request {
    /// The status snapshot.
    Status,
    /// The clients table.
    Clients,
}

/// The answer to a [`Request`].
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Answer {
    Status(Box<Snapshot>),
    Clients(ClientsReport),
}

/// Answer a request from the daemon's main loop.
pub(crate) fn answer(view: &View, client: Option<ClientStatus>, req: &Request) -> Answer {
    match req {
        Request::Status => Answer::Status(Box::new(snapshot(view, client))),
        Request::Clients => Answer::Clients(clients(view)),
    }
}

/// The leap indicator in words.
fn leap_words(state: &SystemState) -> &'static str {
    match state.leap {
        _ if !state.is_synchronized() => "unsynchronised",
        LeapIndicator::NoWarning => "normal",
        LeapIndicator::Leap61 => "insert-second",
        LeapIndicator::Leap59 => "delete-second",
        LeapIndicator::Unknown => "unsynchronised",
    }
}

fn snapshot(v: &View, client: Option<ClientStatus>) -> Snapshot {
    let t = v.workers.total();
    let now = v.clock.now();
    let disp = v.state.root_dispersion_at(now).as_seconds();
    let delay = v.state.root_delay.as_seconds();
    let reference = v.state.reference_time;
    Snapshot {
        version: env!("CARGO_PKG_VERSION").to_string(),
        uptime_s: v.started.elapsed().as_secs(),
        workers: v.workers.stats.len(),
        synchronized: v.state.is_synchronized(),
        leap: leap_words(&v.state).to_string(),
        stratum: v.state.stratum,
        refid: v.state.reference_id.to_string(),
        reference_time_unix: (reference != crate::NtpTimestamp::ZERO).then(|| {
            // The era is the one nearest to the wall clock.
            let pivot = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            reference.to_unix_nanos_near(pivot) as f64 / 1e9
        }),
        root_delay_s: delay,
        root_dispersion_s: disp,
        root_distance_s: delay / 2.0 + disp,
        precision: v.state.precision,
        local_stratum: v.local_stratum,
        key_file: v.key_file.clone(),
        keys: v.keys,
        replies_total: t.server.replies_total(),
        server: t.server,
        drop_truncated: t.truncated,
        no_kernel_timestamp: t.no_kernel_timestamp,
        send_errors: t.send_errors,
        client,
        events: v.events.counters(),
    }
}

fn clients(v: &View) -> ClientsReport {
    let now_ms = v.workers.now_ms();
    let line = |r: ClientRecord| ClientLine {
        address: r.addr,
        requests: r.requests,
        dropped: r.dropped,
        interval_s: r.mean_interval_ms().map(|ms| ms as f64 / 1000.0),
        last_s: now_ms.saturating_sub(r.last_ms) as f64 / 1000.0,
    };
    ClientsReport {
        table_slots_per_worker: crate::CLIENT_TABLE_SLOTS,
        workers: v.workers.clients.len(),
        clients: v.workers.client_records().into_iter().map(line).collect(),
    }
}
