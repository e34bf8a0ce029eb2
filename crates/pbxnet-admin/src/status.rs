//! admind's own status: what `pbxnet-admind status` prints and
//! `/api/v1/status` serves.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::api::state::{ApiStatus, Shared};
use crate::store::StoreStatus;
use crate::subscribe::SubscriptionStatus;

/// `status`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatusView {
    /// Version.
    pub version: String,
    /// Seconds since start.
    pub uptime_s: u64,
    /// API address.
    pub listen: SocketAddr,
    /// Devices in the inventory.
    pub devices: usize,
    /// Events applied.
    pub events_applied: u64,
    /// Events the publishers reported lost.
    pub events_lost: u64,
    /// The event log.
    pub store: StoreStatus,
    /// Event log file.
    pub store_file: PathBuf,
    /// Subscriptions.
    pub subscriptions: Vec<SubscriptionStatus>,
    /// API counters.
    pub api: ApiStatus,
}

/// The status of the running daemon.
pub fn status_view(shared: &Shared) -> StatusView {
    let cfg = shared.config();
    let inv = shared.inventory.read().expect("inventory lock");
    StatusView {
        version: env!("CARGO_PKG_VERSION").to_string(),
        uptime_s: shared.started.elapsed().as_secs(),
        listen: cfg.listen,
        devices: inv.len(),
        events_applied: inv.events_applied(),
        events_lost: inv.events_lost(),
        store: shared.store.status(),
        store_file: cfg.store_file(),
        subscriptions: shared.subscription_status(),
        api: shared.counters.status(),
    }
}

pub(crate) fn render_status(s: &StatusView) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "version {}  uptime {}s  API http://{}",
        s.version, s.uptime_s, s.listen
    );
    let _ = writeln!(
        out,
        "inventory: {} devices, {} events applied, {} lost by publishers",
        s.devices, s.events_applied, s.events_lost
    );
    let _ = writeln!(
        out,
        "event log {}: {} replayed at start, {} committed in {} transactions (largest {}), {} failed",
        s.store_file.display(),
        s.store.replayed,
        s.store.committed,
        s.store.commits,
        s.store.largest_batch,
        s.store.errors
    );
    for sub in &s.subscriptions {
        let _ = writeln!(
            out,
            "{:>6}: {:<12} {} accepted, {} refused, {} lost, {} connects ({})",
            sub.daemon,
            if sub.connected {
                "connected"
            } else {
                "disconnected"
            },
            sub.accepted,
            sub.refused,
            sub.lost,
            sub.connects,
            sub.socket.display()
        );
    }
    let a = &s.api;
    let _ = writeln!(
        out,
        "API: {} requests, {} unauthorized ({} bad token, {} bad password), {} forbidden, {} bad requests, {} daemon unavailable",
        a.requests, a.unauthorized, a.bad_token, a.bad_password, a.forbidden, a.bad_requests, a.daemon_unavailable
    );
    out
}
