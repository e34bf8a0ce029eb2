//! The event log: every accepted event line, in arrival order, in an
//! embedded SQLite database (`<state-directory>/events.sqlite`), replayed
//! into the inventory at start.
//!
//! Durability: WAL with `synchronous = FULL`, so a commit is on disk when
//! it returns (power loss included). Group commit: the writer thread takes
//! every line waiting (up to [`MAX_BATCH`]) into one transaction, so under a
//! storm one fsync covers many events. An event reaches the inventory (and
//! so the API) only after its commit: whatever the API showed survives
//! `kill -9`.
//!
//! Bound: the log keeps the newest `max-events` rows; older ones are pruned
//! after commits. A device whose every event was pruned is not in the
//! inventory rebuilt at the next start (docs/operations.md).

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::{Context, Result};
use rusqlite::{params, Connection};
use serde::Serialize;
use tokio::sync::mpsc;

/// Most lines in one transaction.
pub const MAX_BATCH: usize = 4096;
/// Prune at most once per this many committed rows.
const PRUNE_EVERY: u64 = 1024;

/// One accepted line, with what the log indexes it by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// `dhcpd`, `tftpd`, …
    pub daemon: &'static str,
    /// The envelope's `at`.
    pub at: u64,
    /// The line as received (unknown optional fields kept for a newer reader).
    pub line: String,
}

/// The database.
#[derive(Debug)]
pub struct EventLog {
    conn: Connection,
    max_events: u64,
    since_prune: u64,
}

/// What a replay found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ReplayStats {
    /// Rows read.
    pub rows: u64,
    /// Rows this build could not read (a newer schema version): skipped.
    pub unreadable: u64,
}

impl EventLog {
    /// Opens (creating) the log.
    pub fn open(path: &Path, max_events: u64) -> Result<EventLog> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let conn = Connection::open(path).with_context(|| format!("opening {}", path.display()))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS events (
                id INTEGER PRIMARY KEY,
                daemon TEXT NOT NULL,
                at INTEGER NOT NULL,
                line TEXT NOT NULL
            );",
        )
        .with_context(|| format!("creating the events table in {}", path.display()))?;
        Ok(EventLog {
            conn,
            max_events,
            since_prune: 0,
        })
    }

    /// Opens an existing log read-only (pbxnetctl while admind is down).
    pub fn open_read_only(path: &Path) -> Result<EventLog> {
        let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .with_context(|| format!("opening {} read-only", path.display()))?;
        Ok(EventLog {
            conn,
            max_events: u64::MAX,
            since_prune: 0,
        })
    }

    /// Hands every stored line to `apply`, oldest first; `apply` says
    /// whether it could read the line.
    pub fn replay(&self, mut apply: impl FnMut(&str) -> bool) -> Result<ReplayStats> {
        let mut stmt = self.conn.prepare("SELECT line FROM events ORDER BY id")?;
        let mut rows = stmt.query([])?;
        let mut stats = ReplayStats::default();
        while let Some(row) = rows.next()? {
            let line: String = row.get(0)?;
            stats.rows += 1;
            if !apply(&line) {
                stats.unreadable += 1;
            }
        }
        Ok(stats)
    }

    /// Appends `lines` in one transaction (one fsync), then prunes when due.
    pub fn append(&mut self, lines: &[LogLine]) -> Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut stmt =
                tx.prepare_cached("INSERT INTO events (daemon, at, line) VALUES (?1, ?2, ?3)")?;
            for l in lines {
                stmt.execute(params![l.daemon, l.at as i64, l.line])?;
            }
        }
        tx.commit()?;
        self.since_prune += lines.len() as u64;
        if self.since_prune >= PRUNE_EVERY {
            self.since_prune = 0;
            self.prune()?;
        }
        Ok(())
    }

    /// Deletes the oldest rows beyond `max_events`; returns how many.
    pub fn prune(&mut self) -> Result<u64> {
        let n = self.conn.execute(
            "DELETE FROM events WHERE id <= (SELECT MAX(id) FROM events) - ?1",
            params![self.max_events as i64],
        )?;
        Ok(n as u64)
    }

    /// Rows stored.
    pub fn len(&self) -> Result<u64> {
        let n: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))?;
        Ok(n as u64)
    }

    /// Whether the log is empty.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }
}

