//! Address choice, lease times and the lease record of an OFFER or ACK.

use std::net::Ipv4Addr;

use super::{Ctx, Server};
use crate::lease::{ClientKey, Lease, LeaseState, LeaseStore};
use crate::wire::{code, Packet};

impl<S: LeaseStore> Server<S> {
    /// Pools a client of `class` may take from in `subnet`: the class's pool
    /// when it lies in the subnet, else every pool of the subnet in order.
    pub(super) fn candidate_pools(&self, class: usize, subnet: usize) -> Vec<usize> {
        if let Some(pi) = self.cfg.classes[class].pool {
            if self.cfg.pools[pi].subnet == subnet {
                return vec![pi];
            }
        }
        (0..self.cfg.pools.len())
            .filter(|i| self.cfg.pools[*i].subnet == subnet)
            .collect()
    }

    pub(super) fn free_for(&self, ip: Ipv4Addr, key: &ClientKey, now: u64) -> bool {
        match self.store.by_ip(ip) {
            None => true,
            Some(l) if l.client == *key => l.state != LeaseState::Declined || l.expires <= now,
            Some(l) => !l.is_active(now),
        }
    }

    pub(super) fn valid_for(&self, ip: Ipv4Addr, ctx: &Ctx) -> bool {
        let c = &self.cfg.classes[ctx.class];
        if let Some(s) = c.static_ip {
            return s == ip;
        }
        self.candidate_pools(ctx.class, ctx.subnet)
            .iter()
            .any(|pi| self.cfg.pools[*pi].contains(ip))
    }

    /// Picks an address: static reservation, existing/previous binding,
    /// requested address, then the pool (never-used addresses first, then
    /// expired or released ones).
    pub(super) fn choose(
        &mut self,
        now: u64,
        p: &Packet,
        key: &ClientKey,
        ctx: &Ctx,
    ) -> Option<Ipv4Addr> {
        let c = &self.cfg.classes[ctx.class];
        if let Some(s) = c.static_ip {
            if self.cfg.subnets[ctx.subnet].net.contains(s) {
                return self.store.may_grant(s, key, now).then_some(s);
            }
        }
        if let Some(l) = self.store.by_client(key) {
            let ip = l.ip;
            if self.valid_for(ip, ctx)
                && self.free_for(ip, key, now)
                && self.store.may_grant(ip, key, now)
            {
                return Some(ip);
            }
        }
        if let Some(req) = p.options.ipv4(code::REQUESTED_IP) {
            if self.valid_for(req, ctx)
                && self.free_for(req, key, now)
                && self.store.may_grant(req, key, now)
            {
                return Some(req);
            }
        }
        // Offline, only the client's own bound lease may be granted, and it
        // was found above (by client, or by the address it asks for):
        // scanning the pool would find nothing and, on a large pool under
        // load, starve the core so that even those clients go unanswered.
        if self.store.offline() {
            return None;
        }
        let pools = self.candidate_pools(ctx.class, ctx.subnet);
        for pass in 0..2 {
            for &pi in &pools {
                let pool = &self.cfg.pools[pi];
                let size = pool.size();
                let start = u32::from(pool.start);
                let cur = self.cursor[pi];
                for k in 0..size {
                    let off = (cur + k) % size;
                    let ip = Ipv4Addr::from(start + off);
                    let ok = match self.store.by_ip(ip) {
                        None => true,
                        Some(l) => pass == 1 && !l.is_active(now),
                    };
                    if ok
                        && !self.is_network_or_broadcast(ip, ctx.subnet)
                        && self.store.may_grant(ip, key, now)
                    {
                        self.cursor[pi] = (off + 1) % size;
                        return Some(ip);
                    }
                }
            }
        }
        None
    }

    pub(super) fn is_network_or_broadcast(&self, ip: Ipv4Addr, subnet: usize) -> bool {
        let n = self.cfg.subnets[subnet].net;
        n.prefix < 31 && (ip == n.addr || ip == n.broadcast())
    }

    /// Lease time for `ip`: its pool's bounds when the pool sets them, else
    /// the subnet's; a requested time (51) is honoured within the bounds.
    pub(super) fn lease_time(&self, p: &Packet, subnet: usize, ip: Ipv4Addr) -> u32 {
        let t = self.cfg.subnets[subnet].lease;
        let (default, min, max) = self
            .cfg
            .pools
            .iter()
            .find(|pl| pl.subnet == subnet && pl.contains(ip))
            .and_then(|pl| pl.lease)
            .unwrap_or((t.default, t.min, t.max));
        match p.options.u32(code::LEASE_TIME) {
            Some(req) => req.clamp(min, max),
            None => default,
        }
    }

    pub(super) fn record(
        &mut self,
        now: u64,
        p: &Packet,
        key: ClientKey,
        ip: Ipv4Addr,
        (state, secs): (LeaseState, u32),
        ctx: &Ctx,
    ) {
        let text = |c| {
            p.options
                .get(c)
                .map(|v: &[u8]| {
                    String::from_utf8_lossy(v)
                        .trim_end_matches('\0')
                        .to_string()
                })
                .unwrap_or_default()
        };
        // A client moving to another address frees its old one, but only
        // once it is bound there: an OFFER replaces an older offer, never a
        // binding (RFC 2131 §4.3.1: the binding changes on REQUEST/ACK). A
        // DISCOVER that lands in another class's pool (a device that stopped
        // sending its vendor class) must not cost the client the lease it
        // holds and may still renew.
        if let Some(old) = self.store.by_client(&key) {
            if old.ip != ip
                && old.state != LeaseState::Declined
                && (state == LeaseState::Bound || old.state == LeaseState::Offered)
            {
                let oip = old.ip;
                self.store.remove(oip);
            }
        }
        self.store.upsert(Lease {
            ip,
            client: key,
            mac: p.mac(),
            state,
            expires: now + u64::from(secs),
            class: self.cfg.classes[ctx.class].name.clone(),
            vendor_class: p
                .options
                .get(code::VENDOR_CLASS)
                .map(vendor_class_text)
                .unwrap_or_default()
                .into(),
            hostname: text(code::HOSTNAME).into(),
        });
    }
}

/// Option 60 as shown by `leases`: the text when it is printable ASCII
/// (trailing NULs dropped), else colon-separated hex, the spelling a
/// `vendor-class-hex` matcher takes, so an installer can copy it.
pub(super) fn vendor_class_text(v: &[u8]) -> String {
    let trimmed = {
        let mut end = v.len();
        while end > 0 && v[end - 1] == 0 {
            end -= 1;
        }
        &v[..end]
    };
    if trimmed.iter().all(|b| (0x20..0x7f).contains(b)) {
        String::from_utf8_lossy(trimmed).into_owned()
    } else {
        v.iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":")
    }
}
