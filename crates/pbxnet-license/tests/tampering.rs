//! Tampering: every single-bit flip and every single-character substitution
//! of a valid key is rejected (never verifies, never yields a valid verdict),
//! for a Main and a CTI key.

use ed25519_dalek::SigningKey;
use pbxnet_license::{
    decode, issue, KeyKind, License, Mode, Now, PersistedState, Serial, Validator, ValidatorConfig,
    ALPHABET,
};
use std::time::Duration;

const SERIAL: Serial = Serial(0x0000_68DA);

fn licence(kind: KeyKind) -> License {
    let mut l = License::defaults(kind, 3);
    l.edition = 3;
    l.ack_code = 0x1234;
    match kind {
        KeyKind::Main => {
            l.set("utl", 77);
            l.set("voice-mail-ports", 4);
        }
        KeyKind::Cti => {
            l.set("counter2", 50);
            l.set("csta7-monitors", 321);
        }
    }
    l
}

/// True if the text is accepted as a valid key for SERIAL by the verifier.
fn accepted(kind: KeyKind, text: &str, vk: &ed25519_dalek::VerifyingKey) -> bool {
    match decode(Some(kind), text) {
        Ok(d) => d.verify(SERIAL, vk).is_ok(),
        Err(_) => false,
    }
}

#[test]
fn every_bit_flip_and_substitution_is_rejected() {
    let sk = SigningKey::from_bytes(&[3; 32]);
    let vk = sk.verifying_key();
    for kind in KeyKind::ALL {
        let text = issue(&licence(kind), SERIAL, &sk).unwrap();
        assert!(accepted(kind, &text, &vk));
        let bytes = text.as_bytes();
        let mut tried = 0;
        // Single-bit flips of the key text.
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut b = bytes.to_vec();
                b[i] ^= 1 << bit;
                let Ok(t) = String::from_utf8(b) else {
                    continue;
                };
                assert!(
                    !accepted(kind, &t, &vk),
                    "{kind} bit flip at {i}.{bit} accepted"
                );
                tried += 1;
            }
        }
        // Every substitution by another alphabet symbol.
        for i in 0..bytes.len() {
            for &sym in ALPHABET.iter() {
                if sym == bytes[i] {
                    continue;
                }
                let mut b = bytes.to_vec();
                b[i] = sym;
                let t = String::from_utf8(b).unwrap();
                assert!(
                    !accepted(kind, &t, &vk),
                    "{kind} substitution at {i} by {} accepted",
                    sym as char
                );
                tried += 1;
            }
        }
        // Single-bit flips of the decoded bytes (signature and payload).
        let raw = pbxnet_license::base42_decode(bytes).unwrap();
        for i in 0..raw.len() {
            for bit in 0..8 {
                let mut r = raw.clone();
                r[i] ^= 1 << bit;
                let t = pbxnet_license::base42_encode(&r);
                assert!(
                    !accepted(kind, &t, &vk),
                    "{kind} binary flip at {i}.{bit} accepted"
                );
                tried += 1;
            }
        }
        assert!(tried > 8 * bytes.len() + 40 * bytes.len());
    }
}

#[test]
fn tampered_key_never_reaches_valid_mode() {
    let sk = SigningKey::from_bytes(&[3; 32]);
    let cfg = ValidatorConfig {
        serial: SERIAL,
        major_version: 3,
        public_key: sk.verifying_key(),
        hardware_limits: Default::default(),
        serial_origin: pbxnet_license::SerialOrigin::Machine,
        previous_serials: Vec::new(),
    };
    let text = issue(&licence(KeyKind::Main), SERIAL, &sk).unwrap();
    let now = Now::new(1_795_245_182, Duration::ZERO);
    // A sample of substitutions through the whole validator (the exhaustive
    // check above covers the verifier).
    for i in (0..text.len()).step_by(7) {
        let mut b = text.clone().into_bytes();
        b[i] = if b[i] == b'Z' { b'Y' } else { b'Z' };
        let t = String::from_utf8(b).unwrap();
        let v = Validator::new(
            cfg.clone(),
            PersistedState::fresh(SERIAL, now.wall_unix),
            now,
            [Some(&t), None],
        );
        assert_ne!(v.mode(KeyKind::Main), Mode::Valid, "substitution at {i}");
        assert_eq!(
            v.authorized(KeyKind::Main)[0],
            2,
            "no services from a tampered key"
        );
    }
}

#[test]
fn key_for_serial_a_in_serial_b_file_goes_to_grace() {
    let sk = SigningKey::from_bytes(&[3; 32]);
    let a = Serial(0x0000_00AA);
    let b = Serial(0x0000_00BB);
    let text = issue(&licence(KeyKind::Main), a, &sk).unwrap();
    let cfg = ValidatorConfig {
        serial: b,
        major_version: 3,
        public_key: sk.verifying_key(),
        hardware_limits: Default::default(),
        serial_origin: pbxnet_license::SerialOrigin::Machine,
        previous_serials: Vec::new(),
    };
    let now = Now::new(1_795_245_182, Duration::ZERO);
    let v = Validator::new(
        cfg,
        PersistedState::fresh(b, now.wall_unix),
        now,
        [Some(&text), None],
    );
    assert!(matches!(v.mode(KeyKind::Main), Mode::Grace { .. }));
    assert_eq!(v.verdict(KeyKind::Main).code(), "wrong-serial");
}
