//! End to end: the four daemons on a copy of the example site in the
//! namespace lab, the demo fleet (every device kind) powering on, and every
//! device's outcome checked against what is on disk and in the config.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use pbxnet_sim::{demo_fleet, run_site, DeviceReport, FileReport, RunLimits, SiteOptions};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The daemon binaries are other packages' targets: build them as `make
/// build` does (a no-op after `make build` / `make test`).
fn build_daemons() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT.get_or_init(build_once).clone()
}

fn build_once() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = std::process::Command::new(cargo)
        .current_dir(workspace())
        .args(["build", "--workspace", "--bins"])
        .status()
        .expect("running cargo build");
    assert!(status.success(), "building the daemons failed");
    pbxnet_testlab::workspace_binary("pbxnet-dhcpd")
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A served text file as the device must receive it: `${server_ip}`
/// expanded to the site's address.
fn served(rel: &str) -> Vec<u8> {
    let text = std::fs::read_to_string(workspace().join("etc/tftpboot").join(rel)).unwrap();
    text.replace("${server_ip}", "192.168.92.246").into_bytes()
}

fn dev<'a>(r: &'a [DeviceReport], name: &str) -> &'a DeviceReport {
    r.iter().find(|d| d.name == name).unwrap()
}

fn ip(d: &DeviceReport) -> Ipv4Addr {
    d.ip.as_deref().unwrap().parse().unwrap()
}

fn in_range(ip: Ipv4Addr, lo: [u8; 4], hi: [u8; 4]) -> bool {
    (u32::from(Ipv4Addr::from(lo))..=u32::from(Ipv4Addr::from(hi))).contains(&u32::from(ip))
}

fn file<'a>(d: &'a DeviceReport, suffix: &str) -> &'a FileReport {
    d.files
        .iter()
        .find(|f| f.path.ends_with(suffix))
        .unwrap_or_else(|| panic!("{} fetched no {suffix}: {:?}", d.name, d.files))
}

