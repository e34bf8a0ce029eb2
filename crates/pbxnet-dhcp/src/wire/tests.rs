use super::*;
use proptest::prelude::*;

fn header(op: u8) -> Vec<u8> {
    let mut b = vec![0u8; HEADER_LEN];
    b[0] = op;
    b[1] = 1;
    b[2] = 6;
    b[4..8].copy_from_slice(&0x1234_5678u32.to_be_bytes());
    b[28..34].copy_from_slice(&[0x00, 0x90, 0x8f, 0x61, 0xa0, 0x22]);
    b.extend_from_slice(&MAGIC_COOKIE);
    b
}

#[test]
fn rejects_truncated_header() {
    let b = header(1);
    assert_eq!(
        Packet::decode(&b[..239]),
        Err(DecodeError::Truncated { len: 239, min: 240 })
    );
}

#[test]
fn rejects_bad_cookie() {
    let mut b = header(1);
    b[236] = 0;
    assert!(matches!(
        Packet::decode(&b),
        Err(DecodeError::BadMagic { .. })
    ));
}

#[test]
fn rejects_option_length_past_end_instead_of_stopping() {
    let mut b = header(1);
    b.extend_from_slice(&[53, 1, 1, 60, 10, b'a', b'b']);
    assert_eq!(
        Packet::decode(&b),
        Err(DecodeError::OptionOverrun {
            code: 60,
            offset: 3,
            field: Field::Options,
            len: 10,
            remaining: 2
        })
    );
    // missing length byte
    let mut b = header(1);
    b.extend_from_slice(&[53, 1, 1, 60]);
    assert!(matches!(
        Packet::decode(&b),
        Err(DecodeError::OptionOverrun {
            code: 60,
            len: 0,
            ..
        })
    ));
}

#[test]
fn concatenates_non_adjacent_repeats_rfc3396() {
    let mut b = header(1);
    b.extend_from_slice(&[43, 2, 1, 2, 53, 1, 1, 43, 2, 3, 4, 255]);
    let p = Packet::decode(&b).unwrap();
    assert_eq!(p.options.get(43), Some(&[1u8, 2, 3, 4][..]));
    assert_eq!(p.options.message_type(), Some(1));
    // order is first appearance
    let codes: Vec<u8> = p.options.iter().map(|(c, _)| c).collect();
    assert_eq!(codes, vec![43, 53]);
}

#[test]
fn reads_overloaded_file_then_sname() {
    let mut b = header(1);
    // sname (offset 44) holds 12 = "s"; file (offset 108) holds 12 = "f" and 60
    b[44..48].copy_from_slice(&[12, 1, b's', 255]);
    b[108..116].copy_from_slice(&[12, 1, b'f', 60, 2, b'v', b'c', 255]);
    b.extend_from_slice(&[53, 1, 1, 52, 1, 3, 255]);
    let p = Packet::decode(&b).unwrap();
    assert_eq!(p.overload, 3);
    assert_eq!(p.options.get(12), Some(&b"fs"[..]));
    assert_eq!(p.options.get(60), Some(&b"vc"[..]));
    assert!(!p.options.contains(52));
}

#[test]
fn rejects_overload_loop() {
    let mut b = header(1);
    b[108..112].copy_from_slice(&[52, 1, 3, 255]);
    b.extend_from_slice(&[53, 1, 1, 52, 1, 1, 255]);
    assert_eq!(
        Packet::decode(&b),
        Err(DecodeError::OverloadLoop { field: Field::File })
    );
}

#[test]
fn rejects_bad_overload_value_and_missing_end() {
    let mut b = header(1);
    b.extend_from_slice(&[52, 1, 4, 255]);
    assert!(matches!(
        Packet::decode(&b),
        Err(DecodeError::BadOverload { .. })
    ));
    let mut b = header(1);
    b[108..236].fill(0); // all PAD, no END
    b.extend_from_slice(&[52, 1, 1, 255]);
    assert_eq!(
        Packet::decode(&b),
        Err(DecodeError::MissingEnd { field: Field::File })
    );
}

#[test]
fn splits_long_option_on_encode() {
    let mut p = Packet::new(2);
    let long: Vec<u8> = (0..600u32).map(|i| i as u8).collect();
    p.options.set(53, vec![5]);
    p.options.set(43, long.clone());
    let mut out = Vec::new();
    p.encode(&mut out);
    let opts = &out[240..];
    assert_eq!(&opts[..3], &[53, 1, 5]);
    assert_eq!(&opts[3..5], &[43, 255]);
    assert_eq!(&opts[5..260], &long[..255]);
    assert_eq!(&opts[260..262], &[43, 255]);
    assert_eq!(&opts[517..519], &[43, 90]);
    assert_eq!(opts[519 + 90], 255);
    let back = Packet::decode(&out).unwrap();
    assert_eq!(back.options.get(43), Some(long.as_slice()));
}

#[test]
fn encode_pads_to_bootp_minimum() {
    let mut p = Packet::new(2);
    p.options.set(53, vec![2]);
    let mut out = Vec::new();
    p.encode(&mut out);
    assert_eq!(out.len(), 300);
    assert_eq!(&out[240..244], &[53, 1, 2, 255]);
}

fn arb_options() -> impl Strategy<Value = Vec<(u8, Vec<u8>)>> {
    proptest::collection::vec(
        (
            (1u8..=254).prop_filter("not overload", |c| *c != 52),
            proptest::collection::vec(any::<u8>(), 0..700),
        ),
        0..8,
    )
}

proptest! {
    #[test]
    fn round_trips_any_options(opts in arb_options(), xid in any::<u32>(), flags in any::<u16>(),
                               chaddr in any::<[u8; 16]>(), ci in any::<u32>(), gi in any::<u32>()) {
        let mut p = Packet::new(1);
        p.xid = xid;
        p.flags = flags;
        p.chaddr = chaddr;
        p.ciaddr = Ipv4Addr::from(ci);
        p.giaddr = Ipv4Addr::from(gi);
        for (c, v) in &opts {
            p.options.append(*c, v);
        }
        let mut out = Vec::new();
        p.encode(&mut out);
        let back = Packet::decode(&out).unwrap();
        prop_assert_eq!(&back, &p);
        let mut again = Vec::new();
        back.encode(&mut again);
        prop_assert_eq!(again, out);
    }

    #[test]
    fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..800)) {
        let _ = Packet::decode(&bytes);
        let mut b = header(1);
        b.extend_from_slice(&bytes);
        if let Ok(p) = Packet::decode(&b) {
            let mut out = Vec::new();
            p.encode(&mut out);
            // Re-decoding our own encoding is always accepted.
            let mut q = Packet::decode(&out).unwrap();
            q.overload = p.overload;
            q.sname = p.sname;
            q.file = p.file;
            prop_assert_eq!(q, p);
        }
    }
}
