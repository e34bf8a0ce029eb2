use super::*;
use crate::classify::{Class, Matcher};
use crate::lease::MemStore;
use crate::lease::{Lease, LeaseState};
use crate::profile::Profile;
use crate::profile::{IpSpec, ProfileOption, SubOption, Text, Value};
use crate::wire::FLAG_BROADCAST;
use rand::SeedableRng;

const SRV: Ipv4Addr = Ipv4Addr::new(192, 168, 92, 246);
const T0: u64 = 1_700_000_000_000;

fn text(s: &str) -> Value {
    Value::Text(Text::parse(s).unwrap())
}

fn opt(code: u8, value: Value, always: bool) -> ProfileOption {
    ProfileOption {
        code,
        value,
        always_send: always,
    }
}

fn config() -> ServerConfig {
    let lease = LeaseTimes {
        default: 3600,
        min: 60,
        max: 86400,
        t1: 0.5,
        t2: 0.875,
    };
    ServerConfig {
        server_ip: SRV,
        authoritative: true,
        subnets: vec![
            Subnet {
                name: "site".into(),
                net: Net {
                    addr: Ipv4Addr::new(192, 168, 92, 0),
                    prefix: 24,
                },
                interface: None,
                server_id: None,
                routers: vec![Ipv4Addr::new(192, 168, 92, 1)],
                lease,
            },
            Subnet {
                name: "remote".into(),
                net: Net {
                    addr: Ipv4Addr::new(10, 20, 0, 0),
                    prefix: 24,
                },
                interface: None,
                server_id: None,
                routers: vec![],
                lease,
            },
        ],
        pools: vec![
            Pool {
                name: "phones".into(),
                subnet: 0,
                start: Ipv4Addr::new(192, 168, 92, 10),
                end: Ipv4Addr::new(192, 168, 92, 69),
                lease: None,
            },
            Pool {
                name: "tiny".into(),
                subnet: 0,
                start: Ipv4Addr::new(192, 168, 92, 5),
                end: Ipv4Addr::new(192, 168, 92, 6),
                lease: None,
            },
            Pool {
                name: "remote".into(),
                subnet: 1,
                start: Ipv4Addr::new(10, 20, 0, 100),
                end: Ipv4Addr::new(10, 20, 0, 199),
                lease: None,
            },
        ],
        classes: vec![
            Class {
                name: "reserved".into(),
                matcher: Matcher::Mac([2, 0, 0, 0, 0, 0x99]),
                profile: 0,
                pool: None,
                static_ip: Some(Ipv4Addr::new(192, 168, 92, 200)),
            },
            Class {
                name: "tiny".into(),
                matcher: Matcher::MacPrefix("02:00:00:00:ee*".parse().unwrap()),
                profile: 0,
                pool: Some(1),
                static_ip: None,
            },
            Class {
                name: "audiocodes".into(),
                matcher: Matcher::VendorClass {
                    value: b"450HD".to_vec(),
                    prefix: false,
                },
                profile: 1,
                pool: Some(0),
                static_ip: None,
            },
            Class {
                name: "any".into(),
                matcher: Matcher::Any,
                profile: 0,
                pool: Some(0),
                static_ip: None,
            },
        ],
        profiles: vec![
            Profile {
                name: "generic".into(),
                options: vec![
                    opt(66, text("${server_ip}"), false),
                    opt(150, Value::Ips(vec![IpSpec::ServerIp]), false),
                ],
                next_server: Some(IpSpec::ServerIp),
            },
            Profile {
                name: "400hd".into(),
                options: vec![
                    opt(160, text("tftp://${server_ip}/;<MAC>.cfg"), true),
                    opt(
                        43,
                        Value::SubOptions(vec![SubOption {
                            code: 1,
                            value: text("MS-UC-Client"),
                        }]),
                        false,
                    ),
                    opt(2, Value::I32(7200), false),
                ],
                next_server: None,
            },
        ],
        flood: FloodLimit {
            max_per_second: 20,
            ban_ms: 5000,
        },
        decline_probation: 600,
        offer_hold: 30,
        conflict_probe: false,
    }
}

fn server() -> Server<MemStore> {
    let mut s = Server::new(config(), MemStore::new(), StdRng::seed_from_u64(7)).unwrap();
    s.set_interfaces(vec![Interface {
        index: 2,
        name: "eth0".into(),
        addr: SRV,
    }]);
    s
}

fn client(mac: [u8; 6], mt: MessageType) -> Packet {
    let mut p = Packet::new(1);
    p.xid = 0xabcd;
    p.chaddr[..6].copy_from_slice(&mac);
    p.options.set(code::MESSAGE_TYPE, vec![mt as u8]);
    p
}

fn run(s: &mut Server<MemStore>, now: u64, p: &Packet) -> (Outcome, Option<Packet>) {
    let mut b = Vec::new();
    p.encode(&mut b);
    let mut out = Vec::new();
    let o = s.handle(now, 2, &b, &mut out);
    let r = matches!(o, Outcome::Reply { .. }).then(|| Packet::decode(&out).unwrap());
    (o, r)
}

/// DISCOVER → OFFER → REQUEST(selecting) → ACK; returns the address.
fn dora(s: &mut Server<MemStore>, now: u64, mac: [u8; 6]) -> Ipv4Addr {
    let (_, offer) = run(s, now, &client(mac, MessageType::Discover));
    let offer = offer.expect("offer");
    assert_eq!(offer.options.message_type(), Some(2));
    let mut req = client(mac, MessageType::Request);
    req.options
        .set(code::REQUESTED_IP, offer.yiaddr.octets().to_vec());
    req.options.set(code::SERVER_ID, SRV.octets().to_vec());
    let (_, ack) = run(s, now, &req);
    let ack = ack.expect("ack");
    assert_eq!(ack.options.message_type(), Some(5));
    assert_eq!(ack.yiaddr, offer.yiaddr);
    ack.yiaddr
}

#[test]
fn full_dora_then_renew_keeps_address() {
    let mut s = server();
    let mac = [2, 0, 0, 0, 0, 1];
    let ip = dora(&mut s, T0, mac);
    assert!(config().pools[0].contains(ip));
    let mut renew = client(mac, MessageType::Request);
    renew.ciaddr = ip;
    let (o, ack) = run(&mut s, T0 + 1_800_000, &renew);
    assert_eq!(
        o,
        Outcome::Reply {
            dest: Destination::Unicast(ip),
            kind: MessageType::Ack
        }
    );
    assert_eq!(ack.unwrap().yiaddr, ip);
    // A new DISCOVER from the same client gets the same address back.
    let (_, offer) = run(&mut s, T0 + 2_000_000, &client(mac, MessageType::Discover));
    assert_eq!(offer.unwrap().yiaddr, ip);
    let l = s.store().by_ip(ip).unwrap();
    assert_eq!(l.state, LeaseState::Bound);
    assert_eq!(&*l.class, "any");
}