/// The writer's counters (status).
#[derive(Debug, Default)]
pub struct StoreCounters {
    /// Events committed since start.
    pub committed: AtomicU64,
    /// Transactions.
    pub commits: AtomicU64,
    /// Largest transaction.
    pub largest_batch: AtomicU64,
    /// Transactions that failed (their events were applied, not stored).
    pub errors: AtomicU64,
    /// Rows in the log at start.
    pub replayed: AtomicU64,
}

/// The counters as numbers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct StoreStatus {
    /// Events committed since start.
    pub committed: u64,
    /// Transactions.
    pub commits: u64,
    /// Largest transaction.
    pub largest_batch: u64,
    /// Failed transactions.
    pub errors: u64,
    /// Rows replayed at start.
    pub replayed: u64,
}

impl StoreCounters {
    /// A snapshot.
    pub fn status(&self) -> StoreStatus {
        StoreStatus {
            committed: self.committed.load(Ordering::Relaxed),
            commits: self.commits.load(Ordering::Relaxed),
            largest_batch: self.largest_batch.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            replayed: self.replayed.load(Ordering::Relaxed),
        }
    }
}

/// Runs the writer on its own thread: takes lines from `incoming`, commits
/// them in groups, and passes each committed group to `committed` (the
/// daemon's loop applies them). Ends when `incoming` closes.
pub fn spawn_writer<T: Send + 'static>(
    mut log: EventLog,
    mut incoming: mpsc::Receiver<(LogLine, T)>,
    committed: mpsc::UnboundedSender<Vec<T>>,
    counters: Arc<StoreCounters>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("admind-store".into())
        .spawn(move || {
            while let Some(first) = incoming.blocking_recv() {
                let mut lines = vec![first.0];
                let mut items = vec![first.1];
                while lines.len() < MAX_BATCH {
                    match incoming.try_recv() {
                        Ok((line, item)) => {
                            lines.push(line);
                            items.push(item);
                        }
                        Err(_) => break,
                    }
                }
                match log.append(&lines) {
                    Ok(()) => {
                        counters
                            .committed
                            .fetch_add(lines.len() as u64, Ordering::Relaxed);
                        counters.commits.fetch_add(1, Ordering::Relaxed);
                        counters
                            .largest_batch
                            .fetch_max(lines.len() as u64, Ordering::Relaxed);
                    }
                    Err(e) => {
                        // The view stays live; the loss is counted and logged.
                        counters.errors.fetch_add(1, Ordering::Relaxed);
                        tracing::error!(error = %format!("{e:#}"), events = lines.len(), "event log write failed; these events will not survive a restart");
                    }
                }
                if committed.send(items).is_err() {
                    return;
                }
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(i: u64) -> LogLine {
        LogLine {
            daemon: "dhcpd",
            at: i,
            line: format!("line {i}"),
        }
    }

    #[test]
    fn lines_come_back_in_order_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.sqlite");
        let mut log = EventLog::open(&path, 1000).unwrap();
        log.append(&[line(1), line(2)]).unwrap();
        log.append(&[line(3)]).unwrap();
        drop(log);
        let log = EventLog::open(&path, 1000).unwrap();
        let mut seen = Vec::new();
        let stats = log
            .replay(|l| {
                seen.push(l.to_string());
                l != "line 2"
            })
            .unwrap();
        assert_eq!(seen, ["line 1", "line 2", "line 3"]);
        assert_eq!(
            stats,
            ReplayStats {
                rows: 3,
                unreadable: 1
            }
        );
    }

    #[test]
    fn pruning_keeps_the_newest_max_events() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = EventLog::open(&dir.path().join("e.sqlite"), 1000).unwrap();
        let batch: Vec<LogLine> = (0..2500).map(line).collect();
        log.append(&batch).unwrap();
        log.prune().unwrap();
        assert_eq!(log.len().unwrap(), 1000);
        let mut first = None;
        log.replay(|l| {
            first.get_or_insert(l.to_string());
            true
        })
        .unwrap();
        assert_eq!(first.as_deref(), Some("line 1500"));
    }
}
