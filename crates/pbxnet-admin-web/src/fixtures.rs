//! Test fixtures: an inventory fed with events written as the daemons
//! write them (schema JSON lines), so the views are tested on the
//! inventory's real behaviour, not on hand-built records.

use pbxnet_inventory::{Envelope, Inventory, InventoryConfig, UnixMillis};

/// Builds an inventory from `(at, daemon, event-json)` triples.
pub(crate) fn inventory(events: &[(UnixMillis, &str, String)]) -> Inventory {
    let mut inv = Inventory::new(InventoryConfig::default());
    for (at, daemon, event) in events {
        let line = format!(r#"{{"v":1,"daemon":"{daemon}","at":{at},"event":{event}}}"#);
        inv.apply(&Envelope::from_json_line(&line).expect("fixture event"));
    }
    inv
}

/// A DISCOVER then an ACK of `ip` (lease of an hour), with a class, a
/// vendor class and a hostname.
pub(crate) fn boot(
    at: UnixMillis,
    mac: &str,
    ip: &str,
    class: &str,
    vendor_class: &str,
    hostname: &str,
) -> Vec<(UnixMillis, &'static str, String)> {
    let discover = format!(
        r#"{{"type":"dhcp","message":"discover","mac":"{mac}","vendor_class":"{vendor_class}","hostname":"{hostname}"}}"#
    );
    let ack = format!(
        r#"{{"type":"dhcp","message":"ack","mac":"{mac}","ip":"{ip}","class":"{class}","profile":"{class}-profile","vendor_class":"{vendor_class}","hostname":"{hostname}","lease_expires":{}}}"#,
        at + 3_600_000
    );
    vec![(at, "dhcpd", discover), (at + 5, "dhcpd", ack)]
}

/// A finished transfer.
pub(crate) fn fetch(
    at: UnixMillis,
    ip: &str,
    path: &str,
    outcome: &str,
) -> (UnixMillis, &'static str, String) {
    let e = format!(
        r#"{{"type":"transfer","client_ip":"{ip}","path":"{path}","protocol":"tftp","bytes":1234,"outcome":"{outcome}"}}"#
    );
    (at, "tftpd", e)
}

/// An NTP request.
pub(crate) fn ntp(at: UnixMillis, ip: &str) -> (UnixMillis, &'static str, String) {
    let e = format!(r#"{{"type":"ntp-request","client_ip":"{ip}","version":4,"auth":"none"}}"#);
    (at, "ntpd", e)
}

/// A small site at t = 1,000,000 ms: a provisioned Stellar AP, an
/// OmniSwitch stuck after its lease (never fetched os_conf), an OmniSwitch
/// with a missing config file.
pub(crate) fn small_site() -> Inventory {
    let t = 1_000_000;
    let mut ev = Vec::new();
    ev.extend(boot(
        t,
        "34:e7:0b:00:00:01",
        "192.168.92.21",
        "stellar",
        "OAW-AP1221",
        "ap-hall",
    ));
    ev.push(fetch(t + 100, "192.168.92.21", "hap_instruction.ini", "ok"));
    ev.push(fetch(t + 200, "192.168.92.21", "hap_conf.ini", "ok"));
    ev.push(ntp(t + 300, "192.168.92.21"));
    ev.extend(boot(
        t,
        "00:e0:b1:00:00:02",
        "192.168.92.22",
        "omniswitch",
        "alcatel-lucent.omniswitch.OS6860",
        "sw-core",
    ));
    ev.push(fetch(t + 100, "192.168.92.22", "os_ins.alu", "ok"));
    ev.extend(boot(
        t,
        "00:e0:b1:00:00:03",
        "192.168.92.23",
        "omniswitch",
        "alcatel-lucent.omniswitch.OS6860",
        "sw-edge",
    ));
    ev.push(fetch(t + 100, "192.168.92.23", "os_ins.alu", "ok"));
    ev.push(fetch(t + 200, "192.168.92.23", "os_conf", "not-found"));
    inventory(&ev)
}