#[test]
fn reply_option_order_is_documented_and_deterministic() {
    let mut s = server();
    let mut d = client([2, 0, 0, 0, 0, 2], MessageType::Discover);
    d.options
        .set(code::PARAMETER_REQUEST_LIST, vec![150, 6, 3, 1, 66, 99]);
    d.options.set(code::CLIENT_ID, vec![1, 2, 0, 0, 0, 0, 2]);
    let (o, r) = run(&mut s, T0, &d);
    assert!(matches!(
        o,
        Outcome::Reply {
            dest: Destination::UnicastNoArp { .. },
            kind: MessageType::Offer
        }
    ));
    let r = r.unwrap();
    let codes: Vec<u8> = r.options.iter().map(|(c, _)| c).collect();
    assert_eq!(codes, vec![53, 54, 51, 58, 59, 1, 150, 6, 3, 66, 61]);
    assert_eq!(
        r.options.get(6),
        Some(&SRV.octets()[..]),
        "option 6 defaults to the server"
    );
    assert_eq!(r.options.get(150), Some(&SRV.octets()[..]));
    assert_eq!(r.options.get(66), Some(&b"192.168.92.246"[..]));
    assert_eq!(r.options.u32(51), Some(3600));
    assert_eq!(r.options.u32(58), Some(1800));
    assert_eq!(r.options.u32(59), Some(3150));
    assert_eq!(r.siaddr, SRV);
    // Byte-identical across runs with the same seed.
    let mut a = Vec::new();
    let mut b = Vec::new();
    d.encode(&mut a);
    server().handle(T0, 2, &a, &mut b);
    let mut c = Vec::new();
    server().handle(T0, 2, &a, &mut c);
    assert_eq!(b, c);
}

#[test]
fn audiocodes_gets_option_160_always_and_signed_offset_on_request() {
    let mut s = server();
    let mut d = client([0, 0x90, 0x8f, 0x61, 0xa0, 0x22], MessageType::Discover);
    d.options.set(code::VENDOR_CLASS, b"450HD".to_vec());
    d.options.set(code::PARAMETER_REQUEST_LIST, vec![1, 3, 2]);
    let (_, r) = run(&mut s, T0, &d);
    let r = r.unwrap();
    assert_eq!(
        r.options.get(160),
        Some(&b"tftp://192.168.92.246/;<MAC>.cfg"[..])
    );
    assert_eq!(r.options.get(2), Some(&[0, 0, 0x1c, 0x20][..]));
    assert!(!r.options.contains(43), "43 not requested, not always-send");
}

#[test]
fn reserved_mac_gets_its_static_address() {
    let mut s = server();
    let ip = dora(&mut s, T0, [2, 0, 0, 0, 0, 0x99]);
    assert_eq!(ip, Ipv4Addr::new(192, 168, 92, 200));
}

#[test]
fn relayed_client_is_served_from_giaddr_subnet_and_answered_to_relay() {
    let mut s = server();
    let mut d = client([2, 0, 0, 0, 0, 3], MessageType::Discover);
    d.giaddr = Ipv4Addr::new(10, 20, 0, 1);
    d.options
        .set(code::RELAY_AGENT_INFO, vec![1, 2, 0xaa, 0xbb]);
    let (o, r) = run(&mut s, T0, &d);
    assert_eq!(
        o,
        Outcome::Reply {
            dest: Destination::Relay(Ipv4Addr::new(10, 20, 0, 1)),
            kind: MessageType::Offer
        }
    );
    let r = r.unwrap();
    assert!(config().pools[2].contains(r.yiaddr), "{}", r.yiaddr);
    assert_eq!(r.giaddr, Ipv4Addr::new(10, 20, 0, 1));
    assert_eq!(
        r.options.iter().last().unwrap(),
        (82, &[1u8, 2, 0xaa, 0xbb][..])
    );
    // Option 118 overrides giaddr.
    let mut d2 = client([2, 0, 0, 0, 0, 4], MessageType::Discover);
    d2.giaddr = Ipv4Addr::new(10, 20, 0, 1);
    d2.options
        .set(code::SUBNET_SELECTION, vec![192, 168, 92, 0]);
    let (_, r) = run(&mut s, T0, &d2);
    assert!(config().pools[0].contains(r.unwrap().yiaddr));
    // 82.5 link selection too.
    let mut d3 = client([2, 0, 0, 0, 0, 5], MessageType::Discover);
    d3.giaddr = Ipv4Addr::new(192, 168, 92, 1);
    d3.options
        .set(code::RELAY_AGENT_INFO, vec![1, 1, 7, 5, 4, 10, 20, 0, 0]);
    let (_, r) = run(&mut s, T0, &d3);
    assert!(config().pools[2].contains(r.unwrap().yiaddr));
}

#[test]
fn init_reboot_wrong_address_nak_when_authoritative_silent_otherwise() {
    let mut s = server();
    let mac = [2, 0, 0, 0, 0, 6];
    let ip = dora(&mut s, T0, mac);
    let mut ir = client(mac, MessageType::Request);
    ir.options.set(code::REQUESTED_IP, vec![192, 168, 92, 250]);
    let (o, r) = run(&mut s, T0, &ir);
    assert_eq!(
        o,
        Outcome::Reply {
            dest: Destination::Broadcast,
            kind: MessageType::Nak
        }
    );
    let r = r.unwrap();
    assert_eq!(r.yiaddr, Ipv4Addr::UNSPECIFIED);
    assert_eq!(r.options.ipv4(54), Some(SRV));
    // Right address: ACK.
    ir.options.set(code::REQUESTED_IP, ip.octets().to_vec());
    let (_, r) = run(&mut s, T0, &ir);
    assert_eq!(r.unwrap().options.message_type(), Some(5));

    let mut cfg = config();
    cfg.authoritative = false;
    let mut s = Server::new(cfg, MemStore::new(), StdRng::seed_from_u64(1)).unwrap();
    s.set_interfaces(vec![Interface {
        index: 2,
        name: "eth0".into(),
        addr: SRV,
    }]);
    ir.options.set(code::REQUESTED_IP, vec![192, 168, 92, 250]);
    let (o, _) = run(&mut s, T0, &ir);
    assert_eq!(o, Outcome::Ignored(DropReason::NotAuthoritative));
    assert_eq!(
        s.counters().dropped[DropReason::NotAuthoritative as usize],
        1
    );
}

#[test]
fn decline_puts_address_on_probation() {
    let mut s = server();
    let mac = [2, 0, 0, 0, 0, 7];
    let ip = dora(&mut s, T0, mac);
    let mut dec = client(mac, MessageType::Decline);
    dec.options.set(code::REQUESTED_IP, ip.octets().to_vec());
    dec.options.set(code::SERVER_ID, SRV.octets().to_vec());
    assert_eq!(
        run(&mut s, T0, &dec).0,
        Outcome::Consumed(MessageType::Decline)
    );
    assert_eq!(s.store().by_ip(ip).unwrap().state, LeaseState::Declined);
    assert_eq!(s.poll_event(), Some(Event::Declined { ip, mac }));
    // The same client gets another address now.
    let ip2 = dora(&mut s, T0 + 1000, mac);
    assert_ne!(ip2, ip);
    // After probation the address is usable again (and reclaimed).
    s.handle_timeout(T0 + 601_000);
    assert!(s.store().by_ip(ip).is_none());
}

