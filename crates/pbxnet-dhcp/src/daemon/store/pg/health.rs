//! What the writer knows about the database, shared with the store (the
//! core asks whether it may grant an address) and the status view:
//! connected or not since when, the offline queue and its replay, the
//! conflicts a replay met.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// Shared between the writer thread and the store.
#[derive(Debug, Default)]
pub(super) struct Health {
    /// The database did not answer the last attempt.
    offline: AtomicBool,
    /// Unix milliseconds of the failure that started the outage (0: none).
    since_ms: AtomicU64,
    /// Entries in the offline queue.
    pub(super) queued: AtomicU64,
    /// Entries of the current replay already written.
    pub(super) replay_done: AtomicU64,
    /// Entries the current replay started with (0: no replay).
    pub(super) replay_total: AtomicU64,
    /// Entries replayed since start.
    pub(super) replayed: AtomicU64,
    /// Replayed entries that lost to another server's newer row (the
    /// database's row kept).
    pub(super) conflicts: AtomicU64,
    /// Replayed renewals that lost to another server's renewal of the same
    /// client and were written again with the later expiry.
    pub(super) merged: AtomicU64,
    /// Changes not ACKed because the database was unreachable and the
    /// address was not this server's to grant.
    pub(super) withheld: AtomicU64,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Health {
    /// Whether the database is unreachable now.
    pub(super) fn offline(&self) -> bool {
        self.offline.load(Ordering::Relaxed)
    }

    /// Marks the database unreachable; true when it was reachable before.
    pub(super) fn set_offline(&self) -> bool {
        let was = self.offline.swap(true, Ordering::Relaxed);
        if !was {
            self.since_ms.store(now_ms(), Ordering::Relaxed);
        }
        !was
    }

    /// Marks the database reachable; true when it was not before.
    pub(super) fn set_online(&self) -> bool {
        let was = self.offline.swap(false, Ordering::Relaxed);
        if was {
            self.since_ms.store(0, Ordering::Relaxed);
        }
        was
    }

    /// The view `status` shows.
    pub(super) fn view(&self, site: &str) -> LeaseStoreStatus {
        let offline = self.offline();
        let total = self.replay_total.load(Ordering::Relaxed);
        let state = if offline {
            "unreachable"
        } else if total > 0 {
            "replaying"
        } else {
            "connected"
        };
        let since = self.since_ms.load(Ordering::Relaxed);
        LeaseStoreStatus {
            backend: "postgresql".into(),
            site: site.into(),
            state: state.into(),
            unreachable_since: (offline && since > 0).then_some(since / 1000),
            queued: self.queued.load(Ordering::Relaxed),
            replay_done: self.replay_done.load(Ordering::Relaxed),
            replay_total: total,
            replayed: self.replayed.load(Ordering::Relaxed),
            conflicts: self.conflicts.load(Ordering::Relaxed),
            merged: self.merged.load(Ordering::Relaxed),
            withheld: self.withheld.load(Ordering::Relaxed),
        }
    }
}

/// The shared lease store as `status` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct LeaseStoreStatus {
    /// `postgresql`.
    pub backend: String,
    /// Site served.
    pub site: String,
    /// `connected`, `unreachable` or `replaying`.
    pub state: String,
    /// Unix seconds of the failure that started the outage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreachable_since: Option<u64>,
    /// Commits in the offline queue (ACKed, not yet in the database).
    pub queued: u64,
    /// Entries of the current replay written so far.
    pub replay_done: u64,
    /// Entries the current replay started with.
    pub replay_total: u64,
    /// Entries replayed since start.
    pub replayed: u64,
    /// Replayed entries that lost to another server's row (its row kept).
    pub conflicts: u64,
    /// Replayed renewals re-written over another server's renewal of the
    /// same client (the later expiry kept).
    pub merged: u64,
    /// Changes not ACKed while unreachable: the address was not this
    /// server's to grant.
    pub withheld: u64,
}

impl LeaseStoreStatus {
    /// One line for the human `status`.
    pub fn line(&self) -> String {
        let state = match (self.state.as_str(), self.unreachable_since) {
            ("unreachable", Some(t)) => format!("unreachable since {}", utc(t)),
            ("replaying", _) => format!("replaying {} of {}", self.replay_done, self.replay_total),
            (s, _) => s.to_string(),
        };
        format!(
            "lease store: postgresql, site {}, {state}; {} commits queued, {} replayed, {} conflicts, {} merged, {} withheld",
            self.site, self.queued, self.replayed, self.conflicts, self.merged, self.withheld
        )
    }
}

/// `YYYY-MM-DD HH:MM:SS UTC` of Unix seconds `t` (civil from days,
/// H. Hinnant's algorithm).
fn utc(t: u64) -> String {
    let days = i64::try_from(t / 86_400).unwrap_or(0);
    let secs = t % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_line_names_state_queue_and_outage_start() {
        let h = Health::default();
        assert_eq!(h.view("paris").state, "connected");
        assert!(h.set_offline());
        assert!(!h.set_offline(), "already offline");
        h.queued.store(7, Ordering::Relaxed);
        let v = h.view("paris");
        assert_eq!(v.state, "unreachable");
        assert!(v.unreachable_since.is_some());
        assert!(v.line().contains("unreachable since 20"), "{}", v.line());
        assert!(v.line().contains("7 commits queued"), "{}", v.line());
        assert!(h.set_online());
        h.replay_total.store(7, Ordering::Relaxed);
        h.replay_done.store(3, Ordering::Relaxed);
        assert!(h.view("paris").line().contains("replaying 3 of 7"));
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_796_529_600), "2026-12-06 04:00:00 UTC");
    }
}
