//! PostgreSQL lease store, shared by several servers of one site: the same
//! contract as [`super::SqliteStore`] (whole index in memory, group commit
//! on a writer thread, a reply waits for its commit) plus ownership: every
//! row has a version, every write is a compare-and-swap on it, and a swap
//! that loses (another server changed the row since this one read it)
//! comes back in [`Committed::lost`]: the shell withholds that ACK and the
//! index takes the row as the database has it.
//!
//! Versions: `versions` holds, per address, the version the row will have
//! once every change handed to the writer has committed (the writer runs
//! them in order, each bumping it by one), so consecutive batches touching
//! one address do not race each other; a lost swap or a newer row read by
//! a refresh replaces it.
//!
//! Offline: when the database cannot be reached the writer queues the
//! commits that are safe without it in a local file (`wal.rs`) and ACKs
//! them once fsynced, refuses the others, and replays the queue when the
//! database answers again (`replay.rs`); the core asks
//! [`LeaseStore::may_grant`] before it offers an address.
//!
//! `sql.rs`: schema, connecting, rows; `writer.rs`: the writer thread;
//! `health.rs`: connection state and counters for `status`.

mod change;
mod health;
mod replay;
pub mod sql;
mod tls;
mod wal;
mod writer;

pub use health::LeaseStoreStatus;

use std::collections::HashMap;
use std::net::Ipv4Addr;

use super::commit::{CommitTicket, Committed};
use crate::config::PgSettings;
use crate::{ClientKey, Lease, LeaseState, LeaseStore, MemStore, StoreError};
use change::PgChange;
use sql::{LeaseRow, PgError};
use writer::{Done, Job, Refresh};

/// The PostgreSQL-backed store of one site.
#[derive(Debug)]
pub struct PgStore {
    mem: MemStore,
    versions: HashMap<Ipv4Addr, i64>,
    writer: writer::Writer,
    pending: HashMap<Ipv4Addr, PgChange>,
    order: Vec<Ipv4Addr>,
    site: String,
}

impl PgStore {
    /// Connects, checks the schema and loads every lease of the site.
    /// Must not be called on a current-thread runtime that it would block:
    /// it runs its own (the daemon calls it before serving).
    pub fn open(settings: &PgSettings) -> Result<Self, PgError> {
        Self::open_with_interval(settings, super::writer::MIN_COMMIT_INTERVAL)
    }

    fn open_with_interval(
        settings: &PgSettings,
        min_interval: std::time::Duration,
    ) -> Result<Self, PgError> {
        // The writer first replays what a previous run queued offline,
        // so the rows loaded next include it.
        let (writer, replayed) = writer::start(settings.clone(), min_interval)?;
        let _ = replayed.recv();
        let s = settings.clone();
        let rows = std::thread::scope(|sc| {
            sc.spawn(|| {
                sql::block_on(async {
                    let client = sql::connect(&s).await?;
                    sql::check_schema(&client).await?;
                    sql::load_site(&client, &s.site).await
                })
            })
            .join()
            .map_err(|_| PgError::Start("loading thread panicked".into()))
        })???;
        writer.watermark.fetch_max(
            rows.iter().map(|r| r.changed).max().unwrap_or(0),
            std::sync::atomic::Ordering::Relaxed,
        );
        let mut store = PgStore {
            mem: MemStore::new(),
            versions: HashMap::new(),
            writer,
            pending: HashMap::new(),
            order: Vec::new(),
            site: settings.site.clone(),
        };
        let mut rows = rows;
        // Bound leases last so the client index points at them.
        rows.sort_by_key(|r| {
            r.lease
                .as_ref()
                .map(|l| (l.state == LeaseState::Bound, l.expires))
        });
        for r in rows {
            store.take_row(r.ip, Some(r), true);
        }
        Ok(store)
    }

    /// The site this store serves.
    pub fn site(&self) -> &str {
        &self.site
    }

    /// Applies what the writer read from the database: rows another server
    /// changed, and the rows of lost swaps. Called under the core's lock
    /// before each batch and each commit.
    pub fn absorb(&mut self) {
        while let Ok(Refresh { ip, row, forced }) = self.writer.refreshed.try_recv() {
            self.take_row(ip, row, forced);
        }
    }

    fn take_row(&mut self, ip: Ipv4Addr, row: Option<LeaseRow>, forced: bool) {
        let Some(row) = row else {
            // No row at all (only after a lost insert whose row vanished).
            self.versions.remove(&ip);
            if forced {
                self.mem.remove(ip);
            }
            return;
        };
        let known = self.versions.get(&ip).copied();
        if !forced && known.is_some_and(|v| v >= row.version) {
            return;
        }
        self.versions.insert(ip, row.version);
        match row.lease {
            Some(l) => self.mem.upsert(l),
            // A free row ends a lease, not an offer this server has out.
            None => {
                if forced
                    || self
                        .mem
                        .by_ip(ip)
                        .is_some_and(|l| l.state != LeaseState::Offered)
                {
                    self.mem.remove(ip);
                }
            }
        }
    }

