//! Periodic work (expiry, probation, pool usage events), conflict-probe
//! results and pool exhaustion reports.

use std::net::Ipv4Addr;

use super::{Ctx, Event, PoolUsage, Server, SWEEP_SLICE};
use crate::lease::{ClientKey, LeaseState, LeaseStore};

impl<S: LeaseStore> Server<S> {
    pub(super) fn exhausted(&mut self, ctx: &Ctx) {
        for pi in self.candidate_pools(ctx.class, ctx.subnet) {
            if self.level[pi] < 2 {
                self.level[pi] = 2;
                let size = self.cfg.pools[pi].size();
                self.events.push_back(Event::PoolExhausted(PoolUsage {
                    pool: self.cfg.pools[pi].name.clone(),
                    used: size,
                    size,
                }));
            }
        }
    }

    /// Result of a conflict probe asked for by [`Outcome::Probe`]: an
    /// address that answered is put on probation (owned by nobody, like a
    /// DECLINE) so that the next [`Server::handle`] of the same DISCOVER
    /// picks another one.
    pub fn handle_probe_result(&mut self, now_ms: u64, ip: Ipv4Addr, in_use: bool) {
        if !in_use {
            return;
        }
        let now = now_ms / 1000;
        if let Some(mut l) = self.store.remove(ip) {
            l.state = LeaseState::Declined;
            l.expires = now + u64::from(self.cfg.decline_probation);
            l.client = ClientKey::Id((*b"conflict").into());
            self.store.upsert(l);
            self.counters.conflicts += 1;
            self.events.push_back(Event::Conflict { ip });
        }
    }

    /// Usage of every pool at `now` (Unix seconds).
    pub fn pool_usage(&self, now: u64) -> Vec<PoolUsage> {
        let mut used = vec![0u32; self.cfg.pools.len()];
        for l in self.store.all() {
            if l.is_active(now) {
                if let Some(pi) = self.cfg.pools.iter().position(|p| p.contains(l.ip)) {
                    used[pi] += 1;
                }
            }
        }
        self.cfg
            .pools
            .iter()
            .zip(used)
            .map(|(p, used)| PoolUsage {
                pool: p.name.clone(),
                used,
                size: p.size(),
            })
            .collect()
    }

    /// Periodic work at `now_ms`: drops expired offers and long-expired
    /// leases, ends probation, and emits pool usage events on crossing 90 %
    /// and 100 %. Call every second or so.
    ///
    /// Each call walks at most [`SWEEP_SLICE`] leases, resuming where the
    /// previous call stopped, so its cost is bounded whatever the lease
    /// count (a full walk of 500k leases held the core for tens of ms, and
    /// the replies queued behind it left in one burst that overflowed the
    /// clients' buffers). Pool usage is counted over one whole pass and
    /// reported when the pass ends; allocation never depends on the walk
    /// (an expired lease is free whether or not it has been removed yet).
    pub fn handle_timeout(&mut self, now_ms: u64) {
        let now = now_ms / 1000;
        let slice = self.store.slice_from(self.sweep.next, SWEEP_SLICE);
        let pass_done = slice.len() < SWEEP_SLICE;
        let mut stale = Vec::new();
        for l in &slice {
            let reclaim = match l.state {
                LeaseState::Offered | LeaseState::Declined => l.expires <= now,
                // Expired or released leases stay as "previous binding"
                // hints for a day, then go.
                LeaseState::Bound | LeaseState::Released => l.expires + 86_400 <= now,
            };
            if reclaim {
                stale.push(l.ip);
            } else if l.is_active(now) {
                if let Some(pi) = self.cfg.pools.iter().position(|p| p.contains(l.ip)) {
                    self.sweep.used[pi] += 1;
                }
            }
        }
        self.sweep.next = match slice.last() {
            Some(l) if !pass_done => match u32::from(l.ip).checked_add(1) {
                Some(n) => Ipv4Addr::from(n),
                None => Ipv4Addr::UNSPECIFIED,
            },
            _ => Ipv4Addr::UNSPECIFIED,
        };
        for ip in stale {
            self.store.remove(ip);
        }
        if pass_done || self.sweep.next == Ipv4Addr::UNSPECIFIED {
            let used = std::mem::replace(&mut self.sweep.used, vec![0; self.cfg.pools.len()]);
            self.report_pool_levels(&used);
        }
        self.trim_flood(now_ms);
    }

    pub(super) fn report_pool_levels(&mut self, used: &[u32]) {
        for (pi, (p, &used)) in self.cfg.pools.iter().zip(used).enumerate() {
            let u = PoolUsage {
                pool: p.name.clone(),
                used,
                size: p.size(),
            };
            let lvl = if u.used >= u.size {
                2
            } else if u64::from(u.used) * 10 >= u64::from(u.size) * 9 {
                1
            } else {
                0
            };
            if lvl != self.level[pi] {
                match lvl {
                    2 => self.events.push_back(Event::PoolExhausted(u)),
                    1 if self.level[pi] == 0 => self.events.push_back(Event::PoolHigh(u)),
                    0 => self.events.push_back(Event::PoolRecovered(u)),
                    _ => {}
                }
                self.level[pi] = lvl;
            }
        }
    }

    /// Forgets flood-table entries whose one-second window has passed and
    /// that are not banned. Cheap (the table holds about a second of
    /// senders when called every second), unlike [`Server::handle_timeout`],
    /// which walks every lease; calling it often keeps the table small
    /// under a stream of new clients (a HashMap never gives memory back).
    pub fn trim_flood(&mut self, now_ms: u64) {
        self.flood.retain(|_, e| {
            e.banned_until_ms > now_ms || now_ms.saturating_sub(e.window_start_ms) < 1000
        });
    }
}