#[test]
fn example_site_provisions_every_device_kind() {
    pbxnet_testlab::skip_unless_root!();
    let bins = build_daemons();
    let o = SiteOptions {
        etc: &workspace().join("etc"),
        bins: &bins,
        sim_exe: Path::new(env!("CARGO_BIN_EXE_pbxnet-sim")),
        devices: demo_fleet()
            .into_iter()
            .map(|mut d| {
                // Listen on after the firmware-header abort: the server must
                // stop at once (its retransmission timer is 1 s).
                if d.name == "ac-04" {
                    d.linger_after_abort_ms = 2500;
                }
                d
            })
            .collect(),
        limits: RunLimits {
            deadline_s: 20,
            dhcp_initial_ms: 2000,
            tftp_timeout_ms: 1000,
            tftp_retries: 4,
        },
        stop: Arc::new(AtomicBool::new(false)),
        extra_files: Vec::new(),
    };
    let r = run_site(&o, &mut |l| eprintln!("{l}")).expect("site run");
    eprintln!("{}", r.report.table());
    eprintln!("{}", r.report.details());
    for d in &r.daemons {
        assert!(d.result.is_ok(), "{} unavailable: {:?}", d.name, d.result);
    }
    let devs = &r.report.devices;
    assert_eq!(devs.len(), 14);
    for d in devs {
        assert!(d.ok, "{} failed: {:?}", d.name, d.error);
        assert_eq!(d.dhcp_naks, 0, "{}", d.name);
    }
    let class = |name: &str| {
        r.classes
            .get(&dev(devs, name).mac)
            .cloned()
            .unwrap_or_default()
    };

    // AudioCodes: option 160 path with the per-MAC file, expanded.
    let ac1 = dev(devs, "ac-01");
    assert_eq!(ac1.via.as_deref(), Some("160"));
    assert!(in_range(ip(ac1), [192, 168, 92, 10], [192, 168, 92, 69]));
    assert_eq!(class("ac-01"), "audiocodes-450hd");
    assert_eq!(r.profiles["audiocodes-450hd"], "audiocodes-400hd");
    assert_eq!(
        file(ac1, "00908f61a022.cfg").bytes as usize,
        served("ThirdParty_Devices/00908f61a022.cfg").len()
    );
    assert_eq!(ac1.files.len(), 1, "160 form 4 names no firmware");
    // etc/dhcp.toml: the 450HD class's profile says https://: the same
    // bytes as TFTP serves, over TLS, the self-signed certificate recorded.
    let cfg1 = file(ac1, "00908f61a022.cfg");
    assert_eq!(cfg1.protocol, "https");
    assert!(
        matches!(cfg1.tls.as_deref(), Some("1.2" | "1.3")),
        "{cfg1:?}"
    );
    let fp = cfg1.tls_fingerprint.as_deref().unwrap();
    assert_eq!(fp.len(), 32 * 3 - 1, "{fp}");
    assert_eq!(
        r.https_certificate.as_deref(),
        Some(fp),
        "the certificate pbxnet-tftpd logged"
    );
    assert_eq!(
        ac1.provisioning.as_deref(),
        Some("config https://192.168.92.246/00908f61a022.cfg")
    );
    assert_eq!(ac1.utc_offset_s, Some(7200));
    // The server expands ${server_ip} and leaves the phone's `<MAC>` token.
    assert!(
        ac1.options
            .contains("160=https://192.168.92.246/;<MAC>.cfg"),
        "{}",
        ac1.options
    );
    // etc/dhcp.toml: option 120 type sip-names ["pbx.example.lan"].
    assert_eq!(ac1.sip_servers.as_deref(), Some("pbx.example.lan"));
    // No per-MAC file (HTTP 404): the model's, over plain HTTP (the 4xxhd
    // class's profile says http://).
    let ac2 = dev(devs, "ac-02");
    assert_eq!(class("ac-02"), "audiocodes-4xxhd");
    assert_eq!(r.profiles["audiocodes-4xxhd"], "audiocodes-400hd-http");
    let cfg2 = file(ac2, "420HD/420HD.cfg");
    assert_eq!(
        cfg2.bytes as usize,
        served("ThirdParty_Devices/420HD/420HD.cfg").len()
    );
    assert_eq!(
        (cfg2.protocol.as_str(), cfg2.tls.as_deref()),
        ("http", None)
    );
    // 66/67 with older firmware: the whole 256 KiB image.
    let ac3 = dev(devs, "ac-03");
    assert_eq!(ac3.via.as_deref(), Some("66/67"));
    let img = file(ac3, "400HD.img");
    assert_eq!((img.bytes, img.note.as_str()), (256 * 1024, ""));
    assert_eq!(img.protocol, "tftp", "66/67 is TFTP");
    assert_eq!(ac3.firmware.as_deref(), Some("3.4.2 -> 3.4.8"));
    // Same firmware: one block, then the phone's ERROR.
    let ac4 = dev(devs, "ac-04");
    let hdr = file(ac4, "400HD.img");
    assert_eq!(hdr.note, "header only, aborted");
    assert!(hdr.bytes > 0 && hdr.bytes <= 1428, "{}", hdr.bytes);
    assert_eq!(
        ac4.data_after_abort,
        Some(0),
        "DATA after the phone's ERROR"
    );
    for name in [
        "ac-01", "ac-02", "ac-03", "ac-04", "ale-01", "ale-02", "sip-01", "sip-02",
    ] {
        let d = dev(devs, name);
        assert_eq!(d.time_server.as_deref(), Some("192.168.92.246"), "{name}");
        let off = d.time_offset_ms.unwrap();
        // Same machine clock on both sides: the offset is path noise only.
        assert!(off.abs() < 50.0, "{name}: offset {off} ms");
    }

    // ALE phones: the pool, and the example site's reservation.
    assert!(in_range(
        ip(dev(devs, "ale-01")),
        [192, 168, 92, 10],
        [192, 168, 92, 69]
    ));
    assert_eq!(class("ale-01"), "ale-ip-phones");
    assert_eq!(ip(dev(devs, "ale-02")), Ipv4Addr::new(192, 168, 92, 200));
    assert_eq!(class("ale-02"), "reception-phone");

    // SIP phones: others pool, option 67 path under /tftpboot.
    let sip = dev(devs, "sip-01");
    assert!(in_range(ip(sip), [192, 168, 92, 140], [192, 168, 92, 199]));
    assert_eq!(class("sip-01"), "generic-sip");
    assert!(file(sip, "sip-phone.cfg").path.starts_with("/tftpboot/"));

    // OmniSwitches: switch pool, AOS 6 vs AOS 8 instruction files, then the
    // files they name, byte for byte.
    let sw1 = dev(devs, "sw-01");
    let sw2 = dev(devs, "sw-02");
    for sw in [sw1, sw2] {
        assert!(
            in_range(ip(sw), [192, 168, 92, 5], [192, 168, 92, 9]),
            "{}",
            sw.name
        );
        assert_eq!(
            file(sw, "os_script").bytes as usize,
            served("Omniswitch/os_script").len()
        );
    }
    assert_eq!(sw1.files[0].path, "os_ins.alu");
    assert_eq!(
        file(sw1, "/Omniswitch/os_conf").bytes as usize,
        served("Omniswitch/os_conf").len()
    );
    assert_eq!(sw2.files[0].path, "os8_ins.alu");
    assert_eq!(
        file(sw2, "/Omniswitch/os8_conf").bytes as usize,
        served("Omniswitch/os8_conf").len()
    );

    // Stellar APs: their pool, hap_instruction.ini (TFTP) then hap_conf.ini.
    for name in ["ap-01", "ap-02"] {
        let ap = dev(devs, name);
        assert!(
            in_range(ip(ap), [192, 168, 92, 70], [192, 168, 92, 133]),
            "{name}"
        );
        assert_eq!(class(name), "stellar-ap");
        assert_eq!(ap.files[0].path, "hap_instruction.ini");
        assert_eq!(file(ap, "hap_instruction.ini").protocol, "tftp");
        // hap_instruction.ini names https_server: Secured_Config over HTTPS,
        // the same certificate as the phones saw.
        let conf = file(ap, "/Secured_Config/hap_conf.ini");
        assert!(conf.bytes > 0);
        assert_eq!(conf.protocol, "https", "{name}");
        assert_eq!(conf.tls_fingerprint.as_deref(), Some(fp), "{name}");
        let conf = ap.steps.iter().find(|s| s.name == "config").unwrap();
        assert!(
            conf.detail.contains("cluster 192.168.92.134"),
            "{}",
            conf.detail
        );
    }

    // Addresses are unique.
    let mut ips: Vec<_> = devs.iter().map(ip).collect();
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), devs.len());

    // The licence issued on the fly is valid for the site's serial.
    let lic = r.licence.as_ref().expect("licence status");
    assert_eq!(lic["serial"], "000068DA");
    assert_eq!(lic["system-mode"], "normal");
    let msl = lic["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["file"].as_str().is_some_and(|f| f.ends_with(".msl")))
        .unwrap();
    assert_eq!(msl["state"], "valid");
}

