//! TFTP packet codec: never panics; whatever decodes re-encodes to bytes
//! that decode to the same packet (round-trip soundness).
#![no_main]
use libfuzzer_sys::fuzz_target;
use pbxnet_tftp::wire;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = wire::decode(data) {
        let mut out = Vec::new();
        wire::encode(&p, &mut out);
        let again = wire::decode(&out).expect("re-encoded packet decodes");
        assert_eq!(again, p);
    }
});
