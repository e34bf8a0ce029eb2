//! NTP packet codec: decoding never panics, a decoded header re-encodes to the
//! same 48 bytes, extension fields stay within the datagram, and MAC
//! verification with every key type never panics on arbitrary digests.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pbxnet_ntp::{Header, Key, KeyType, Packet, HEADER_LEN};

fuzz_target!(|data: &[u8]| {
    let Ok(p) = Packet::decode(data) else { return };
    assert_eq!(&p.header.encode()[..], &data[..HEADER_LEN]);
    assert_eq!(Header::decode(&data[..HEADER_LEN]).unwrap(), p.header);
    let mut total = HEADER_LEN;
    for ef in p.extensions() {
        assert!(ef.value.len() + 4 >= 16);
        total += ef.value.len() + 4;
    }
    assert_eq!(total, p.authenticated.len());
    if let Some(mac) = p.mac {
        assert_eq!(p.authenticated.len() + 4 + mac.digest.len(), data.len());
        for (kind, secret) in [
            (KeyType::Md5, b"fuzzkey".to_vec()),
            (KeyType::Sha1, b"fuzzkey".to_vec()),
            (KeyType::Aes128Cmac, vec![7u8; 16]),
        ] {
            let k = Key::new(1, kind, secret).unwrap();
            let _ = k.verify(p.authenticated, mac.digest);
        }
    } else {
        assert_eq!(p.authenticated.len(), data.len());
    }
});