#[test]
fn release_frees_and_requesting_other_server_drops_offer() {
    let mut s = server();
    let mac = [2, 0, 0, 0, 0, 8];
    let ip = dora(&mut s, T0, mac);
    let mut rel = client(mac, MessageType::Release);
    rel.ciaddr = ip;
    rel.options.set(code::SERVER_ID, SRV.octets().to_vec());
    assert_eq!(
        run(&mut s, T0, &rel).0,
        Outcome::Consumed(MessageType::Release)
    );
    assert_eq!(s.store().by_ip(ip).unwrap().state, LeaseState::Released);

    let mac2 = [2, 0, 0, 0, 0, 9];
    let (_, offer) = run(&mut s, T0, &client(mac2, MessageType::Discover));
    let oip = offer.unwrap().yiaddr;
    let mut req = client(mac2, MessageType::Request);
    req.options.set(code::REQUESTED_IP, oip.octets().to_vec());
    req.options.set(code::SERVER_ID, vec![192, 168, 92, 1]);
    assert_eq!(
        run(&mut s, T0, &req).0,
        Outcome::Ignored(DropReason::NotForUs)
    );
    assert!(s.store().by_ip(oip).is_none());
}

#[test]
fn inform_acks_without_lease() {
    let mut s = server();
    let mut inf = client([2, 0, 0, 0, 0, 10], MessageType::Inform);
    inf.ciaddr = Ipv4Addr::new(192, 168, 92, 150);
    inf.options.set(code::PARAMETER_REQUEST_LIST, vec![66]);
    let (o, r) = run(&mut s, T0, &inf);
    assert_eq!(
        o,
        Outcome::Reply {
            dest: Destination::Unicast(Ipv4Addr::new(192, 168, 92, 150)),
            kind: MessageType::Ack
        }
    );
    let r = r.unwrap();
    assert_eq!(r.yiaddr, Ipv4Addr::UNSPECIFIED);
    assert!(!r.options.contains(51));
    assert!(r.options.contains(66));
    assert_eq!(s.store().len(), 0);
}

#[test]
fn pool_exhaustion_and_high_water_events() {
    let mut s = server();
    dora(&mut s, T0, [2, 0, 0, 0, 0xee, 1]);
    dora(&mut s, T0, [2, 0, 0, 0, 0xee, 2]);
    let (o, _) = run(
        &mut s,
        T0,
        &client([2, 0, 0, 0, 0xee, 3], MessageType::Discover),
    );
    assert_eq!(o, Outcome::Ignored(DropReason::PoolExhausted));
    assert!(matches!(s.poll_event(), Some(Event::PoolExhausted(u)) if u.pool == "tiny"));
    let u = s.pool_usage(T0 / 1000);
    assert_eq!(u[1].used, 2);
}

#[test]
fn flood_from_one_mac_is_ignored_others_served() {
    let mut s = server();
    let mac = [2, 0, 0, 0, 0, 11];
    let mut served = 0;
    for i in 0..50 {
        if matches!(
            run(&mut s, T0 + i, &client(mac, MessageType::Discover)).0,
            Outcome::Reply { .. }
        ) {
            served += 1;
        }
    }
    assert_eq!(served, 20);
    assert_eq!(s.counters().dropped[DropReason::Flood as usize], 30);
    assert!(matches!(
        run(
            &mut s,
            T0 + 60,
            &client([2, 0, 0, 0, 0, 12], MessageType::Discover)
        )
        .0,
        Outcome::Reply { .. }
    ));
    // Banned for 5 s, served after.
    assert_eq!(
        run(&mut s, T0 + 2000, &client(mac, MessageType::Discover)).0,
        Outcome::Ignored(DropReason::Flood)
    );
    assert!(matches!(
        run(&mut s, T0 + 6000, &client(mac, MessageType::Discover)).0,
        Outcome::Reply { .. }
    ));
}

#[test]
fn malformed_and_hostile_requests_are_dropped_and_counted() {
    let mut s = server();
    let mut out = Vec::new();
    assert_eq!(
        s.handle(T0, 2, &[1, 2, 3], &mut out),
        Outcome::Ignored(DropReason::Malformed)
    );
    let zero = client([0; 6], MessageType::Discover);
    assert_eq!(
        run(&mut s, T0, &zero).0,
        Outcome::Ignored(DropReason::BadHardwareAddress)
    );
    let mut huge = client([2, 0, 0, 0, 0, 13], MessageType::Discover);
    huge.options
        .set(55, (0..=255u8).cycle().take(600).collect());
    assert_eq!(
        run(&mut s, T0, &huge).0,
        Outcome::Ignored(DropReason::OversizedRequestList)
    );
    let mut noop = client([2, 0, 0, 0, 0, 13], MessageType::Discover);
    noop.options.remove(53);
    assert_eq!(
        run(&mut s, T0, &noop).0,
        Outcome::Ignored(DropReason::NotARequest)
    );
    let c = s.counters();
    assert_eq!(c.dropped[DropReason::Malformed as usize], 1);
    assert_eq!(c.dropped[DropReason::BadHardwareAddress as usize], 1);
    assert_eq!(c.dropped[DropReason::OversizedRequestList as usize], 1);
    // Still serving.
    dora(&mut s, T0, [2, 0, 0, 0, 0, 14]);
}

#[test]
fn requested_lease_time_is_clamped() {
    let mut s = server();
    let mut d = client([2, 0, 0, 0, 0, 15], MessageType::Discover);
    d.options
        .set(code::LEASE_TIME, 10u32.to_be_bytes().to_vec());
    let (_, r) = run(&mut s, T0, &d);
    assert_eq!(r.unwrap().options.u32(51), Some(60));
    d.options
        .set(code::LEASE_TIME, u32::MAX.to_be_bytes().to_vec());
    let (_, r) = run(&mut s, T0, &d);
    assert_eq!(r.unwrap().options.u32(51), Some(86400));
}

