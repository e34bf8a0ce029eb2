//! Control socket (pbxnet-runtime's length-prefixed JSON at
//! `<runtime-directory>/pbxnet-ntpd.sock`): one command, `{"command":"status"}`.

use super::net::Shared;
use crate::{ServerStats, SystemState};
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
    pub(crate) clock: super::clock::ClockReader,
}

/// The status snapshot (shared by daemon and `status` client).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Snapshot {
    pub(crate) version: String,
    pub(crate) uptime_s: u64,
    pub(crate) workers: usize,
    pub(crate) synchronized: bool,
    pub(crate) leap: String,
    pub(crate) stratum: u8,
    pub(crate) refid: String,
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
    pub(crate) client: Option<super::upstream::ClientStatus>,
}

pub(crate) fn snapshot(v: &View, client: Option<super::upstream::ClientStatus>) -> Snapshot {
    let (server, trunc, nots, send) = super::net::total(&v.workers.stats);
    let now = v.clock.now();
    let disp = v.state.root_dispersion_at(now).as_seconds();
    let delay = v.state.root_delay.as_seconds();
    Snapshot {
        version: env!("CARGO_PKG_VERSION").to_string(),
        uptime_s: v.started.elapsed().as_secs(),
        workers: v.workers.stats.len(),
        synchronized: v.state.is_synchronized(),
        leap: format!("{:?}", v.state.leap),
        stratum: v.state.stratum,
        refid: v.state.reference_id.to_string(),
        root_delay_s: delay,
        root_dispersion_s: disp,
        root_distance_s: delay / 2.0 + disp,
        precision: v.state.precision,
        local_stratum: v.local_stratum,
        key_file: v.key_file.clone(),
        keys: v.keys,
        replies_total: server.replies_total(),
        server,
        drop_truncated: trunc,
        no_kernel_timestamp: nots,
        send_errors: send,
        client,
    }
}

/// Requests understood on the control socket.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "kebab-case")]
pub(crate) enum Request {
    /// The status snapshot.
    Status,
}

/// Answer a request from the daemon's main loop.
pub(crate) fn answer(
    view: &View,
    client: Option<super::upstream::ClientStatus>,
    req: &Request,
) -> Snapshot {
    match req {
        Request::Status => snapshot(view, client),
    }
}

pub(crate) fn render(s: &Snapshot) -> String {
    let st = &s.server;
    let mut o = String::new();
    use std::fmt::Write as _;
    let _ = writeln!(
        o,
        "pbxnet-ntpd {} up {}s, {} worker(s)",
        s.version, s.uptime_s, s.workers
    );
    let _ = writeln!(
        o,
        "system: {} stratum {} refid {} leap {} root delay {:.6}s dispersion {:.6}s distance {:.6}s precision 2^{}",
        if s.synchronized { "synchronised" } else { "UNSYNCHRONISED" },
        s.stratum, s.refid, s.leap, s.root_delay_s, s.root_dispersion_s, s.root_distance_s, s.precision
    );
    if let Some(l) = s.local_stratum {
        let _ = writeln!(o, "local clock service: stratum {l}");
    }
    let _ = writeln!(o, "keys: {} from {:?}", s.keys, s.key_file);
    let _ = writeln!(o, "requests received: {}", st.received);
    let _ = writeln!(
        o,
        "replies: {} (v1 {}, v2 {}, v3 {}, v4 {}); authenticated {}, unauthenticated {}, leaked while rate-limited {}",
        s.replies_total,
        st.replies_by_version[1], st.replies_by_version[2], st.replies_by_version[3], st.replies_by_version[4],
        st.replies_authenticated, st.replies_unauthenticated, st.replies_rate_leaked
    );
    let _ = writeln!(
        o,
        "kiss-o'-death: RATE {}, DENY {}; crypto-NAK {}",
        st.kod_rate, st.kod_deny, st.crypto_nak
    );
    let _ = writeln!(
        o,
        "dropped: rate-limited {}, malformed {}, bad version {}, mode 6/7 {}, other mode {}, denied {}, bad auth {}, auth required {}, truncated {}",
        st.drop_rate_limited, st.drop_malformed, st.drop_bad_version, st.drop_mode_control, st.drop_mode_other,
        st.drop_denied, st.drop_bad_auth, st.drop_auth_required, s.drop_truncated
    );
    let _ = writeln!(
        o,
        "auth failures: bad MAC {}, unknown key {}, untrusted key {}",
        st.auth_bad_mac, st.auth_unknown_key, st.auth_untrusted_key
    );
    if let Some(c) = &s.client {
        let _ = writeln!(
            o,
            "client: clock {} offset {} frequency {:+.3} ppm, {} step(s), last step {:?}, last sync {} ago",
            c.clock_mode,
            c.system_offset_s.map(|x| format!("{x:+.6}s")).unwrap_or_else(|| "-".into()),
            c.frequency_ppm,
            c.steps,
            c.last_step,
            c.since_last_sync_s.map(|x| format!("{x:.0}s")).unwrap_or_else(|| "never".into()),
        );
        if let Some(e) = &c.clock_error {
            let _ = writeln!(o, "client: clock not adjusted: {e}");
        }
        let _ = writeln!(
            o,
            "client: T1 from kernel transmit stamps {}, from user space {}",
            c.t1_kernel_stamps, c.t1_user_stamps
        );
        let mut srcs: Vec<_> = c.sources.iter().collect();
        srcs.sort_by(|a, b| a.address.cmp(&b.address));
        for x in srcs {
            let _ = writeln!(
                o,
                "  {} {:<22} st {:>2} reach {} poll {:>2} offset {} delay {} jitter {}  {}",
                if x.selected { '*' } else { ' ' },
                x.address,
                x.stratum
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "-".into()),
                x.reach,
                x.poll,
                x.offset_s
                    .map(|v| format!("{v:+.6}"))
                    .unwrap_or_else(|| "-".into()),
                x.delay_s
                    .map(|v| format!("{v:.6}"))
                    .unwrap_or_else(|| "-".into()),
                x.jitter_s
                    .map(|v| format!("{v:.6}"))
                    .unwrap_or_else(|| "-".into()),
                x.why
            );
        }
    }
    o
}
