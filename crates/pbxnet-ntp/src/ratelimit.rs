//! Per-client rate limiting with a fixed-size table.
//!
//! Each slot holds one client (an IPv4 address or an IPv6 /64) and its
//! theoretical arrival time (GCRA, i.e. a token bucket in one number): a
//! request is within the limit while the client is at most `burst` intervals
//! ahead of schedule. The table never grows: a client is hashed (keyed with a
//! seed from the injected RNG, so an attacker cannot aim at a slot) to two
//! candidate slots and evicts the one seen least recently. Memory is
//! `slots × 24` bytes.
//!
//! A limited client is still answered once every `leak` limited requests, so a
//! spoofed victim is never cut off completely; at most one RATE kiss-o'-death
//! per `kod_interval` is sent to a client, the other leaked answers are normal
//! replies.

use std::net::IpAddr;

/// Rate-limit settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// Minimum average interval between requests of one client, in ms.
    pub interval_ms: u64,
    /// Requests allowed back to back before limiting starts.
    pub burst: u32,
    /// Answer one in `leak` limited requests (0: never).
    pub leak: u32,
    /// Send RATE kiss-o'-death codes (at most one per `kod_interval_ms`).
    pub kod: bool,
    /// Minimum spacing of RATE KoDs to one client, in ms.
    pub kod_interval_ms: u64,
    /// Table slots (rounded up to a power of two, at least 2).
    pub slots: usize,
}

/// Size of one table slot in bytes (for memory budgeting).
pub const SLOT_BYTES: usize = std::mem::size_of::<Slot>();

/// What to do with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateVerdict {
    /// Within the limit.
    Pass,
    /// Over the limit: drop.
    Drop,
    /// Over the limit but leaked: answer normally.
    Leak,
    /// Over the limit: answer with a RATE kiss-o'-death.
    Kod,
}

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    key: u64,
    /// Theoretical arrival time (ms since the limiter's epoch), 0 = empty.
    tat: u64,
    limited: u32,
    /// Last KoD time in ms/1024 (saturating), 0 = never.
    last_kod: u32,
}

/// Keyed multiply-xorshift mix of `key` (`k0` odd); the keys come from the
/// injected RNG, so a client cannot aim at a slot.
pub(crate) fn keyed_hash(k0: u64, k1: u64, key: u64) -> u64 {
    let mut h = (key ^ k1).wrapping_mul(k0);
    h ^= h >> 29;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^ (h >> 32)
}

/// The limiter.
#[derive(Debug)]
pub struct RateLimiter {
    cfg: RateLimitConfig,
    table: Vec<Slot>,
    k0: u64,
    k1: u64,
}

impl RateLimiter {
    /// New limiter; `seed` keys the slot hash.
    pub fn new(cfg: RateLimitConfig, seed: [u64; 2]) -> Self {
        let n = cfg.slots.max(2).next_power_of_two();
        RateLimiter {
            cfg,
            table: vec![Slot::default(); n],
            k0: seed[0] | 1,
            k1: seed[1],
        }
    }

    /// Settings in force.
    pub fn config(&self) -> &RateLimitConfig {
        &self.cfg
    }

    fn key(ip: IpAddr) -> u64 {
        match ip {
            IpAddr::V4(a) => u64::from(u32::from(a)) | (1 << 63),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(v4) => u64::from(u32::from(v4)) | (1 << 63),
                None => (u128::from(a) >> 64) as u64 & !(1 << 63),
            },
        }
    }

    fn hash(&self, key: u64) -> u64 {
        keyed_hash(self.k0, self.k1, key)
    }

    /// Account one request from `ip` at `now_ms` (monotonic ms).
    pub fn check(&mut self, ip: IpAddr, now_ms: u64) -> RateVerdict {
        let now = now_ms.saturating_add(1); // 0 marks an empty slot
        let key = Self::key(ip);
        let mask = self.table.len() - 1;
        let i = (self.hash(key) as usize) & mask;
        let j = i ^ 1;
        let idx = if self.table[i].tat != 0 && self.table[i].key == key {
            i
        } else if self.table[j].tat != 0 && self.table[j].key == key {
            j
        } else {
            // Evict the older of the two (smaller TAT = idle longer).
            let v = if self.table[i].tat <= self.table[j].tat {
                i
            } else {
                j
            };
            self.table[v] = Slot {
                key,
                tat: 0,
                limited: 0,
                last_kod: 0,
            };
            v
        };
        let cfg = self.cfg;
        let slot = &mut self.table[idx];
        let tat = slot.tat.max(now);
        let allowance = cfg.interval_ms.saturating_mul(u64::from(cfg.burst.max(1)));
        if tat - now < allowance {
            slot.tat = tat + cfg.interval_ms;
            slot.limited = 0;
            return RateVerdict::Pass;
        }
        slot.limited = slot.limited.saturating_add(1);
        if cfg.leak == 0 || slot.limited % cfg.leak != 0 {
            return RateVerdict::Drop;
        }
        let now_k = u32::try_from((now >> 10).max(1)).unwrap_or(u32::MAX);
        let kod_gap = u32::try_from(cfg.kod_interval_ms >> 10).unwrap_or(u32::MAX);
        if cfg.kod && (slot.last_kod == 0 || now_k.saturating_sub(slot.last_kod) >= kod_gap) {
            slot.last_kod = now_k;
            RateVerdict::Kod
        } else {
            RateVerdict::Leak
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> RateLimitConfig {
        RateLimitConfig {
            interval_ms: 1000,
            burst: 4,
            leak: 4,
            kod: true,
            kod_interval_ms: 10_000,
            slots: 64,
        }
    }

    #[test]
    fn allows_burst_then_limits_then_recovers() {
        let mut rl = RateLimiter::new(cfg(), [1, 2]);
        let a: IpAddr = "192.168.92.10".parse().unwrap();
        for _ in 0..4 {
            assert_eq!(rl.check(a, 5000), RateVerdict::Pass);
        }
        let v: Vec<_> = (0..12).map(|_| rl.check(a, 5000)).collect();
        use RateVerdict::*;
        assert_eq!(
            v,
            [Drop, Drop, Drop, Kod, Drop, Drop, Drop, Leak, Drop, Drop, Drop, Leak]
        );
        // after the interval one more passes
        assert_eq!(rl.check(a, 6000), Pass);
        // a different client is unaffected
        assert_eq!(rl.check("192.168.92.11".parse().unwrap(), 5000), Pass);
        // KoD again once kod_interval has passed, when over the limit
        for _ in 0..3 {
            rl.check(a, 6000);
        }
        let later: Vec<_> = (0..8).map(|_| rl.check(a, 20_000 - 4000)).collect();
        assert!(later.contains(&Kod), "{later:?}");
    }

    #[test]
    fn table_is_bounded_and_steady_clients_pass() {
        let mut rl = RateLimiter::new(RateLimitConfig { slots: 8, ..cfg() }, [3, 4]);
        // 10,000 distinct addresses: the table stays at 8 slots.
        for n in 0..10_000u32 {
            let ip = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + n));
            assert_eq!(rl.check(ip, 1000), RateVerdict::Pass);
        }
        assert_eq!(rl.table.len(), 8);
        // a client polling at the allowed rate is never limited
        let a: IpAddr = "fd00::1".parse().unwrap();
        for t in 0..100 {
            assert_eq!(rl.check(a, 10_000 + t * 1000), RateVerdict::Pass);
        }
    }
}
