//! Durable lease store: SQLite (WAL, `synchronous=FULL`) behind
//! [`LeaseStore`], with the whole index kept in memory ([`MemStore`]) so the
//! decision path never queries the database.
//!
//! Durability contract: changes made through `upsert`/`remove` are queued;
//! [`LeaseStore::commit`] writes the queue in one transaction and returns
//! only after SQLite has fsynced the WAL. The shell calls `commit` once per
//! batch of received datagrams and sends that batch's replies only when it
//! succeeded, so no ACK leaves before its lease is on stable storage. OFFERs
//! are not persisted (an offer is not a lease; RFC 2131 §4.3.1 only requires
//! ACKed leases on stable storage). A failed commit keeps the queue: the next
//! commit retries it, and until one succeeds no reply is sent.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::Path;

use rusqlite::{params, Connection, OpenFlags};

use crate::{ClientKey, Lease, LeaseState, LeaseStore, MemStore, StoreError};

/// `PRAGMA application_id` of our files ("pbxd"): anything else is refused.
pub const APPLICATION_ID: i64 = 0x7062_7864;
/// Schema version in `PRAGMA user_version`.
pub const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE leases (
    ipnum        INTEGER PRIMARY KEY, -- the address as a number: new leases append at the B-tree's end
    ip           TEXT NOT NULL,      -- dotted quad
    client       BLOB NOT NULL,      -- 'I' + option 61, or 'H' + htype + chaddr
    mac          TEXT NOT NULL,      -- aa:bb:cc:dd:ee:ff
    state        TEXT NOT NULL CHECK (state IN ('offered', 'bound', 'released', 'declined')),
    expires      INTEGER NOT NULL,   -- Unix seconds
    class        TEXT NOT NULL,
    vendor_class TEXT NOT NULL,
    hostname     TEXT NOT NULL
);
";

/// Why the lease database cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// SQLite failed.
    #[error("{path}: {source}")]
    Sqlite {
        /// File.
        path: String,
        /// Cause.
        source: rusqlite::Error,
    },
    /// Not a pbxnet-dhcpd lease database.
    #[error("{path} is not a pbxnet-dhcpd lease database (application_id {found:#x}); refusing to use or replace it")]
    Foreign {
        /// File.
        path: String,
        /// application_id found.
        found: i64,
    },
    /// Written by a newer schema.
    #[error("{path} has schema version {found}, this build knows {SCHEMA_VERSION}")]
    Version {
        /// File.
        path: String,
        /// Version found.
        found: i64,
    },
    /// Integrity check failed or a row does not parse.
    #[error(
        "{path} is corrupt: {reason}; refusing to start (move it away to start with no leases)"
    )]
    Corrupt {
        /// File.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

#[derive(Debug, Clone)]
enum Change {
    Put(Lease),
    Delete,
}

/// Where the writer reports a commit's outcome.
#[derive(Debug)]
enum Done {
    Async(tokio::sync::oneshot::Sender<Result<(), String>>),
    Sync(std::sync::mpsc::Sender<Result<(), String>>),
}

#[derive(Debug)]
struct Job {
    changes: Vec<(Ipv4Addr, Change)>,
    done: Done,
}

/// A commit in flight: resolves once its changes (and every earlier one)
/// are durable, or failed.
pub type CommitTicket = tokio::sync::oneshot::Receiver<Result<(), String>>;

/// SQLite-backed store. Writes happen on a dedicated writer thread that
/// merges every commit queued while it was busy into one transaction (group
/// commit), so fsync latency bounds latency, not throughput.
#[derive(Debug)]
pub struct SqliteStore {
    mem: MemStore,
    writer: std::sync::mpsc::Sender<Job>,
    /// Transactions the writer has run (each one fsync of the WAL).
    commits: std::sync::Arc<std::sync::atomic::AtomicU64>,
    pending: HashMap<Ipv4Addr, Change>,
    order: Vec<Ipv4Addr>,
    /// Dropped with the store: tells the checkpoint thread to end.
    _checkpointer: std::sync::mpsc::Sender<()>,
}

fn mac_text(m: [u8; 6]) -> String {
    pbxnet_config::MacAddr(m).to_string()
}

fn sq(path: &Path) -> impl Fn(rusqlite::Error) -> OpenError + '_ {
    move |source| OpenError::Sqlite {
        path: path.display().to_string(),
        source,
    }
}

