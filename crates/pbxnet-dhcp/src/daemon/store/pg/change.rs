//! One change as the store hands it to the writer and the offline queue
//! keeps it.

use std::net::Ipv4Addr;

use crate::Lease;

/// One change: the address, the lease to write (`None`: the lease ended,
/// the row becomes free) and the version the in-memory index had when the
/// core decided (`None`: no row known, insert one).
#[derive(Debug, Clone)]
pub(super) struct PgChange {
    pub(super) ip: Ipv4Addr,
    pub(super) lease: Option<Lease>,
    pub(super) expected: Option<i64>,
    /// Whether it may be ACKed from the offline queue: it renews, releases
    /// or ends a bound, unexpired lease of the same client (no other server
    /// gives that address to anyone else meanwhile), or it frees a row.
    pub(super) safe_offline: bool,
    /// The lease the index had before (what it goes back to when the
    /// change is refused offline).
    pub(super) prior: Option<Lease>,
}