#[test]
fn broadcast_flag_and_small_max_message_size() {
    let mut s = server();
    let mut d = client([0, 0x90, 0x8f, 1, 1, 1], MessageType::Discover);
    d.flags = FLAG_BROADCAST;
    d.options.set(code::VENDOR_CLASS, b"450HD".to_vec());
    let (o, r) = run(&mut s, T0, &d);
    assert!(matches!(
        o,
        Outcome::Reply {
            dest: Destination::Broadcast,
            ..
        }
    ));
    assert_eq!(r.unwrap().flags, FLAG_BROADCAST);
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
        /// Random sequences of client operations never give one address to
        /// two clients and never hand out the reserved address dynamically.
        #[test]
        fn no_address_bound_twice(ops in proptest::collection::vec((0u8..12, 0u8..5, 0u64..5_000_000), 1..200)) {
            let mut s = server();
            let mut now = T0;
            // who -> (address, ACKed lease end in ms)
            let mut held: std::collections::HashMap<u8, (Ipv4Addr, u64)> = Default::default();
            for (who, what, dt) in ops {
                now += dt;
                let mac = [2, 0, 0, 0, 0xee - (who % 2), who];
                match what {
                    0 | 1 => {
                        let (_, offer) = run(&mut s, now, &client(mac, MessageType::Discover));
                        if let Some(offer) = offer {
                            let mut req = client(mac, MessageType::Request);
                            req.options.set(code::REQUESTED_IP, offer.yiaddr.octets().to_vec());
                            req.options.set(code::SERVER_ID, SRV.octets().to_vec());
                            if let (_, Some(ack)) = run(&mut s, now, &req) {
                                if ack.options.message_type() == Some(5) {
                                    let secs = u64::from(ack.options.u32(51).unwrap());
                                    held.insert(who, (ack.yiaddr, now + secs * 1000));
                                }
                            }
                        }
                    }
                    2 => if let Some((ip, _)) = held.remove(&who) {
                        let mut rel = client(mac, MessageType::Release);
                        rel.ciaddr = ip;
                        run(&mut s, now, &rel);
                    },
                    3 => if let Some((ip, _)) = held.remove(&who) {
                        let mut dec = client(mac, MessageType::Decline);
                        dec.options.set(code::REQUESTED_IP, ip.octets().to_vec());
                        run(&mut s, now, &dec);
                    },
                    _ => s.handle_timeout(now),
                }
                for l in s.store().all() {
                    prop_assert!(l.ip != Ipv4Addr::new(192, 168, 92, 200), "reserved address leased dynamically");
                }
                // No address is ACKed to two clients whose leases both run.
                let mut owners: std::collections::HashMap<Ipv4Addr, u8> = Default::default();
                for (w, (ip, until)) in &held {
                    if *until > now {
                        prop_assert!(owners.insert(*ip, *w).is_none(), "{ip} held twice");
                    }
                }
            }
        }
    }
}

#[test]
fn renew_with_client_id_and_short_lease() {
    let mut s = server();
    let mac = [2, 0, 0, 0, 1, 1];
    let mut d = client(mac, MessageType::Discover);
    d.options.set(code::CLIENT_ID, vec![1, 2, 0, 0, 0, 1, 1]);
    d.options.set(code::MAX_MESSAGE_SIZE, vec![2, 64]);
    let (_, offer) = run(&mut s, T0, &d);
    let offer = offer.unwrap();
    let mut req = client(mac, MessageType::Request);
    req.options.set(code::CLIENT_ID, vec![1, 2, 0, 0, 0, 1, 1]);
    req.options
        .set(code::REQUESTED_IP, offer.yiaddr.octets().to_vec());
    req.options.set(code::SERVER_ID, SRV.octets().to_vec());
    let (_, ack) = run(&mut s, T0, &req);
    assert_eq!(ack.unwrap().options.message_type(), Some(5));
    let mut renew = client(mac, MessageType::Request);
    renew
        .options
        .set(code::CLIENT_ID, vec![1, 2, 0, 0, 0, 1, 1]);
    renew.ciaddr = offer.yiaddr;
    let (_, ack) = run(&mut s, T0 + 6000, &renew);
    assert_eq!(ack.unwrap().options.message_type(), Some(5));
}

#[test]
fn conflict_probe_asks_before_offering_never_used_addresses() {
    let mut cfg = config();
    cfg.conflict_probe = true;
    let mut s = Server::with_seed(cfg, MemStore::new(), 3).unwrap();
    s.set_interfaces(vec![Interface {
        index: 2,
        name: "eth0".into(),
        addr: SRV,
    }]);
    let mac = [2, 0, 0, 0, 0xee, 1]; // tiny pool .5-.6
    let d = client(mac, MessageType::Discover);
    let Outcome::Probe { ip: first } = run(&mut s, T0, &d).0 else {
        panic!("probe expected")
    };
    // It answered: on probation, and the same DISCOVER probes the other one.
    s.handle_probe_result(T0 + 500, first, true);
    assert_eq!(s.store().by_ip(first).unwrap().state, LeaseState::Declined);
    assert_eq!(s.poll_event(), Some(Event::Conflict { ip: first }));
    let Outcome::Probe { ip: second } = run(&mut s, T0 + 500, &d).0 else {
        panic!("second probe expected")
    };
    assert_ne!(first, second);
    // Silent: the DISCOVER is answered with that address, without probing again.
    s.handle_probe_result(T0 + 1000, second, false);
    let (o, r) = run(&mut s, T0 + 1000, &d);
    assert!(
        matches!(
            o,
            Outcome::Reply {
                kind: MessageType::Offer,
                ..
            }
        ),
        "{o:?}"
    );
    assert_eq!(r.unwrap().yiaddr, second);
    assert_eq!(s.counters().conflicts, 1);
}

#[test]
fn pool_lease_bounds_override_the_subnet() {
    let mut cfg = config();
    cfg.pools[1].lease = Some((120, 100, 300)); // tiny pool
    let mut s = Server::with_seed(cfg, MemStore::new(), 5).unwrap();
    s.set_interfaces(vec![Interface {
        index: 2,
        name: "eth0".into(),
        addr: SRV,
    }]);
    let (_, r) = run(
        &mut s,
        T0,
        &client([2, 0, 0, 0, 0xee, 9], MessageType::Discover),
    );
    assert_eq!(r.unwrap().options.u32(51), Some(120));
    let mut d = client([2, 0, 0, 0, 0xee, 8], MessageType::Discover);
    d.options
        .set(code::LEASE_TIME, 10_000u32.to_be_bytes().to_vec());
    let (_, r) = run(&mut s, T0, &d);
    assert_eq!(r.unwrap().options.u32(51), Some(300));
    // Other pools keep the subnet's 3600.
    let (_, r) = run(
        &mut s,
        T0,
        &client([2, 0, 0, 0, 0, 0x31], MessageType::Discover),
    );
    assert_eq!(r.unwrap().options.u32(51), Some(3600));
}

#[test]
fn pool_high_water_and_recovery_events() {
    let mut cfg = config();
    cfg.pools[1].end = Ipv4Addr::new(192, 168, 92, 9); // tiny: .5-.9 (5)
    let mut s = Server::with_seed(cfg, MemStore::new(), 5).unwrap();
    s.set_interfaces(vec![Interface {
        index: 2,
        name: "eth0".into(),
        addr: SRV,
    }]);
    for i in 0..4 {
        dora(&mut s, T0, [2, 0, 0, 0, 0xee, i]);
    }
    s.handle_timeout(T0);
    assert!(matches!(s.poll_event(), None | Some(Event::PoolHigh(_))));
    dora(&mut s, T0, [2, 0, 0, 0, 0xee, 4]);
    s.handle_timeout(T0 + 1);
    assert!(matches!(s.poll_event(), Some(Event::PoolExhausted(u)) if u.used == 5 && u.size == 5));
    // Leases end (3600 s): the pool recovers.
    s.handle_timeout(T0 + 3_601_000);
    assert!(matches!(s.poll_event(), Some(Event::PoolRecovered(u)) if u.used == 0));
}