/// Opens the database read-only and returns every lease (for `leases`).
pub fn read_all(path: &Path) -> Result<Vec<Lease>, OpenError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sq(path))?;
    check_identity(&conn, path)?;
    load(&conn, path)
}

fn check_identity(conn: &Connection, path: &Path) -> Result<(), OpenError> {
    let app: i64 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .map_err(sq(path))?;
    if app != APPLICATION_ID {
        return Err(OpenError::Foreign {
            path: path.display().to_string(),
            found: app,
        });
    }
    let ver: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(sq(path))?;
    if ver != SCHEMA_VERSION {
        return Err(OpenError::Version {
            path: path.display().to_string(),
            found: ver,
        });
    }
    Ok(())
}

fn load(conn: &Connection, path: &Path) -> Result<Vec<Lease>, OpenError> {
    let corrupt = |reason: String| OpenError::Corrupt {
        path: path.display().to_string(),
        reason,
    };
    let mut stmt = conn
        .prepare(
            "SELECT ip, client, mac, state, expires, class, vendor_class, hostname FROM leases ORDER BY ipnum",
        )
        .map_err(sq(path))?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
                r.get::<_, String>(7)?,
            ))
        })
        .map_err(sq(path))?;
    let mut out = Vec::new();
    // Class names are shared between leases (one allocation per class).
    let mut classes: HashMap<String, std::sync::Arc<str>> = HashMap::new();
    for row in rows {
        let (ip, client, mac, state, expires, class, vendor_class, hostname) =
            row.map_err(sq(path))?;
        let ip: Ipv4Addr = ip
            .parse()
            .map_err(|_| corrupt(format!("bad address {ip:?}")))?;
        let client = ClientKey::from_bytes(&client)
            .ok_or_else(|| corrupt(format!("bad client key for {ip}")))?;
        let mac = mac
            .parse::<pbxnet_config::MacAddr>()
            .map_err(|e| corrupt(format!("bad MAC for {ip}: {e}")))?
            .0;
        let state = LeaseState::parse(&state)
            .ok_or_else(|| corrupt(format!("bad state {state:?} for {ip}")))?;
        out.push(Lease {
            ip,
            client,
            mac,
            state,
            expires: u64::try_from(expires)
                .map_err(|_| corrupt(format!("negative expiry for {ip}")))?,
            class: classes
                .entry(class)
                .or_insert_with_key(|k| k.as_str().into())
                .clone(),
            vendor_class: vendor_class.into(),
            hostname: hostname.into(),
        });
    }
    Ok(out)
}

impl SqliteStore {
    /// Opens (creating if absent) and verifies the database, and loads every
    /// lease into memory. A foreign, newer or corrupt file is refused.
    pub fn open(path: &Path) -> Result<Self, OpenError> {
        Self::open_with_interval(path, MIN_COMMIT_INTERVAL)
    }

