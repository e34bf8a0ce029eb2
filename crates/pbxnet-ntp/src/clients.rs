//! Per-client counters for `status clients` (the view of `chronyc
//! clients`): requests, requests not answered, when the client was first
//! and last heard (so the mean interval between its requests), per client
//! address.
//!
//! Each server worker keeps one [`ClientTable`] of fixed size: a client is
//! hashed (keyed from the injected RNG) to two candidate slots and evicts
//! the one heard from least recently, so a flood of addresses costs no
//! memory and only pushes out idle clients. Requests of one client may land
//! on several workers (the kernel spreads by 4-tuple and each request may
//! come from another port): [`merge`] adds the workers' records up, and the
//! mean interval is taken over the merged span, so it holds across workers.

use crate::ratelimit::keyed_hash;
use std::net::IpAddr;

/// Slots per worker table (about 40 bytes each).
pub const CLIENT_TABLE_SLOTS: usize = 2048;

#[derive(Debug, Clone, Copy)]
struct Slot {
    addr: IpAddr,
    requests: u32,
    dropped: u32,
    /// First request, monotonic ms.
    first_ms: u64,
    /// Last request, monotonic ms + 1 (0 = empty slot).
    last_ms: u64,
}

const EMPTY: Slot = Slot {
    addr: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
    requests: 0,
    dropped: 0,
    first_ms: 0,
    last_ms: 0,
};

/// What is known of one client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ClientRecord {
    /// The client's address.
    pub addr: IpAddr,
    /// Requests received.
    pub requests: u64,
    /// Requests not answered (rate limit, access, authentication, malformed).
    pub dropped: u64,
    /// Its first request, monotonic ms (the table's clock).
    pub first_ms: u64,
    /// Its last request, monotonic ms.
    pub last_ms: u64,
}

impl ClientRecord {
    /// Mean interval between its requests (ms); `None` after one request.
    pub fn mean_interval_ms(&self) -> Option<u64> {
        (self.requests > 1).then(|| (self.last_ms - self.first_ms) / (self.requests - 1))
    }
}

/// One worker's table.
#[derive(Debug, Clone)]
pub struct ClientTable {
    slots: Vec<Slot>,
    k0: u64,
    k1: u64,
}

impl ClientTable {
    /// A table of `slots` (rounded up to a power of two, at least 2); `seed`
    /// keys the slot hash.
    pub fn new(slots: usize, seed: [u64; 2]) -> Self {
        ClientTable {
            slots: vec![EMPTY; slots.max(2).next_power_of_two()],
            k0: seed[0] | 1,
            k1: seed[1],
        }
    }

    fn slot_of(&mut self, addr: IpAddr) -> &mut Slot {
        let key = match addr {
            IpAddr::V4(a) => u64::from(u32::from(a)),
            IpAddr::V6(a) => {
                let v = u128::from(a);
                (v >> 64) as u64 ^ v as u64
            }
        };
        let mask = self.slots.len() - 1;
        let i = (keyed_hash(self.k0, self.k1, key) as usize) & mask;
        let j = i ^ 1;
        let found = [i, j]
            .into_iter()
            .find(|&k| self.slots[k].last_ms != 0 && self.slots[k].addr == addr);
        let k = found.unwrap_or_else(|| {
            // Evict the one heard from least recently (or an empty one).
            let v = if self.slots[i].last_ms <= self.slots[j].last_ms {
                i
            } else {
                j
            };
            self.slots[v] = Slot { addr, ..EMPTY };
            v
        });
        &mut self.slots[k]
    }

    /// One request from `addr` at monotonic `now_ms`, answered or not.
    pub fn record(&mut self, addr: IpAddr, now_ms: u64, answered: bool) {
        let now = now_ms.saturating_add(1);
        let slot = self.slot_of(addr);
        if slot.requests == 0 {
            slot.first_ms = now_ms;
        }
        slot.requests = slot.requests.saturating_add(1);
        if !answered {
            slot.dropped = slot.dropped.saturating_add(1);
        }
        slot.last_ms = now;
    }

    /// The clients in the table, in slot order.
    pub fn records(&self) -> impl Iterator<Item = ClientRecord> + '_ {
        self.slots
            .iter()
            .filter(|s| s.last_ms != 0)
            .map(|s| ClientRecord {
                addr: s.addr,
                requests: u64::from(s.requests),
                dropped: u64::from(s.dropped),
                first_ms: s.first_ms,
                last_ms: s.last_ms - 1,
            })
    }
}

/// The records of several workers, one per address (counts added, the
/// earliest first and latest last request kept), sorted by address.
pub fn merge(records: impl IntoIterator<Item = ClientRecord>) -> Vec<ClientRecord> {
    let mut by_addr: std::collections::BTreeMap<IpAddr, ClientRecord> = Default::default();
    for r in records {
        by_addr
            .entry(r.addr)
            .and_modify(|m| {
                m.requests += r.requests;
                m.dropped += r.dropped;
                m.first_ms = m.first_ms.min(r.first_ms);
                m.last_ms = m.last_ms.max(r.last_ms);
            })
            .or_insert(r);
    }
    by_addr.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_requests_drops_and_the_mean_interval_per_client() {
        let mut t = ClientTable::new(64, [5, 6]);
        let a: IpAddr = "192.168.92.10".parse().unwrap();
        let b: IpAddr = "fd00::7".parse().unwrap();
        for k in 0..10 {
            t.record(a, 1000 + k * 64_000, true);
        }
        t.record(b, 5000, false);
        t.record(b, 7000, true);
        let mut r: Vec<_> = t.records().collect();
        r.sort_by_key(|x| x.addr);
        assert_eq!(r.len(), 2);
        assert_eq!((r[0].addr, r[0].requests, r[0].dropped), (a, 10, 0));
        assert_eq!(r[0].mean_interval_ms(), Some(64_000));
        assert_eq!(r[0].last_ms, 1000 + 9 * 64_000);
        assert_eq!((r[1].requests, r[1].dropped), (2, 1));
        assert_eq!(r[1].mean_interval_ms(), Some(2000));
    }

    #[test]
    fn table_is_bounded_and_evicts_the_least_recent() {
        let mut t = ClientTable::new(8, [1, 2]);
        for n in 0..10_000u32 {
            let ip = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + n));
            t.record(ip, u64::from(n), true);
        }
        assert_eq!(t.slots.len(), 8);
        assert!(t.records().count() <= 8);
        // the newest client is there
        assert!(t
            .records()
            .any(|r| r.addr == "10.0.39.15".parse::<IpAddr>().unwrap()));
    }

    #[test]
    fn merge_adds_workers_up_per_address() {
        let a: IpAddr = "192.168.92.10".parse().unwrap();
        let rec = |requests, first, last| ClientRecord {
            addr: a,
            requests,
            dropped: 1,
            first_ms: first,
            last_ms: last,
        };
        // one client's 6 requests, 64 s apart, spread over three workers
        let m = merge([
            rec(3, 0, 256_000),
            rec(2, 64_000, 320_000),
            rec(1, 192_000, 192_000),
        ]);
        assert_eq!(m.len(), 1);
        assert_eq!((m[0].requests, m[0].dropped), (6, 3));
        assert_eq!((m[0].first_ms, m[0].last_ms), (0, 320_000));
        assert_eq!(m[0].mean_interval_ms(), Some(64_000));
    }
}
