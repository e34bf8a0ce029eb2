//! The writer thread (group commit: every commit queued while it was busy
//! goes into one transaction, at most one per [`MIN_COMMIT_INTERVAL`]) and
//! the checkpoint thread that moves the WAL into the database off the
//! commit path.

use std::net::Ipv4Addr;
use std::path::Path;

use rusqlite::Connection;

use super::commit::Committed;
use super::schema::Change;
use super::schema::{sq, write, OpenError};

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

/// Starts the writer thread on `conn` (and the checkpoint thread beside
/// it). Returns where to send jobs, the count of transactions run, and the
/// checkpoint thread's stop handle.
pub(super) fn start(
    conn: Connection,
    path: &Path,
    min_interval: std::time::Duration,
) -> Result<Writer, OpenError> {
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
    let (jobs_tx, jobs) = std::sync::mpsc::channel::<Job>();
    let commits = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = commits.clone();
    std::thread::Builder::new()
        .name("lease-writer".into())
        .spawn(move || writer_loop(conn, jobs, min_interval, counter))
        .map_err(|e| OpenError::Corrupt {
            path: path.display().to_string(),
            reason: format!("cannot start the writer thread: {e}"),
        })?;
    Ok(Writer {
        jobs: jobs_tx,
        commits,
        _checkpointer: checkpointer,
    })
}

/// The running writer, as the store holds it.
#[derive(Debug)]
pub(super) struct Writer {
    pub(super) jobs: std::sync::mpsc::Sender<Job>,
    /// Transactions the writer has run (each one fsync of the WAL).
    pub(super) commits: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// Dropped with the store: tells the checkpoint thread to end.
    _checkpointer: std::sync::mpsc::Sender<()>,
}

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
        let result = write(&mut conn, &changes)
            .map(|()| Committed::default())
            .map_err(|e| e.to_string());
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

/// Where the writer reports a commit's outcome.
#[derive(Debug)]
pub(super) enum Done {
    Async(tokio::sync::oneshot::Sender<Result<Committed, String>>),
    Sync(std::sync::mpsc::Sender<Result<Committed, String>>),
}

/// One commit: its changes and where its outcome goes.
#[derive(Debug)]
pub(super) struct Job {
    pub(super) changes: Vec<(Ipv4Addr, Change)>,
    pub(super) done: Done,
}
