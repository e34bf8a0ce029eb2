//! Property tests: any event sequence applies without panicking, and the
//! site's counts by verdict always sum to the devices.

mod common;

use common::*;
use pbxnet_inventory::{
    AuthResult, Daemon, DeviceFilter, DhcpEvent, DhcpMessage, Envelope, Event, Inventory,
    InventoryConfig, LicenseEvent, Mac, NtpRequestEvent, NtpSourceEvent, Outcome, Protocol,
    SourceState, TransferEvent,
};
use proptest::prelude::*;
use std::net::Ipv4Addr;

const PATHS: [&str; 9] = [
    "os_ins.alu",
    "os_conf",
    "os_script",
    "hap_instruction.ini",
    "Secured_Config/hap_conf.ini",
    "00908f700001.cfg",
    "400HD_3.4.8.img",
    "sip-phone.cfg",
    "../x",
];
const CLASSES: [&str; 6] = [
    "450HD",
    "alcatel-lucent.omniswitch.OS6360",
    "OAW-AP1221",
    "SIP-T46",
    "alcatel.noe.0",
    "\u{0}hex",
];

fn small_mac() -> impl Strategy<Value = Mac> {
    (0..3usize, 0..4u8).prop_map(|(o, i)| {
        let ouis = [[0x00, 0x90, 0x8f], [0x00, 0xe0, 0xb1], [0x34, 0xe7, 0x0b]];
        Mac([ouis[o][0], ouis[o][1], ouis[o][2], 0x70, 0, i])
    })
}

fn addr() -> impl Strategy<Value = Ipv4Addr> {
    (0..4u8).prop_map(|i| ip(20 + i))
}

fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        Just(Outcome::Ok),
        Just(Outcome::NotFound),
        Just(Outcome::Denied),
        Just(Outcome::Error),
        Just(Outcome::Aborted)
    ]
}

fn message() -> impl Strategy<Value = DhcpMessage> {
    prop_oneof![
        Just(DhcpMessage::Discover),
        Just(DhcpMessage::Offer),
        Just(DhcpMessage::Ack),
        Just(DhcpMessage::Nak),
        Just(DhcpMessage::Decline),
        Just(DhcpMessage::Release)
    ]
}

fn dhcp_event() -> impl Strategy<Value = Event> {
    (
        message(),
        small_mac(),
        proptest::option::of(addr()),
        0..CLASSES.len(),
        proptest::option::of(0..100_000u64),
    )
        .prop_map(|(message, mac, ip, c, expires)| {
            Event::Dhcp(DhcpEvent {
                message,
                mac,
                ip,
                vendor_class: Some(CLASSES[c].into()),
                user_class: None,
                parameter_request: vec![1, 3],
                hostname: Some("h".into()),
                relay: None,
                class: Some("c".into()),
                profile: None,
                boot_file: Some("sip-phone.cfg".into()),
                lease_expires: expires,
            })
        })
}

fn other_event() -> impl Strategy<Value = Event> {
    prop_oneof![
        (
            addr(),
            0..PATHS.len(),
            outcome(),
            proptest::option::of("[ -~]{0,40}")
        )
            .prop_map(|(client_ip, p, outcome, user_agent)| {
                Event::Transfer(TransferEvent {
                    client_ip,
                    path: PATHS[p].into(),
                    protocol: Protocol::Tftp,
                    bytes: 0,
                    outcome,
                    user_agent,
                    client_cert: None,
                })
            }),
        addr().prop_map(|client_ip| Event::NtpRequest(NtpRequestEvent {
            client_ip,
            version: 3,
            key_id: Some(1),
            auth: AuthResult::BadMac,
            kod: None
        })),
        Just(Event::NtpSource(NtpSourceEvent {
            source: "a".into(),
            state: SourceState::Selected,
            stratum: Some(2),
            offset_ns: Some(-5)
        })),
        Just(Event::License(LicenseEvent {
            mode: "grace".into(),
            days_left: Some(3),
            counter: None
        })),
    ]
}

fn events() -> impl Strategy<Value = Vec<Envelope>> {
    let one = (prop_oneof![dhcp_event(), other_event()], 0..50_000u64);
    proptest::collection::vec(one, 0..120).prop_map(|v| {
        let mut at = T0;
        v.into_iter()
            .map(|(event, step)| {
                at += step;
                Envelope::new(Daemon::Dhcpd, at, event)
            })
            .collect()
    })
}

fn tight() -> InventoryConfig {
    InventoryConfig {
        stuck_after_ms: 30_000,
        no_time_after_ms: 20_000,
        no_lease_after_ms: 10_000,
        boots_kept: 3,
        files_per_boot: 2,
        unattributed_kept: 4,
        ..Default::default()
    }
}

proptest! {
    #[test]
    fn any_sequence_applies_and_verdict_counts_sum_to_devices(evs in events(), later in 0..400_000u64) {
        let mut inv = Inventory::new(tight());
        for e in &evs {
            inv.apply(e);
        }
        let now = evs.last().map_or(T0, |e| e.at) + later;
        let site = inv.site(now);
        prop_assert_eq!(site.by_verdict.values().sum::<usize>(), site.devices);
        prop_assert_eq!(site.devices, inv.len());
        prop_assert_eq!(site.events, evs.len() as u64);
        let mut seen = 0;
        let mut cursor = None;
        loop {
            let page = inv.devices(&DeviceFilter::default(), cursor.as_deref(), 5, now).unwrap();
            seen += page.devices.len();
            match page.next { Some(n) => cursor = Some(n), None => break }
        }
        prop_assert_eq!(seen, inv.len());
        for mac in evs.iter().filter_map(|e| match &e.event { Event::Dhcp(d) => Some(d.mac), _ => None }) {
            let d = inv.device(mac).unwrap();
            prop_assert!(d.boots.len() <= 3);
            prop_assert!(d.boots.iter().all(|b| b.files.len() <= 2));
        }
        prop_assert!(inv.unattributed().count() <= 4);
    }

    #[test]
    fn every_event_survives_a_json_round_trip(evs in events()) {
        for e in evs {
            let line = e.to_json_line();
            prop_assert!(!line.contains('\n'));
            prop_assert_eq!(Envelope::from_json_line(&line).unwrap(), e);
        }
    }
}
