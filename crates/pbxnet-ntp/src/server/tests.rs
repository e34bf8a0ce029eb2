use super::*;
use crate::mac::{Key, KeyType};
use crate::policy::IpNet;

const T1: u64 = 0xe9b2_4c7a_1234_5678;

fn req(version: u8, mode: u8) -> Vec<u8> {
    let mut b = vec![0u8; 48];
    b[0] = (version << 3) | mode;
    b[2] = 6;
    b[40..48].copy_from_slice(&T1.to_be_bytes());
    b
}

fn recv() -> NtpTimestamp {
    NtpTimestamp::from_unix(1_763_700_000, 250_000_000)
}

fn tx() -> NtpTimestamp {
    NtpTimestamp::from_unix(1_763_700_000, 250_010_000)
}

fn peer() -> IpAddr {
    "192.168.92.10".parse().unwrap()
}

fn keys() -> KeyStore {
    KeyStore::new(
        vec![
            Key::new(1, KeyType::Md5, b"md5secret".to_vec()).unwrap(),
            Key::new(2, KeyType::Sha1, b"sha1secret".to_vec()).unwrap(),
            Key::new(3, KeyType::Aes128Cmac, (0u8..16).collect()).unwrap(),
            Key::new(4, KeyType::Md5, b"untrusted".to_vec()).unwrap(),
        ],
        [1, 2, 3],
    )
}

fn local_server(cfg: ServerConfig) -> Server {
    let now = NtpTimestamp::from_unix(1_763_699_990, 0);
    Server::new(cfg, SystemState::local(8, -20, now), [7, 9])
}

fn signed(mut b: Vec<u8>, key_id: u32) -> Vec<u8> {
    let ks = keys();
    let k = ks.get(key_id).unwrap();
    let n = b.len();
    b.resize(n + 24, 0);
    let m = k.sign_in_place(&mut b, n).unwrap();
    b.truncate(m);
    b
}

fn answer(s: &mut Server, request: &[u8]) -> Option<Vec<u8>> {
    let mut buf = [0u8; 128];
    match s.handle(request, peer(), recv(), 1000, tx, &mut buf) {
        ServerAction::Respond(r) => Some(r.to_vec()),
        ServerAction::Ignore => None,
    }
}

#[test]
fn answers_v4_client_with_correct_header_bytes() {
    let mut s = local_server(ServerConfig::default());
    let r = answer(&mut s, &req(4, 3)).unwrap();
    assert_eq!(r.len(), 48);
    assert_eq!(r[0], 0x24, "LI=0 VN=4 mode=4");
    assert_eq!(r[1], 8, "stratum");
    assert_eq!(r[2], 6, "poll echoed");
    assert_eq!(r[3] as i8, -20, "precision");
    assert_eq!(&r[4..8], &[0, 0, 0, 0], "root delay");
    // root dispersion: 10.25 s since reference * 15 ppm = 153.75 us = 10/65536 s (16.16)
    assert_eq!(u32::from_be_bytes(r[8..12].try_into().unwrap()), 10);
    assert_eq!(&r[12..16], &[127, 127, 1, 1]);
    assert_eq!(
        &r[16..24],
        &NtpTimestamp::from_unix(1_763_699_990, 0)
            .to_bits()
            .to_be_bytes()
    );
    assert_eq!(
        &r[24..32],
        &T1.to_be_bytes(),
        "origin = request transmit, byte for byte"
    );
    assert_eq!(&r[32..40], &recv().to_bits().to_be_bytes());
    assert_eq!(&r[40..48], &tx().to_bits().to_be_bytes());
    assert_eq!(s.stats().replies_by_version[4], 1);
}

#[test]
fn echoes_versions_1_to_3() {
    let mut s = local_server(ServerConfig::default());
    for v in 1..=3u8 {
        let r = answer(&mut s, &req(v, 3)).unwrap();
        assert_eq!((r[0] >> 3) & 7, v);
        assert_eq!(r[0] & 7, 4);
    }
    // v1 with mode 0 (RFC 1059 clients)
    let r = answer(&mut s, &req(1, 0)).unwrap();
    assert_eq!(r[0], 0x0c);
}

#[test]
fn unsynchronised_sends_li3_stratum16() {
    let mut s = Server::new(
        ServerConfig::default(),
        SystemState::unsynchronized(-20),
        [1, 1],
    );
    let r = answer(&mut s, &req(4, 3)).unwrap();
    assert_eq!(r[0] >> 6, 3);
    assert_eq!(r[1], 16);
    assert_eq!(&r[16..24], &[0; 8], "no reference time");
    assert_eq!(&r[24..32], &T1.to_be_bytes());
}