/// The periodic walk does bounded work per call: 45,000 expired offers go
/// in three calls of at most SWEEP_SLICE, and a lease that is still live
/// survives every pass; pool levels are reported once a pass completes.
#[test]
fn housekeeping_walks_a_bounded_slice_per_call() {
    let mut s = server();
    let now = T0 / 1000;
    let offer = |ip: u32, expires: u64| Lease {
        ip: Ipv4Addr::from(ip),
        client: ClientKey::hw(1, &ip.to_be_bytes()[..]),
        mac: [2, 0, 0, 0, 0, 0],
        state: LeaseState::Offered,
        expires,
        class: "".into(),
        vendor_class: "".into(),
        hostname: "".into(),
    };
    let base = u32::from(Ipv4Addr::new(10, 99, 0, 0));
    for i in 0..45_000 {
        s.store_mut().upsert(offer(base + i, now - 1));
    }
    let live = Ipv4Addr::new(10, 99, 255, 255);
    s.store_mut().upsert(offer(u32::from(live), now + 60));
    let mut left = Vec::new();
    for _ in 0..3 {
        s.handle_timeout(T0);
        left.push(s.store().len());
    }
    assert_eq!(left, [25_001, 5_001, 1], "at most SWEEP_SLICE per call");
    assert_eq!(SWEEP_SLICE, 20_000);
    // The next passes only find the live offer.
    s.handle_timeout(T0);
    s.handle_timeout(T0);
    assert!(s.store().by_ip(live).is_some());
    // It expires: the next pass takes it.
    s.handle_timeout(T0 + 61_000);
    assert!(s.store().is_empty());
}

/// An OFFER in another pool (the client's class changed) leaves the
/// client's binding in place; only an ACK moves it.
#[test]
fn an_offer_elsewhere_never_removes_the_clients_binding() {
    let mut cfg = config();
    cfg.classes[2].pool = Some(1); // 450HD -> the "tiny" pool
    let mut s = Server::new(cfg, MemStore::new(), StdRng::seed_from_u64(7)).unwrap();
    s.set_interfaces(vec![Interface {
        index: 2,
        name: "eth0".into(),
        addr: SRV,
    }]);
    let mac = [2, 0, 0, 0, 0, 0x31];
    let mut disc = client(mac, MessageType::Discover);
    disc.options.set(code::VENDOR_CLASS, b"450HD".to_vec());
    let a = run(&mut s, T0, &disc).1.expect("offer").yiaddr;
    let mut req = client(mac, MessageType::Request);
    req.options.set(code::VENDOR_CLASS, b"450HD".to_vec());
    req.options.set(code::REQUESTED_IP, a.octets().to_vec());
    req.options.set(code::SERVER_ID, SRV.octets().to_vec());
    assert_eq!(run(&mut s, T0, &req).1.expect("ack").yiaddr, a);
    assert!(config().pools[1].contains(a));
    // Same client, no vendor class now: class "any", pool 0.
    let b = run(&mut s, T0 + 1000, &client(mac, MessageType::Discover))
        .1
        .expect("offer")
        .yiaddr;
    assert!(config().pools[0].contains(b));
    let held = s.store().by_ip(a).expect("binding kept after the OFFER");
    assert_eq!(held.state, LeaseState::Bound);
    assert_eq!(held.mac, mac);
    // Back in its class, it is offered its binding again.
    let again = run(&mut s, T0 + 2000, &disc).1.expect("offer").yiaddr;
    assert_eq!(again, a);
    // Accepting the other address moves it: the old binding is freed.
    let mut req_b = client(mac, MessageType::Request);
    req_b.options.set(code::REQUESTED_IP, b.octets().to_vec());
    req_b.options.set(code::SERVER_ID, SRV.octets().to_vec());
    assert_eq!(run(&mut s, T0 + 3000, &req_b).1.expect("ack").yiaddr, b);
    assert!(s.store().by_ip(a).is_none(), "old binding freed on the ACK");
}

/// RFC 2131 table 3: the ACK to a RENEWING (unicast) or REBINDING
/// (broadcast) REQUEST carries the request's ciaddr; an OFFER and the ACK
/// to a SELECTING REQUEST carry 0.
#[test]
fn ack_to_renewing_or_rebinding_request_carries_its_ciaddr() {
    let mut s = server();
    let mac = [2, 0, 0, 0, 7, 1];
    let mut b = Vec::new();
    client(mac, MessageType::Discover).encode(&mut b);
    let mut offer = Vec::new();
    s.handle(T0, 2, &b, &mut offer);
    assert_eq!(&offer[12..16], &[0, 0, 0, 0], "OFFER ciaddr");
    let ip = Ipv4Addr::new(offer[16], offer[17], offer[18], offer[19]);
    let mut req = client(mac, MessageType::Request);
    req.options.set(code::REQUESTED_IP, ip.octets().to_vec());
    req.options.set(code::SERVER_ID, SRV.octets().to_vec());
    req.encode(&mut b);
    let mut ack = Vec::new();
    s.handle(T0, 2, &b, &mut ack);
    assert_eq!(ack[242], 5, "an ACK");
    assert_eq!(&ack[12..16], &[0, 0, 0, 0], "SELECTING ACK ciaddr");
    for (when, flags) in [(1_800_000, 0), (3_200_000, FLAG_BROADCAST)] {
        let mut renew = client(mac, MessageType::Request);
        renew.ciaddr = ip;
        renew.flags = flags;
        renew.encode(&mut b);
        let mut ack = Vec::new();
        let o = s.handle(T0 + when, 2, &b, &mut ack);
        assert_eq!(
            o,
            Outcome::Reply {
                dest: Destination::Unicast(ip),
                kind: MessageType::Ack
            }
        );
        assert_eq!(&ack[12..16], &ip.octets(), "ciaddr, flags {flags:#x}");
        assert_eq!(&ack[16..20], &ip.octets(), "yiaddr");
    }
}

/// An option area walked the way RFC 2131 §4.1 / RFC 2132 §2-3 describe
/// it, without the crate's codec: (code, value) per instance up to END,
/// and where END was.
fn walk(area: &[u8]) -> (Vec<(u8, Vec<u8>)>, Option<usize>) {
    let mut found = Vec::new();
    let mut i = 0;
    while i < area.len() {
        match area[i] {
            0 => i += 1,
            255 => return (found, Some(i)),
            c => {
                let len = usize::from(area[i + 1]);
                found.push((c, area[i + 2..i + 2 + len].to_vec()));
                i += 2 + len;
            }
        }
    }
    (found, None)
}

