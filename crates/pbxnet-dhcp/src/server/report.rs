//! The messages the server handled, as published events
//! ([`pbxnet_inventory::DhcpEvent`]): built only while the shell asks for
//! them ([`Server::report_messages`]: someone subscribes to the event
//! socket), so that a server nobody watches does no work for them.
//!
//! One event per DISCOVER, DECLINE and RELEASE received and per OFFER, ACK
//! and NAK sent (REQUEST and INFORM are seen through the reply they get).
//! Every event carries what the device said about itself (options 60, 77,
//! 55, 12 and the relay); OFFER and ACK also the class, profile, boot file,
//! and the ACK the lease's end. The shell publishes an ACK's event only once
//! its lease is durable, with the ACK itself.

use pbxnet_inventory::{DhcpEvent, DhcpMessage, Mac};

use super::allocate::vendor_class_text;
use super::{Ctx, MessageSeen, MessageType, Outcome, Server};
use crate::classify::rfc3004_instances;
use crate::lease::LeaseStore;
use crate::wire::{code, Packet};

impl<S: LeaseStore> Server<S> {
    /// Asks for one [`MessageSeen`] per message handled, drained with
    /// [`Server::poll_message`]. Off by default; turning it off drops what
    /// was not drained.
    pub fn report_messages(&mut self, on: bool) {
        self.report_messages = on;
        if !on {
            self.messages.clear();
        }
    }

    /// Next message handled since the last call (see
    /// [`Server::report_messages`]).
    pub fn poll_message(&mut self) -> Option<MessageSeen> {
        self.messages.pop_front()
    }

    /// Notes the request `p` (of type `mt`) and the reply in `out`.
    pub(super) fn note_message(
        &mut self,
        at_ms: u64,
        p: &Packet,
        mt: MessageType,
        ctx: &Ctx,
        outcome: &Outcome,
        out: &[u8],
    ) {
        let received = match mt {
            MessageType::Discover => Some(DhcpMessage::Discover),
            MessageType::Decline => Some(DhcpMessage::Decline),
            MessageType::Release => Some(DhcpMessage::Release),
            _ => None,
        };
        if let Some(message) = received {
            let mut event = about_device(message, p);
            event.ip = match mt {
                MessageType::Discover => p.options.ipv4(code::REQUESTED_IP),
                _ => Some(p.ciaddr)
                    .filter(|a| !a.is_unspecified())
                    .or_else(|| p.options.ipv4(code::REQUESTED_IP)),
            };
            self.messages.push_back(MessageSeen { at_ms, event });
        }
        let Outcome::Reply { kind, .. } = outcome else {
            return;
        };
        let message = match (mt, kind) {
            (_, MessageType::Offer) => DhcpMessage::Offer,
            (MessageType::Request, MessageType::Ack) => DhcpMessage::Ack,
            (_, MessageType::Nak) => DhcpMessage::Nak,
            // An INFORM's ACK grants no lease.
            _ => return,
        };
        let mut event = about_device(message, p);
        if message != DhcpMessage::Nak {
            let class = &self.cfg.classes[ctx.class];
            event.class = Some(class.name.to_string());
            event.profile = Some(self.cfg.profiles[class.profile].name.clone());
            if let Ok(reply) = Packet::decode(out) {
                event.ip = Some(reply.yiaddr).filter(|a| !a.is_unspecified());
                event.boot_file = boot_file(&reply);
                if message == DhcpMessage::Ack {
                    event.lease_expires = reply
                        .options
                        .u32(code::LEASE_TIME)
                        .map(|secs| at_ms + u64::from(secs) * 1000);
                }
            }
        }
        self.messages.push_back(MessageSeen { at_ms, event });
    }
}

/// What the request says about the device.
fn about_device(message: DhcpMessage, p: &Packet) -> DhcpEvent {
    DhcpEvent {
        message,
        mac: Mac(p.mac()),
        ip: None,
        vendor_class: p.options.get(code::VENDOR_CLASS).map(vendor_class_text),
        user_class: p.options.get(code::USER_CLASS).map(user_class_text),
        parameter_request: p
            .options
            .get(code::PARAMETER_REQUEST_LIST)
            .map(<[u8]>::to_vec)
            .unwrap_or_default(),
        hostname: p
            .options
            .get(code::HOSTNAME)
            .map(|h| String::from_utf8_lossy(trim_nul(h)).into_owned())
            .filter(|h| !h.is_empty()),
        relay: Some(p.giaddr).filter(|a| !a.is_unspecified()),
        class: None,
        profile: None,
        boot_file: None,
        lease_expires: None,
    }
}

/// Option 77 as text: the RFC 3004 instances joined with `,` when it
/// parses as such (and each is text), else the raw value; AudioCodes
/// phones send their model either way.
fn user_class_text(v: &[u8]) -> String {
    let printable = |b: &[u8]| trim_nul(b).iter().all(|c| (0x20..0x7f).contains(c));
    match rfc3004_instances(trim_nul(v)) {
        Some(instances) if instances.iter().all(|i| printable(i)) => instances
            .iter()
            .map(|i| String::from_utf8_lossy(trim_nul(i)).into_owned())
            .collect::<Vec<_>>()
            .join(","),
        _ if printable(v) => String::from_utf8_lossy(trim_nul(v)).into_owned(),
        _ => vendor_class_text(v),
    }
}

/// Option 67 when the reply carries it, else the `file` field.
fn boot_file(reply: &Packet) -> Option<String> {
    let raw = reply
        .options
        .get(code::BOOTFILE_NAME)
        .unwrap_or(&reply.file[..]);
    Some(String::from_utf8_lossy(trim_nul(nul_terminated(raw))).into_owned())
        .filter(|f| !f.is_empty())
}

fn nul_terminated(v: &[u8]) -> &[u8] {
    v.iter().position(|b| *b == 0).map_or(v, |end| &v[..end])
}

fn trim_nul(v: &[u8]) -> &[u8] {
    let end = v.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
    &v[..end]
}
