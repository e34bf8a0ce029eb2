//! The offline queue: while the database cannot be reached, the commits a
//! server ACKs go into a local SQLite file under the state directory
//! (`synchronous = FULL`: a commit returns after its fsync), in order, and
//! are replayed against the database when it answers again. A `kill -9`
//! of the server meanwhile loses nothing: the next start replays the file
//! before loading the site's rows.
//!
//! Each entry is one [`PgChange`]: the address, the lease written (or none:
//! the row becomes free) and the version the swap expects, so the replay
//! is the same compare-and-swap an online commit is.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use rusqlite::{params, Connection};

use super::change::PgChange;
use crate::{ClientKey, Lease, LeaseState};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS queued (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    address      TEXT    NOT NULL,
    expected     INTEGER,           -- NULL: insert a row
    state        TEXT,              -- NULL: the row becomes free
    client       BLOB,
    mac          TEXT,
    expires      INTEGER,
    class        TEXT,
    vendor_class TEXT,
    hostname     TEXT
);
";

/// The open queue file.
#[derive(Debug)]
pub(super) struct OfflineWal {
    conn: Connection,
    path: PathBuf,
}

/// Why the queue failed: its path and SQLite's reason.
fn fail(path: &Path) -> impl Fn(rusqlite::Error) -> String + '_ {
    move |e| format!("offline queue {}: {e}", path.display())
}

impl OfflineWal {
    /// Opens (creating it and its directory if absent) the queue file.
    pub(super) fn open(path: &Path) -> Result<Self, String> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("offline queue directory {}: {e}", dir.display()))?;
        }
        let conn = Connection::open(path).map_err(fail(path))?;
        conn.busy_timeout(std::time::Duration::from_secs(2))
            .map_err(fail(path))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(fail(path))?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(fail(path))?;
        conn.execute_batch(SCHEMA).map_err(fail(path))?;
        Ok(Self {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// Where the file is.
    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `changes` in one transaction; returns once it is fsynced.
    pub(super) fn append(&mut self, changes: &[PgChange]) -> Result<(), String> {
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(fail(&path))?;
        {
            let mut st = tx
                .prepare_cached(
                    "INSERT INTO queued (address, expected, state, client, mac, expires, class, vendor_class, hostname) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )
                .map_err(fail(&path))?;
            for c in changes {
                let l = c.lease.as_ref();
                st.execute(params![
                    c.ip.to_string(),
                    c.expected,
                    l.map(|l| l.state.as_str()),
                    l.map(|l| l.client.to_bytes()),
                    l.map(|l| super::super::schema::mac_text(l.mac)),
                    l.map(|l| i64::try_from(l.expires).unwrap_or(i64::MAX)),
                    l.map(|l| l.class.to_string()),
                    l.map(|l| l.vendor_class.as_str().to_string()),
                    l.map(|l| l.hostname.as_str().to_string()),
                ])
                .map_err(fail(&path))?;
            }
        }
        tx.commit().map_err(fail(&path))
    }

    /// Entries queued.
    pub(super) fn len(&self) -> Result<u64, String> {
        self.conn
            .query_row("SELECT count(*) FROM queued", [], |r| r.get::<_, i64>(0))
            .map(|n| u64::try_from(n).unwrap_or(0))
            .map_err(fail(&self.path))
    }

    /// The oldest `limit` entries with their sequence numbers. An entry
    /// that does not parse (a damaged file) is an error: it is never
    /// skipped silently.
    pub(super) fn head(&self, limit: usize) -> Result<Vec<(i64, PgChange)>, String> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT seq, address, expected, state, client, mac, expires, class, vendor_class, hostname \
                 FROM queued ORDER BY seq LIMIT ?1",
            )
            .map_err(fail(&self.path))?;
        let rows = st
            .query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<i64>>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, Option<Vec<u8>>>(4)?,
                    r.get::<_, Option<String>>(5)?,
                    r.get::<_, Option<i64>>(6)?,
                    r.get::<_, Option<String>>(7)?,
                    r.get::<_, Option<String>>(8)?,
                    r.get::<_, Option<String>>(9)?,
                ))
            })
            .map_err(fail(&self.path))?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, addr, expected, state, client, mac, expires, class, vendor, host) =
                row.map_err(fail(&self.path))?;
            let bad = |what: &str| {
                format!(
                    "offline queue {}: entry {seq} ({addr}): bad {what}",
                    self.path.display()
                )
            };
            let ip: Ipv4Addr = addr.parse().map_err(|_| bad("address"))?;
            let lease = match state {
                None => None,
                Some(state) => Some(Lease {
                    ip,
                    client: client
                        .as_deref()
                        .and_then(ClientKey::from_bytes)
                        .ok_or_else(|| bad("client"))?,
                    mac: mac
                        .as_deref()
                        .and_then(|m| m.parse::<pbxnet_config::MacAddr>().ok())
                        .ok_or_else(|| bad("MAC"))?
                        .0,
                    state: LeaseState::parse(&state).ok_or_else(|| bad("state"))?,
                    expires: expires
                        .and_then(|e| u64::try_from(e).ok())
                        .ok_or_else(|| bad("expiry"))?,
                    class: class.unwrap_or_default().as_str().into(),
                    vendor_class: vendor.unwrap_or_default().as_str().into(),
                    hostname: host.unwrap_or_default().as_str().into(),
                }),
            };
            out.push((
                seq,
                PgChange {
                    ip,
                    lease,
                    expected,
                    safe_offline: true,
                    prior: None,
                },
            ));
        }
        Ok(out)
    }

    /// Drops every entry up to `seq` (they reached the database).
    pub(super) fn delete_through(&mut self, seq: i64) -> Result<(), String> {
        self.conn
            .execute("DELETE FROM queued WHERE seq <= ?1", [seq])
            .map(|_| ())
            .map_err(fail(&self.path))
    }
}
