//! Fuzzes the whole licd validator: an arbitrary state file, arbitrary key
//! file contents and arbitrary clock readings (including the wall clock going
//! back), then timeouts, Try-and-Buy use and the status snapshot. Invariant:
//! nothing panics, and no key other than a genuine one is ever Valid.
#![no_main]

use std::time::Duration;

use ed25519_dalek::{SigningKey, VerifyingKey};
use libfuzzer_sys::fuzz_target;
use pbxnet_license::{
    KeyKind, Mode, Now, PersistedState, Serial, StateKey, Validator, ValidatorConfig,
};
use std::sync::OnceLock;

fn take<'a>(data: &mut &'a [u8], n: usize) -> &'a [u8] {
    let n = n.min(data.len());
    let (head, tail) = data.split_at(n);
    *data = tail;
    head
}

fn num(data: &mut &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let h = take(data, 8);
    b[..h.len()].copy_from_slice(h);
    u64::from_le_bytes(b)
}

fuzz_target!(|input: &[u8]| {
    let mut data = input;
    let wall = num(&mut data) as i64;
    let mono = num(&mut data);
    let step = num(&mut data);
    let lens = take(&mut data, 2).to_vec();
    let main = String::from_utf8_lossy(take(&mut data, usize::from(*lens.first().unwrap_or(&0))))
        .into_owned();
    let cti = String::from_utf8_lossy(take(&mut data, usize::from(*lens.get(1).unwrap_or(&0))))
        .into_owned();
    let state_text = String::from_utf8_lossy(data).into_owned();
    let serial = Serial(0x68DA);
    // Derived once per process (a scalar multiplication per input is time
    // not spent on the validator).
    static VENDOR: OnceLock<VerifyingKey> = OnceLock::new();
    let public_key = *VENDOR.get_or_init(|| SigningKey::from_bytes(&[9; 32]).verifying_key());
    let cfg = ValidatorConfig {
        serial,
        major_version: 3,
        public_key,
        hardware_limits: [("utl".to_string(), 10)].into_iter().collect(),
        serial_origin: pbxnet_license::SerialOrigin::Machine,
        previous_serials: Vec::new(),
    };
    // The file text as the shell reads it (header, HMAC, body); text that
    // fails its MAC is still tried as a bare body, so the validator also
    // starts from arbitrary well-formed states, not only from corruption.
    let key = StateKey::derive(&[7; 32], serial);
    let state = PersistedState::from_text(&state_text, &key)
        .ok()
        .or_else(|| serde_json::from_str(&state_text).ok())
        .unwrap_or_else(|| PersistedState::after_corruption(serial, wall));
    let now = Now::new(wall, Duration::from_secs(mono));
    let mut v = Validator::new(cfg, state, now, [Some(&main), Some(&cti)]);
    // Random text is never a genuine key for this vendor key.
    assert_ne!(v.mode(KeyKind::Main), Mode::Valid);
    assert_ne!(v.mode(KeyKind::Cti), Mode::Valid);
    for i in 0..4u64 {
        let later = Now::new(
            wall.wrapping_sub((step >> (i * 8)) as i64 & 0xFFFF_FFFF),
            Duration::from_secs(mono).saturating_add(Duration::from_secs(
                step.rotate_left(i as u32 * 16) & 0xFFFF_FFFF,
            )),
        );
        v.handle_timeout(later);
        if i == 1 {
            v.handle_try_and_buy_use(later);
        }
        if i == 2 {
            v.handle_key(later, KeyKind::Main, None);
        }
        let _ = v.poll_timeout();
        let _ = serde_json::to_string(&v.status(later)).unwrap();
        while v.poll_event().is_some() {}
    }
});
