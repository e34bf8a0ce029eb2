//! The lease store the daemon runs on, as chosen by `[leases] backend`:
//! one type for the shell, so the serving loop is the same for both.

use std::net::Ipv4Addr;

use super::commit::CommitTicket;
use super::pg::{LeaseStoreStatus, PgStore};
use super::sqlite::SqliteStore;
use crate::{ClientKey, Lease, LeaseStore, StoreError};

/// SQLite (one server) or PostgreSQL (several servers, one site).
#[derive(Debug)]
pub enum Store {
    /// The embedded file.
    Sqlite(SqliteStore),
    /// The shared database.
    Postgres(Box<PgStore>),
}

macro_rules! each {
    ($self:expr, $s:ident => $e:expr) => {
        match $self {
            Store::Sqlite($s) => $e,
            Store::Postgres($s) => $e,
        }
    };
}

impl Store {
    /// Hands the queued changes to the writer (see
    /// [`SqliteStore::begin_commit`]).
    pub fn begin_commit(&mut self) -> Option<CommitTicket> {
        each!(self, s => s.begin_commit())
    }

    /// Takes in what another server changed (PostgreSQL; nothing to do for
    /// SQLite). Called before each batch is handled.
    pub fn absorb(&mut self) {
        if let Store::Postgres(s) = self {
            s.absorb();
        }
    }

    /// Transactions the writer has run so far.
    pub fn transactions(&self) -> u64 {
        each!(self, s => s.transactions())
    }

    /// The shared store's state for `status` (none for SQLite).
    pub fn status(&self) -> Option<LeaseStoreStatus> {
        match self {
            Store::Sqlite(_) => None,
            Store::Postgres(s) => Some(s.status()),
        }
    }
}

impl LeaseStore for Store {
    fn by_ip(&self, ip: Ipv4Addr) -> Option<&Lease> {
        each!(self, s => s.by_ip(ip))
    }

    fn by_client(&self, client: &ClientKey) -> Option<&Lease> {
        each!(self, s => s.by_client(client))
    }

    fn upsert(&mut self, lease: Lease) {
        each!(self, s => s.upsert(lease))
    }

    fn remove(&mut self, ip: Ipv4Addr) -> Option<Lease> {
        each!(self, s => s.remove(ip))
    }

    fn all(&self) -> Vec<&Lease> {
        each!(self, s => s.all())
    }

    fn slice_from(&self, start: Ipv4Addr, limit: usize) -> Vec<&Lease> {
        each!(self, s => s.slice_from(start, limit))
    }

    fn len(&self) -> usize {
        each!(self, s => s.len())
    }

    fn commit(&mut self) -> Result<(), StoreError> {
        each!(self, s => s.commit())
    }

    fn offline(&self) -> bool {
        each!(self, s => s.offline())
    }

    fn may_grant(&self, ip: Ipv4Addr, client: &ClientKey, now: u64) -> bool {
        each!(self, s => s.may_grant(ip, client, now))
    }
}
