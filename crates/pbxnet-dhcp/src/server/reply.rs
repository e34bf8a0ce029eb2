//! Building an OFFER or ACK: header, options in the documented order,
//! fitting the client's maximum message size, destination.

use std::net::Ipv4Addr;

use super::{Ctx, Destination, MessageType, Outcome, Server};
use crate::lease::LeaseStore;
use crate::wire::{code, Packet, FLAG_BROADCAST};

impl<S: LeaseStore> Server<S> {
    pub(super) fn reply(
        &mut self,
        p: &Packet,
        ctx: &Ctx,
        kind: MessageType,
        yiaddr: Ipv4Addr,
        lease: Option<u32>,
        out: &mut Vec<u8>,
    ) -> Outcome {
        let subnet = &self.cfg.subnets[ctx.subnet];
        let class = &self.cfg.classes[ctx.class];
        let rendered = &self.rendered[class.profile][ctx.subnet];
        let mut r = Packet::new(2);
        r.htype = p.htype;
        r.hlen = p.hlen;
        r.xid = p.xid;
        r.flags = p.flags;
        r.giaddr = p.giaddr;
        r.chaddr = p.chaddr;
        r.yiaddr = yiaddr;
        if kind == MessageType::Ack && lease.is_none() {
            r.ciaddr = p.ciaddr;
        }
        r.siaddr = rendered.next_server.unwrap_or(Ipv4Addr::UNSPECIFIED);
        let o = &mut r.options;
        o.set(code::MESSAGE_TYPE, vec![kind as u8]);
        o.set(code::SERVER_ID, ctx.server_id.octets().to_vec());
        if let Some(secs) = lease {
            let t = subnet.lease;
            o.set(code::LEASE_TIME, secs.to_be_bytes().to_vec());
            o.set(
                code::RENEWAL_TIME,
                ((f64::from(secs) * t.t1) as u32).to_be_bytes().to_vec(),
            );
            o.set(
                code::REBINDING_TIME,
                ((f64::from(secs) * t.t2) as u32).to_be_bytes().to_vec(),
            );
        }
        o.set(code::SUBNET_MASK, subnet.net.mask().octets().to_vec());
        let fixed = o.len();
        // Built-in values when the profile does not set them.
        let builtin = |c: u8| -> Option<Vec<u8>> {
            match c {
                code::ROUTER if !subnet.routers.is_empty() => {
                    Some(subnet.routers.iter().flat_map(|a| a.octets()).collect())
                }
                code::DNS => Some(ctx.server_id.octets().to_vec()),
                _ => None,
            }
        };
        if let Some(prl) = p.options.get(code::PARAMETER_REQUEST_LIST) {
            for &c in prl {
                if matches!(c, 0 | 255 | 52..=55 | 58 | 59 | 1 | 61 | 82) || o.contains(c) {
                    continue;
                }
                if let Some((_, v, _)) = rendered.get(c) {
                    o.set(c, v.clone());
                } else if let Some(v) = builtin(c) {
                    o.set(c, v);
                }
            }
        }
        for (c, v, always) in &rendered.options {
            if *always && !o.contains(*c) {
                o.set(*c, v.clone());
            }
        }
        // Fit the client's maximum message size (RFC 2132 §9.10, ≥ 576):
        // drop optional options from the end.
        let max = usize::from(
            p.options
                .u16(code::MAX_MESSAGE_SIZE)
                .unwrap_or(576)
                .max(576),
        )
        .saturating_sub(28); // IP + UDP headers
        let tail = tail_len(p);
        let mut cut = false;
        while r.wire_len() + tail > max && r.options.len() > fixed {
            let last = r.options.iter().last().map(|(c, _)| c).expect("non-empty");
            r.options.remove(last);
            cut = true;
        }
        if cut {
            self.counters.truncated_replies += 1;
        }
        echo_tail(p, &mut r);
        let dest = if !p.giaddr.is_unspecified() {
            Destination::Relay(p.giaddr)
        } else if !p.ciaddr.is_unspecified() {
            Destination::Unicast(p.ciaddr)
        } else if p.flags & FLAG_BROADCAST != 0 || yiaddr.is_unspecified() {
            Destination::Broadcast
        } else {
            Destination::UnicastNoArp {
                ip: yiaddr,
                mac: p.mac(),
            }
        };
        r.encode(out);
        Outcome::Reply { dest, kind }
    }
}

fn tail_len(p: &Packet) -> usize {
    [code::CLIENT_ID, code::RELAY_AGENT_INFO]
        .iter()
        .filter_map(|c| p.options.get(*c))
        .map(|v| v.len() + 2 * v.len().div_ceil(255).max(1))
        .sum()
}

/// Echoes 61 (RFC 6842) and 82 (RFC 3046) last.
pub(super) fn echo_tail(p: &Packet, r: &mut Packet) {
    for c in [code::CLIENT_ID, code::RELAY_AGENT_INFO] {
        if let Some(v) = p.options.get(c) {
            r.options.set(c, v.to_vec());
        }
    }
}
