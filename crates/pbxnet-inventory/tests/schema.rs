//! The JSON form of the events: field names as documented, version checks.

mod common;

use common::*;
use pbxnet_inventory::{Envelope, Outcome, SchemaError};

#[test]
fn dhcp_ack_line_has_the_documented_shape() {
    let e = ack(
        T0,
        mac("00:90:8f:61:a0:22"),
        ip(20),
        "audiocodes-450hd",
        Some("400HD.img"),
    );
    let line = e.to_json_line();
    let want = concat!(
        r#"{"v":1,"daemon":"dhcpd","at":1796000000000,"event":{"type":"dhcp","message":"ack","#,
        r#""mac":"00:90:8f:61:a0:22","ip":"192.168.92.20","class":"audiocodes-450hd","#,
        r#""profile":"audiocodes-450hd","boot_file":"400HD.img","lease_expires":1796003600000}}"#
    );
    assert_eq!(line, want);
    assert_eq!(Envelope::from_json_line(&line).unwrap(), e);
}

#[test]
fn transfer_line_round_trips_with_user_agent() {
    let e = fetch_ua(
        T0,
        ip(20),
        "/00908f61a022.cfg",
        Outcome::NotFound,
        Some("AUDC-IPPhone/3.4.8 (450HD)"),
    );
    let line = e.to_json_line();
    assert!(
        line.contains(r#""type":"transfer""#) && line.contains(r#""outcome":"not-found""#),
        "{line}"
    );
    assert_eq!(Envelope::from_json_line(&line).unwrap(), e);
}

#[test]
fn rejects_another_version_and_unknown_types_ignores_unknown_fields() {
    let v2 = r#"{"v":2,"daemon":"dhcpd","at":1,"event":{"type":"future"}}"#;
    assert!(matches!(
        Envelope::from_json_line(v2),
        Err(SchemaError::Version { got: 2 })
    ));
    let extra = r#"{"v":1,"daemon":"ntpd","at":1,"event":{"type":"ntp-request","client_ip":"10.0.0.1","version":4,"auth":"none","colour":"red"}}"#;
    let ok = r#"{"v":1,"daemon":"ntpd","at":1,"event":{"type":"ntp-request","client_ip":"10.0.0.1","version":4,"auth":"none"}}"#;
    assert_eq!(
        Envelope::from_json_line(extra).unwrap(),
        Envelope::from_json_line(ok).unwrap()
    );
    let unknown_type = r#"{"v":1,"daemon":"ntpd","at":1,"event":{"type":"ntp-nonsense"}}"#;
    assert!(matches!(
        Envelope::from_json_line(unknown_type),
        Err(SchemaError::Malformed(_))
    ));
    let missing_ip = r#"{"v":1,"daemon":"ntpd","at":1,"event":{"type":"ntp-request","version":4,"auth":"none"}}"#;
    assert!(matches!(
        Envelope::from_json_line(missing_ip),
        Err(SchemaError::Malformed(_))
    ));
    assert!(Envelope::from_json_line("not json").is_err());
}

#[test]
fn lost_marker_counts_the_gap_and_is_not_an_applied_event() {
    let line = r#"{"v":1,"daemon":"tftpd","at":1796000000000,"event":{"type":"lost","count":17}}"#;
    let e = Envelope::from_json_line(line).unwrap();
    assert_eq!(e.to_json_line(), line);
    let mut inv = pbxnet_inventory::Inventory::new(Default::default());
    inv.apply(&e);
    inv.apply(&e);
    assert_eq!(inv.events_lost(), 34);
    assert_eq!(inv.events_applied(), 0);
    assert!(inv.is_empty());
}
