//! The whole request path of the listening socket: decode, option
//! negotiation, path policy, generated files. Checks the invariants: a
//! served path never holds `..`, an empty or control-character component,
//! and its first component is never the Secured_Config folder (not allowed
//! by this policy). A file or folder whose name merely starts with those
//! letters (`secured_configm<img`, `Secured_Config2/x`) is an ordinary name
//! and may be served: the folder is a whole component, compared without
//! case, as the core compares it (`RequestPath::is_secured`).
#![no_main]
use libfuzzer_sys::fuzz_target;
use pbxnet_tftp::{
    decide, negotiate, Decision, Limits, Policy, Provisioning, Stellar, SECURED_FOLDER,
};
use std::net::Ipv4Addr;

fuzz_target!(|data: &[u8]| {
    let policy = Policy {
        max_name_len: 255,
        serve_secured: false,
        search_folders: vec!["ThirdParty_Devices".into(), "Binary".into()],
        uploads: None,
    };
    let prov = Provisioning {
        server_ip: Ipv4Addr::new(192, 168, 92, 246),
        os_config_file: "os_conf".into(),
        os8_config_file: "os8_conf".into(),
        os_script_file: "os_script".into(),
        stellar: Stellar {
            employee_ssid: "e".into(),
            employee_passphrase: "p".into(),
            guest_ssid: "g".into(),
            guest_passphrase: "p".into(),
            voice_ssid: "v".into(),
            voice_passphrase: "p".into(),
            country_code: "FR".into(),
            virtual_ip: Ipv4Addr::new(192, 168, 92, 134),
            admin_password: "a".into(),
        },
    };
    if let Decision::Read(plan) = decide(data, &policy, &prov) {
        for c in &plan.candidates {
            for comp in c.split('/') {
                assert!(!comp.is_empty() && comp != "." && comp != "..", "{c:?}");
                assert!(!comp.bytes().any(|b| b < 0x20 || b == 0x7f), "{c:?}");
            }
            let first = c.split('/').next().unwrap_or_default();
            assert!(!first.eq_ignore_ascii_case(SECURED_FOLDER), "{c:?}");
        }
        let n = negotiate(&plan.options, &Limits::default(), Some(1234), false);
        assert!((8..=1468).contains(&n.blksize));
        assert!((1..=64).contains(&n.windowsize));
    }
});