#[test]
fn never_answers_control_private_symmetric_broadcast_or_server_modes() {
    let mut s = local_server(ServerConfig::default());
    for mode in [0u8, 1, 2, 4, 5, 6, 7] {
        assert_eq!(answer(&mut s, &req(4, mode)), None, "mode {mode}");
    }
    assert_eq!(s.stats().drop_mode_control, 2);
    assert_eq!(s.stats().drop_mode_other, 5);
    for v in [0u8, 5, 6, 7] {
        assert_eq!(answer(&mut s, &req(v, 3)), None);
    }
    assert_eq!(s.stats().drop_bad_version, 4);
}

#[test]
fn malformed_is_dropped_and_counted() {
    let mut s = local_server(ServerConfig::default());
    assert_eq!(answer(&mut s, &[0x23; 47]), None);
    let mut b = req(4, 3);
    b.extend_from_slice(&[1, 2, 3]);
    assert_eq!(answer(&mut s, &b), None);
    assert_eq!(s.stats().drop_malformed, 2);
}

#[test]
fn signs_reply_with_the_requests_key() {
    for key_id in [1u32, 2, 3] {
        let mut s = local_server(ServerConfig {
            keys: keys(),
            ..Default::default()
        });
        let request = signed(req(4, 3), key_id);
        let r = answer(&mut s, &request).unwrap();
        assert_eq!(r.len(), request.len());
        let p = Packet::decode(&r).unwrap();
        let mac = p.mac.unwrap();
        assert_eq!(mac.key_id, key_id);
        assert!(keys().verify(key_id, p.authenticated, mac.digest).is_ok());
        assert_eq!(s.stats().replies_authenticated, 1);
    }
}

#[test]
fn bad_mac_gets_crypto_nak_bytes_or_silence() {
    let mut s = local_server(ServerConfig {
        keys: keys(),
        ..Default::default()
    });
    let mut request = signed(req(4, 3), 1);
    let last = request.len() - 1;
    request[last] ^= 0x80;
    let r = answer(&mut s, &request).unwrap();
    assert_eq!(r.len(), 52);
    assert_eq!(&r[48..52], &[0, 0, 0, 0], "crypto-NAK: key id 0, no digest");
    assert_eq!(&r[24..32], &T1.to_be_bytes());
    // unknown and untrusted keys too
    assert_eq!(answer(&mut s, &signed(req(4, 3), 4)).unwrap().len(), 52);
    let mut unknown = req(4, 3);
    unknown.extend_from_slice(&99u32.to_be_bytes());
    unknown.extend_from_slice(&[0; 16]);
    assert_eq!(answer(&mut s, &unknown).unwrap()[48..], [0, 0, 0, 0]);
    let st = s.stats();
    assert_eq!(
        (
            st.auth_bad_mac,
            st.auth_untrusted_key,
            st.auth_unknown_key,
            st.crypto_nak
        ),
        (1, 1, 1, 3)
    );

    let mut policy = AccessPolicy {
        bad_mac: BadMacResponse::Silence,
        ..Default::default()
    };
    policy.allow.clear();
    let mut s = local_server(ServerConfig {
        keys: keys(),
        policy,
        ..Default::default()
    });
    assert_eq!(answer(&mut s, &request), None);
    assert_eq!(s.stats().drop_bad_auth, 1);
}

#[test]
fn denied_network_gets_deny_kod_bytes_or_silence() {
    let policy = AccessPolicy {
        allow: vec!["10.0.0.0/8".parse::<IpNet>().unwrap()],
        deny_kod: true,
        ..Default::default()
    };
    let mut s = local_server(ServerConfig {
        policy: policy.clone(),
        ..Default::default()
    });
    let r = answer(&mut s, &req(4, 3)).unwrap();
    assert_eq!(r.len(), 48);
    assert_eq!(r[0], 0xe4, "LI=3 VN=4 mode 4");
    assert_eq!(r[1], 0, "stratum 0");
    assert_eq!(&r[12..16], b"DENY");
    assert_eq!(&r[24..32], &T1.to_be_bytes());
    assert_eq!(&r[32..40], &T1.to_be_bytes(), "no time in a KoD");
    assert_eq!(&r[40..48], &T1.to_be_bytes());
    assert_eq!(s.stats().kod_deny, 1);
    let mut s = local_server(ServerConfig {
        policy: AccessPolicy {
            deny_kod: false,
            ..policy
        },
        ..Default::default()
    });
    assert_eq!(answer(&mut s, &req(4, 3)), None);
    assert_eq!(s.stats().drop_denied, 1);
}

