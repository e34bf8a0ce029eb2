//! The PostgreSQL writer: one thread with its own single-threaded tokio
//! runtime and one connection. It merges every commit queued while it was
//! busy into one transaction (group commit, as the SQLite writer), writes
//! each change as a compare-and-swap on the row's version, reports the
//! addresses whose swap lost (another server changed the row first) with
//! the row as it now is, and between commits reads the rows other servers
//! changed (every [`REFRESH_INTERVAL`], all of the site's rows every
//! [`FULL_REFRESH_EVERY`] refreshes).
//!
//! When the database does not answer (refused, closed, or silent for
//! [`DB_TIMEOUT`]) the writer goes offline: the changes that are safe
//! without the database (see [`PgChange::safe_offline`]) go to the local
//! offline queue (`wal.rs`) and their ACKs leave once it is fsynced; the
//! others are reported lost (no ACK). It retries with a growing backoff
//! and, once connected, replays the queue (`replay.rs`) before anything
//! else is written directly again.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_postgres::{Client, Statement};

use super::super::commit::Committed;
use super::change::PgChange;
use super::health::Health;
use super::sql::{connect, from_row, Classes, LeaseRow, PgError, COLUMNS};
use super::wal::OfflineWal;
use crate::config::PgSettings;

/// How often the writer reads the rows other servers changed.
pub(super) const REFRESH_INTERVAL: Duration = Duration::from_secs(1);
/// Every this many refreshes, all rows of the site are read again: the
/// incremental read follows the change sequence, and a transaction that
/// took a sequence number before another but committed after it is only
/// seen by a full read.
pub(super) const FULL_REFRESH_EVERY: u32 = 30;
/// Longest a connection attempt, a commit or a refresh may take before the
/// database counts as unreachable: an ACK is held at most this long when
/// the network to the database goes silent.
pub(super) const DB_TIMEOUT: Duration = Duration::from_secs(2);
/// First wait before reconnecting; doubled per failure up to
/// [`MAX_BACKOFF`].
pub(super) const MIN_BACKOFF: Duration = Duration::from_millis(250);
/// Longest wait between two reconnection attempts.
pub(super) const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Where a commit's outcome goes.
#[derive(Debug)]
pub(super) enum Done {
    Async(tokio::sync::oneshot::Sender<Result<Committed, String>>),
    Sync(std::sync::mpsc::Sender<Result<Committed, String>>),
}

/// One commit.
#[derive(Debug)]
pub(super) struct Job {
    pub(super) changes: Vec<PgChange>,
    pub(super) done: Done,
}

/// What the writer tells the store about a row: its current state in the
/// database. `forced`: after a lost swap (the index must take it);
/// otherwise a refresh (taken only when newer than what the index has).
#[derive(Debug)]
pub(super) struct Refresh {
    pub(super) ip: Ipv4Addr,
    pub(super) row: Option<LeaseRow>,
    pub(super) forced: bool,
}

/// The running writer, as the store holds it.
#[derive(Debug)]
pub(super) struct Writer {
    pub(super) jobs: tokio::sync::mpsc::UnboundedSender<Job>,
    pub(super) refreshed: std::sync::mpsc::Receiver<Refresh>,
    pub(super) commits: Arc<AtomicU64>,
    pub(super) health: Arc<Health>,
    /// Highest change stamp seen (the store raises it after its load).
    pub(super) watermark: Arc<AtomicI64>,
}

/// Prepared statements of one connection.
pub(super) struct Statements {
    update: Statement,
    insert: Statement,
    free: Statement,
    read_one: Statement,
    changed_since: Statement,
}

pub(super) struct State {
    pub(super) settings: PgSettings,
    pub(super) client: Option<(Client, Statements)>,
    pub(super) refresh: std::sync::mpsc::Sender<Refresh>,
    pub(super) watermark: Arc<AtomicI64>,
    pub(super) refreshes: u32,
    commits: Arc<AtomicU64>,
    pub(super) health: Arc<Health>,
    pub(super) wal: OfflineWal,
    /// Current wait between reconnection attempts.
    pub(super) backoff: Duration,
    /// When to try the database again (offline) or replay the next chunk.
    pub(super) next_attempt: Instant,
}

