//! Per-destination pacing of replies (sans-IO; times are nanoseconds on a
//! monotonic clock the caller reads).
//!
//! Why: a relay agent (and perfdhcp, which plays one) reads replies one by
//! one from a socket buffer of its own, typically the Linux default of
//! 208 KiB, which holds 166 DHCP replies. When the server has a backlog
//! (after any stall: a fsync, a rehash, the scheduler) it answers the
//! queued requests much faster than the relay reads: measured, 232 OFFERs
//! within 1 ms after a 19 ms stall, against perfdhcp reading about 35
//! OFFERs per ms, and the relay's buffer overflowed. Kea answers its
//! backlog one reply per ~50 µs, slower than the relay reads, so the
//! backlog stays in Kea's own buffer. The pacer bounds what one destination
//! receives back to back ([`PaceLimit::burst`]) and on average
//! ([`PaceLimit::rate`]); below that rate a reply is never delayed.
//!
//! The rule is the generic cell rate algorithm (a token bucket kept as one
//! timestamp per destination): a reply conforms when the destination's
//! theoretical arrival time is no later than `now + (burst - 1) × interval`;
//! each reply sent moves it one interval on. Replies that do not conform
//! wait in a FIFO per destination (so one destination never holds up
//! another) until [`Pacer::poll`] releases them.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

/// Pacing bounds, per destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaceLimit {
    /// Sustained replies per second.
    pub rate: u32,
    /// Replies that may leave back to back.
    pub burst: u32,
    /// Replies held at most; a reply beyond is dropped (the client
    /// retransmits; an ACK's lease is already durable).
    pub max_queue: usize,
}

impl PaceLimit {
    /// 48,000 replies/s sustained (24,000 four-way exchanges/s through one
    /// relay: far above a site's needs, and 1.5 times what 16,000 leases/s
    /// need, the most perfdhcp offers here; at 32,000/s, exactly that need,
    /// the 16,000/s step queued in the pacer and its ACK p99 rose to 50 ms),
    /// 64 back to back: a 2 ms commit's ACKs at 16,000 leases/s (32) pass
    /// unpaced, and 64 is well below the 166 replies a default 208 KiB
    /// buffer holds. At most 8,192 replies (~3 MB) wait per destination,
    /// about 170 ms at that rate.
    pub const DEFAULT: PaceLimit = PaceLimit {
        rate: 48_000,
        burst: 64,
        max_queue: 8192,
    };
}

#[derive(Debug)]
struct Lane<T> {
    /// Theoretical arrival time of the next reply (ns).
    tat: u64,
    queue: VecDeque<T>,
}

impl<T> Lane<T> {
    /// Moves the held replies that may leave at `now` to `out`, in order;
    /// returns how many.
    fn release(&mut self, now: u64, interval: u64, tolerance: u64, out: &mut Vec<T>) -> usize {
        let mut released = 0;
        while !self.queue.is_empty() && self.tat <= now + tolerance {
            self.tat = self.tat.max(now) + interval;
            out.extend(self.queue.pop_front());
            released += 1;
        }
        released
    }
}

/// What [`Pacer::push`] did with a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Appended to the output: send it now.
    Now,
    /// Held; [`Pacer::poll`] releases it.
    Held,
    /// The destination's queue was full: dropped.
    Dropped,
}

/// Counters of a [`Pacer`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PaceCounters {
    /// Replies that had to wait.
    pub delayed: u64,
    /// Replies dropped on a full queue.
    pub dropped: u64,
}

/// Replies toward many destinations, each paced on its own.
#[derive(Debug)]
pub struct Pacer<K, T> {
    interval: u64,
    tolerance: u64,
    max_queue: usize,
    lanes: HashMap<K, Lane<T>>,
    /// Lane count after the last purge of idle lanes.
    purged_at: usize,
    held: usize,
    counters: PaceCounters,
}