#[test]
fn auth_required_network_needs_a_mac() {
    let policy = AccessPolicy {
        auth_required: vec!["192.168.92.0/24".parse().unwrap()],
        ..Default::default()
    };
    let mut s = local_server(ServerConfig {
        policy,
        keys: keys(),
        ..Default::default()
    });
    assert_eq!(answer(&mut s, &req(4, 3)), None);
    assert_eq!(s.stats().drop_auth_required, 1);
    assert!(answer(&mut s, &signed(req(4, 3), 2)).is_some());
}

#[test]
fn rate_limit_sends_rate_kod_sparingly_and_leaks() {
    let rl = RateLimitConfig {
        interval_ms: 1000,
        burst: 2,
        leak: 2,
        kod: true,
        kod_interval_ms: 60_000,
        slots: 16,
    };
    let mut s = local_server(ServerConfig {
        rate_limit: Some(rl),
        ..Default::default()
    });
    let mut kinds = Vec::new();
    for _ in 0..10 {
        kinds.push(match answer(&mut s, &req(4, 3)) {
            None => "drop",
            Some(r) if &r[12..16] == b"RATE" => {
                assert_eq!(r[0] >> 6, 3);
                assert_eq!(r[1], 0);
                "kod"
            }
            Some(_) => "reply",
        });
    }
    assert_eq!(
        kinds,
        ["reply", "reply", "drop", "kod", "drop", "reply", "drop", "reply", "drop", "reply"]
    );
    let st = s.stats();
    assert_eq!(
        (st.kod_rate, st.drop_rate_limited, st.replies_rate_leaked),
        (1, 4, 3)
    );
}

#[test]
fn reply_never_exceeds_request_for_any_shape() {
    let mut s = local_server(ServerConfig {
        keys: keys(),
        ..Default::default()
    });
    let mut shapes: Vec<Vec<u8>> = vec![req(4, 3), req(3, 3), req(1, 0)];
    for k in [1, 2, 3, 4] {
        shapes.push(signed(req(4, 3), k));
        shapes.push(signed(req(3, 3), k));
    }
    // extension fields with and without MAC
    let mut ef = req(4, 3);
    ef.extend_from_slice(&[0x01, 0x04, 0x00, 0x20]);
    ef.extend_from_slice(&[0xaa; 28]);
    shapes.push(ef.clone());
    shapes.push(signed(ef.clone(), 1));
    // a crypto-NAK-shaped request (4-byte MAC)
    let mut nak = req(4, 3);
    nak.extend_from_slice(&[0; 4]);
    shapes.push(nak);
    for mac_len in [8usize, 12, 16] {
        let mut m = req(4, 3);
        m.extend_from_slice(&1u32.to_be_bytes());
        m.resize(48 + mac_len, 0);
        shapes.push(m);
    }
    for shape in &shapes {
        let r = answer(&mut s, shape).expect("all shapes are answered");
        assert!(r.len() <= shape.len(), "{} > {}", r.len(), shape.len());
    }
    assert_eq!(s.stats().drop_amplification, 0);
}

#[test]
fn requests_with_extension_fields_get_plain_or_signed_reply() {
    let mut s = local_server(ServerConfig {
        keys: keys(),
        ..Default::default()
    });
    let mut ef = req(4, 3);
    ef.extend_from_slice(&[0x01, 0x04, 0x00, 0x20]);
    ef.extend_from_slice(&[0xaa; 28]);
    assert_eq!(answer(&mut s, &ef).unwrap().len(), 48);
    let r = answer(&mut s, &signed(ef, 3)).unwrap();
    assert_eq!(r.len(), 68);
}

#[test]
fn root_dispersion_grows_with_age() {
    let st = SystemState {
        root_dispersion: NtpDuration::from_seconds(0.001),
        ..SystemState::local(3, -20, NtpTimestamp::from_unix(1000, 0))
    };
    let d = st.root_dispersion_at(NtpTimestamp::from_unix(2000, 0));
    assert!((d.as_seconds() - (0.001 + 1000.0 * 15e-6)).abs() < 1e-6);
    assert!(st.is_synchronized());
    assert!(!SystemState::unsynchronized(-20).is_synchronized());
}