/// Option 57 = 576 and a profile whose options do not fit the options
/// field: what does not fit goes into `file` (option 52 = 1) before anything
/// is dropped; option 119, too long for any field, is dropped, and the
/// smaller 114 and 15 after it are still sent (they were dropped with it,
/// from the end, before).
#[test]
fn a_long_reply_overloads_file_before_dropping_and_keeps_smaller_options() {
    let mut cfg = config();
    let names: Vec<String> = (0..10)
        .map(|i| format!("a12345678{i}.example.lan"))
        .collect();
    let long_url = format!("http://provisioning.example.lan/{}", "a".repeat(118));
    cfg.profiles.push(Profile {
        name: "big".into(),
        options: vec![
            opt(160, text(&long_url), true),
            opt(43, Value::Hex(vec![0x11; 120]), true),
            opt(119, Value::DomainList(names.clone()), true),
            opt(114, text(&"u".repeat(50)), true),
            opt(15, text(&"d".repeat(30)), true),
        ],
        next_server: None,
    });
    let big = cfg.profiles.len() - 1;
    cfg.classes.insert(
        0,
        Class {
            name: "big".into(),
            matcher: Matcher::VendorClass {
                value: b"BIG".to_vec(),
                prefix: false,
            },
            profile: big,
            pool: Some(0),
            static_ip: None,
        },
    );
    let mut s = Server::new(cfg, MemStore::new(), StdRng::seed_from_u64(7)).unwrap();
    s.set_interfaces(server().interfaces);
    let mut d = client([2, 0, 0, 0, 8, 1], MessageType::Discover);
    d.options.set(code::VENDOR_CLASS, b"BIG".to_vec());
    d.options
        .set(code::MAX_MESSAGE_SIZE, 576u16.to_be_bytes().to_vec());
    let mut b = Vec::new();
    d.encode(&mut b);
    let mut out = Vec::new();
    s.handle(T0, 2, &b, &mut out);
    assert!(out.len() <= 576 - 28, "{} bytes", out.len());
    assert_eq!(&out[236..240], &[99, 130, 83, 99]);
    let (main, end) = walk(&out[240..]);
    assert!(end.is_some(), "options field ends with END");
    let codes: Vec<u8> = main.iter().map(|(c, _)| *c).collect();
    assert_eq!(codes, [53, 52, 54, 51, 58, 59, 1, 160, 114, 15]);
    assert_eq!(main[1].1, [1], "option 52: options in `file`");
    assert_eq!(main[7].1, long_url.as_bytes());
    assert_eq!(main[8].1, [b'u'; 50]);
    assert_eq!(main[9].1, [b'd'; 30]);
    let (file, end) = walk(&out[108..236]);
    assert_eq!(file, [(43, vec![0x11; 120])]);
    assert_eq!(end, Some(122), "END right after option 43 in `file`");
    assert!(out[108 + 123..236].iter().all(|b| *b == 0), "PAD after END");
    assert!(out[44..108].iter().all(|b| *b == 0), "sname untouched");
    assert!(!main.iter().chain(&file).any(|(c, _)| *c == 119));
    assert_eq!(s.counters().truncated_replies, 1);
    assert_eq!(s.counters().overloaded_replies, 1);
    // The crate's own decoder reads the same thing back.
    let back = Packet::decode(&out).unwrap();
    assert_eq!(back.overload, 1);
    assert_eq!(back.options.get(43), Some(&[0x11; 120][..]));
}

/// `status --json` names every counter: message types by name, drops by
/// their metric label (no positional arrays), and reads back the same.
#[test]
fn counters_serialize_with_a_name_on_every_number() {
    let mut c = Counters::default();
    for (i, n) in c.received.iter_mut().enumerate() {
        *n = 100 + i as u64;
    }
    c.sent[MessageType::Ack as usize] = 7;
    for d in DropReason::ALL {
        c.dropped[d as usize] = 1000 + d as u64;
    }
    c.overloaded_replies = 3;
    let json = serde_json::to_value(&c).unwrap();
    assert_eq!(json["received"]["discover"], 101);
    assert_eq!(json["received"]["inform"], 108);
    assert_eq!(json["sent"]["ack"], 7);
    assert_eq!(json["sent"]["offer"], 0);
    for d in DropReason::ALL {
        assert_eq!(json["dropped"][d.label()], 1000 + d as u64, "{}", d.label());
    }
    assert_eq!(json["overloaded_replies"], 3);
    assert!(
        json["received"].is_object() && json["dropped"].is_object(),
        "{json}"
    );
    let back: Counters = serde_json::from_value(json).unwrap();
    c.received[0] = 0; // no message type 0
    assert_eq!(back, c);
}

/// The debug line per datagram prints the outcome: a MAC in it reads as
/// `aa:bb:cc:dd:ee:ff`, not as decimal bytes.
#[test]
fn outcome_debug_prints_the_mac_in_hex() {
    let o = Outcome::Reply {
        dest: Destination::UnicastNoArp {
            ip: Ipv4Addr::new(192, 168, 92, 10),
            mac: [0x00, 0x90, 0x8f, 0x61, 0xa0, 0x22],
        },
        kind: MessageType::Offer,
    };
    assert_eq!(
        format!("{o:?}"),
        "Reply { dest: UnicastNoArp { ip: 192.168.92.10, mac: 00:90:8f:61:a0:22 }, kind: Offer }"
    );
}

/// Every ACK reports its lease for the log line: MAC, address, class,
/// profile, host name and lease time; an OFFER reports nothing.
#[test]
fn an_ack_reports_the_committed_lease() {
    let mut s = server();
    let mac = [0x02, 0xab, 0, 0, 9, 0x1f];
    dora(&mut s, T0, mac);
    assert_eq!(s.poll_lease_committed(), None, "reports are asked for");
    s.report_leases(true);
    let mut d = client(mac, MessageType::Discover);
    d.options.set(code::HOSTNAME, b"desk-phone".to_vec());
    let (_, offer) = run(&mut s, T0, &d);
    assert_eq!(s.poll_lease_committed(), None, "an OFFER commits nothing");
    let ip = offer.unwrap().yiaddr;
    let mut req = client(mac, MessageType::Request);
    req.options.set(code::HOSTNAME, b"desk-phone".to_vec());
    req.options.set(code::REQUESTED_IP, ip.octets().to_vec());
    req.options.set(code::SERVER_ID, SRV.octets().to_vec());
    run(&mut s, T0, &req);
    let l = s.poll_lease_committed().expect("the ACK's lease");
    assert_eq!(l.ip, ip);
    assert_eq!(l.mac.to_string(), "02:ab:00:00:09:1f");
    assert_eq!((&*l.class, l.profile.as_str()), ("any", "generic"));
    assert_eq!((l.hostname.as_str(), l.lease_secs), ("desk-phone", 3600));
    assert_eq!(s.poll_lease_committed(), None);
}

