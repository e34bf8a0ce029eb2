//! Value types: accepted spellings, refusals with their reasons, display
//! round trips, and parsers that never panic (proptest).

use std::net::Ipv4Addr;
use std::time::Duration;

use proptest::prelude::*;

use super::*;

#[test]
fn accepts_the_three_mac_spellings() {
    let want = MacAddr([0x00, 0x90, 0x8f, 0x61, 0xa0, 0x22]);
    for s in [
        "00:90:8f:61:a0:22",
        "00-90-8F-61-A0-22",
        "00908f61a022",
        "0090.8f61.a022",
    ] {
        assert_eq!(s.parse::<MacAddr>().unwrap(), want, "{s}");
    }
    assert_eq!(want.to_string(), "00:90:8f:61:a0:22");
    assert_eq!(want.to_plain_hex(), "00908f61a022");
}

#[test]
fn rejects_malformed_macs_with_reason() {
    let e = "00:90:8g:61:a0:22".parse::<MacAddr>().unwrap_err();
    assert!(e.contains("`g` is not a hex digit"), "{e}");
    let e = "00:90:8f:61:a0".parse::<MacAddr>().unwrap_err();
    assert!(e.contains("10 hex digits"), "{e}");
    let e = "00:90-8f:61:a0:22".parse::<MacAddr>().unwrap_err();
    assert!(e.contains("mixes separators"), "{e}");
}

#[test]
fn mac_pattern_matches_by_prefix() {
    let p: MacPattern = "00:90:8f*".parse().unwrap();
    assert!(p.matches(&"00:90:8f:61:a0:22".parse().unwrap()));
    assert!(!p.matches(&"00:90:8e:61:a0:22".parse().unwrap()));
    let half: MacPattern = "00-90-8*".parse().unwrap();
    assert!(half.matches(&"00:90:8e:00:00:01".parse().unwrap()));
    assert_eq!(p.to_string(), "00:90:8f*");
    assert!("00:90:8f"
        .parse::<MacPattern>()
        .unwrap_err()
        .contains("no trailing `*`"));
    assert!("00:*:8f*"
        .parse::<MacPattern>()
        .unwrap_err()
        .contains("only be at the end"));
    assert!("*"
        .parse::<MacPattern>()
        .unwrap_err()
        .contains("every device"));
}

#[test]
fn cidr_refuses_host_bits() {
    let n: Ipv4Net = "192.168.92.0/24".parse().unwrap();
    assert!(n.contains("192.168.92.200".parse().unwrap()));
    assert!(!n.contains("192.168.93.1".parse().unwrap()));
    assert_eq!(n.netmask(), Ipv4Addr::new(255, 255, 255, 0));
    assert_eq!(n.broadcast(), Ipv4Addr::new(192, 168, 92, 255));
    let e = "192.168.92.5/24".parse::<Ipv4Net>().unwrap_err();
    assert!(e.contains("192.168.92.0/24"), "{e}");
    assert!("192.168.92.0/33".parse::<Ipv4Net>().is_err());
}

#[test]
fn range_refuses_start_after_end() {
    let r: AddrRange = "192.168.92.10..192.168.92.69".parse().unwrap();
    assert_eq!(r.len(), 60);
    let r2: AddrRange = "192.168.92.5 - 192.168.92.9".parse().unwrap();
    assert!(!r.overlaps(&r2));
    let e = "192.168.92.69..192.168.92.10"
        .parse::<AddrRange>()
        .unwrap_err();
    assert!(
        e.contains("starts at 192.168.92.69, after its end 192.168.92.10"),
        "{e}"
    );
    let e = "192.168.92.10..192.168.92.300"
        .parse::<AddrRange>()
        .unwrap_err();
    assert!(e.contains("`300` is not a number from 0 to 255"), "{e}");
}

#[test]
fn durations_need_units() {
    assert_eq!(
        "90s".parse::<HumanDuration>().unwrap().get(),
        Duration::from_secs(90)
    );
    assert_eq!(
        "12h".parse::<HumanDuration>().unwrap().get(),
        Duration::from_secs(43_200)
    );
    assert_eq!(
        "30d".parse::<HumanDuration>().unwrap().get(),
        Duration::from_secs(2_592_000)
    );
    assert_eq!(
        "1h30m".parse::<HumanDuration>().unwrap().get(),
        Duration::from_secs(5_400)
    );
    assert_eq!(
        "250ms".parse::<HumanDuration>().unwrap().get(),
        Duration::from_millis(250)
    );
    assert!("3600"
        .parse::<HumanDuration>()
        .unwrap_err()
        .contains("has no unit"));
    assert!("5y"
        .parse::<HumanDuration>()
        .unwrap_err()
        .contains("unknown unit `y`"));
    assert_eq!(HumanDuration(Duration::from_secs(5_400)).to_string(), "90m");
}

#[test]
fn sizes_know_both_unit_families() {
    assert_eq!("512KiB".parse::<ByteSize>().unwrap().0, 524_288);
    assert_eq!("20MB".parse::<ByteSize>().unwrap().0, 20_000_000);
    assert_eq!("0.5MB".parse::<ByteSize>().unwrap().0, 500_000);
    assert!("12XB"
        .parse::<ByteSize>()
        .unwrap_err()
        .contains("unknown unit `XB`"));
}

#[test]
fn hex_refuses_the_server_macro() {
    assert_eq!("01:02:0a".parse::<HexData>().unwrap().0, vec![1, 2, 10]);
    assert_eq!("0x01020a".parse::<HexData>().unwrap().0, vec![1, 2, 10]);
    assert_eq!("01 02 0a".parse::<HexData>().unwrap().0, vec![1, 2, 10]);
    let e = "01:${server_ip}".parse::<HexData>().unwrap_err();
    assert!(e.contains("not allowed inside hex data"), "{e}");
    assert!("012".parse::<HexData>().unwrap_err().contains("odd number"));
}

proptest! {
    #[test]
    fn mac_display_round_trips(bytes in any::<[u8; 6]>()) {
        let mac = MacAddr(bytes);
        prop_assert_eq!(mac.to_string().parse::<MacAddr>().unwrap(), mac);
        prop_assert_eq!(mac.to_plain_hex().parse::<MacAddr>().unwrap(), mac);
    }

    #[test]
    fn hex_display_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let hex = HexData(bytes);
        let text = hex.to_string();
        if !hex.0.is_empty() {
            prop_assert_eq!(text.parse::<HexData>().unwrap(), hex);
        }
    }

    #[test]
    fn duration_display_round_trips(ms in 1u64..10_000_000_000) {
        let d = HumanDuration(Duration::from_millis(ms));
        prop_assert_eq!(d.to_string().parse::<HumanDuration>().unwrap(), d);
    }

    #[test]
    fn value_parsers_never_panic(s in "\\PC{0,40}") {
        let _ = s.parse::<MacAddr>();
        let _ = s.parse::<MacPattern>();
        let _ = s.parse::<Ipv4Net>();
        let _ = s.parse::<AddrRange>();
        let _ = s.parse::<HumanDuration>();
        let _ = s.parse::<ByteSize>();
        let _ = s.parse::<HexData>();
    }
}
