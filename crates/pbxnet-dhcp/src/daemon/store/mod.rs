//! Durable lease store: SQLite (WAL, `synchronous=FULL`) behind
//! [`LeaseStore`](crate::LeaseStore), with the whole index kept in memory
//! ([`MemStore`](crate::MemStore)) so the
//! decision path never queries the database.
//!
//! Durability contract: changes made through `upsert`/`remove` are queued;
//! [`LeaseStore::commit`](crate::LeaseStore::commit) writes the queue in one transaction and returns
//! only after SQLite has fsynced the WAL. The shell calls `commit` once per
//! batch of received datagrams and sends that batch's replies only when it
//! succeeded, so no ACK leaves before its lease is on stable storage. OFFERs
//! are not persisted (an offer is not a lease; RFC 2131 §4.3.1 only requires
//! ACKed leases on stable storage). A failed commit keeps the queue: the next
//! commit retries it, and until one succeeds no reply is sent.
//!
//! `sqlite.rs`: the SQLite store; `schema.rs`: its file (schema, identity,
//! loading, writing a transaction); `writer.rs`: its writer and checkpoint
//! threads; `commit.rs`: a commit's ticket and outcome, shared by both
//! backends; `pg/`: the PostgreSQL store; `backend.rs`: the one the
//! daemon runs on.

mod backend;
mod commit;
pub mod pg;
mod schema;
mod sqlite;
#[cfg(test)]
mod tests;
mod writer;

pub use backend::Store;
pub use commit::{reply_address, CommitTicket, Committed};
pub use schema::{read_all, OpenError, APPLICATION_ID, SCHEMA_VERSION};
pub use sqlite::SqliteStore;