/// Messages are reported for the event socket only while asked for; each
/// names the device as it described itself, OFFER and ACK add what the
/// server decided, the ACK the lease's end.
#[test]
fn messages_are_reported_for_the_event_socket_only_when_asked() {
    use pbxnet_inventory::DhcpMessage as M;
    let mut cfg = config();
    cfg.profiles[1]
        .options
        .push(opt(67, text("420HD_2.0.9.img"), true));
    let mut s = Server::new(cfg, MemStore::new(), StdRng::seed_from_u64(7)).unwrap();
    s.set_interfaces(vec![Interface {
        index: 2,
        name: "eth0".into(),
        addr: SRV,
    }]);
    let mac = [0x00, 0x90, 0x8f, 1, 2, 3];
    dora(&mut s, T0, [2, 0, 0, 0, 0, 0x42]);
    assert_eq!(s.poll_message(), None, "nobody asked");
    s.report_messages(true);
    let relay = Ipv4Addr::new(10, 20, 0, 1);
    let phone = |mt| {
        let mut p = client(mac, mt);
        p.giaddr = relay;
        p.options.set(code::VENDOR_CLASS, b"450HD".to_vec());
        p.options.set(code::USER_CLASS, b"\x05450HD".to_vec());
        p.options
            .set(code::PARAMETER_REQUEST_LIST, vec![1, 3, 66, 67]);
        p.options.set(code::HOSTNAME, b"ac-phone".to_vec());
        p
    };
    let (_, offer) = run(&mut s, T0, &phone(MessageType::Discover));
    let ip = offer.unwrap().yiaddr;
    let mut req = phone(MessageType::Request);
    req.options.set(code::REQUESTED_IP, ip.octets().to_vec());
    req.options.set(code::SERVER_ID, SRV.octets().to_vec());
    run(&mut s, T0 + 5, &req);
    let seen: Vec<MessageSeen> = std::iter::from_fn(|| s.poll_message()).collect();
    let kinds: Vec<M> = seen.iter().map(|m| m.event.message).collect();
    assert_eq!(kinds, [M::Discover, M::Offer, M::Ack]);
    for m in &seen {
        let e = &m.event;
        assert_eq!(e.mac.to_string(), "00:90:8f:01:02:03");
        assert_eq!(e.vendor_class.as_deref(), Some("450HD"));
        assert_eq!(e.user_class.as_deref(), Some("450HD"));
        assert_eq!(e.parameter_request, [1, 3, 66, 67]);
        assert_eq!(e.hostname.as_deref(), Some("ac-phone"));
        assert_eq!(e.relay, Some(relay));
    }
    let (discover, offer, ack) = (&seen[0].event, &seen[1].event, &seen[2].event);
    assert_eq!((discover.ip, discover.class.as_deref()), (None, None));
    for e in [offer, ack] {
        assert_eq!(e.ip, Some(ip));
        assert_eq!(e.class.as_deref(), Some("audiocodes"));
        assert_eq!(e.profile.as_deref(), Some("400hd"));
        assert_eq!(e.boot_file.as_deref(), Some("420HD_2.0.9.img"));
    }
    assert_eq!(offer.lease_expires, None);
    assert_eq!(seen[2].at_ms, T0 + 5);
    assert_eq!(ack.lease_expires, Some(T0 + 5 + 3_600_000));
    assert!(seen[2].is_ack() && !seen[1].is_ack());

    // A NAK names no class; DECLINE and RELEASE name the address.
    let mut wrong = client(mac, MessageType::Request);
    wrong
        .options
        .set(code::REQUESTED_IP, vec![192, 168, 92, 250]);
    run(&mut s, T0, &wrong);
    let nak = s.poll_message().unwrap().event;
    assert_eq!((nak.message, nak.class, nak.ip), (M::Nak, None, None));
    let mut release = phone(MessageType::Release);
    release.ciaddr = ip;
    release.options.set(code::SERVER_ID, SRV.octets().to_vec());
    run(&mut s, T0, &release);
    let released = s.poll_message().unwrap().event;
    assert_eq!((released.message, released.ip), (M::Release, Some(ip)));
    let mut decline = client(mac, MessageType::Decline);
    decline
        .options
        .set(code::REQUESTED_IP, vec![10, 20, 0, 150]);
    decline.options.set(code::SERVER_ID, SRV.octets().to_vec());
    decline.giaddr = relay;
    run(&mut s, T0, &decline);
    let declined = s.poll_message().unwrap().event;
    assert_eq!(
        (declined.message, declined.ip),
        (M::Decline, Some(Ipv4Addr::new(10, 20, 0, 150)))
    );
    assert_eq!(s.poll_message(), None);

    // Turned off: nothing more, and nothing left over.
    run(&mut s, T0, &phone(MessageType::Discover));
    s.report_messages(false);
    assert_eq!(s.poll_message(), None);
    run(&mut s, T0, &phone(MessageType::Discover));
    assert_eq!(s.poll_message(), None);
}

/// Replays the shrunk `no_address_bound_twice` regression case step by
/// step and prints what the server answered.
#[test]
fn replay_no_address_bound_twice_seed() {
    let ops: [(u8, u8, u64); 11] = [
        (0, 0, 262930),
        (2, 0, 430),
        (0, 0, 39104),
        (0, 2, 0),
        (6, 0, 285034),
        (0, 0, 53479),
        (2, 4, 1693686),
        (0, 1, 4483953),
        (6, 1, 3575343),
        (0, 2, 374182),
        (2, 1, 3225670),
    ];
    let mut s = server();
    let mut now = T0;
    let mut held: std::collections::HashMap<u8, (Ipv4Addr, u64)> = Default::default();
    let show = |p: &Option<Packet>| match p {
        Some(p) => format!(
            "type={:?} yiaddr={} lease={:?}",
            p.options.message_type(),
            p.yiaddr,
            p.options.u32(51)
        ),
        None => "none".into(),
    };
    for (i, (who, what, dt)) in ops.into_iter().enumerate() {
        now += dt;
        let mac = [2, 0, 0, 0, 0xee - (who % 2), who];
        print!(
            "step {i}: who={who} what={what} t=+{}s: ",
            (now - T0) / 1000
        );
        match what {
            0 | 1 => {
                let (o, offer) = run(&mut s, now, &client(mac, MessageType::Discover));
                print!("discover -> {o:?} {} ", show(&offer));
                if let Some(offer) = offer {
                    let mut req = client(mac, MessageType::Request);
                    req.options
                        .set(code::REQUESTED_IP, offer.yiaddr.octets().to_vec());
                    req.options.set(code::SERVER_ID, SRV.octets().to_vec());
                    let (o, ack) = run(&mut s, now, &req);
                    print!("request -> {o:?} {}", show(&ack));
                    if let Some(ack) = ack.filter(|a| a.options.message_type() == Some(5)) {
                        let secs = u64::from(ack.options.u32(51).unwrap());
                        held.insert(who, (ack.yiaddr, now + secs * 1000));
                    }
                }
            }
            2 => {
                if let Some((ip, _)) = held.remove(&who) {
                    let mut rel = client(mac, MessageType::Release);
                    rel.ciaddr = ip;
                    let (o, r) = run(&mut s, now, &rel);
                    print!("release {ip} -> {o:?} {}", show(&r));
                }
            }
            3 => {
                if let Some((ip, _)) = held.remove(&who) {
                    let mut dec = client(mac, MessageType::Decline);
                    dec.options.set(code::REQUESTED_IP, ip.octets().to_vec());
                    let (o, r) = run(&mut s, now, &dec);
                    print!("decline {ip} -> {o:?} {}", show(&r));
                }
            }
            _ => {
                s.handle_timeout(now);
                print!("timeout");
            }
        }
        println!();
        for l in s.store().all() {
            println!(
                "    lease {} {:?} mac={:02x?} expires=+{}s",
                l.ip,
                l.state,
                l.mac,
                (l.expires * 1000).saturating_sub(T0) / 1000
            );
        }
        println!("    model held: {held:?}");
        // The client counts its lease from the instant it sent the REQUEST
        // (RFC 2131 §4.4.1): no address is ACKed to a second client before
        // that end, even by a fraction of a second.
        let mut owners: std::collections::HashMap<Ipv4Addr, u8> = Default::default();
        for (w, (ip, until)) in &held {
            if *until > now {
                assert!(
                    owners.insert(*ip, *w).is_none(),
                    "step {i}: {ip} held twice"
                );
            }
        }
    }
}

