//! NTP client core on arbitrary replies (and on the same bytes with the
//! right origin spliced in): never panics; any step it asks for is finite.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pbxnet_ntp::{Client, ClientEvent, DisciplineConfig, NtpTimestamp, SourceConfig};

fuzz_target!(|data: &[u8]| {
    let src = SourceConfig {
        addr: std::net::SocketAddr::from(([192, 168, 92, 1], 123)),
        key: None,
        minpoll: 6,
        maxpoll: 6,
        burst: false,
    };
    let mut c = Client::new(vec![src], DisciplineConfig::default(), 0.0, 3, 0.0);
    let t = NtpTimestamp::from_unix(1_800_000_000, 0);
    c.handle_timeout(0.0, t);
    let req = c.poll_transmit().expect("first poll");
    let _ = c.handle_response(0, data, t, 0.01);
    // with the nonce spliced in, the reply may be accepted: still no panic
    if data.len() >= 48 {
        let mut d = data.to_vec();
        d[24..32].copy_from_slice(&req.bytes[40..48]);
        let _ = c.handle_response(0, &d, t, 0.02);
    }
    while let Some(e) = c.poll_event() {
        if let ClientEvent::Step(x) = e {
            assert!(x.is_finite());
        }
    }
});