impl<K: Eq + Hash + Clone, T> Pacer<K, T> {
    /// A pacer with these bounds (rate and burst at least 1).
    pub fn new(limit: PaceLimit) -> Self {
        let interval = 1_000_000_000 / u64::from(limit.rate.max(1));
        Self {
            interval,
            tolerance: interval * u64::from(limit.burst.max(1) - 1),
            max_queue: limit.max_queue,
            lanes: HashMap::new(),
            purged_at: 0,
            held: 0,
            counters: PaceCounters::default(),
        }
    }

    /// Offers `item` toward `key` at `now`: first the replies held for
    /// `key` that are due by now go to `out` (so under load the pace does
    /// not depend on when [`Pacer::poll`] runs: a timer with 1 ms steps
    /// held the release of a busy destination to one burst per step, and
    /// at 20,000 leases/s its queue filled); then `item` is appended to
    /// `out` when it may leave now (nothing left held for `key` and the
    /// destination within its bounds), else held in order behind the
    /// destination's earlier replies.
    pub fn push(&mut self, now: u64, key: K, item: T, out: &mut Vec<T>) -> Admit {
        if self.lanes.len() > 2 * self.purged_at.max(32) {
            self.purge(now);
        }
        let (interval, tolerance) = (self.interval, self.tolerance);
        let lane = self.lanes.entry(key).or_insert_with(|| Lane {
            tat: now,
            queue: VecDeque::new(),
        });
        self.held -= lane.release(now, interval, tolerance, out);
        if lane.queue.is_empty() && lane.tat <= now + tolerance {
            lane.tat = lane.tat.max(now) + interval;
            out.push(item);
            return Admit::Now;
        }
        if lane.queue.len() >= self.max_queue {
            self.counters.dropped += 1;
            return Admit::Dropped;
        }
        lane.queue.push_back(item);
        self.held += 1;
        self.counters.delayed += 1;
        Admit::Held
    }

    /// Appends to `out` every held reply that may leave at `now`; returns
    /// when the next held one may, `None` when nothing is held.
    pub fn poll(&mut self, now: u64, out: &mut Vec<T>) -> Option<u64> {
        let (interval, tolerance) = (self.interval, self.tolerance);
        let mut next: Option<u64> = None;
        for lane in self.lanes.values_mut() {
            self.held -= lane.release(now, interval, tolerance, out);
            if !lane.queue.is_empty() {
                let due = lane.tat - tolerance;
                next = Some(next.map_or(due, |n| n.min(due)));
            }
        }
        next
    }

    /// Replies held now.
    pub fn held(&self) -> usize {
        self.held
    }

    /// Counters since start.
    pub fn counters(&self) -> PaceCounters {
        self.counters
    }

    /// Destinations tracked (idle ones are forgotten as they accumulate).
    pub fn lanes(&self) -> usize {
        self.lanes.len()
    }

