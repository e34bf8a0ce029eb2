//! One handler per client message: DISCOVER, REQUEST (selecting,
//! init-reboot, renewing, rebinding), DECLINE, RELEASE, INFORM; and the NAK.

use std::net::Ipv4Addr;

use super::reply::echo_tail;
use super::{Ctx, Destination, DropReason, Event, LeaseCommitted, MessageType, Outcome, Server};
use pbxnet_config::MacAddr;

use crate::lease::{ClientKey, LeaseState, LeaseStore};
use crate::wire::{code, Packet, FLAG_BROADCAST};

impl<S: LeaseStore> Server<S> {
    pub(super) fn discover(
        &mut self,
        now: u64,
        p: &Packet,
        ctx: &Ctx,
        out: &mut Vec<u8>,
    ) -> Outcome {
        let key = Self::client_key(p);
        if let Some(s) = self.cfg.classes[ctx.class].static_ip {
            if self
                .store
                .by_ip(s)
                .is_some_and(|l| l.state == LeaseState::Declined && l.expires > now)
            {
                return Outcome::Ignored(DropReason::OnProbation);
            }
        }
        let Some(ip) = self.choose(now, p, &key, ctx) else {
            if self.store.offline() {
                // Not exhausted: this server cannot promise an address
                // without the shared store.
                return Outcome::Ignored(DropReason::StoreUnreachable);
            }
            self.exhausted(ctx);
            return Outcome::Ignored(DropReason::PoolExhausted);
        };
        let secs = self.lease_time(p, ctx.subnet, ip);
        let never_used = self.store.by_ip(ip).is_none();
        let bound = self
            .store
            .by_ip(ip)
            .is_some_and(|l| l.client == key && l.state == LeaseState::Bound && l.expires > now);
        if !bound {
            let hold = self.cfg.offer_hold;
            self.record(now, p, key, ip, (LeaseState::Offered, hold), ctx);
        }
        if self.cfg.conflict_probe && never_used {
            return Outcome::Probe { ip };
        }
        self.reply(p, ctx, MessageType::Offer, ip, Some(secs), out)
    }

    pub(super) fn request(
        &mut self,
        now_ms: u64,
        p: &Packet,
        ctx: &Ctx,
        out: &mut Vec<u8>,
    ) -> Outcome {
        // Liveness checks use the truncated second; a lease granted here
        // counts from the next one (`grant_second`).
        let now = now_ms / 1000;
        let key = Self::client_key(p);
        let requested = p.options.ipv4(code::REQUESTED_IP);
        let sid = p.options.ipv4(code::SERVER_ID);
        let ip = match (sid, requested, p.ciaddr.is_unspecified()) {
            // SELECTING
            (Some(sid), _, _) => {
                if sid != ctx.server_id {
                    self.forget_offer(&key);
                    return Outcome::Ignored(DropReason::NotForUs);
                }
                let want = requested.unwrap_or(p.ciaddr);
                let ours = self.store.by_ip(want).is_some_and(|l| {
                    l.client == key && l.is_active(now) && l.state != LeaseState::Declined
                });
                if !self.store.may_grant(want, &key, now) {
                    // Silence, not a NAK: the client retries, and is
                    // answered once the store is back (or by another
                    // server).
                    return Outcome::Ignored(DropReason::StoreUnreachable);
                }
                if ours || (self.valid_for(want, ctx) && self.free_for(want, &key, now)) {
                    want
                } else {
                    return self.nak(p, ctx, out);
                }
            }
            // INIT-REBOOT
            (None, Some(want), true) => {
                let known = self.store.by_ip(want).is_some_and(|l| {
                    l.client == key && l.state == LeaseState::Bound && l.expires > now
                });
                let reserved = self.cfg.classes[ctx.class].static_ip == Some(want);
                if (known || reserved) && self.valid_for(want, ctx) {
                    if !self.store.may_grant(want, &key, now) {
                        // A reservation the client does not hold as bound:
                        // not this server's to grant without the store.
                        return Outcome::Ignored(DropReason::StoreUnreachable);
                    }
                    want
                } else if self.cfg.authoritative {
                    return self.nak(p, ctx, out);
                } else {
                    return Outcome::Ignored(DropReason::NotAuthoritative);
                }
            }
            // RENEWING / REBINDING
            (None, _, false) => {
                let want = p.ciaddr;
                let known = self.store.by_ip(want).is_some_and(|l| {
                    l.client == key && l.state == LeaseState::Bound && l.expires > now
                });
                if known && self.valid_for(want, ctx) {
                    want
                } else if self.cfg.authoritative && self.cfg.subnets[ctx.subnet].net.contains(want)
                {
                    return self.nak(p, ctx, out);
                } else {
                    return Outcome::Ignored(DropReason::NotAuthoritative);
                }
            }
            (None, None, true) => return Outcome::Ignored(DropReason::Unexpected),
        };
        let secs = self.lease_time(p, ctx.subnet, ip);
        let granted = grant_second(now_ms);
        self.record(granted, p, key, ip, (LeaseState::Bound, secs), ctx);
        self.lease_committed(p, ip, secs, ctx);
        self.reply(p, ctx, MessageType::Ack, ip, Some(secs), out)
    }

