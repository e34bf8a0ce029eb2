//! The database file: its schema and identity (`application_id`,
//! `user_version`), opening and verifying it, loading every lease, reading
//! it for `leases`, and writing one transaction of changes.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::Path;

use rusqlite::{params, Connection, OpenFlags};

use crate::{ClientKey, Lease, LeaseState};

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

pub(super) fn mac_text(m: [u8; 6]) -> String {
    pbxnet_config::MacAddr(m).to_string()
}

pub(super) fn sq(path: &Path) -> impl Fn(rusqlite::Error) -> OpenError + '_ {
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

/// Opens (creating if absent) and verifies the database, and loads every
/// lease. A foreign, newer or corrupt file is refused.
pub(super) fn open_verified(path: &Path) -> Result<(Connection, Vec<Lease>), OpenError> {
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
    Ok((conn, leases))
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

pub(super) fn write(conn: &mut Connection, changes: &[(Ipv4Addr, Change)]) -> rusqlite::Result<()> {
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

/// One queued change of a lease row.
#[derive(Debug, Clone)]
pub(super) enum Change {
    /// Insert or replace the row.
    Put(Lease),
    /// Delete the row.
    Delete,
}
