//! Captured client packets (see tests/vectors/README.md): decode field by
//! field, classify, and re-encode byte-exact.

use std::net::Ipv4Addr;

use pbxnet_dhcp::{classify, Class, Matcher, Packet};

fn load(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/vectors/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn reencodes(raw: &[u8]) -> Packet {
    let p = Packet::decode(raw).unwrap();
    let mut out = Vec::new();
    p.encode(&mut out);
    assert_eq!(out, raw, "re-encoding is byte-exact");
    p
}

#[test]
fn udhcpc_450hd_discover() {
    let p = reencodes(&load("udhcpc-450hd-discover.bin"));
    assert_eq!((p.op, p.htype, p.hlen, p.hops), (1, 1, 6, 0));
    assert_eq!(p.mac(), [0x00, 0x90, 0x8f, 0x61, 0xa0, 0x22]);
    assert_eq!(p.ciaddr, Ipv4Addr::UNSPECIFIED);
    assert_eq!(p.options.message_type(), Some(1));
    assert_eq!(p.options.get(60), Some(&b"450HD"[..]));
    assert_eq!(p.options.get(77), Some(&b"\x05450HD\x00"[..]));
    assert_eq!(p.options.u16(57), Some(576));
    assert_eq!(p.options.get(55), Some(&[1, 3, 6, 12, 15, 28, 42][..]));
    assert_eq!(
        p.options.get(61),
        Some(&[1, 0x00, 0x90, 0x8f, 0x61, 0xa0, 0x22][..])
    );
    let classes = |m| {
        vec![
            Class {
                name: "x".into(),
                matcher: m,
                profile: 0,
                pool: None,
                static_ip: None,
            },
            Class {
                name: "any".into(),
                matcher: Matcher::Any,
                profile: 0,
                pool: None,
                static_ip: None,
            },
        ]
    };
    let uc = Matcher::UserClass {
        value: b"450HD".to_vec(),
        prefix: false,
    };
    assert_eq!(
        classify(&classes(uc), &p),
        Some(0),
        "option 77 RFC 3004 with trailing NUL"
    );
    let vc = Matcher::VendorClass {
        value: b"4".to_vec(),
        prefix: true,
    };
    assert_eq!(classify(&classes(vc), &p), Some(0));
    let grp = Matcher::MacPrefix("00:90:8f*".parse().unwrap());
    assert_eq!(classify(&classes(grp), &p), Some(0));
}

#[test]
fn dhclient_discover() {
    let p = reencodes(&load("dhclient-discover.bin"));
    assert_eq!(p.options.message_type(), Some(1));
    assert_eq!(p.options.get(12), Some(&b"vm"[..]), "host name");
    assert_eq!(
        p.options.get(55),
        Some(&[1, 28, 2, 3, 15, 6, 119, 12, 44, 47, 26, 121, 42][..])
    );
    assert!(!p.options.contains(61));
}

#[test]
fn dhcpcd_discover() {
    let p = reencodes(&load("dhcpcd-discover.bin"));
    assert_eq!(p.options.message_type(), Some(1));
    let id = p.options.get(61).unwrap();
    assert_eq!(id[0], 0xff, "RFC 4361 IAID+DUID client identifier");
    assert_eq!(p.options.u16(57), Some(1472));
    assert!(p.options.get(55).unwrap().starts_with(&[1, 121, 3, 6]));
}