#[test]
fn tx_hook_called_after_checks_only_when_replying() {
    let mut s = local_server(ServerConfig::default());
    let mut called = 0;
    let mut buf = [0u8; 72];
    let _ = s.handle(
        &req(4, 6),
        peer(),
        recv(),
        0,
        || {
            called += 1;
            tx()
        },
        &mut buf,
    );
    assert_eq!(called, 0);
    let _ = s.handle(
        &req(4, 3),
        peer(),
        recv(),
        0,
        || {
            called += 1;
            tx()
        },
        &mut buf,
    );
    assert_eq!(called, 1);
}

#[test]
fn prepare_then_complete_matches_handle_for_every_reply_kind() {
    let mut bad = signed(req(4, 3), 1);
    let last = bad.len() - 1;
    bad[last] ^= 1;
    let requests = [
        req(4, 3),
        req(3, 3),
        signed(req(4, 3), 1),
        signed(req(4, 3), 2),
        signed(req(4, 3), 3),
        bad,
        req(4, 6),
    ];
    let cfg = || ServerConfig {
        keys: keys(),
        ..Default::default()
    };
    let (mut one, mut two) = (local_server(cfg()), local_server(cfg()));
    for r in &requests {
        let mut b1 = [0u8; MAX_REPLY_LEN];
        let want = match one.handle(r, peer(), recv(), 5, tx, &mut b1) {
            ServerAction::Respond(x) => Some(x.to_vec()),
            ServerAction::Ignore => None,
        };
        let mut b2 = [0u8; MAX_REPLY_LEN];
        let got = two.prepare(r, peer(), recv(), 5, &mut b2).map(|p| {
            assert!(p.needs_transmit_time());
            let len = p.len();
            match two.complete(&p, tx(), &mut b2) {
                ServerAction::Respond(x) => {
                    assert_eq!(x.len(), len);
                    x.to_vec()
                }
                ServerAction::Ignore => panic!("complete refused"),
            }
        });
        assert_eq!(got, want);
    }
    assert_eq!(one.stats(), two.stats());
    assert_eq!(two.stats().replies_authenticated, 3);
    assert_eq!(two.stats().crypto_nak, 1);
}

#[test]
fn a_batch_gets_one_transmit_time_written_before_signing() {
    let mut s = local_server(ServerConfig {
        keys: keys(),
        ..Default::default()
    });
    let requests = [req(4, 3), signed(req(4, 3), 1), signed(req(4, 3), 3)];
    let mut bufs = [[0u8; MAX_REPLY_LEN]; 3];
    let pending: Vec<_> = requests
        .iter()
        .zip(bufs.iter_mut())
        .map(|(r, b)| s.prepare(r, peer(), recv(), 0, b).unwrap())
        .collect();
    assert_eq!(s.stats().replies_total(), 0, "counted when completed");
    for ((p, b), key) in pending
        .iter()
        .zip(bufs.iter_mut())
        .zip([None, Some(1), Some(3)])
    {
        let ServerAction::Respond(r) = s.complete(p, tx(), b) else {
            panic!("no reply");
        };
        let pkt = Packet::decode(r).unwrap();
        assert_eq!(pkt.header.transmit_ts, tx());
        assert_eq!(pkt.header.receive_ts, recv());
        if let Some(id) = key {
            let mac = pkt.mac.unwrap();
            assert!(keys().verify(id, pkt.authenticated, mac.digest).is_ok());
        }
    }
    assert_eq!(s.stats().replies_total(), 3);
}

