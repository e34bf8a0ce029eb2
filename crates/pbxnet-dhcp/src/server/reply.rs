//! Building an OFFER or ACK: header, options in the documented order,
//! fitting the client's maximum message size ([`super::fit`]),
//! destination.

use std::net::Ipv4Addr;

use super::fit::fit;
use super::{Ctx, Destination, MessageType, Outcome, Server};
use crate::lease::LeaseStore;
use crate::wire::{code, Packet, FLAG_BROADCAST};

/// IP and UDP headers: option 57 counts them, the DHCP message does not.
const IP_UDP_HEADERS: usize = 28;

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
        let mut r = self.reply_header(p, ctx, kind, yiaddr);
        self.fixed_options(&mut r, ctx, kind, lease);
        let fixed = r.options.len();
        self.profile_options(&mut r, p, ctx);
        let fitted = fit(&mut r, fixed, tail_len(p), max_message_len(p));
        if !fitted.dropped.is_empty() {
            self.counters.truncated_replies += 1;
        }
        if fitted.overflow.overload() != 0 {
            self.counters.overloaded_replies += 1;
        }
        echo_tail(p, &mut r);
        r.encode_with(&fitted.overflow, out);
        Outcome::Reply {
            dest: destination(p, yiaddr),
            kind,
        }
    }

    /// The BOOTREPLY header. ciaddr: the request's in an ACK (RFC 2131
    /// table 3: a RENEWING or REBINDING client's address, an INFORM's), 0 in
    /// an OFFER.
    fn reply_header(&self, p: &Packet, ctx: &Ctx, kind: MessageType, yiaddr: Ipv4Addr) -> Packet {
        let rendered = &self.rendered[self.cfg.classes[ctx.class].profile][ctx.subnet];
        let mut r = Packet::new(2);
        r.htype = p.htype;
        r.hlen = p.hlen;
        r.xid = p.xid;
        r.flags = p.flags;
        r.giaddr = p.giaddr;
        r.chaddr = p.chaddr;
        r.yiaddr = yiaddr;
        if kind == MessageType::Ack {
            r.ciaddr = p.ciaddr;
        }
        r.siaddr = rendered.next_server.unwrap_or(Ipv4Addr::UNSPECIFIED);
        r
    }

    /// The options the server always sets: 53, 54, then 51, 58, 59 with a
    /// lease, then 1.
    fn fixed_options(&self, r: &mut Packet, ctx: &Ctx, kind: MessageType, lease: Option<u32>) {
        let subnet = &self.cfg.subnets[ctx.subnet];
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
    }

    /// The options the client asked for (option 55, in its order) that the
    /// profile or the server has, then the profile's "always send" ones.
    fn profile_options(&self, r: &mut Packet, p: &Packet, ctx: &Ctx) {
        let subnet = &self.cfg.subnets[ctx.subnet];
        let rendered = &self.rendered[self.cfg.classes[ctx.class].profile][ctx.subnet];
        let o = &mut r.options;
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
    }
}

/// The longest DHCP message the client takes: option 57 (at least 576,
/// RFC 2132 §9.10), else 576, less the IP and UDP headers.
fn max_message_len(p: &Packet) -> usize {
    let max = p
        .options
        .u16(code::MAX_MESSAGE_SIZE)
        .unwrap_or(576)
        .max(576);
    usize::from(max) - IP_UDP_HEADERS
}

/// Where a reply goes (RFC 2131 §4.1): the relay, the client's address,
/// broadcast when asked or when there is no address, else unicast to the
/// address offered.
fn destination(p: &Packet, yiaddr: Ipv4Addr) -> Destination {
    if !p.giaddr.is_unspecified() {
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
    }
}

/// Bytes the echoed 61 and 82 will take.
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
