//! Event builders shared by the scenario, property and round-trip tests.
#![allow(dead_code, unreachable_pub)]

use std::net::Ipv4Addr;

use pbxnet_inventory::{
    AuthResult, Daemon, DhcpEvent, DhcpMessage, Envelope, Event, Mac, NtpRequestEvent, Outcome,
    Protocol, TransferEvent,
};

pub const SECOND: u64 = 1000;
/// A December 2026 morning, Unix ms.
pub const T0: u64 = 1_796_000_000_000;

pub fn mac(s: &str) -> Mac {
    s.parse().unwrap()
}

pub fn ip(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(192, 168, 92, last)
}

fn dhcp(message: DhcpMessage, mac: Mac) -> DhcpEvent {
    DhcpEvent {
        message,
        mac,
        ip: None,
        vendor_class: None,
        user_class: None,
        parameter_request: Vec::new(),
        hostname: None,
        relay: None,
        class: None,
        profile: None,
        boot_file: None,
        lease_expires: None,
    }
}

pub fn discover(at: u64, mac: Mac, vendor_class: &str) -> Envelope {
    let d = DhcpEvent {
        vendor_class: Some(vendor_class.into()),
        parameter_request: vec![1, 3, 6, 66, 67],
        ..dhcp(DhcpMessage::Discover, mac)
    };
    Envelope::new(Daemon::Dhcpd, at, Event::Dhcp(d))
}

pub fn ack(at: u64, mac: Mac, addr: Ipv4Addr, class: &str, boot_file: Option<&str>) -> Envelope {
    let d = DhcpEvent {
        ip: Some(addr),
        class: Some(class.into()),
        profile: Some(class.into()),
        boot_file: boot_file.map(str::to_string),
        lease_expires: Some(at + 3600 * SECOND),
        ..dhcp(DhcpMessage::Ack, mac)
    };
    Envelope::new(Daemon::Dhcpd, at, Event::Dhcp(d))
}

pub fn offer(at: u64, mac: Mac, addr: Ipv4Addr) -> Envelope {
    let d = DhcpEvent {
        ip: Some(addr),
        ..dhcp(DhcpMessage::Offer, mac)
    };
    Envelope::new(Daemon::Dhcpd, at, Event::Dhcp(d))
}

pub fn release(at: u64, mac: Mac, addr: Ipv4Addr) -> Envelope {
    let d = DhcpEvent {
        ip: Some(addr),
        ..dhcp(DhcpMessage::Release, mac)
    };
    Envelope::new(Daemon::Dhcpd, at, Event::Dhcp(d))
}

pub fn fetch(at: u64, from: Ipv4Addr, path: &str, outcome: Outcome) -> Envelope {
    fetch_ua(at, from, path, outcome, None)
}

pub fn fetch_ua(
    at: u64,
    from: Ipv4Addr,
    path: &str,
    outcome: Outcome,
    ua: Option<&str>,
) -> Envelope {
    let t = TransferEvent {
        client_ip: from,
        path: path.into(),
        protocol: if ua.is_some() {
            Protocol::Http
        } else {
            Protocol::Tftp
        },
        bytes: if outcome == Outcome::Ok { 1500 } else { 0 },
        outcome,
        user_agent: ua.map(str::to_string),
        client_cert: None,
    };
    Envelope::new(Daemon::Tftpd, at, Event::Transfer(t))
}

pub fn ntp(at: u64, from: Ipv4Addr) -> Envelope {
    let n = NtpRequestEvent {
        client_ip: from,
        version: 4,
        key_id: None,
        auth: AuthResult::None,
        kod: None,
    };
    Envelope::new(Daemon::Ntpd, at, Event::NtpRequest(n))
}