/// Starts the writer thread. It first replays what a previous run left in
/// the offline queue; `ready` hears when that is done (or the database
/// stopped answering), before the store loads the site's rows.
pub(super) fn start(
    settings: PgSettings,
    min_interval: Duration,
) -> Result<(Writer, std::sync::mpsc::Receiver<()>), PgError> {
    let (jobs_tx, jobs) = tokio::sync::mpsc::unbounded_channel::<Job>();
    let (refresh, refreshed) = std::sync::mpsc::channel();
    let (ready_tx, ready) = std::sync::mpsc::channel();
    let commits = Arc::new(AtomicU64::new(0));
    let health = Arc::new(Health::default());
    let watermark = Arc::new(AtomicI64::new(0));
    let wal = OfflineWal::open(&settings.offline_queue).map_err(PgError::Start)?;
    health
        .queued
        .store(wal.len().map_err(PgError::Start)?, Ordering::Relaxed);
    let mut state = State {
        settings,
        client: None,
        refresh,
        watermark: watermark.clone(),
        refreshes: 0,
        commits: commits.clone(),
        health: health.clone(),
        wal,
        backoff: MIN_BACKOFF,
        next_attempt: Instant::now(),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| PgError::Start(format!("cannot build the writer runtime: {e}")))?;
    std::thread::Builder::new()
        .name("lease-writer-pg".into())
        .spawn(move || rt.block_on(state.run(jobs, min_interval, ready_tx)))
        .map_err(|e| PgError::Start(format!("cannot start the writer thread: {e}")))?;
    Ok((
        Writer {
            jobs: jobs_tx,
            refreshed,
            commits,
            health,
            watermark,
        },
        ready,
    ))
}

pub(super) async fn prepare(client: &Client) -> Result<Statements, tokio_postgres::Error> {
    // The version check in `update` and `free` and `ON CONFLICT DO
    // NOTHING` in `insert` are what keep two servers from both holding
    // one address (tests/pg.rs: two_servers_never_ack_one_address_to_two_
    // clients_{reused,fresh}_pool fail without them).
    Ok(Statements {
        update: client
            .prepare(
                "UPDATE pbxnet_leases SET client = $3, mac = $4, state = $5, expires = $6, class = $7, \
                 vendor_class = $8, hostname = $9, version = version + 1, changed = nextval('pbxnet_lease_change') \
                 WHERE site = $1 AND address = $2 AND version = $10",
            )
            .await?,
        insert: client
            .prepare(
                "INSERT INTO pbxnet_leases (site, address, client, mac, state, expires, class, vendor_class, hostname, version) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 1) ON CONFLICT DO NOTHING",
            )
            .await?,
        free: client
            .prepare(
                "UPDATE pbxnet_leases SET state = 'free', version = version + 1, changed = nextval('pbxnet_lease_change') \
                 WHERE site = $1 AND address = $2 AND version = $3",
            )
            .await?,
        read_one: client
            .prepare(&format!(
                "SELECT {COLUMNS} FROM pbxnet_leases WHERE site = $1 AND address = $2"
            ))
            .await?,
        changed_since: client
            .prepare(&format!(
                "SELECT {COLUMNS} FROM pbxnet_leases WHERE site = $1 AND changed > $2 ORDER BY changed"
            ))
            .await?,
    })
}

