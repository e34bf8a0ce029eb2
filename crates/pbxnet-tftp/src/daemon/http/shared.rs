//! What every connection task shares: the configuration in force, the
//! connection caps and the counters.

use std::sync::{Mutex, RwLock};

use super::stats::HttpStats;
use crate::daemon::content::Active;
use crate::server::Admission;

/// What every connection task shares.
pub(crate) struct Shared {
    /// The configuration in force (replaced on reload: new requests see it).
    active: RwLock<Active>,
    /// Connection caps (HTTP and HTTPS together).
    admission: Mutex<Admission>,
    pub(crate) stats: HttpStats,
}

impl Shared {
    pub(super) fn new(active: Active, admission: Admission) -> Shared {
        Shared {
            active: RwLock::new(active),
            admission: Mutex::new(admission),
            stats: HttpStats::default(),
        }
    }

    /// A reload: new requests see the new configuration.
    pub(super) fn set_active(&self, active: Active) {
        *self.active.write().unwrap_or_else(|e| e.into_inner()) = active;
    }

    pub(crate) fn active(&self) -> Active {
        self.active
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(super) fn admission(&self) -> std::sync::MutexGuard<'_, Admission> {
        self.admission.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Seconds since the Unix epoch (the `Date` header's clock).
pub(super) fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