#[test]
fn kod_is_prepared_without_transmit_time_and_a_vanished_key_drops_the_reply() {
    let mut s = local_server(ServerConfig {
        policy: AccessPolicy {
            allow: vec!["10.0.0.0/8".parse::<IpNet>().unwrap()],
            deny_kod: true,
            ..Default::default()
        },
        ..Default::default()
    });
    let mut b = [0u8; MAX_REPLY_LEN];
    let p = s.prepare(&req(4, 3), peer(), recv(), 0, &mut b).unwrap();
    assert!(!p.needs_transmit_time());
    let ServerAction::Respond(r) = s.complete(&p, tx(), &mut b) else {
        panic!("no KoD");
    };
    assert_eq!(&r[40..48], &T1.to_be_bytes(), "a KoD carries no time");

    let mut s = local_server(ServerConfig {
        keys: keys(),
        ..Default::default()
    });
    let p = s
        .prepare(&signed(req(4, 3), 2), peer(), recv(), 0, &mut b)
        .unwrap();
    s.reload(ServerConfig::default());
    assert_eq!(s.complete(&p, tx(), &mut b), ServerAction::Ignore);
    assert_eq!(s.stats().drop_buffer, 1);
    assert_eq!(s.stats().replies_total(), 0);
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    fn seeds() -> Vec<Vec<u8>> {
        let mut ef = req(4, 3);
        ef.extend_from_slice(&[0x01, 0x04, 0x00, 0x20]);
        ef.extend_from_slice(&[0xaa; 28]);
        vec![
            req(4, 3),
            req(3, 3),
            signed(req(4, 3), 1),
            signed(req(4, 3), 2),
            signed(req(4, 3), 3),
            signed(ef.clone(), 3),
            ef,
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Arbitrary datagrams: never a panic, never a reply larger than the
        /// request, every request counted once.
        #[test]
        fn arbitrary_bytes_never_amplify(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut s = local_server(ServerConfig { keys: keys(), ..Default::default() });
            let mut buf = [0u8; MAX_REPLY_LEN];
            if let ServerAction::Respond(r) = s.handle(&data, peer(), recv(), 0, tx, &mut buf) {
                prop_assert!(r.len() <= data.len());
            }
            prop_assert_eq!(s.stats().received, 1);
        }

        /// Valid packets with a few bytes flipped, truncated or extended.
        #[test]
        fn mutated_packets_never_amplify(
            which in 0usize..7,
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..6),
            cut in 0usize..120,
            extra in proptest::collection::vec(any::<u8>(), 0..40),
        ) {
            let mut p = seeds()[which].clone();
            for (i, b) in flips {
                let n = p.len();
                p[i % n] ^= b;
            }
            p.truncate(cut.max(1).min(p.len()));
            p.extend_from_slice(&extra);
            let mut s = local_server(ServerConfig { keys: keys(), ..Default::default() });
            let mut buf = [0u8; MAX_REPLY_LEN];
            if let ServerAction::Respond(r) = s.handle(&p, peer(), recv(), 0, tx, &mut buf) {
                prop_assert!(r.len() <= p.len());
                let d = Packet::decode(r);
                prop_assert!(d.is_ok());
            }
            let st = s.stats();
            let outcomes = st.replies_total() + st.drop_malformed + st.drop_bad_version + st.drop_mode_control
                + st.drop_mode_other + st.drop_denied + st.drop_rate_limited + st.drop_bad_auth
                + st.drop_auth_required + st.drop_amplification + st.drop_buffer;
            prop_assert_eq!(outcomes, 1, "{:?}", st);
        }
    }
}

/// Each client request is reported for the event socket only while asked
/// for: version, key id, the MAC check and the kiss code sent; what is not
/// a client request is not reported.
#[test]
fn client_requests_are_reported_only_when_asked() {
    let mut s = local_server(ServerConfig {
        keys: keys(),
        ..Default::default()
    });
    answer(&mut s, &req(4, 3));
    assert_eq!(s.take_requests().count(), 0, "nobody asked");
    s.report_requests(true);
    answer(&mut s, &req(3, 3));
    answer(&mut s, &signed(req(4, 3), 2));
    let mut bad = signed(req(4, 3), 1);
    let last = bad.len() - 1;
    bad[last] ^= 0x80;
    answer(&mut s, &bad);
    answer(&mut s, &signed(req(4, 3), 4));
    answer(&mut s, &req(4, 6)); // control mode: not a client request
    answer(&mut s, b"short");
    let seen: Vec<_> = s
        .take_requests()
        .map(|r| (r.client, r.version, r.key_id, r.auth, r.kod))
        .collect();
    assert_eq!(
        seen,
        [
            (peer(), 3, None, AuthResult::None, None),
            (peer(), 4, Some(2), AuthResult::Ok, None),
            (peer(), 4, Some(1), AuthResult::BadMac, Some("CRYP")),
            (peer(), 4, Some(4), AuthResult::UnknownKey, Some("CRYP")),
        ]
    );
    let policy = AccessPolicy {
        allow: vec!["10.0.0.0/8".parse::<IpNet>().unwrap()],
        deny_kod: true,
        ..Default::default()
    };
    let mut s = local_server(ServerConfig {
        policy,
        ..Default::default()
    });
    s.report_requests(true);
    answer(&mut s, &req(4, 3));
    let denied: Vec<_> = s.take_requests().map(|r| r.kod).collect();
    assert_eq!(denied, [Some("DENY")]);
    answer(&mut s, &req(4, 3));
    s.report_requests(false);
    assert_eq!(
        s.take_requests().count(),
        0,
        "turned off: nothing left over"
    );
}