impl State {
    async fn run(
        &mut self,
        mut jobs: tokio::sync::mpsc::UnboundedReceiver<Job>,
        min_interval: Duration,
        ready: std::sync::mpsc::Sender<()>,
    ) {
        // What a previous run queued goes first (the store loads the
        // site's rows after it, so it sees them).
        while self.queued() > 0 && !self.health.offline() {
            self.replay_step().await;
        }
        let _ = ready.send(());
        let mut last: Option<Instant> = None;
        let mut retry: Vec<PgChange> = Vec::new();
        let mut next_refresh = Instant::now() + REFRESH_INTERVAL;
        loop {
            let catching_up = self.health.offline() || self.queued() > 0;
            let wake = if catching_up {
                self.next_attempt
            } else {
                next_refresh
            };
            let first = tokio::select! {
                j = jobs.recv() => match j {
                    Some(j) => j,
                    None => return,
                },
                _ = tokio::time::sleep_until(wake.into()) => {
                    if catching_up {
                        self.replay_step().await;
                    } else {
                        self.timed_refresh().await;
                        next_refresh = Instant::now() + REFRESH_INTERVAL;
                    }
                    continue;
                }
            };
            if let Some(wait) =
                last.and_then(|t| (t + min_interval).checked_duration_since(Instant::now()))
            {
                tokio::time::sleep(wait).await;
            }
            last = Some(Instant::now());
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
            let result = self.commit_batch(&changes).await;
            self.commits.fetch_add(1, Ordering::Relaxed);
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

    /// Entries in the offline queue.
    pub(super) fn queued(&self) -> u64 {
        self.health.queued.load(Ordering::Relaxed)
    }

    /// A refresh, bounded by [`DB_TIMEOUT`]; a database that does not
    /// answer makes the writer go offline (an idle server notices an
    /// outage within a second, before a client needs it).
    async fn timed_refresh(&mut self) {
        match tokio::time::timeout(DB_TIMEOUT, self.refresh()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) if !e.unreachable() => {
                tracing::warn!(error = %e, "lease store refresh failed; retrying in 1 s");
            }
            Ok(Err(e)) => self.went_offline(&e),
            Err(_) => self.went_offline(&PgError::Timeout("refresh")),
        }
    }

    /// One group commit: straight to the database when it answers and
    /// nothing is queued, else through the offline queue.
    async fn commit_batch(&mut self, changes: &[PgChange]) -> Result<Committed, String> {
        if !self.health.offline() && self.queued() == 0 {
            match self.timed_commit(changes).await {
                Ok(c) => {
                    self.reread(&c.lost).await;
                    return Ok(c);
                }
                Err(e) if !e.unreachable() => return Err(e.to_string()),
                Err(e) => self.went_offline(&e),
            }
        }
        self.commit_queued(changes).await
    }

    /// [`State::commit`] bounded by [`DB_TIMEOUT`]. On a timeout the
    /// connection is dropped: whether its transaction committed is not
    /// known, and the replay tells (a queued change the database already
    /// has is not a conflict).
    pub(super) async fn timed_commit(
        &mut self,
        changes: &[PgChange],
    ) -> Result<Committed, PgError> {
        match tokio::time::timeout(DB_TIMEOUT, self.commit(changes)).await {
            Ok(r) => r,
            Err(_) => {
                self.client = None;
                Err(PgError::Timeout("commit"))
            }
        }
    }

    /// Commits while offline or while the queue is replayed: the changes
    /// safe without the database go to the queue (ACKed once it is
    /// fsynced, after everything queued before them); the others are
    /// written directly when the database answers (replay under way), or
    /// refused (reported lost: no ACK) when it does not.
    async fn commit_queued(&mut self, changes: &[PgChange]) -> Result<Committed, String> {
        let (safe, unsafe_): (Vec<PgChange>, Vec<PgChange>) =
            changes.iter().cloned().partition(|c| c.safe_offline);
        let mut lost = Vec::new();
        if !unsafe_.is_empty() && !self.health.offline() {
            match self.timed_commit(&unsafe_).await {
                Ok(c) => {
                    self.reread(&c.lost).await;
                    lost = c.lost;
                }
                Err(e) if !e.unreachable() => return Err(e.to_string()),
                Err(e) => {
                    self.went_offline(&e);
                    lost = self.refuse(&unsafe_);
                }
            }
        } else if !unsafe_.is_empty() {
            lost = self.refuse(&unsafe_);
        }
        if !safe.is_empty() {
            self.wal.append(&safe)?;
            let n = safe.len() as u64;
            self.health.queued.fetch_add(n, Ordering::Relaxed);
            if !self.health.offline() {
                // Replay under way: these are replayed too.
                self.health.replay_total.fetch_add(n, Ordering::Relaxed);
            }
        }
        Ok(Committed { lost })
    }

    /// Changes that cannot be ACKed offline: the index goes back to what it
    /// had before them; the addresses are returned as lost.
    fn refuse(&mut self, changes: &[PgChange]) -> Vec<Ipv4Addr> {
        self.health
            .withheld
            .fetch_add(changes.len() as u64, Ordering::Relaxed);
        for c in changes {
            tracing::debug!(ip = %c.ip, "lease store unreachable: this server cannot grant the address; no ACK");
            let row = c.expected.map(|version| LeaseRow {
                ip: c.ip,
                lease: c
                    .prior
                    .clone()
                    .filter(|l| l.state != crate::LeaseState::Offered),
                version,
                changed: 0,
            });
            let _ = self.refresh.send(Refresh {
                ip: c.ip,
                row,
                forced: true,
            });
        }
        changes.iter().map(|c| c.ip).collect()
    }

    /// The database stopped answering: drop the connection, say so once,
    /// retry after the shortest backoff.
    pub(super) fn went_offline(&mut self, e: &PgError) {
        self.client = None;
        self.backoff = MIN_BACKOFF;
        self.next_attempt = Instant::now() + self.backoff;
        if self.health.set_offline() {
            tracing::warn!(
                error = %e,
                queue = %self.wal.path().display(),
                "PostgreSQL lease store unreachable: renewals answered from memory, commits queued locally until it answers"
            );
        }
    }

    /// The connection, (re)opened if it is closed.
    pub(super) async fn client(&mut self) -> Result<&mut (Client, Statements), PgError> {
        if self.client.as_ref().is_some_and(|(c, _)| c.is_closed()) {
            self.client = None;
        }
        if self.client.is_none() {
            let c = connect(&self.settings).await?;
            let s = prepare(&c).await?;
            self.client = Some((c, s));
        }
        Ok(self.client.as_mut().expect("just connected"))
    }

    /// One transaction of compare-and-swaps, in address order (two
    /// servers' transactions then lock rows in the same order and cannot
    /// deadlock). A swap that matches no row lost: it is reported, not an
    /// error, and the others still commit.
    async fn commit(&mut self, changes: &[PgChange]) -> Result<Committed, PgError> {
        let site = self.settings.site.clone();
        let (client, st) = self.client().await?;
        let mut order: Vec<&PgChange> = changes.iter().collect();
        // Stable: changes of one address keep their order.
        order.sort_by_key(|c| u32::from(c.ip));
        let tx = client.transaction().await?;
        let mut lost = Vec::new();
        for c in order {
            let addr = IpAddr::V4(c.ip);
            let n = match (&c.lease, c.expected) {
                (None, None) => continue,
                (None, Some(v)) => tx.execute(&st.free, &[&site, &addr, &v]).await?,
                (Some(l), expected) => {
                    let client_key = l.client.to_bytes();
                    let mac = super::super::schema::mac_text(l.mac);
                    let expires = i64::try_from(l.expires).unwrap_or(i64::MAX);
                    let p: [&(dyn tokio_postgres::types::ToSql + Sync); 9] = [
                        &site,
                        &addr,
                        &client_key,
                        &mac,
                        &l.state.as_str(),
                        &expires,
                        &&*l.class,
                        &l.vendor_class.as_str(),
                        &l.hostname.as_str(),
                    ];
                    match expected {
                        None => tx.execute(&st.insert, &p).await?,
                        Some(v) => {
                            let mut all = p.to_vec();
                            all.push(&v);
                            tx.execute(&st.update, &all).await?
                        }
                    }
                }
            };
            if n == 0 && !lost.contains(&c.ip) {
                lost.push(c.ip);
            }
        }
        tx.commit().await?;
        Ok(Committed { lost })
    }

    /// The rows of `ips` as the database has them now (`None`: no row).
    /// An address whose read fails is left out (the next refresh brings
    /// it).
    pub(super) async fn read_rows(
        &mut self,
        ips: &[Ipv4Addr],
    ) -> Vec<(Ipv4Addr, Option<LeaseRow>)> {
        let site = self.settings.site.clone();
        let mut out = Vec::new();
        let Ok(Ok((client, st))) = tokio::time::timeout(DB_TIMEOUT, self.client()).await else {
            return out;
        };
        let mut classes = Classes::new();
        for &ip in ips {
            let addr = IpAddr::V4(ip);
            let params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&site, &addr];
            let read = tokio::time::timeout(DB_TIMEOUT, client.query_opt(&st.read_one, &params));
            let row = match read.await {
                Ok(Ok(r)) => r.map(|r| from_row(&r, &mut classes)).transpose(),
                Ok(Err(e)) => Err(e.into()),
                Err(_) => Err(PgError::Timeout("read")),
            };
            match row {
                Ok(r) => out.push((ip, r)),
                Err(e) => tracing::warn!(error = %e, %ip, "re-reading a lease failed"),
            }
        }
        out
    }

