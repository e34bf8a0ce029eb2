//! The SQLite store: the whole index in memory ([`MemStore`]), changes
//! queued and written by the writer thread (`writer.rs`), one transaction
//! per group of commits.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::Path;

use super::commit::CommitTicket;
use super::schema::{self, Change, OpenError};
use super::writer::{self, Done, Job, MIN_COMMIT_INTERVAL};
use crate::{ClientKey, Lease, LeaseState, LeaseStore, MemStore, StoreError};

/// SQLite-backed store. Writes happen on a dedicated writer thread that
/// merges every commit queued while it was busy into one transaction (group
/// commit), so fsync latency bounds latency, not throughput.
#[derive(Debug)]
pub struct SqliteStore {
    mem: MemStore,
    writer: writer::Writer,
    pending: HashMap<Ipv4Addr, Change>,
    order: Vec<Ipv4Addr>,
}

impl SqliteStore {
    /// Opens (creating if absent) and verifies the database, and loads every
    /// lease into memory. A foreign, newer or corrupt file is refused.
    pub fn open(path: &Path) -> Result<Self, OpenError> {
        Self::open_with_interval(path, MIN_COMMIT_INTERVAL)
    }

    pub(super) fn open_with_interval(
        path: &Path,
        min_interval: std::time::Duration,
    ) -> Result<Self, OpenError> {
        let (conn, mut leases) = schema::open_verified(path)?;
        let mut mem = MemStore::new();
        // Bound leases last so the client index points at them.
        leases.sort_by_key(|l| (l.state == LeaseState::Bound, l.expires));
        for l in leases {
            mem.upsert(l);
        }
        let writer = writer::start(conn, path, min_interval)?;
        Ok(Self {
            mem,
            writer,
            pending: HashMap::new(),
            order: Vec::new(),
        })
    }

    fn take(&mut self) -> Vec<(Ipv4Addr, Change)> {
        let mut pending = std::mem::take(&mut self.pending);
        self.order
            .drain(..)
            .filter_map(|ip| pending.remove(&ip).map(|c| (ip, c)))
            .collect()
    }

    /// Hands the queued changes to the writer; `None` when there were none.
    /// The ticket resolves when they are durable.
    pub fn begin_commit(&mut self) -> Option<CommitTicket> {
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

    fn queue(&mut self, ip: Ipv4Addr, c: Change) {
        if self.pending.insert(ip, c).is_none() {
            self.order.push(ip);
        }
    }

    /// Transactions the writer has run so far (each costs one fsync).
    pub fn transactions(&self) -> u64 {
        self.writer
            .commits
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Number of changes waiting for [`LeaseStore::commit`].
    pub fn pending(&self) -> usize {
        self.pending.len()
    }
}

impl LeaseStore for SqliteStore {
    fn by_ip(&self, ip: Ipv4Addr) -> Option<&Lease> {
        self.mem.by_ip(ip)
    }

    fn by_client(&self, client: &ClientKey) -> Option<&Lease> {
        self.mem.by_client(client)
    }

    fn upsert(&mut self, lease: Lease) {
        let ip = lease.ip;
        if lease.state == LeaseState::Offered {
            // Offers are not leases: not persisted. A durable row for this
            // address (an old lease being reused) stays until the ACK
            // replaces it.
        } else {
            self.queue(ip, Change::Put(lease.clone()));
        }
        self.mem.upsert(lease);
    }

    fn remove(&mut self, ip: Ipv4Addr) -> Option<Lease> {
        let l = self.mem.remove(ip)?;
        self.queue(ip, Change::Delete);
        Some(l)
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

    /// Synchronous commit (shutdown, operator commands): waits for the
    /// writer. The per-packet path uses [`SqliteStore::begin_commit`].
    fn commit(&mut self) -> Result<(), StoreError> {
        let changes = self.take();
        let (tx, rx) = std::sync::mpsc::channel();
        let backend = |reason: String| StoreError::Backend {
            op: "commit",
            reason,
        };
        self.writer
            .jobs
            .send(Job {
                changes,
                done: Done::Sync(tx),
            })
            .map_err(|_| backend("lease writer stopped".into()))?;
        rx.recv()
            .map_err(|_| backend("lease writer stopped".into()))?
            .map(|_| ())
            .map_err(backend)
    }
}