    fn open_with_interval(
        path: &Path,
        min_interval: std::time::Duration,
    ) -> Result<Self, OpenError> {
        let fresh = !path.exists();
        let conn = Connection::open(path).map_err(sq(path))?;
        // The whole index lives in memory: the connection only writes
        // (mostly at the B-tree's end, new leases) and loads once, so a
        // 512 KiB page cache does (SQLite's default is 2 MiB).
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA cache_size = -512;",
        )
        .map_err(sq(path))?;
        if fresh {
            conn.execute_batch(&format!(
                "BEGIN; {SCHEMA} PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
            ))
            .map_err(sq(path))?;
        }
        check_identity(&conn, path)?;
        let check: String = conn
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .map_err(sq(path))?;
        if check != "ok" {
            return Err(OpenError::Corrupt {
                path: path.display().to_string(),
                reason: check,
            });
        }
        let leases = load(&conn, path)?;
        let mut mem = MemStore::new();
        // Bound leases last so the client index points at them.
        let mut leases = leases;
        leases.sort_by_key(|l| (l.state == LeaseState::Bound, l.expires));
        for l in leases {
            mem.upsert(l);
        }
        // The writer never checkpoints: SQLite's automatic checkpoint runs
        // inside the commit that crosses 1,000 WAL pages, copying them into
        // the database and fsyncing it, and every ACK waiting on that
        // commit waited tens of ms (then left in one burst). A thread of
        // its own checkpoints once a second on its own connection (PASSIVE:
        // it never blocks the writer); the WAL is truncated back to 64 MiB
        // when it restarts.
        conn.execute_batch("PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = 67108864;")
            .map_err(sq(path))?;
        let checkpointer = start_checkpointer(path)?;
        let (writer, jobs) = std::sync::mpsc::channel::<Job>();
        let commits = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counter = commits.clone();
        std::thread::Builder::new()
            .name("lease-writer".into())
            .spawn(move || writer_loop(conn, jobs, min_interval, counter))
            .map_err(|e| OpenError::Corrupt {
                path: path.display().to_string(),
                reason: format!("cannot start the writer thread: {e}"),
            })?;
        Ok(Self {
            mem,
            writer,
            commits,
            pending: HashMap::new(),
            order: Vec::new(),
            _checkpointer: checkpointer,
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
        if let Err(e) = self.writer.send(Job {
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
        self.commits.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Number of changes waiting for [`LeaseStore::commit`].
    pub fn pending(&self) -> usize {
        self.pending.len()
    }
}

fn write(conn: &mut Connection, changes: &[(Ipv4Addr, Change)]) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    {
        let mut put = tx.prepare_cached(
            "INSERT OR REPLACE INTO leases (ipnum, ip, client, mac, state, expires, class, vendor_class, hostname) VALUES (?9, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        let mut del = tx.prepare_cached("DELETE FROM leases WHERE ipnum = ?1")?;
        for (ip, c) in changes {
            match c {
                Change::Put(l) => {
                    put.execute(params![
                        l.ip.to_string(),
                        l.client.to_bytes(),
                        mac_text(l.mac),
                        l.state.as_str(),
                        i64::try_from(l.expires).unwrap_or(i64::MAX),
                        &*l.class,
                        &*l.vendor_class,
                        &*l.hostname,
                        i64::from(u32::from(l.ip))
                    ])?;
                }
                Change::Delete => {
                    del.execute(params![i64::from(u32::from(*ip))])?;
                }
            }
        }
    }
    tx.commit()
}

/// Shortest time between the starts of two commits. Each commit costs one
/// fsync of the WAL, and on this class of machine an fsync costs the
/// process about as much CPU as 20 leases' packets; without a floor, the
/// writer commits as soon as anything is queued and under steady load ends
/// up committing 2–3 leases per fsync (measured: 3,000 fsyncs/s at 8,000
/// leases/s). With the floor, a commit that follows another within the
/// interval waits for the rest of it and takes everything queued by then.
/// An idle writer commits at once, so a lone ACK is not delayed; under
/// load an ACK waits at most this much longer.
pub(crate) const MIN_COMMIT_INTERVAL: std::time::Duration = std::time::Duration::from_millis(2);

/// How often the checkpoint thread moves the WAL into the database.
const CHECKPOINT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// Starts the thread that checkpoints the WAL off the commit path; it ends
/// when the returned sender is dropped. A failed checkpoint is logged and
/// retried at the next interval (the WAL keeps every change meanwhile).
fn start_checkpointer(path: &Path) -> Result<std::sync::mpsc::Sender<()>, OpenError> {
    let conn = Connection::open(path).map_err(sq(path))?;
    conn.busy_timeout(std::time::Duration::from_millis(500))
        .map_err(sq(path))?;
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    std::thread::Builder::new()
        .name("lease-checkpoint".into())
        .spawn(move || {
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                stopped.recv_timeout(CHECKPOINT_INTERVAL)
            {
                if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                    tracing::warn!(error = %e, "lease database checkpoint failed; retrying in 1 s");
                }
            }
        })
        .map_err(|e| OpenError::Corrupt {
            path: path.display().to_string(),
            reason: format!("cannot start the checkpoint thread: {e}"),
        })?;
    Ok(stop)
}

/// The writer thread: takes every job queued, writes them in one
/// transaction (in submission order), reports to each. Changes of a failed
/// transaction are kept and written first in the next one.
fn writer_loop(
    mut conn: Connection,
    jobs: std::sync::mpsc::Receiver<Job>,
    min_interval: std::time::Duration,
    commits: std::sync::Arc<std::sync::atomic::AtomicU64>,
) {
    let mut retry: Vec<(Ipv4Addr, Change)> = Vec::new();
    let mut last: Option<std::time::Instant> = None;
    while let Ok(first) = jobs.recv() {
        // Sleep, not recv_timeout: the jobs queued meanwhile should not
        // wake this thread one by one.
        if let Some(wait) =
            last.and_then(|t| (t + min_interval).checked_duration_since(std::time::Instant::now()))
        {
            std::thread::sleep(wait);
        }
        last = Some(std::time::Instant::now());
        let mut batch = vec![first];
        while let Ok(more) = jobs.try_recv() {
            batch.push(more);
        }
        let mut changes = std::mem::take(&mut retry);
        let mut dones = Vec::with_capacity(batch.len());
        for j in batch {
            changes.extend(j.changes);
            dones.push(j.done);
        }
        let result = write(&mut conn, &changes).map_err(|e| e.to_string());
        commits.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if result.is_err() {
            retry = changes;
        }
        for d in dones {
            match d {
                Done::Async(tx) => {
                    let _ = tx.send(result.clone());
                }
                Done::Sync(tx) => {
                    let _ = tx.send(result.clone());
                }
            }
        }
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
            .send(Job {
                changes,
                done: Done::Sync(tx),
            })
            .map_err(|_| backend("lease writer stopped".into()))?;
        rx.recv()
            .map_err(|_| backend("lease writer stopped".into()))?
            .map_err(backend)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(ip: [u8; 4], id: u8, state: LeaseState) -> Lease {
        Lease {
            ip: Ipv4Addr::from(ip),
            client: ClientKey::hw(1, &[2, 0, 0, 0, 0, id]),
            mac: [2, 0, 0, 0, 0, id],
            state,
            expires: 2_000_000_000,
            class: "c".into(),
            vendor_class: "450HD".into(),
            hostname: "h".into(),
        }
    }

    #[test]
    fn committed_leases_survive_reopen_and_offers_are_not_persisted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.sqlite3");
        let mut s = SqliteStore::open(&path).unwrap();
        s.upsert(lease([10, 0, 0, 1], 1, LeaseState::Bound));
        s.upsert(lease([10, 0, 0, 2], 2, LeaseState::Offered));
        s.upsert(lease([10, 0, 0, 3], 3, LeaseState::Declined));
        s.upsert(lease([10, 0, 0, 4], 4, LeaseState::Bound));
        s.remove(Ipv4Addr::new(10, 0, 0, 4));
        s.commit().unwrap();
        s.upsert(lease([10, 0, 0, 5], 5, LeaseState::Bound)); // never committed
        drop(s);
        let s = SqliteStore::open(&path).unwrap();
        let ips: Vec<Ipv4Addr> = s.all().iter().map(|l| l.ip).collect();
        assert_eq!(
            ips,
            [Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 3)]
        );
        assert_eq!(
            s.by_ip(Ipv4Addr::new(10, 0, 0, 1)).unwrap(),
            &lease([10, 0, 0, 1], 1, LeaseState::Bound)
        );
        assert!(s
            .by_client(&ClientKey::hw(1, &[2, 0, 0, 0, 0, 1]))
            .is_some());
        assert_eq!(read_all(&path).unwrap().len(), 2);
    }

    /// Commits never checkpoint; the checkpoint thread moves the WAL into
    /// the database within a couple of intervals.
    #[test]
    fn the_wal_is_checkpointed_off_the_commit_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.sqlite3");
        let mut s = SqliteStore::open(&path).unwrap();
        let db_pages = |p: &Path| std::fs::metadata(p).unwrap().len() / 4096;
        let before = db_pages(&path);
        for i in 0..3000u32 {
            let [_, _, b2, b3] = i.to_be_bytes();
            s.upsert(lease([10, 1, b2, b3], (i % 250) as u8, LeaseState::Bound));
            if i % 100 == 99 {
                s.commit().unwrap();
            }
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while db_pages(&path) <= before + 10 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        assert!(
            db_pages(&path) > before + 10,
            "database still {} pages: the WAL was not checkpointed",
            db_pages(&path)
        );
        drop(s);
        assert_eq!(read_all(&path).unwrap().len(), 3000);
    }

    #[test]
    fn refuses_foreign_and_corrupt_files() {
        let dir = tempfile::tempdir().unwrap();
        let foreign = dir.path().join("other.db");
        Connection::open(&foreign)
            .unwrap()
            .execute_batch("CREATE TABLE t (x);")
            .unwrap();
        assert!(matches!(
            SqliteStore::open(&foreign),
            Err(OpenError::Foreign { .. })
        ));
        let garbage = dir.path().join("garbage.db");
        std::fs::write(&garbage, vec![0x42; 8192]).unwrap();
        let e = SqliteStore::open(&garbage).unwrap_err();
        assert!(
            matches!(e, OpenError::Sqlite { .. } | OpenError::Corrupt { .. }),
            "{e}"
        );
        // Neither file was replaced.
        assert_eq!(std::fs::read(&garbage).unwrap(), vec![0x42; 8192]);
        let bad_row = dir.path().join("bad.sqlite3");
        drop(SqliteStore::open(&bad_row).unwrap());
        Connection::open(&bad_row)
            .unwrap()
            .execute(
                "INSERT INTO leases VALUES (1, '10.0.0.300', x'4801', 'zz', 'bound', 1, '', '', '')",
                [],
            )
            .unwrap();
        assert!(matches!(
            SqliteStore::open(&bad_row),
            Err(OpenError::Corrupt { .. })
        ));
    }

    #[test]
    fn commits_queued_within_the_interval_share_one_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.sqlite3");
        // A long floor so that the jobs below surely arrive within it.
        let mut s =
            SqliteStore::open_with_interval(&path, std::time::Duration::from_secs(2)).unwrap();
        s.upsert(lease([10, 0, 0, 1], 1, LeaseState::Bound));
        s.commit().unwrap();
        assert_eq!(s.transactions(), 1);
        let tickets: Vec<CommitTicket> = (2..=6)
            .map(|i| {
                s.upsert(lease([10, 0, 0, i], i, LeaseState::Bound));
                s.begin_commit().expect("a change is pending")
            })
            .collect();
        for t in tickets {
            t.blocking_recv().unwrap().unwrap();
        }
        // Five commits asked for, one transaction (one fsync) ran for them.
        assert_eq!(s.transactions(), 2);
        // Nothing pending: no commit, no ticket.
        assert!(s.begin_commit().is_none());
        drop(s);
        assert_eq!(read_all(&path).unwrap().len(), 6);
    }

    #[test]
    fn failed_commit_keeps_changes_for_the_next_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.sqlite3");
        let mut s = SqliteStore::open(&path).unwrap();
        s.upsert(lease([10, 0, 0, 1], 1, LeaseState::Bound));
        // Make the next write fail: a trigger that aborts inserts.
        let other = Connection::open(&path).unwrap();
        other
            .execute_batch("CREATE TRIGGER stop BEFORE INSERT ON leases BEGIN SELECT RAISE(ABORT, 'disk full (simulated)'); END;")
            .unwrap();
        assert!(s.commit().is_err());
        other.execute_batch("DROP TRIGGER stop;").unwrap();
        // Nothing new queued: the writer retries the kept changes.
        s.commit().unwrap();
        drop(s);
        assert_eq!(read_all(&path).unwrap().len(), 1);
    }
}
