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
    ip           TEXT PRIMARY KEY,   -- dotted quad
    client       BLOB NOT NULL,      -- 'I' + option 61, or 'H' + htype + chaddr
    mac          TEXT NOT NULL,      -- aa:bb:cc:dd:ee:ff
    state        TEXT NOT NULL CHECK (state IN ('offered', 'bound', 'released', 'declined')),
    expires      INTEGER NOT NULL,   -- Unix seconds
    class        TEXT NOT NULL,
    vendor_class TEXT NOT NULL,
    hostname     TEXT NOT NULL
) WITHOUT ROWID;
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

/// SQLite-backed store.
#[derive(Debug)]
pub struct SqliteStore {
    mem: MemStore,
    conn: Connection,
    pending: HashMap<Ipv4Addr, Change>,
    order: Vec<Ipv4Addr>,
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
            "SELECT ip, client, mac, state, expires, class, vendor_class, hostname FROM leases",
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
            class,
            vendor_class,
            hostname,
        });
    }
    Ok(out)
}

impl SqliteStore {
    /// Opens (creating if absent) and verifies the database, and loads every
    /// lease into memory. A foreign, newer or corrupt file is refused.
    pub fn open(path: &Path) -> Result<Self, OpenError> {
        let fresh = !path.exists();
        let conn = Connection::open(path).map_err(sq(path))?;
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")
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
        Ok(Self {
            mem,
            conn,
            pending: HashMap::new(),
            order: Vec::new(),
        })
    }

    fn queue(&mut self, ip: Ipv4Addr, c: Change) {
        if self.pending.insert(ip, c).is_none() {
            self.order.push(ip);
        }
    }

    /// Number of changes waiting for [`LeaseStore::commit`].
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    fn write(&mut self) -> rusqlite::Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut put = tx.prepare_cached(
                "INSERT OR REPLACE INTO leases (ip, client, mac, state, expires, class, vendor_class, hostname) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            let mut del = tx.prepare_cached("DELETE FROM leases WHERE ip = ?1")?;
            for ip in &self.order {
                match &self.pending[ip] {
                    Change::Put(l) => {
                        put.execute(params![
                            l.ip.to_string(),
                            l.client.to_bytes(),
                            mac_text(l.mac),
                            l.state.as_str(),
                            i64::try_from(l.expires).unwrap_or(i64::MAX),
                            l.class,
                            l.vendor_class,
                            l.hostname
                        ])?;
                    }
                    Change::Delete => {
                        del.execute(params![ip.to_string()])?;
                    }
                }
            }
        }
        tx.commit()
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

    fn len(&self) -> usize {
        self.mem.len()
    }

    fn commit(&mut self) -> Result<(), StoreError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        match self.write() {
            Ok(()) => {
                self.pending.clear();
                self.order.clear();
                Ok(())
            }
            Err(e) => Err(StoreError::Backend {
                op: "commit",
                reason: e.to_string(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(ip: [u8; 4], id: u8, state: LeaseState) -> Lease {
        Lease {
            ip: Ipv4Addr::from(ip),
            client: ClientKey::Hw(1, vec![2, 0, 0, 0, 0, id]),
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
            .by_client(&ClientKey::Hw(1, vec![2, 0, 0, 0, 0, 1]))
            .is_some());
        assert_eq!(read_all(&path).unwrap().len(), 2);
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
                "INSERT INTO leases VALUES ('10.0.0.300', x'4801', 'zz', 'bound', 1, '', '', '')",
                [],
            )
            .unwrap();
        assert!(matches!(
            SqliteStore::open(&bad_row),
            Err(OpenError::Corrupt { .. })
        ));
    }

    #[test]
    fn failed_commit_keeps_changes_for_the_next_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.sqlite3");
        let mut s = SqliteStore::open(&path).unwrap();
        s.upsert(lease([10, 0, 0, 1], 1, LeaseState::Bound));
        // Make the next write fail: a trigger that aborts inserts.
        s.conn
            .execute_batch("CREATE TEMP TRIGGER stop BEFORE INSERT ON leases BEGIN SELECT RAISE(ABORT, 'disk full (simulated)'); END;")
            .unwrap();
        assert!(s.commit().is_err());
        assert_eq!(s.pending(), 1);
        s.conn.execute_batch("DROP TRIGGER temp.stop;").unwrap();
        s.commit().unwrap();
        drop(s);
        assert_eq!(read_all(&path).unwrap().len(), 1);
    }
}
