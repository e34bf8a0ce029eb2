//! What the web view needs from the management daemon: [`SiteData`], and
//! the rows of the pages the inventory does not hold (the daemons' own
//! state, asked over their control sockets).
//!
//! Every daemon-backed answer is a `Result<_, Unreachable>`: a page shows
//! "pbxnet-dhcpd is not answering: …" where the table would be, never a
//! blank page or a stack trace.

use std::future::Future;
use std::net::Ipv4Addr;
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::broadcast;

use pbxnet_inventory::{Envelope, Inventory, Mac, UnixMillis};

use crate::session::Role;

/// A daemon that did not answer the question a page needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unreachable {
    /// The daemon (`pbxnet-dhcpd`).
    pub daemon: String,
    /// What went wrong, in words (`connection refused`, `no answer in 2 s`).
    pub reason: String,
}

/// One address pool's use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PoolUsage {
    /// The pool as configured (its range or name).
    pub name: String,
    /// Addresses leased.
    pub used: u64,
    /// Addresses in the pool.
    pub total: u64,
}

/// One lease as pbxnet-dhcpd holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeaseRow {
    /// The address.
    pub ip: Ipv4Addr,
    /// The holder.
    pub mac: Mac,
    /// Option 12.
    pub hostname: Option<String>,
    /// `bound`, `offered`, `expired`, … as dhcpd says.
    pub state: String,
    /// Expiry (Unix ms), when bound.
    pub expires: Option<UnixMillis>,
    /// Class matched.
    pub class: Option<String>,
}

/// The NTP daemon's own synchronisation (chronyc `tracking`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tracking {
    /// Whether it serves synchronised time.
    pub synchronized: bool,
    /// Its stratum.
    pub stratum: u8,
    /// The source selected, if any.
    pub selected: Option<String>,
    /// System offset (s, positive = local clock ahead).
    pub offset_s: Option<f64>,
    /// Last clock update (Unix ms).
    pub last_sync: Option<UnixMillis>,
    /// Leap status in words.
    pub leap: String,
}

/// One upstream source (chronyc `sources`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceRow {
    /// As configured.
    pub name: String,
    /// `selected`, `candidate`, `falseticker`, `unreachable`, …
    pub state: String,
    /// Its stratum, when it answered.
    pub stratum: Option<u8>,
    /// Its offset (s).
    pub offset_s: Option<f64>,
    /// Round-trip delay (s).
    pub delay_s: Option<f64>,
}

/// One NTP client (chronyc `clients`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClientRow {
    /// Its address.
    pub ip: Ipv4Addr,
    /// The device holding that address's lease, if the inventory knows it.
    pub mac: Option<Mac>,
    /// Requests received.
    pub requests: u64,
    /// Requests not answered.
    pub dropped: u64,
    /// Seconds since its last request.
    pub last_s: f64,
}

/// One licensed service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceRow {
    /// As in the services catalogue.
    pub name: String,
    /// Granted by the licence.
    pub authorized: u32,
    /// In use.
    pub activated: u32,
}

/// The licence state (pbxnet-licd `status`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LicenseView {
    /// `valid`, `grace`, `limited`, `try-and-buy`.
    pub mode: String,
    /// Days left of a grace or trial period.
    pub days_left: Option<u32>,
    /// The services table.
    pub services: Vec<ServiceRow>,
}

/// Why an action was not done.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ActionError {
    /// The daemon that would do it did not answer.
    #[error("{} is not answering: {}", .0.daemon, .0.reason)]
    Unreachable(Unreachable),
    /// The daemon answered and refused (no such lease, …).
    #[error("{0}")]
    Refused(String),
}

/// The management daemon as the web view sees it. Implemented by
/// pbxnet-admind over its inventory, its event store and the daemons'
/// control sockets; the view owns none of that state.
pub trait SiteData: Send + Sync + 'static {
    /// Wall clock (Unix ms): the time verdicts are judged at.
    fn now(&self) -> UnixMillis;

    /// Runs `f` on the inventory (under whatever lock guards it: keep `f`
    /// short, it copies out what a page shows).
    fn with_inventory<R>(&self, f: impl FnOnce(&Inventory) -> R) -> R;

    /// The role of `user` if `password` is theirs (the daemon's users and
    /// password hashes); `None` for any failure, without saying which part.
    fn authenticate(&self, user: &str, password: &str)
        -> impl Future<Output = Option<Role>> + Send;

    /// Pool use, from pbxnet-dhcpd.
    fn pools(&self) -> impl Future<Output = Result<Vec<PoolUsage>, Unreachable>> + Send;

    /// Leases, from pbxnet-dhcpd.
    fn leases(&self) -> impl Future<Output = Result<Vec<LeaseRow>, Unreachable>> + Send;

    /// Tracking, from pbxnet-ntpd.
    fn tracking(&self) -> impl Future<Output = Result<Tracking, Unreachable>> + Send;

    /// Upstream sources, from pbxnet-ntpd.
    fn sources(&self) -> impl Future<Output = Result<Vec<SourceRow>, Unreachable>> + Send;

    /// Clients, from pbxnet-ntpd.
    fn clients(&self) -> impl Future<Output = Result<Vec<ClientRow>, Unreachable>> + Send;

    /// Licence, from pbxnet-licd.
    fn license(&self) -> impl Future<Output = Result<LicenseView, Unreachable>> + Send;

    /// Releases the lease of `ip` (pbxnet-dhcpd's control `Release`), on
    /// behalf of `user` (for the daemon's audit log).
    fn release_lease(
        &self,
        ip: Ipv4Addr,
        user: &str,
    ) -> impl Future<Output = Result<(), ActionError>> + Send;

    /// The last `n` events, newest first.
    fn recent_events(&self, n: usize) -> Vec<Envelope>;

    /// Live events, as the daemon applies them.
    fn subscribe(&self) -> broadcast::Receiver<Arc<Envelope>>;
}
