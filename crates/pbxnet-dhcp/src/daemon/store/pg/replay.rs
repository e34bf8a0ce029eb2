//! Reconnecting and replaying the offline queue, one chunk per step so
//! that new commits are served between chunks and `status` shows the
//! progress.
//!
//! A queued change is the compare-and-swap it would have been online. One
//! that loses met a row another server wrote meanwhile:
//! - the database already has exactly this lease: the commit that timed
//!   out had reached it; nothing to do;
//! - another server renewed the same client's lease on the same address:
//!   the later expiry is written over it (the client was promised it;
//!   counted as merged);
//! - anything else: the database's row is kept, the loss logged and
//!   counted as a conflict. The ACK left long ago; what this protects is
//!   the other server's ACK, which came with a commit.

use std::net::Ipv4Addr;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::change::PgChange;
use super::sql::{LeaseRow, PgError};
use super::writer::{Refresh, State, DB_TIMEOUT, FULL_REFRESH_EVERY, MAX_BACKOFF};
use crate::LeaseState;

/// Queued changes written per transaction while replaying.
const REPLAY_CHUNK: usize = 500;

impl State {
    /// Offline: one connection attempt (the backoff grows when it fails).
    /// Connected: the next chunk of the queue.
    pub(super) async fn replay_step(&mut self) {
        if self.health.offline() {
            let attempt = tokio::time::timeout(DB_TIMEOUT, self.client()).await;
            if !matches!(attempt, Ok(Ok(_))) {
                self.client = None;
                self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
                self.next_attempt = Instant::now() + self.backoff;
                return;
            }
            self.health.set_online();
            let queued = self.queued();
            self.health.replay_total.store(queued, Ordering::Relaxed);
            self.health.replay_done.store(0, Ordering::Relaxed);
            // Rows other servers wrote during the outage: read them all.
            self.refreshes = FULL_REFRESH_EVERY - 1;
            tracing::info!(
                queued,
                "PostgreSQL lease store reachable again: replaying the offline queue"
            );
        } else if self.health.replay_total.load(Ordering::Relaxed) == 0 {
            // A queue left by a previous run.
            let queued = self.queued();
            self.health.replay_total.store(queued, Ordering::Relaxed);
            tracing::info!(queued, "replaying the offline queue a previous run left");
        }
        if let Err(e) = self.replay_chunk().await {
            match e {
                ReplayError::Unreachable(e) => self.went_offline(&e),
                ReplayError::Failed(e) => {
                    tracing::error!(error = %e, "replaying the offline queue failed; kept, retrying");
                    self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
                    self.next_attempt = Instant::now() + self.backoff;
                }
            }
        }
    }

    async fn replay_chunk(&mut self) -> Result<(), ReplayError> {
        let head = self.wal.head(REPLAY_CHUNK).map_err(ReplayError::Failed)?;
        let Some(&(last_seq, _)) = head.last() else {
            self.health.queued.store(0, Ordering::Relaxed);
            self.finish_replay();
            return Ok(());
        };
        let changes: Vec<PgChange> = head.into_iter().map(|(_, c)| c).collect();
        let outcome = self
            .timed_commit(&changes)
            .await
            .map_err(ReplayError::from)?;
        if !outcome.lost.is_empty() {
            self.settle_lost(&changes, &outcome.lost).await?;
        }
        self.wal
            .delete_through(last_seq)
            .map_err(ReplayError::Failed)?;
        let n = changes.len() as u64;
        let left = self.wal.len().map_err(ReplayError::Failed)?;
        self.health.queued.store(left, Ordering::Relaxed);
        self.health.replay_done.fetch_add(n, Ordering::Relaxed);
        self.health.replayed.fetch_add(n, Ordering::Relaxed);
        self.backoff = super::writer::MIN_BACKOFF;
        self.next_attempt = Instant::now();
        if left == 0 {
            self.finish_replay();
        }
        Ok(())
    }

    fn finish_replay(&mut self) {
        let total = self.health.replay_total.swap(0, Ordering::Relaxed);
        self.health.replay_done.store(0, Ordering::Relaxed);
        if total > 0 {
            tracing::info!(
                replayed = total,
                conflicts = self.health.conflicts.load(Ordering::Relaxed),
                merged = self.health.merged.load(Ordering::Relaxed),
                "offline queue replayed: the lease store is in sync"
            );
        }
    }