/// A shared store that cannot reach its database: the rule of the
/// PostgreSQL store's offline mode (only a bound, unexpired lease of the
/// same client may be granted), over a [`MemStore`], counting lookups.
#[derive(Debug, Default)]
struct OfflineStore {
    mem: MemStore,
    offline: bool,
    lookups: std::cell::Cell<usize>,
}

impl LeaseStore for OfflineStore {
    fn by_ip(&self, ip: Ipv4Addr) -> Option<&Lease> {
        self.lookups.set(self.lookups.get() + 1);
        self.mem.by_ip(ip)
    }
    fn by_client(&self, client: &ClientKey) -> Option<&Lease> {
        self.mem.by_client(client)
    }
    fn upsert(&mut self, lease: Lease) {
        self.mem.upsert(lease);
    }
    fn remove(&mut self, ip: Ipv4Addr) -> Option<Lease> {
        self.mem.remove(ip)
    }
    fn all(&self) -> Vec<&Lease> {
        self.mem.all()
    }
    fn slice_from(&self, start: Ipv4Addr, limit: usize) -> Vec<&Lease> {
        self.mem.slice_from(start, limit)
    }
    fn len(&self) -> usize {
        self.mem.len()
    }
    fn offline(&self) -> bool {
        self.offline
    }
    fn may_grant(&self, ip: Ipv4Addr, client: &ClientKey, now: u64) -> bool {
        !self.offline
            || self.mem.by_ip(ip).is_some_and(|l| {
                l.client == *client && l.state == LeaseState::Bound && l.expires > now
            })
    }
}

fn run_on<S: LeaseStore>(s: &mut Server<S>, now: u64, p: &Packet) -> (Outcome, Option<Packet>) {
    let mut b = Vec::new();
    p.encode(&mut b);
    let mut out = Vec::new();
    let o = s.handle(now, 2, &b, &mut out);
    let r = matches!(o, Outcome::Reply { .. }).then(|| Packet::decode(&out).unwrap());
    (o, r)
}

#[test]
fn offline_a_client_reacquiring_its_own_bound_lease_is_answered_nothing_else() {
    let mut cfg = config();
    // A large pool, as the load pool of the cluster lab.
    cfg.pools[0].end = Ipv4Addr::new(192, 168, 92, 199);
    let mut s = Server::new(cfg, OfflineStore::default(), StdRng::seed_from_u64(3)).unwrap();
    s.set_interfaces(vec![Interface {
        index: 2,
        name: "eth0".into(),
        addr: SRV,
    }]);
    let phone = [2, 0, 0, 0, 0, 0x41];
    let reserved = [2, 0, 0, 0, 0, 0x99];
    let (_, offer) = run_on(&mut s, T0, &client(phone, MessageType::Discover));
    let ip = offer.unwrap().yiaddr;
    let mut sel = client(phone, MessageType::Request);
    sel.options.set(code::REQUESTED_IP, ip.octets().to_vec());
    sel.options.set(code::SERVER_ID, SRV.octets().to_vec());
    assert_eq!(
        run_on(&mut s, T0, &sel).1.unwrap().options.message_type(),
        Some(5)
    );

    s.store_mut().offline = true;
    let later = T0 + 60_000;
    // udhcpc restarting: DISCOVER (50 = its address), then SELECTING.
    let mut disc = client(phone, MessageType::Discover);
    disc.options.set(code::REQUESTED_IP, ip.octets().to_vec());
    let (_, offer) = run_on(&mut s, later, &disc);
    let offer = offer.expect("offline OFFER of the client's own lease");
    assert_eq!((offer.options.message_type(), offer.yiaddr), (Some(2), ip));
    let (_, ack) = run_on(&mut s, later, &sel);
    let ack = ack.expect("offline ACK in SELECTING");
    assert_eq!((ack.options.message_type(), ack.yiaddr), (Some(5), ip));
    // INIT-REBOOT: ACK too.
    let mut ir = client(phone, MessageType::Request);
    ir.options.set(code::REQUESTED_IP, ip.octets().to_vec());
    let (_, ack) = run_on(&mut s, later, &ir);
    assert_eq!(ack.expect("offline ACK in INIT-REBOOT").yiaddr, ip);
    assert_eq!(s.store().by_ip(ip).unwrap().state, LeaseState::Bound);

    // Any address the client does not hold: refused.
    let other = Ipv4Addr::new(192, 168, 92, 150);
    sel.options.set(code::REQUESTED_IP, other.octets().to_vec());
    assert_eq!(
        run_on(&mut s, later, &sel).0,
        Outcome::Ignored(DropReason::StoreUnreachable)
    );
    // A reservation not held as bound: neither offered nor ACKed.
    assert_eq!(
        run_on(&mut s, later, &client(reserved, MessageType::Discover)).0,
        Outcome::Ignored(DropReason::StoreUnreachable)
    );
    let mut ir = client(reserved, MessageType::Request);
    ir.options.set(code::REQUESTED_IP, vec![192, 168, 92, 200]);
    assert_eq!(
        run_on(&mut s, later, &ir).0,
        Outcome::Ignored(DropReason::StoreUnreachable)
    );
    // A new client: refused without walking the pool (a walk of a large
    // pool per DISCOVER starves the core under load).
    s.store().lookups.set(0);
    assert_eq!(
        run_on(
            &mut s,
            later,
            &client([2, 0, 0, 0, 0, 0x42], MessageType::Discover)
        )
        .0,
        Outcome::Ignored(DropReason::StoreUnreachable)
    );
    assert!(
        s.store().lookups.get() < 10,
        "{} lookups",
        s.store().lookups.get()
    );
    assert!(s.store().by_ip(Ipv4Addr::new(192, 168, 92, 200)).is_none());
}