    fn queue(&mut self, ip: Ipv4Addr, lease: Option<Lease>, prior: Option<Lease>) {
        if let Some(c) = self.pending.get_mut(&ip) {
            // Same batch: the swap still expects what the first change
            // expected, and is safe offline as judged against what the
            // index had before it.
            c.safe_offline = safe_offline(c.prior.as_ref(), lease.as_ref(), unix_now());
            c.lease = lease;
            if c.lease.is_none() && c.expected.is_none() {
                self.pending.remove(&ip);
                self.versions.remove(&ip);
            }
            return;
        }
        let expected = self.versions.get(&ip).copied();
        if lease.is_none() && expected.is_none() {
            return;
        }
        self.versions.insert(ip, expected.map_or(1, |v| v + 1));
        self.pending.insert(
            ip,
            PgChange {
                ip,
                safe_offline: safe_offline(prior.as_ref(), lease.as_ref(), unix_now()),
                lease,
                expected,
                prior,
            },
        );
        self.order.push(ip);
    }

    fn take(&mut self) -> Vec<PgChange> {
        let mut pending = std::mem::take(&mut self.pending);
        self.order
            .drain(..)
            .filter_map(|ip| pending.remove(&ip))
            .collect()
    }

    /// Hands the queued changes to the writer; `None` when there were none.
    pub fn begin_commit(&mut self) -> Option<CommitTicket> {
        self.absorb();
        if self.pending.is_empty() {
            return None;
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        let changes = self.take();
        if let Err(e) = self.writer.jobs.send(Job {
            changes,
            done: Done::Async(tx),
        }) {
            if let Done::Async(tx) = e.0.done {
                let _ = tx.send(Err("lease writer stopped".into()));
            }
        }
        Some(rx)
    }

    /// Connection state, offline queue and replay, for `status`.
    pub fn status(&self) -> LeaseStoreStatus {
        self.writer.health.view(&self.site)
    }

    /// Transactions the writer has run so far.
    pub fn transactions(&self) -> u64 {
        self.writer
            .commits
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Synchronous commit with its outcome (lost swaps included).
    pub fn commit_outcome(&mut self) -> Result<Committed, String> {
        let changes = self.take();
        let (tx, rx) = std::sync::mpsc::channel();
        self.writer
            .jobs
            .send(Job {
                changes,
                done: Done::Sync(tx),
            })
            .map_err(|_| "lease writer stopped".to_string())?;
        rx.recv().map_err(|_| "lease writer stopped".to_string())?
    }
}

impl LeaseStore for PgStore {
    fn by_ip(&self, ip: Ipv4Addr) -> Option<&Lease> {
        self.mem.by_ip(ip)
    }

    fn by_client(&self, client: &ClientKey) -> Option<&Lease> {
        self.mem.by_client(client)
    }

    fn upsert(&mut self, lease: Lease) {
        // Offers are not leases: not written (as SqliteStore).
        if lease.state != LeaseState::Offered {
            let prior = self.mem.by_ip(lease.ip).cloned();
            self.queue(lease.ip, Some(lease.clone()), prior);
        }
        self.mem.upsert(lease);
    }

    fn remove(&mut self, ip: Ipv4Addr) -> Option<Lease> {
        let l = self.mem.remove(ip)?;
        self.queue(ip, None, Some(l.clone()));
        Some(l)
    }

    fn offline(&self) -> bool {
        self.writer.health.offline()
    }

    /// Offline, only a bound, unexpired lease of the same client: renewing
    /// it cannot collide with another server, which does not give away an
    /// address whose lease has not ended.
    fn may_grant(&self, ip: Ipv4Addr, client: &ClientKey, now: u64) -> bool {
        !self.offline()
            || self.mem.by_ip(ip).is_some_and(|l| {
                l.client == *client && l.state == LeaseState::Bound && l.expires > now
            })
    }

    fn all(&self) -> Vec<&Lease> {
        self.mem.all()
    }

    fn slice_from(&self, start: Ipv4Addr, limit: usize) -> Vec<&Lease> {
        self.mem.slice_from(start, limit)
    }

    fn len(&self) -> usize {
        self.mem.len()
    }

    /// Synchronous commit (shutdown, operator commands). A lost swap is an
    /// error here: the change it carried did not happen.
    fn commit(&mut self) -> Result<(), StoreError> {
        let backend = |reason: String| StoreError::Backend {
            op: "commit",
            reason,
        };
        let c = self.commit_outcome().map_err(backend)?;
        if c.lost.is_empty() {
            Ok(())
        } else {
            Err(backend(format!(
                "{} addresses are held by another server: {:?}",
                c.lost.len(),
                c.lost
            )))
        }
    }
}

/// Whether a change may be ACKed from the offline queue (see
/// [`PgChange::safe_offline`]): freeing a row promises nothing; a lease
/// may be written over a bound, unexpired lease of the same client (a
/// renewal, a release) or declined by it.
fn safe_offline(prior: Option<&Lease>, new: Option<&Lease>, now: u64) -> bool {
    let Some(new) = new else {
        return true;
    };
    prior.is_some_and(|p| {
        p.state == LeaseState::Bound
            && p.expires > now
            && (p.client == new.client || new.state == LeaseState::Declined)
    })
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
