use super::*;

/// An RRQ as sent by tftp-hpa 5.2 (`tftp -m octet`, blksize 1468),
/// captured with tcpdump.
const HPA_RRQ: &[u8] = b"\x00\x01os_ins.alu\x00octet\x00blksize\x001468\x00";
/// atftp 0.8 with `--option "blksize 8192" --option "windowsize 16" --option tsize`.
const ATFTP_RRQ: &[u8] =
    b"\x00\x01Binary/420HD.img\x00octet\x00blksize\x008192\x00windowsize\x0016\x00tsize\x000\x00";

#[test]
fn decodes_captured_rrqs_field_by_field_and_reencodes_byte_exact() {
    for raw in [HPA_RRQ, ATFTP_RRQ] {
        let p = decode(raw).unwrap();
        let mut out = Vec::new();
        encode(&p, &mut out);
        assert_eq!(out, raw);
    }
    match decode(ATFTP_RRQ).unwrap() {
        Packet::Rrq(r) => {
            assert_eq!(r.filename, b"Binary/420HD.img");
            assert_eq!(r.mode, Mode::Octet);
            assert_eq!(
                r.options,
                vec![
                    ("blksize".into(), "8192".into()),
                    ("windowsize".into(), "16".into()),
                    ("tsize".into(), "0".into())
                ]
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn mode_and_option_names_are_case_insensitive() {
    let p = decode(b"\x00\x01f\x00NetASCII\x00BLKSIZE\x00512\x00").unwrap();
    let Packet::Rrq(r) = p else { panic!() };
    assert_eq!(r.mode, Mode::Netascii);
    assert_eq!(r.options[0].0, "blksize");
}

#[test]
fn rejects_malformed_packets_with_structured_errors() {
    assert!(matches!(decode(b""), Err(DecodeError::Short { .. })));
    assert!(matches!(decode(b"\x00"), Err(DecodeError::Short { .. })));
    assert_eq!(decode(b"\x00\x09"), Err(DecodeError::UnknownOpcode(9)));
    assert!(matches!(
        decode(b"\x00\x01file"),
        Err(DecodeError::Unterminated {
            field: Field::Filename,
            offset: 2
        })
    ));
    assert!(matches!(
        decode(b"\x00\x01file\x00octet"),
        Err(DecodeError::Unterminated {
            field: Field::Mode,
            ..
        })
    ));
    assert!(matches!(
        decode(b"\x00\x01f\x00binary\x00"),
        Err(DecodeError::UnknownMode { offset: 4, len: 6 })
    ));
    assert_eq!(
        decode(b"\x00\x01\x00octet\x00"),
        Err(DecodeError::EmptyFilename)
    );
    assert!(matches!(
        decode(b"\x00\x01f\x00octet\x00blksize\x00"),
        Err(DecodeError::Unterminated {
            field: Field::OptionValue,
            ..
        })
    ));
    assert_eq!(
        decode(b"\x00\x01f\x00octet\x00a\x001\x00A\x002\x00"),
        Err(DecodeError::DuplicateOption("a".into()))
    );
    assert!(matches!(
        decode(b"\x00\x04\x00\x01\x00"),
        Err(DecodeError::Trailing {
            offset: 4,
            count: 1
        })
    ));
    assert!(matches!(
        decode(b"\x00\x04\x00"),
        Err(DecodeError::Short { .. })
    ));
    let mut long = b"\x00\x01".to_vec();
    long.extend(std::iter::repeat_n(b'a', 10_000));
    long.extend_from_slice(b"\x00octet\x00");
    assert!(matches!(decode(&long), Err(DecodeError::TooLong { .. })));
    assert!(matches!(
        decode(b"\x00\x01f\x00octet\x00bl\xffk\x001\x00"),
        Err(DecodeError::NotAscii { .. })
    ));
}

#[test]
fn tolerates_nul_padding_after_request() {
    let Packet::Rrq(r) = decode(b"\x00\x01f\x00octet\x00\x00\x00").unwrap() else {
        panic!()
    };
    assert!(r.options.is_empty());
}

#[test]
fn error_packet_round_trip_and_lenient_message() {
    let mut out = Vec::new();
    encode_error(ErrorCode::OptionRefused, "no", &mut out);
    assert_eq!(out, b"\x00\x05\x00\x08no\x00");
    assert_eq!(
        decode(b"\x00\x05\x00\x00abort").unwrap(),
        Packet::Error {
            code: ErrorCode::NotDefined,
            message: "abort".into()
        }
    );
}

#[test]
fn data_and_ack_encoding_is_byte_exact() {
    let mut out = Vec::new();
    encode_data_header(0xfffe, &mut out);
    out.extend_from_slice(b"xy");
    assert_eq!(out, b"\x00\x03\xff\xfexy");
    out.clear();
    encode_ack(7, &mut out);
    assert_eq!(out, b"\x00\x04\x00\x07");
    out.clear();
    encode_oack(&[("blksize".into(), "1468".into())], &mut out);
    assert_eq!(out, b"\x00\x06blksize\x001468\x00");
}

proptest::proptest! {
    #[test]
    fn decode_never_panics_and_roundtrips(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
        if let Ok(p) = decode(&bytes) {
            let mut out = Vec::new();
            encode(&p, &mut out);
            let again = decode(&out).unwrap();
            proptest::prop_assert_eq!(again, p);
        }
    }
}
