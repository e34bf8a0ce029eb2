//! DHCP events: the device's identity, its lease, the address index and
//! the start of each boot.

use std::net::Ipv4Addr;

use crate::event::{DhcpEvent, DhcpMessage, UnixMillis};
use crate::inventory::{Holder, Inventory};
use crate::mac::Mac;
use crate::record::{Device, Lease, LeaseState};
use crate::vendor;

impl Inventory {
    pub(crate) fn apply_dhcp(&mut self, at: UnixMillis, d: &DhcpEvent) {
        let keep = self.cfg.boots_kept;
        let dev = self.entry(d.mac, at);
        dev.last_contact = dev.last_contact.max(at);
        learn_dhcp_identity(dev, d);
        match d.message {
            DhcpMessage::Discover => {
                // A new boot, unless this one has not reached its lease yet
                // (the device is still retrying DISCOVER).
                if dev.current_boot().is_none_or(|b| b.leased.is_some()) {
                    dev.start_boot(at, keep);
                }
            }
            DhcpMessage::Offer => offer(dev, at, d.ip),
            DhcpMessage::Ack => self.ack(at, d),
            DhcpMessage::Nak => self.end_lease(d.mac, at, None, LeaseState::Nakked),
            DhcpMessage::Decline => self.end_lease(d.mac, at, d.ip, LeaseState::Declined),
            DhcpMessage::Release => self.end_lease(d.mac, at, d.ip, LeaseState::Released),
        }
    }

    fn ack(&mut self, at: UnixMillis, d: &DhcpEvent) {
        let Some(ip) = d.ip else {
            return;
        };
        let previous = self.holders.insert(
            ip,
            Holder {
                mac: d.mac,
                expires: d.lease_expires,
            },
        );
        if let Some(other) = previous.map(|h| h.mac).filter(|m| *m != d.mac) {
            self.set_state_if_at(other, ip, at, LeaseState::Reassigned);
        }
        let keep = self.cfg.boots_kept;
        let Some(dev) = self.devices.get_mut(&d.mac) else {
            return;
        };
        let required = self.cfg.chains.required(dev.kind);
        let old_ip = dev.lease.as_ref().map(|l| l.ip).filter(|old| *old != ip);
        dev.lease = Some(Lease {
            ip,
            state: LeaseState::Bound,
            since: at,
            expires: d.lease_expires,
        });
        if dev.current_boot().is_none() {
            // An INIT-REBOOT REQUEST (no DISCOVER) or an inventory started late.
            dev.start_boot(at, keep);
        }
        if let Some(boot) = dev.boots.back_mut() {
            if boot.leased.is_none() {
                boot.leased = Some(at);
                boot.ip = Some(ip);
            }
            boot.check_complete(required, at);
        }
        if let Some(old) = old_ip {
            self.unhold(old, d.mac);
        }
        self.reattribute_early(ip, at);
    }

    /// A NAK, DECLINE or RELEASE: the device holds no address any more.
    fn end_lease(&mut self, mac: Mac, at: UnixMillis, ip: Option<Ipv4Addr>, state: LeaseState) {
        let Some(dev) = self.devices.get_mut(&mac) else {
            return;
        };
        let held = dev.lease.as_ref().map(|l| l.ip);
        let ip = ip.or(held);
        if let Some(lease) = dev.lease.as_mut().filter(|l| Some(l.ip) == ip) {
            lease.state = state;
            lease.since = at;
            lease.expires = None;
        }
        if let Some(ip) = ip {
            self.unhold(ip, mac);
        }
    }

    fn unhold(&mut self, ip: Ipv4Addr, mac: Mac) {
        if self.holders.get(&ip).is_some_and(|h| h.mac == mac) {
            self.holders.remove(&ip);
        }
    }

    fn set_state_if_at(&mut self, mac: Mac, ip: Ipv4Addr, at: UnixMillis, state: LeaseState) {
        if let Some(lease) = self
            .devices
            .get_mut(&mac)
            .and_then(|d| d.lease.as_mut())
            .filter(|l| l.ip == ip)
        {
            lease.state = state;
            lease.since = at;
        }
    }
}

/// An offer never displaces a lease still bound (only an ACK moves it).
fn offer(dev: &mut Device, at: UnixMillis, ip: Option<Ipv4Addr>) {
    let bound = dev
        .lease
        .as_ref()
        .is_some_and(|l| l.state_at(at) == LeaseState::Bound);
    if let (Some(ip), false) = (ip, bound) {
        dev.lease = Some(Lease {
            ip,
            state: LeaseState::Offered,
            since: at,
            expires: None,
        });
    }
}

/// What a DHCP message says of the device; absent fields keep what an
/// earlier message said (a server's OFFER carries no option 60).
fn learn_dhcp_identity(dev: &mut Device, d: &DhcpEvent) {
    let set = |field: &mut Option<String>, value: &Option<String>| {
        if value.is_some() {
            field.clone_from(value);
        }
    };
    set(&mut dev.vendor_class, &d.vendor_class);
    set(&mut dev.user_class, &d.user_class);
    set(&mut dev.hostname, &d.hostname);
    set(&mut dev.class, &d.class);
    set(&mut dev.profile, &d.profile);
    set(&mut dev.boot_file, &d.boot_file);
    if !d.parameter_request.is_empty() {
        dev.parameter_request.clone_from(&d.parameter_request);
    }
    if d.relay.is_some() {
        dev.relay = d.relay;
    }
    let kind = vendor::kind_of(dev.mac, dev.vendor_class.as_deref());
    if kind != vendor::DeviceKind::Unknown {
        dev.kind = kind;
    }
    if let Some(model) =
        vendor::model_from_dhcp(dev.vendor_class.as_deref(), dev.user_class.as_deref())
    {
        // The User-Agent, when one came, named the model more exactly.
        dev.model.get_or_insert(model);
    }
}