    /// Forgets the destinations with nothing held and a full allowance
    /// again (a fresh lane would be the same).
    fn purge(&mut self, now: u64) {
        self.lanes.retain(|_, l| !l.queue.is_empty() || l.tat > now);
        self.purged_at = self.lanes.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn pacer() -> Pacer<u32, u32> {
        Pacer::new(PaceLimit {
            rate: 32_000,
            burst: 64,
            max_queue: 1000,
        })
    }

    #[test]
    fn below_the_rate_nothing_waits() {
        // 24 replies per ms (12,000 leases/s) in one burst per ms.
        let mut p = pacer();
        let mut out = Vec::new();
        for ms in 0..1000u64 {
            for i in 0..24 {
                assert_eq!(p.push(ms * MS, 1, i, &mut out), Admit::Now);
            }
        }
        assert_eq!(out.len(), 24_000);
        assert_eq!(p.held(), 0);
        assert_eq!(p.poll(1000 * MS, &mut out), None);
        assert_eq!(p.counters(), PaceCounters::default());
    }

    #[test]
    fn a_backlog_leaves_at_most_burst_then_at_the_rate() {
        // 232 replies at once toward one relay (the burst measured after a
        // 19 ms stall): 64 leave now, the rest 32 per ms, in order.
        let mut p = pacer();
        let mut out = Vec::new();
        for i in 0..232u32 {
            p.push(0, 7, i, &mut out);
        }
        assert_eq!(out, (0..64).collect::<Vec<_>>());
        assert_eq!(p.held(), 168);
        let mut t = 0;
        while let Some(due) = p.poll(t, &mut out) {
            assert!(due > t);
            t = due;
            // Never more than the burst ahead of the rate.
            let allowed = 64 + (t * 32_000 / 1_000_000_000) as usize;
            assert!(out.len() <= allowed + 1, "{} by {t} ns", out.len());
        }
        assert_eq!(out, (0..232).collect::<Vec<_>>());
        // 168 beyond the burst at 32 per ms: about 5.25 ms.
        assert!((5 * MS..6 * MS).contains(&t), "{t}");
    }

    #[test]
    fn held_replies_keep_later_ones_behind_them_and_lanes_are_independent() {
        let mut p = pacer();
        let mut out = Vec::new();
        for i in 0..70 {
            p.push(0, 1, i, &mut out);
        }
        assert_eq!(out.len(), 64);
        // Far later, the lane has its allowance back, but 6 are held:
        // a new reply goes behind them, not ahead.
        out.clear();
        assert_eq!(p.push(0, 1, 100, &mut out), Admit::Held);
        assert!(out.is_empty());
        // Another destination is not held up.
        assert_eq!(p.push(0, 2, 200, &mut out), Admit::Now);
        out.clear();
        p.poll(10 * MS, &mut out);
        assert_eq!(out, vec![64, 65, 66, 67, 68, 69, 100]);
        assert_eq!(p.held(), 0);
        assert_eq!(p.counters().delayed, 7);
    }

    #[test]
    fn a_push_first_releases_what_is_due_for_its_destination() {
        // No poll at all: a busy destination's own traffic moves its queue
        // at the rate, in order.
        let mut p = pacer();
        let mut out = Vec::new();
        for i in 0..70 {
            p.push(0, 1, i, &mut out);
        }
        assert_eq!(out.len(), 64);
        out.clear();
        // 0.1 ms later: 3 intervals (31.25 µs each) are due.
        assert_eq!(p.push(100_000, 1, 70, &mut out), Admit::Held);
        assert_eq!(out, vec![64, 65, 66]);
        out.clear();
        // 1 ms later everything is due, the new reply goes after them.
        assert_eq!(p.push(MS, 1, 71, &mut out), Admit::Now);
        assert_eq!(out, vec![67, 68, 69, 70, 71]);
        assert_eq!(p.held(), 0);
    }

    #[test]
    fn a_full_queue_drops_and_idle_destinations_are_forgotten() {
        let mut p: Pacer<u32, u32> = Pacer::new(PaceLimit {
            rate: 1000,
            burst: 1,
            max_queue: 2,
        });
        let mut out = Vec::new();
        assert_eq!(p.push(0, 1, 0, &mut out), Admit::Now);
        assert_eq!(p.push(0, 1, 1, &mut out), Admit::Held);
        assert_eq!(p.push(0, 1, 2, &mut out), Admit::Held);
        assert_eq!(p.push(0, 1, 3, &mut out), Admit::Dropped);
        assert_eq!(p.counters().dropped, 1);
        // One per ms.
        assert_eq!(p.poll(0, &mut out), Some(MS));
        assert_eq!(p.poll(MS, &mut out), Some(2 * MS));
        assert_eq!(p.poll(2 * MS, &mut out), None);
        assert_eq!(out, vec![0, 1, 2]);
        // Many one-off destinations (unicast clients) do not accumulate.
        for k in 10..10_000u32 {
            p.push(u64::from(k) * 10 * MS, k, k, &mut out);
        }
        assert!(p.lanes() < 100, "{}", p.lanes());
    }
}
