//! Fuzzes the software-key decoder (syntax check, base-42, payload
//! unpacking) and the licd state-file parser: never panics, whatever
//! decodes re-encodes to the same payload bytes (soundness), and a state
//! that parses comes back unchanged from its authenticated text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pbxnet_license::{base42_decode, decode, KeyKind, PersistedState, Serial, StateKey, ALPHABET};

fn check(text: &str) {
    for kind in [None, Some(KeyKind::Main), Some(KeyKind::Cti)] {
        if let Ok(d) = decode(kind, text) {
            let again = d
                .license
                .encode_payload()
                .expect("a decoded licence re-encodes");
            assert_eq!(again, d.payload(), "payload round trip");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        check(text);
        let key = StateKey::derive(b"fuzz", Serial(0x68DA));
        let _ = PersistedState::from_text(text, &key);
        // A body that parses survives the authenticated file round trip.
        if let Ok(state) = serde_json::from_str::<PersistedState>(text) {
            let again = PersistedState::from_text(&state.to_text(&key), &key);
            assert_eq!(again.expect("own state text parses"), state);
        }
    }
    // Map every byte onto the alphabet to reach the payload decoder often.
    let mapped: String = data
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect();
    check(&mapped);
    let _ = base42_decode(data);
});
