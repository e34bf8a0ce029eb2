//! Whole NTP server handler on arbitrary datagrams: never panics, never
//! answers with more bytes than it received, and counts every request.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pbxnet_ntp::{
    Key, KeyStore, KeyType, NtpTimestamp, RateLimitConfig, Server, ServerAction, ServerConfig,
    SystemState, MAX_REPLY_LEN,
};

fuzz_target!(|data: &[u8]| {
    let keys = KeyStore::new(
        vec![
            Key::new(1, KeyType::Md5, b"k1".to_vec()).unwrap(),
            Key::new(2, KeyType::Sha1, b"k2".to_vec()).unwrap(),
            Key::new(3, KeyType::Aes128Cmac, vec![3; 16]).unwrap(),
        ],
        [1, 2],
    );
    let cfg = ServerConfig {
        keys,
        rate_limit: Some(RateLimitConfig {
            interval_ms: 1000,
            burst: 2,
            leak: 2,
            kod: true,
            kod_interval_ms: 0,
            slots: 4,
        }),
        ..Default::default()
    };
    let now = NtpTimestamp::from_unix(1_800_000_000, 0);
    let mut s = Server::new(cfg, SystemState::local(5, -20, now), [1, 2]);
    let mut buf = [0u8; MAX_REPLY_LEN];
    let peer = std::net::IpAddr::from([192, 168, 92, 10]);
    // feed the same datagram a few times so rate limiting paths run too
    for i in 0..4u64 {
        if let ServerAction::Respond(r) = s.handle(data, peer, now, i, || now, &mut buf) {
            assert!(r.len() <= data.len());
            assert!(r.len() >= 48);
        }
    }
    assert_eq!(s.stats().received, 4);
});