    /// The client chose another server (a SELECTING REQUEST naming
    /// another server identifier): the address we offered it is free again.
    fn forget_offer(&mut self, key: &ClientKey) {
        if let Some(l) = self.store.by_client(key) {
            if l.state == LeaseState::Offered {
                let ip = l.ip;
                self.store.remove(ip);
            }
        }
    }

    /// Reports an ACKed lease for the log, when the shell asked for it.
    fn lease_committed(&mut self, p: &Packet, ip: Ipv4Addr, lease_secs: u32, ctx: &Ctx) {
        if !self.report_leases {
            return;
        }
        let class = &self.cfg.classes[ctx.class];
        let hostname = self
            .store
            .by_ip(ip)
            .map(|l| l.hostname.as_str().to_string())
            .unwrap_or_default();
        self.committed.push_back(LeaseCommitted {
            ip,
            mac: MacAddr(p.mac()),
            class: class.name.clone(),
            profile: self.cfg.profiles[class.profile].name.clone(),
            hostname,
            lease_secs,
        });
    }

    pub(super) fn decline(&mut self, now: u64, p: &Packet, ctx: &Ctx) -> Outcome {
        if p.options
            .ipv4(code::SERVER_ID)
            .is_some_and(|s| s != ctx.server_id)
        {
            return Outcome::Ignored(DropReason::NotForUs);
        }
        let key = Self::client_key(p);
        let Some(ip) = p.options.ipv4(code::REQUESTED_IP) else {
            return Outcome::Ignored(DropReason::Unexpected);
        };
        match self.store.by_ip(ip) {
            Some(l) if l.client == key => {}
            _ => return Outcome::Ignored(DropReason::Unexpected),
        }
        let mut l = self.store.remove(ip).expect("checked above");
        l.state = LeaseState::Declined;
        l.expires = now + u64::from(self.cfg.decline_probation);
        // Probation leases belong to nobody: give the key a marker so the
        // client is not indexed to the declined address.
        l.client = ClientKey::Id((*b"declined").into());
        let mac = l.mac;
        self.store.upsert(l);
        self.counters.declines += 1;
        self.events.push_back(Event::Declined { ip, mac });
        Outcome::Consumed(MessageType::Decline)
    }

    pub(super) fn release(&mut self, now: u64, p: &Packet, ctx: &Ctx) -> Outcome {
        if p.options
            .ipv4(code::SERVER_ID)
            .is_some_and(|s| s != ctx.server_id)
        {
            return Outcome::Ignored(DropReason::NotForUs);
        }
        let key = Self::client_key(p);
        match self.store.by_ip(p.ciaddr) {
            Some(l) if l.client == key && l.state == LeaseState::Bound => {
                let mut l = l.clone();
                l.state = LeaseState::Released;
                l.expires = now;
                self.store.upsert(l);
                Outcome::Consumed(MessageType::Release)
            }
            _ => Outcome::Ignored(DropReason::Unexpected),
        }
    }

    pub(super) fn inform(&mut self, p: &Packet, ctx: &Ctx, out: &mut Vec<u8>) -> Outcome {
        self.reply(p, ctx, MessageType::Ack, Ipv4Addr::UNSPECIFIED, None, out)
    }

    pub(super) fn nak(&mut self, p: &Packet, ctx: &Ctx, out: &mut Vec<u8>) -> Outcome {
        let mut r = Packet::new(2);
        r.htype = p.htype;
        r.hlen = p.hlen;
        r.xid = p.xid;
        r.giaddr = p.giaddr;
        r.chaddr = p.chaddr;
        r.flags = p.flags;
        r.options
            .set(code::MESSAGE_TYPE, vec![MessageType::Nak as u8]);
        r.options
            .set(code::SERVER_ID, ctx.server_id.octets().to_vec());
        echo_tail(p, &mut r);
        // RFC 2131 §4.1: via the relay with the broadcast bit, else broadcast.
        let dest = if p.giaddr.is_unspecified() {
            Destination::Broadcast
        } else {
            r.flags |= FLAG_BROADCAST;
            Destination::Relay(p.giaddr)
        };
        r.encode(out);
        Outcome::Reply {
            dest,
            kind: MessageType::Nak,
        }
    }
}

/// The second a lease granted at `now_ms` is counted from. The store keeps
/// whole seconds and a lease counts as running until its end second has
/// fully begun; the client counts its lease from the moment it sent the
/// REQUEST (RFC 2131 §4.4.1). Truncating here would end the server's lease
/// up to a second before the client's, and the address could go to another
/// client while the first still uses it (the property test
/// `no_address_bound_twice` found it: 148 ms), so the end rounds up.
fn grant_second(now_ms: u64) -> u64 {
    now_ms.div_ceil(1000)
}
