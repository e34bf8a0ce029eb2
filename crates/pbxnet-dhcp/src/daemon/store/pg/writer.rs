//! The PostgreSQL writer: one thread with its own single-threaded tokio
//! runtime and one connection. It merges every commit queued while it was
//! busy into one transaction (group commit, as the SQLite writer), writes
//! each change as a compare-and-swap on the row's version, reports the
//! addresses whose swap lost (another server changed the row first) with
//! the row as it now is, and between commits reads the rows other servers
//! changed (every [`REFRESH_INTERVAL`], all of the site's rows every
//! [`FULL_REFRESH_EVERY`] refreshes).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_postgres::{Client, Statement};

use super::super::commit::Committed;
use super::sql::{connect, from_row, Classes, LeaseRow, PgError, COLUMNS};
use crate::config::PgSettings;
use crate::Lease;

/// How often the writer reads the rows other servers changed.
pub(super) const REFRESH_INTERVAL: Duration = Duration::from_secs(1);
/// Every this many refreshes, all rows of the site are read again: the
/// incremental read follows the change sequence, and a transaction that
/// took a sequence number before another but committed after it is only
/// seen by a full read.
const FULL_REFRESH_EVERY: u32 = 30;

/// One change: the address, the lease to write (`None`: the lease ended,
/// the row becomes free) and the version the in-memory index had when the
/// core decided (`None`: no row known, insert one).
#[derive(Debug, Clone)]
pub(super) struct PgChange {
    pub(super) ip: Ipv4Addr,
    pub(super) lease: Option<Lease>,
    pub(super) expected: Option<i64>,
}

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
}

/// Prepared statements of one connection.
struct Statements {
    update: Statement,
    insert: Statement,
    free: Statement,
    read_one: Statement,
    changed_since: Statement,
}

struct State {
    settings: PgSettings,
    client: Option<(Client, Statements)>,
    refresh: std::sync::mpsc::Sender<Refresh>,
    watermark: i64,
    refreshes: u32,
    commits: Arc<AtomicU64>,
}

/// Starts the writer thread; `watermark` is the highest change stamp the
/// initial load saw.
pub(super) fn start(
    settings: PgSettings,
    watermark: i64,
    min_interval: Duration,
) -> Result<Writer, PgError> {
    let (jobs_tx, jobs) = tokio::sync::mpsc::unbounded_channel::<Job>();
    let (refresh, refreshed) = std::sync::mpsc::channel();
    let commits = Arc::new(AtomicU64::new(0));
    let mut state = State {
        settings,
        client: None,
        refresh,
        watermark,
        refreshes: 0,
        commits: commits.clone(),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| PgError::Start(format!("cannot build the writer runtime: {e}")))?;
    std::thread::Builder::new()
        .name("lease-writer-pg".into())
        .spawn(move || rt.block_on(state.run(jobs, min_interval)))
        .map_err(|e| PgError::Start(format!("cannot start the writer thread: {e}")))?;
    Ok(Writer {
        jobs: jobs_tx,
        refreshed,
        commits,
    })
}

async fn prepare(client: &Client) -> Result<Statements, tokio_postgres::Error> {
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
    ) {
        let mut last: Option<Instant> = None;
        let mut retry: Vec<PgChange> = Vec::new();
        let mut next_refresh = Instant::now() + REFRESH_INTERVAL;
        loop {
            let first = tokio::select! {
                j = jobs.recv() => match j {
                    Some(j) => j,
                    None => return,
                },
                _ = tokio::time::sleep_until(next_refresh.into()) => {
                    if let Err(e) = self.refresh().await {
                        tracing::warn!(error = %e, "lease store refresh failed; retrying in 1 s");
                    }
                    next_refresh = Instant::now() + REFRESH_INTERVAL;
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
            let result = self.commit(&changes).await.map_err(|e| e.to_string());
            self.commits.fetch_add(1, Ordering::Relaxed);
            match &result {
                Ok(c) => self.reread(&c.lost).await,
                Err(_) => retry = changes,
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

    /// The connection, (re)opened if it is closed.
    async fn client(&mut self) -> Result<&mut (Client, Statements), PgError> {
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
            if n == 0 {
                lost.push(c.ip);
            }
        }
        tx.commit().await?;
        Ok(Committed { lost })
    }

    /// Reads the rows of addresses whose swap lost and hands them to the
    /// store. A failure leaves them to the next refresh.
    async fn reread(&mut self, lost: &[Ipv4Addr]) {
        if lost.is_empty() {
            return;
        }
        let site = self.settings.site.clone();
        let to_store = self.refresh.clone();
        let Ok((client, st)) = self.client().await else {
            return;
        };
        let mut classes = Classes::new();
        for &ip in lost {
            let addr = IpAddr::V4(ip);
            let row = match client.query_opt(&st.read_one, &[&site, &addr]).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(error = %e, %ip, "re-reading a lost lease failed");
                    continue;
                }
            };
            let row = match row.map(|r| from_row(&r, &mut classes)).transpose() {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(error = %e, %ip, "re-reading a lost lease failed");
                    continue;
                }
            };
            let _ = to_store.send(Refresh {
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
            self.watermark
        };
        let site = self.settings.site.clone();
        let (client, st) = self.client().await?;
        let rows = client.query(&st.changed_since, &[&site, &since]).await?;
        let mut classes = Classes::new();
        for r in &rows {
            let row = from_row(r, &mut classes)?;
            self.watermark = self.watermark.max(row.changed);
            let _ = self.refresh.send(Refresh {
                ip: row.ip,
                row: Some(row),
                forced: false,
            });
        }
        Ok(())
    }
}