/// The simulator catches a site mistake: a 450HD whose per-MAC file is for
/// a 420HD fails (and only that phone; fetched over HTTPS), with the reason
/// in the report; a Stellar AP asking a site whose instruction file (no
/// https_server: TFTP) points at a missing config fails too.
#[test]
fn misprovisioned_devices_are_reported_failed() {
    pbxnet_testlab::skip_unless_root!();
    let bins = build_daemons();
    let mut devices: Vec<_> = demo_fleet()
        .into_iter()
        .filter(|d| ["ac-01", "ac-02", "ap-01"].contains(&d.name.as_str()))
        .collect();
    devices[1].mac = "00:90:8f:70:00:99".into();
    devices[1].model = "450HD".into();
    let o = SiteOptions {
        etc: &workspace().join("etc"),
        bins: &bins,
        sim_exe: Path::new(env!("CARGO_BIN_EXE_pbxnet-sim")),
        devices,
        limits: RunLimits {
            deadline_s: 10,
            dhcp_initial_ms: 2000,
            tftp_timeout_ms: 1000,
            tftp_retries: 2,
        },
        stop: Arc::new(AtomicBool::new(false)),
        extra_files: vec![
            (
                "ThirdParty_Devices/00908f700099.cfg".into(),
                b"system/model=420HD\nvoip/line/0/enabled=1\n".to_vec(),
            ),
            (
                "hap_instruction.ini".into(),
                b"[instruction]\nconfig_file=missing.ini\nconfig_path=/Omniswitch\nserver=192.168.92.246\n".to_vec(),
            ),
        ],
    };
    let r = run_site(&o, &mut |l| eprintln!("{l}")).expect("site run");
    eprintln!("{}", r.report.table());
    let devs = &r.report.devices;
    assert!(dev(devs, "ac-01").ok, "{:?}", dev(devs, "ac-01").error);
    let bad = dev(devs, "ac-02");
    assert!(!bad.ok);
    let why = bad.error.as_deref().unwrap();
    assert!(
        why.contains("for model 420HD") && why.contains("450HD"),
        "{why}"
    );
    let ap = dev(devs, "ap-01");
    assert!(!ap.ok);
    let why = ap.error.as_deref().unwrap();
    assert!(
        why.contains("/Omniswitch/missing.ini") && why.contains("server error 1"),
        "{why}"
    );
    assert_eq!(r.report.failures(), 2);
}
