//! What the handlers share: the inventory, the configuration, the
//! counters, the live event channel, and the API's limits.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use pbxnet_inventory::{Daemon, Envelope, Inventory};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::auth::Refusal;
use crate::config::AdminConfig;
use crate::store::StoreCounters;
use crate::subscribe::{SubscriptionCounters, SubscriptionStatus};

/// Largest request body (the only bodies are small JSON objects).
pub const MAX_BODY: usize = 16 * 1024;
/// Longest query string.
pub const MAX_QUERY: usize = 4096;
/// Live events buffered per SSE client before it is told it lost some.
const SSE_BUFFER: usize = 1024;

/// What the API serves from: the inventory, the configuration, the counters.
#[derive(Debug)]
pub struct Shared {
    /// The devices (written only by the daemon's loop).
    pub inventory: RwLock<Inventory>,
    /// The current configuration (swapped on reload).
    pub config: RwLock<Arc<AdminConfig>>,
    /// Subscriptions, one per daemon.
    pub subscriptions: Vec<(Daemon, Arc<SubscriptionCounters>)>,
    /// The event log writer's counters.
    pub store: Arc<StoreCounters>,
    /// Live events for `/events`.
    pub live: broadcast::Sender<Arc<Envelope>>,
    /// The API's counters.
    pub counters: ApiCounters,
    /// Start time.
    pub started: Instant,
}

impl Shared {
    /// A fresh state around an inventory.
    pub fn new(
        inventory: Inventory,
        config: Arc<AdminConfig>,
        subscriptions: Vec<(Daemon, Arc<SubscriptionCounters>)>,
        store: Arc<StoreCounters>,
    ) -> Shared {
        Shared {
            inventory: RwLock::new(inventory),
            config: RwLock::new(config),
            subscriptions,
            store,
            live: broadcast::channel(SSE_BUFFER).0,
            counters: ApiCounters::default(),
            started: Instant::now(),
        }
    }

    /// The configuration now.
    pub fn config(&self) -> Arc<AdminConfig> {
        self.config.read().expect("config lock").clone()
    }

    /// The subscriptions as numbers.
    pub fn subscription_status(&self) -> Vec<SubscriptionStatus> {
        let cfg = self.config();
        self.subscriptions
            .iter()
            .map(|(d, c)| c.status(*d, cfg.sockets(*d).events.clone()))
            .collect()
    }
}

/// Counted calls.
#[derive(Debug, Default)]
pub struct ApiCounters {
    requests: AtomicU64,
    refused: [AtomicU64; Refusal::ALL.len()],
    bad_requests: AtomicU64,
    unavailable: AtomicU64,
}

/// The counters as numbers (`status`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiStatus {
    /// Requests received.
    pub requests: u64,
    /// Refused: no credentials, malformed header, bad token, bad password.
    pub unauthorized: u64,
    /// Of which with an unknown token.
    pub bad_token: u64,
    /// Of which with a wrong user or password.
    pub bad_password: u64,
    /// Refused for their role (403).
    pub forbidden: u64,
    /// Answered 4xx for their input.
    pub bad_requests: u64,
    /// Answered 503 (a daemon did not answer).
    pub daemon_unavailable: u64,
}

impl ApiCounters {
    pub(crate) fn request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn refused(&self, r: Refusal) {
        let i = Refusal::ALL.iter().position(|x| *x == r).unwrap_or(0);
        self.refused[i].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn bad_request(&self) {
        self.bad_requests.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn unavailable(&self) {
        self.unavailable.fetch_add(1, Ordering::Relaxed);
    }

    /// A snapshot.
    pub fn status(&self) -> ApiStatus {
        let get = |r: Refusal| {
            let i = Refusal::ALL.iter().position(|x| *x == r).unwrap_or(0);
            self.refused[i].load(Ordering::Relaxed)
        };
        ApiStatus {
            requests: self.requests.load(Ordering::Relaxed),
            unauthorized: get(Refusal::Missing)
                + get(Refusal::Malformed)
                + get(Refusal::BadToken)
                + get(Refusal::BadPassword),
            bad_token: get(Refusal::BadToken),
            bad_password: get(Refusal::BadPassword),
            forbidden: get(Refusal::Forbidden),
            bad_requests: self.bad_requests.load(Ordering::Relaxed),
            daemon_unavailable: self.unavailable.load(Ordering::Relaxed),
        }
    }
}

/// The handlers' state.
pub type AppState = Arc<Shared>;

/// Unix milliseconds now: the time verdicts are judged at.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