    /// Reads the rows of addresses whose swap lost and hands them to the
    /// store, which must take them.
    pub(super) async fn reread(&mut self, lost: &[Ipv4Addr]) {
        if lost.is_empty() {
            return;
        }
        for (ip, row) in self.read_rows(lost).await {
            let _ = self.refresh.send(Refresh {
                ip,
                row,
                forced: true,
            });
        }
    }

    /// Reads the rows changed since the last refresh (all of them every
    /// [`FULL_REFRESH_EVERY`]) and hands them to the store.
    async fn refresh(&mut self) -> Result<(), PgError> {
        self.refreshes = self.refreshes.wrapping_add(1);
        let since = if self.refreshes % FULL_REFRESH_EVERY == 0 {
            i64::MIN
        } else {
            self.watermark.load(Ordering::Relaxed)
        };
        let site = self.settings.site.clone();
        let (client, st) = self.client().await?;
        let rows = client.query(&st.changed_since, &[&site, &since]).await?;
        let mut classes = Classes::new();
        for r in &rows {
            let row = from_row(r, &mut classes)?;
            self.watermark.fetch_max(row.changed, Ordering::Relaxed);
            let _ = self.refresh.send(Refresh {
                ip: row.ip,
                row: Some(row),
                forced: false,
            });
        }
        Ok(())
    }
}