    /// Sorts out the queued changes whose swap lost (module doc), then
    /// hands the rows as they end up to the store.
    async fn settle_lost(
        &mut self,
        changes: &[PgChange],
        lost: &[Ipv4Addr],
    ) -> Result<(), ReplayError> {
        let rows = self.read_rows(lost).await;
        let mut merges = Vec::new();
        for (ip, row) in &rows {
            // What this server last promised for the address.
            let Some(ours) = changes.iter().rev().find(|c| c.ip == *ip) else {
                continue;
            };
            match judge(ours, row.as_ref()) {
                Verdict::AlreadyThere => {}
                Verdict::Merge(version) => merges.push(PgChange {
                    expected: Some(version),
                    ..ours.clone()
                }),
                Verdict::Conflict => {
                    self.health.conflicts.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        %ip,
                        ours = ?ours.lease.as_ref().map(|l| (l.mac, l.state.as_str(), l.expires)),
                        theirs = ?row.as_ref().and_then(|r| r.lease.as_ref()).map(|l| (l.mac, l.state.as_str(), l.expires)),
                        "queued lease lost to another server's newer row: the database's row kept"
                    );
                }
                Verdict::Ignore => {}
            }
        }
        let mut settled: Vec<Ipv4Addr> = rows.iter().map(|(ip, _)| *ip).collect();
        if !merges.is_empty() {
            let c = self.timed_commit(&merges).await?;
            let merged = merges.len() - c.lost.len();
            self.health
                .merged
                .fetch_add(merged as u64, Ordering::Relaxed);
            self.health
                .conflicts
                .fetch_add(c.lost.len() as u64, Ordering::Relaxed);
            settled = lost.to_vec();
        }
        for (ip, row) in self.read_rows(&settled).await {
            let _ = self.refresh.send(Refresh {
                ip,
                row,
                forced: true,
            });
        }
        Ok(())
    }
}

/// What to do with a queued change that lost.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// The database has this very lease.
    AlreadyThere,
    /// Same client bound to the same address, shorter expiry: write ours
    /// over the row at this version.
    Merge(i64),
    /// Another client's lease, or a later one: the database's row stays.
    Conflict,
    /// A freed row that lost: nothing was promised.
    Ignore,
}

fn judge(ours: &PgChange, row: Option<&LeaseRow>) -> Verdict {
    let Some(mine) = &ours.lease else {
        return Verdict::Ignore;
    };
    let theirs = row.and_then(|r| r.lease.as_ref());
    match (theirs, row) {
        (Some(t), _) if t == mine => Verdict::AlreadyThere,
        (Some(t), Some(r))
            if t.client == mine.client
                && t.state == LeaseState::Bound
                && mine.state == LeaseState::Bound
                && t.expires < mine.expires =>
        {
            Verdict::Merge(r.version)
        }
        _ => Verdict::Conflict,
    }
}

enum ReplayError {
    Unreachable(PgError),
    Failed(String),
}

impl From<PgError> for ReplayError {
    fn from(e: PgError) -> Self {
        if e.unreachable() {
            ReplayError::Unreachable(e)
        } else {
            ReplayError::Failed(e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ClientKey, Lease};

    fn lease(client: u8, state: LeaseState, expires: u64) -> Lease {
        Lease {
            ip: Ipv4Addr::new(10, 0, 0, 5),
            client: ClientKey::from_bytes(&[b'H', 1, 6, 2, 0, 0, 0, 0, client]).unwrap(),
            mac: [2, 0, 0, 0, 0, client],
            state,
            expires,
            class: "c".into(),
            vendor_class: "".into(),
            hostname: "".into(),
        }
    }

    fn change(l: Option<Lease>) -> PgChange {
        PgChange {
            ip: Ipv4Addr::new(10, 0, 0, 5),
            lease: l,
            expected: Some(3),
            safe_offline: true,
            prior: None,
        }
    }

    fn row(l: Lease, version: i64) -> LeaseRow {
        LeaseRow {
            ip: l.ip,
            lease: Some(l),
            version,
            changed: 1,
        }
    }

    #[test]
    fn a_lost_replay_is_judged_by_whose_row_won() {
        let mine = lease(1, LeaseState::Bound, 2_000);
        let ours = change(Some(mine.clone()));
        assert_eq!(
            judge(&ours, Some(&row(mine.clone(), 4))),
            Verdict::AlreadyThere
        );
        // The other server renewed the same client for less: ours extends it.
        let shorter = lease(1, LeaseState::Bound, 1_500);
        assert_eq!(judge(&ours, Some(&row(shorter, 7))), Verdict::Merge(7));
        // Renewed for longer there: the database's row stays.
        let longer = lease(1, LeaseState::Bound, 2_500);
        assert_eq!(judge(&ours, Some(&row(longer, 7))), Verdict::Conflict);
        // Another client holds it: a conflict, never overwritten.
        let other = lease(2, LeaseState::Bound, 1_000);
        assert_eq!(judge(&ours, Some(&row(other, 7))), Verdict::Conflict);
        assert_eq!(judge(&ours, None), Verdict::Conflict);
        // Freeing a row promised nothing.
        assert_eq!(judge(&change(None), None), Verdict::Ignore);
    }
}
