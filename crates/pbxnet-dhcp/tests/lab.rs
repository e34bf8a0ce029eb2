//! Acceptance tests with real DHCP clients in the namespace lab
//! (pbxnet-testlab): busybox udhcpc, ISC dhclient, dhcpcd and perfdhcp
//! (relay mode) against `pbxnet-dhcpd` running in the server namespace.
//! Each test skips with a printed reason when not root.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use pbxnet_inventory::{DhcpMessage, Event};
use pbxnet_testlab::{skip_unless_root, Daemon, EventTap, Lab, Netns};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_pbxnet-dhcpd");

/// The lab's dhcp.toml: short leases so that clients renew within seconds.
const CONFIG: &str = r#"
authoritative = true
offer-hold = "10s"
decline-probation = "10m"
[flood]
max-per-second = 50
ban = "2s"

[[subnet]]
name = "lan"
network = "192.168.92.0/24"
interface = "eth0"
lease-time = "12s"
min-lease-time = "10s"
max-lease-time = "1h"

[[subnet]]
name = "remote"
network = "10.20.0.0/24"
lease-time = "1h"
min-lease-time = "10s"

[[pool]]
name = "phones"
range = "192.168.92.10..192.168.92.69"
[[pool]]
name = "others"
range = "192.168.92.140..192.168.92.199"
[[pool]]
name = "remote"
subnet = "remote"
range = "10.20.0.100..10.20.0.250"

[[class]]
name = "reserved"
mac = "02:00:00:00:00:99"
static-ip = "192.168.92.200"
profile = "generic"
[[class]]
name = "audiocodes-lync"
vendor-class = "MS-UC-Client"
profile = "lync"
pool = "phones"
[[class]]
name = "audiocodes-450hd"
user-class = "450HD"
profile = "audiocodes"
pool = "phones"
[[class]]
name = "audiocodes-mac"
mac-pattern = "00:90:8f*"
profile = "acmac"
pool = "phones"
[[class]]
name = "sip-names"
vendor-class = "SIP120-NAMES"
profile = "sip-names"
[[class]]
name = "sip-addrs"
vendor-class = "SIP120-ADDRS"
profile = "sip-addrs"
[[class]]
name = "big-reply"
vendor-class = "BIG-REPLY"
profile = "big"
[[class]]
name = "binary-vendor"
vendor-class-hex = "00:0d:e9:00"
profile = "generic"
[[class]]
name = "any-device"
any-device = true
profile = "generic"
pool = "others"

[[profile]]
name = "generic"
next-server = "${server_ip}"
  [[profile.option]]
  code = 66
  value = "${server_ip}"
  always-send = true

[[profile]]
name = "audiocodes"
  [[profile.option]]
  code = 160
  value = "tftp://${server_ip}/;<MAC>.cfg"
  always-send = true
  [[profile.option]]
  code = 2
  value = 7200
  always-send = true

[[profile]]
name = "acmac"
  [[profile.option]]
  code = 67
  value = "acmac.img"
  always-send = true

[[profile]]
name = "lync"
  [[profile.option]]
  code = 43
  always-send = true
  sub-options = [
    { code = 1, type = "string", value = "MS-UC-Client" },
    { code = 2, type = "string", value = "https" },
    { code = 3, type = "string", value = "lync.example.lan" },
    { code = 4, type = "string", value = "443" },
    { code = 5, type = "string", value = "/CertProv/CertProvisioningService.svc" },
  ]

[[profile]]
name = "sip-names"
  [[profile.option]]
  code = 120
  type = "sip-names"
  value = ["sip.example.lan", "b.lan"]
  always-send = true

[[profile]]
name = "big"
  [[profile.option]]
  code = 224
  type = "string"
  value = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
  always-send = true
  [[profile.option]]
  code = 225
  type = "string"
  value = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
  always-send = true
  [[profile.option]]
  code = 226
  type = "string"
  value = "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
  always-send = true

[[profile]]
name = "sip-addrs"
  [[profile.option]]
  code = 120
  type = "sip-addrs"
  value = ["${server_ip}", "10.1.2.3"]
  always-send = true
"#;

struct Server {
    daemon: Daemon,
    dir: tempfile::TempDir,
}

impl Server {
    fn start(lab: &Lab, dhcp_toml: &str) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let site = format!(
            "server-address = \"192.168.92.246\"\ninterfaces = [\"eth0\"]\nstate-directory = \"{0}/state\"\nruntime-directory = \"{0}/run\"\n[log]\nlevel = \"debug\"\n",
            dir.path().display()
        );
        std::fs::write(dir.path().join("site.toml"), site).unwrap();
        std::fs::write(dir.path().join("dhcp.toml"), dhcp_toml).unwrap();
        let cfg = dir.path().to_str().unwrap().to_string();
        let mut daemon =
            Daemon::spawn(lab.server(), Path::new(BIN), &["--config", &cfg, "run"]).unwrap();
        daemon.wait_ready(Duration::from_secs(20)).unwrap();
        Server { daemon, dir }
    }

    fn cli(&self, args: &[&str]) -> Value {
        let out = std::process::Command::new(BIN)
            .arg("--config")
            .arg(self.dir.path())
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}\nlog:\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.daemon.log()
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn leases(&self) -> Vec<Value> {
        self.cli(&["leases", "--json"]).as_array().unwrap().clone()
    }

    fn lease_of(&self, mac: &str) -> Option<Value> {
        self.leases().into_iter().find(|l| l["mac"] == mac)
    }

    /// Polls `f` every 100 ms until it returns Some; panics after `secs`
    /// with the daemon's log.
    fn wait_for<T>(&self, secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(v) = f() {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; daemon log:\n{}",
                self.daemon.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Subscribes to the daemon's event socket, once the daemon counts the
    /// subscriber (events are live only).
    fn subscribe(&self) -> EventTap {
        let tap = EventTap::connect(&self.dir.path().join("run/pbxnet-dhcpd.events")).unwrap();
        self.wait_for(10, "the subscriber counted", || {
            let s = self.cli(&["status", "--json"]);
            (s["events"]["subscribers"] == 1).then_some(())
        });
        tap
    }

    fn dropped(&self, label: &str) -> u64 {
        let s = self.cli(&["status", "--json"]);
        s["counters"]["dropped"][label].as_u64().unwrap()
    }
}

/// A udhcpc script that appends `event` and all its environment to a file.
fn udhcpc_script(dir: &Path) -> (PathBuf, PathBuf) {
    let log = dir.join("udhcpc.log");
    let script = dir.join("udhcpc.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n{{ echo \"EVENT $1\"; env | sort; echo END; }} >> {}\ncase $1 in\n  bound|renew) ip addr replace $ip/$subnet dev $interface ;;\n  deconfig) ip addr flush dev $interface ;;\nesac\n",
            log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    (script, log)
}

/// Environment blocks the udhcpc script recorded for `event`.
fn udhcpc_events(log: &Path, event: &str) -> Vec<Vec<(String, String)>> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut out = Vec::new();
    for block in text.split("EVENT ").skip(1) {
        let mut lines = block.lines();
        if lines.next() != Some(event) || !block.lines().any(|l| l == "END") {
            continue; // another event, or still being written
        }
        out.push(
            lines
                .take_while(|l| *l != "END")
                .filter_map(|l| {
                    l.split_once('=')
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                })
                .collect(),
        );
    }
    out
}

fn env<'a>(block: &'a [(String, String)], key: &str) -> Option<&'a str> {
    block
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Runs udhcpc once (`-n -q`) in `ns` and returns the `bound` environment.
fn udhcpc_once(ns: &Netns, dir: &Path, extra: &[&str]) -> Vec<(String, String)> {
    let (script, log) = udhcpc_script(dir);
    let mut args = vec![
        "-f",
        "-n",
        "-q",
        "-i",
        "eth0",
        "-t",
        "5",
        "-T",
        "1",
        "-s",
        script.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let out = ns.command("udhcpc").args(&args).output().unwrap();
    assert!(
        out.status.success(),
        "udhcpc failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    udhcpc_events(&log, "bound").pop().expect("a bound event")
}

#[test]
fn udhcpc_obtains_renews_and_releases() {
    skip_unless_root!();
    let lab = Lab::builder()
        .client_with_mac("02:00:00:00:01:01")
        .build()
        .unwrap();
    let srv = Server::start(&lab, CONFIG);
    let dir = tempfile::tempdir().unwrap();
    let (script, log) = udhcpc_script(dir.path());
    let mut child = lab
        .client(0)
        .command("udhcpc")
        .args([
            "-f",
            "-R",
            "-i",
            "eth0",
            "-t",
            "5",
            "-T",
            "1",
            "-s",
            script.to_str().unwrap(),
        ])
        .spawn()
        .unwrap();
    let bound = srv.wait_for(15, "udhcpc bound", || udhcpc_events(&log, "bound").pop());
    let ip: Ipv4Addr = env(&bound, "ip").unwrap().parse().unwrap();
    assert!(
        (140..=199).contains(&ip.octets()[3]),
        "any-device pool: {ip}"
    );
    assert_eq!(env(&bound, "lease"), Some("12"));
    assert_eq!(env(&bound, "serverid"), Some("192.168.92.246"));
    assert_eq!(env(&bound, "siaddr"), Some("192.168.92.246"));
    // Renewal: busybox udhcpc renews at T1 with a floor of its own that
    // is longer than this test should wait, so ask for it with SIGUSR1 (it
    // then unicasts a RENEWING-state REQUEST, ciaddr set).
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGUSR1).unwrap();
    let renew = srv.wait_for(20, "udhcpc renew", || udhcpc_events(&log, "renew").pop());
    assert_eq!(env(&renew, "ip"), Some(ip.to_string().as_str()));
    let l = srv.lease_of("02:00:00:00:01:01").unwrap();
    assert_eq!(l["state"], "bound");
    assert_eq!(l["class"], "any-device");
    // SIGUSR2: release.
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGUSR2).unwrap();
    srv.wait_for(10, "lease released", || {
        (srv.lease_of("02:00:00:00:01:01")?["state"] == "released").then_some(())
    });
    let s = srv.cli(&["status", "--json"]);
    assert!(
        s["counters"]["received"]["release"].as_u64().unwrap() >= 1,
        "RELEASE received: {s}"
    );
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    child.wait().unwrap();
    srv.wait_for(10, "lease released", || {
        (srv.lease_of("02:00:00:00:01:01")?["state"] == "released").then_some(())
    });
}

#[test]
fn dhclient_obtains_renews_and_releases() {
    skip_unless_root!();
    let lab = Lab::builder()
        .client_with_mac("02:00:00:00:02:02")
        .build()
        .unwrap();
    let srv = Server::start(&lab, CONFIG);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let conf = d.join("dhclient.conf");
    std::fs::write(
        &conf,
        "option o120 code 120 = array of unsigned integer 8;\nrequest subnet-mask, routers, domain-name-servers, tftp-server-name, o120;\n",
    )
    .unwrap();
    let events = d.join("events");
    let script = d.join("script.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$reason $new_ip_address\" >> {}\ncase $reason in\n  BOUND|RENEW|REBIND|REBOOT) ip addr replace $new_ip_address/$new_subnet_mask dev $interface ;;\n  RELEASE|EXPIRE|STOP) ip addr flush dev $interface ;;\nesac\n",
            events.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let lf = d.join("leases");
    let pf = d.join("pid");
    let args = |extra: &[&str]| {
        let mut v: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        for (f, p) in [("-cf", &conf), ("-sf", &script), ("-lf", &lf), ("-pf", &pf)] {
            v.push(f.into());
            v.push(p.to_str().unwrap().into());
        }
        v.push("eth0".into());
        v
    };
    // -1: try once; dhclient goes to the background once bound.
    let out = lab
        .client(0)
        .command("dhclient")
        .args(args(&["-1", "-v"]))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "dhclient: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&events).unwrap();
    let ip = text
        .lines()
        .find_map(|l| l.strip_prefix("BOUND "))
        .expect("BOUND")
        .to_string();
    let lease = std::fs::read_to_string(&lf).unwrap();
    assert!(lease.contains(&format!("fixed-address {ip};")), "{lease}");
    assert!(
        lease.contains("option tftp-server-name \"192.168.92.246\";"),
        "{lease}"
    );
    assert!(
        lease.contains("option domain-name-servers 192.168.92.246;"),
        "option 6 defaults to the server: {lease}"
    );
    assert!(
        lease.contains("option dhcp-server-identifier 192.168.92.246;"),
        "{lease}"
    );
    // RENEW at T1.
    srv.wait_for(20, "dhclient RENEW", || {
        std::fs::read_to_string(&events)
            .ok()?
            .lines()
            .any(|l| l == format!("RENEW {ip}"))
            .then_some(())
    });
    assert_eq!(srv.lease_of("02:00:00:00:02:02").unwrap()["state"], "bound");
    // -r: release.
    let out = lab
        .client(0)
        .command("dhclient")
        .args(args(&["-r"]))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "dhclient -r: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    srv.wait_for(10, "lease released", || {
        (srv.lease_of("02:00:00:00:02:02")?["state"] == "released").then_some(())
    });
}

#[test]
fn dhcpcd_obtains_renews_and_releases() {
    skip_unless_root!();
    let lab = Lab::builder()
        .client_with_mac("02:00:00:00:03:03")
        .build()
        .unwrap();
    let srv = Server::start(&lab, CONFIG);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let events = d.join("events");
    let script = d.join("hook.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$reason $new_ip_address\" >> {}\n",
            events.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let conf = d.join("dhcpcd.conf");
    std::fs::write(&conf, "ipv4only\nnoarp\n").unwrap();
    // dhcpcd keeps its pid and control files under /run/dhcpcd, shared by all
    // namespaces: give it a private /run in its own mount namespace.
    let cmd = format!(
        "mount -t tmpfs tmpfs /run && mkdir -p /run/dhcpcd && exec dhcpcd -B -4 -f {} -c {} eth0",
        conf.display(),
        script.display()
    );
    let mut child = lab
        .client(0)
        .command("unshare")
        .args(["-m", "sh", "-c", &cmd])
        .spawn()
        .unwrap();
    let ip = srv.wait_for(20, "dhcpcd BOUND", || {
        std::fs::read_to_string(&events)
            .ok()?
            .lines()
            .find_map(|l| l.strip_prefix("BOUND ").map(str::to_string))
    });
    assert!(ip.starts_with("192.168.92."), "{ip}");
    srv.wait_for(20, "dhcpcd RENEW", || {
        std::fs::read_to_string(&events)
            .ok()?
            .lines()
            .any(|l| l == format!("RENEW {ip}"))
            .then_some(())
    });
    let l = srv.lease_of("02:00:00:00:03:03").unwrap();
    assert_eq!(l["state"], "bound");
    assert_eq!(l["ip"], ip.as_str());
    // `dhcpcd -k` (in dhcpcd's mount namespace, where its control socket
    // is) makes it release the lease and exit.
    let pid = child.id().to_string();
    let out = lab
        .client(0)
        .command("nsenter")
        .args(["--target", &pid, "--mount", "dhcpcd", "-4", "-k", "eth0"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "dhcpcd -k: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    child.wait().unwrap();
    srv.wait_for(10, "lease released", || {
        (srv.lease_of("02:00:00:00:03:03")?["state"] == "released").then_some(())
    });
}

#[test]
fn classification_and_option_bytes_seen_by_real_clients() {
    skip_unless_root!();
    let lab = Lab::builder()
        .client_with_mac("02:00:00:00:04:01") // 450HD via 60 + 77
        .client_with_mac("00:90:8f:61:a0:22") // MAC group
        .client_with_mac("02:00:00:00:04:03") // MS-UC-Client
        .client_with_mac("02:00:00:00:04:04") // unknown vendor
        .client_with_mac("02:00:00:00:00:99") // reserved
        .build()
        .unwrap();
    let srv = Server::start(&lab, CONFIG);
    let dir = tempfile::tempdir().unwrap();
    let sub = |i: usize| {
        let p = dir.path().join(format!("c{i}"));
        std::fs::create_dir_all(&p).unwrap();
        p
    };

    // 450HD in option 60 and RFC 3004 option 77: option 160, byte for byte.
    let b = udhcpc_once(
        lab.client(0),
        &sub(0),
        &[
            "-V",
            "450HD",
            "-x",
            "0x4d:05343530484400",
            "-O",
            "160",
            "-O",
            "2",
        ],
    );
    assert_eq!(
        env(&b, "opt160"),
        Some(hex(b"tftp://192.168.92.246/;<MAC>.cfg").as_str()),
        "{b:?}"
    );
    assert_eq!(env(&b, "timezone"), Some("7200"));
    assert_eq!(
        srv.lease_of("02:00:00:00:04:01").unwrap()["class"],
        "audiocodes-450hd"
    );

    // MAC group 00:90:8f*.
    let b = udhcpc_once(lab.client(1), &sub(1), &["-O", "67"]);
    assert_eq!(env(&b, "bootfile"), Some("acmac.img"), "{b:?}");
    let l = srv.lease_of("00:90:8f:61:a0:22").unwrap();
    assert_eq!(l["class"], "audiocodes-mac");
    assert!((10..=69).contains(
        &l["ip"]
            .as_str()
            .unwrap()
            .parse::<Ipv4Addr>()
            .unwrap()
            .octets()[3]
    ));

    // MS-UC-Client: option 43 sub-options 1-5 byte for byte.
    let b = udhcpc_once(lab.client(2), &sub(2), &["-V", "MS-UC-Client", "-O", "43"]);
    let mut want = Vec::new();
    for (c, v) in [
        (1u8, &b"MS-UC-Client"[..]),
        (2, b"https"),
        (3, b"lync.example.lan"),
        (4, b"443"),
        (5, b"/CertProv/CertProvisioningService.svc"),
    ] {
        want.push(c);
        want.push(v.len() as u8);
        want.extend_from_slice(v);
    }
    assert_eq!(env(&b, "opt43"), Some(hex(&want).as_str()), "{b:?}");

    // Unknown vendor falls to any-device.
    let b = udhcpc_once(lab.client(3), &sub(3), &["-V", "Unknown-Vendor-1.0"]);
    let ip: Ipv4Addr = env(&b, "ip").unwrap().parse().unwrap();
    assert!((140..=199).contains(&ip.octets()[3]), "{ip}");
    let l = srv.lease_of("02:00:00:00:04:04").unwrap();
    assert_eq!(l["class"], "any-device");
    assert_eq!(l["vendor_class"], "Unknown-Vendor-1.0");

    // `leases` filters and the profile column; `lease release` by MAC.
    let f = srv.cli(&["leases", "--json", "--class", "audiocodes-450hd"]);
    let f = f.as_array().unwrap();
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0]["profile"], "audiocodes");
    assert_eq!(f[0]["vendor_class"], "450HD");
    let by_mac = srv.cli(&["leases", "--json", "--mac", "00-90-8F-61-A0-22"]);
    assert_eq!(by_mac.as_array().unwrap().len(), 1);
    let out = std::process::Command::new(BIN)
        .arg("--config")
        .arg(srv.dir.path())
        .args(["lease", "release", "00:90:8f:61:a0:22"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("released 192.168.92."));
    assert!(srv.lease_of("00:90:8f:61:a0:22").is_none());

    // Reserved MAC: its static address, every time.
    for _ in 0..2 {
        let b = udhcpc_once(lab.client(4), &sub(4), &["-R"]);
        assert_eq!(env(&b, "ip"), Some("192.168.92.200"));
    }
}

/// Runs `dhclient -1` once in `ns` with `conf` as its dhclient.conf (files
/// under `dir`), asserts it got a lease, hands its lease file to `check`
/// while it still runs, then stops it (`-x`).
fn dhclient_once(ns: &Netns, dir: &Path, conf: &str, check: impl FnOnce(&str)) {
    std::fs::create_dir_all(dir).unwrap();
    let cf = dir.join("dhclient.conf");
    std::fs::write(&cf, conf).unwrap();
    let lf = dir.join("leases");
    let pf = dir.join("pid");
    let out = ns
        .command("dhclient")
        .args([
            "-1",
            "-cf",
            cf.to_str().unwrap(),
            "-lf",
            lf.to_str().unwrap(),
        ])
        .args(["-pf", pf.to_str().unwrap(), "-sf", "/bin/true", "eth0"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        check(&std::fs::read_to_string(&lf).unwrap())
    }));
    let _ = ns
        .command("dhclient")
        .args(["-x", "-pf", pf.to_str().unwrap()])
        .output();
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

#[test]
fn option_120_both_encodings_in_dhclient_lease_file() {
    skip_unless_root!();
    let lab = Lab::builder()
        .client_with_mac("02:00:00:00:05:01")
        .client_with_mac("02:00:00:00:05:02")
        .build()
        .unwrap();
    let _srv = Server::start(&lab, CONFIG);
    let dir = tempfile::tempdir().unwrap();
    for (i, (vc, want)) in [
        ("SIP120-NAMES", {
            let mut v = vec![0u8];
            v.extend(b"\x03sip\x07example\x03lan\x00\x01b\x03lan\x00");
            v
        }),
        ("SIP120-ADDRS", vec![1u8, 192, 168, 92, 246, 10, 1, 2, 3]),
    ]
    .into_iter()
    .enumerate()
    {
        let decimal: Vec<String> = want.iter().map(|b| b.to_string()).collect();
        dhclient_once(
            lab.client(i),
            &dir.path().join(format!("c{i}")),
            &format!("option o120 code 120 = array of unsigned integer 8;\nsend vendor-class-identifier \"{vc}\";\nrequest subnet-mask, o120;\n"),
            |lease| {
                assert!(
                    lease.contains(&format!("option o120 {};", decimal.join(","))),
                    "{vc}: {lease}"
                )
            },
        );
    }
}

/// RFC 2132 §9.3 / RFC 2131 §4.1: a reply longer than the client's
/// maximum message size (option 57: 576 here, 308 bytes of options) goes on
/// in the `file` and `sname` fields (option 52) instead of losing options.
/// Three 100-byte options do not fit in 308 bytes: ISC dhclient, which reads
/// overloaded fields, must record all three.
#[test]
fn overloaded_reply_reaches_dhclient_whole() {
    skip_unless_root!();
    let lab = Lab::builder()
        .client_with_mac("02:00:00:00:05:21")
        .build()
        .unwrap();
    let srv = Server::start(&lab, CONFIG);
    let dir = tempfile::tempdir().unwrap();
    let conf = "option o224 code 224 = string;\noption o225 code 225 = string;\n\
                option o226 code 226 = string;\nsend vendor-class-identifier \"BIG-REPLY\";\n\
                send dhcp-max-message-size 576;\nrequest subnet-mask, o224, o225, o226;\n";
    dhclient_once(lab.client(0), dir.path(), conf, |lease| {
        for (code, c) in [(224, 'a'), (225, 'b'), (226, 'c')] {
            let want = format!("option o{code} \"{}\";", c.to_string().repeat(100));
            assert!(lease.contains(&want), "option {code} missing: {lease}");
        }
    });
    let s = srv.cli(&["status", "--json"]);
    let overloaded = s["counters"]["overloaded_replies"].as_u64();
    assert!(overloaded.is_some_and(|n| n >= 1), "{s}");
}

/// The seed's "data-string" vendor class: dhclient sends option 60 as raw
/// bytes (trailing 00 included); only the exact bytes select the class.
#[test]
fn vendor_class_data_string_from_dhclient() {
    skip_unless_root!();
    let lab = Lab::builder()
        .client_with_mac("02:00:00:00:06:01")
        .client_with_mac("02:00:00:00:06:02")
        .build()
        .unwrap();
    let srv = Server::start(&lab, CONFIG);
    let dir = tempfile::tempdir().unwrap();
    for (i, (vc, class)) in [
        ("00:0d:e9:00", "binary-vendor"),
        ("00:0d:e9:01", "any-device"),
    ]
    .into_iter()
    .enumerate()
    {
        let mac = format!("02:00:00:00:06:0{}", i + 1);
        dhclient_once(
            lab.client(i),
            &dir.path().join(format!("c{i}")),
            &format!("send vendor-class-identifier {vc};\n"),
            |_| {
                let lease = srv
                    .lease_of(&mac)
                    .unwrap_or_else(|| panic!("no lease for {mac}"));
                assert_eq!(lease["class"], class, "{vc}: {lease}");
                // Binary option 60 is shown in the spelling the matcher takes.
                assert_eq!(lease["vendor_class"], vc, "{lease}");
            },
        );
    }
}

/// Sends one datagram to the server's port 67 from a client namespace with
/// a static address, with perl (perl-base is Essential on Debian): the
/// payload goes in hex on the command line and leaves in a single send().
fn send_udp(ns: &Netns, payload: &[u8]) {
    let hexs: String = payload.iter().map(|b| format!("{b:02x}")).collect();
    let out = ns
        .command("perl")
        .args([
            "-MIO::Socket::INET",
            "-e",
            "my $s = IO::Socket::INET->new(PeerAddr => '192.168.92.246', PeerPort => 67, Proto => 'udp') or die $!; $s->send(pack('H*', $ARGV[0])) or die $!;",
            &hexs,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn request_header(mac: [u8; 6]) -> Vec<u8> {
    let mut b = vec![0u8; 236];
    b[0] = 1;
    b[1] = 1;
    b[2] = 6;
    b[4..8].copy_from_slice(&[1, 2, 3, 4]);
    b[28..34].copy_from_slice(&mac);
    b.extend_from_slice(&[99, 130, 83, 99]);
    b
}

#[test]
fn malformed_packets_are_dropped_and_counted_while_clients_are_served() {
    skip_unless_root!();
    let lab = Lab::builder()
        .client_with_address(Ipv4Addr::new(192, 168, 92, 30))
        .client_with_mac("02:00:00:00:06:02")
        .build()
        .unwrap();
    let srv = Server::start(&lab, CONFIG);
    let attacker = lab.client(0);
    // Truncated header.
    send_udp(attacker, &request_header([2, 0, 0, 0, 6, 1])[..100]);
    // Bad option length (claims 200 bytes, 3 remain).
    let mut b = request_header([2, 0, 0, 0, 6, 1]);
    b.extend_from_slice(&[53, 1, 1, 60, 200, b'a', b'b', b'c']);
    send_udp(attacker, &b);
    // Overload loop: option 52 inside the overloaded file field.
    let mut b = request_header([2, 0, 0, 0, 6, 1]);
    b[108..112].copy_from_slice(&[52, 1, 3, 255]);
    b.extend_from_slice(&[53, 1, 1, 52, 1, 1, 255]);
    send_udp(attacker, &b);
    // Huge option 55 (600 codes via RFC 3396 concatenation).
    let mut b = request_header([2, 0, 0, 0, 6, 1]);
    b.extend_from_slice(&[53, 1, 1]);
    for _ in 0..3 {
        b.push(55);
        b.push(200);
        b.extend((1..=200).map(|x: u32| x as u8));
    }
    b.push(255);
    send_udp(attacker, &b);
    // Zero MAC.
    let mut b = request_header([0; 6]);
    b.extend_from_slice(&[53, 1, 1, 255]);
    send_udp(attacker, &b);
    srv.wait_for(10, "drops counted", || {
        (srv.dropped("malformed") >= 3
            && srv.dropped("oversized_request_list") >= 1
            && srv.dropped("bad_hardware_address") >= 1)
            .then_some(())
    });
    assert_eq!(srv.dropped("malformed"), 3);
    // A valid client is still served.
    let dir = tempfile::tempdir().unwrap();
    let b = udhcpc_once(lab.client(1), dir.path(), &[]);
    assert!(env(&b, "ip").is_some());
}

#[test]
fn decline_puts_address_on_probation() {
    skip_unless_root!();
    // The reserved MAC is offered 192.168.92.200, which a static host
    // already uses: udhcpc -a checks the offer with ARP and DECLINEs it.
    let lab = Lab::builder()
        .client_with_mac("02:00:00:00:00:99")
        .client_with_address(Ipv4Addr::new(192, 168, 92, 200))
        .build()
        .unwrap();
    let srv = Server::start(&lab, CONFIG);
    let dir = tempfile::tempdir().unwrap();
    let (script, _log) = udhcpc_script(dir.path());
    let out = lab
        .client(0)
        .command("udhcpc")
        .args([
            "-f",
            "-n",
            "-q",
            "-a",
            "-i",
            "eth0",
            "-t",
            "3",
            "-T",
            "1",
            "-s",
            script.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "udhcpc must not bind an address in use"
    );
    let l = srv
        .leases()
        .into_iter()
        .find(|l| l["ip"] == "192.168.92.200")
        .expect("lease on .200");
    assert_eq!(l["state"], "declined");
    let s = srv.cli(&["status", "--json"]);
    assert!(s["counters"]["declines"].as_u64().unwrap() >= 1, "{s}");
    // While on probation the address is not offered again.
    assert!(srv.dropped("on_probation") >= 1, "{s}");
    assert!(srv.daemon.log().contains("on probation"));
}

/// dhclient with a remembered (unexpired) lease on `addr` starts in
/// INIT-REBOOT: it REQUESTs `addr` without a server identifier.
fn dhclient_init_reboot(ns: &Netns, dir: &Path, addr: &str, secs: u32) -> std::process::Output {
    let lf = dir.join("leases");
    std::fs::write(
        &lf,
        format!(
            "lease {{\n  interface \"eth0\";\n  fixed-address {addr};\n  option subnet-mask 255.255.255.0;\n  option dhcp-lease-time 3600;\n  option dhcp-server-identifier 192.168.92.246;\n  renew 4 2037/12/31 00:00:00;\n  rebind 4 2037/12/31 00:00:00;\n  expire 4 2037/12/31 00:00:00;\n}}\n"
        ),
    )
    .unwrap();
    let events = dir.join("events");
    let script = dir.join("script.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$reason $new_ip_address\" >> {}\ncase $reason in\n  BOUND|RENEW|REBIND|REBOOT) ip addr replace $new_ip_address/$new_subnet_mask dev $interface ;;\n  RELEASE|EXPIRE|STOP) ip addr flush dev $interface ;;\nesac\n",
            events.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    ns.command("timeout")
        .args([
            &secs.to_string(),
            "dhclient",
            "-d",
            "-1",
            "-lf",
            lf.to_str().unwrap(),
            "-pf",
            dir.join("pid").to_str().unwrap(),
            "-sf",
            script.to_str().unwrap(),
            "eth0",
        ])
        .output()
        .unwrap()
}

#[test]
fn init_reboot_wrong_address_nak_when_authoritative_silent_otherwise() {
    skip_unless_root!();
    let lab = Lab::builder()
        .client_with_mac("02:00:00:00:07:01")
        .build()
        .unwrap();
    let srv = Server::start(&lab, CONFIG);
    let dir = tempfile::tempdir().unwrap();
    // 192.168.92.120 is on the subnet but was never leased to this client.
    dhclient_init_reboot(lab.client(0), dir.path(), "192.168.92.120", 20);
    let events = std::fs::read_to_string(dir.path().join("events")).unwrap_or_default();
    let s = srv.cli(&["status", "--json"]);
    assert!(
        s["counters"]["sent"]["nak"].as_u64().unwrap() >= 1,
        "NAK sent: {s}"
    );
    // After the NAK the client starts over and is bound elsewhere.
    let bound = events
        .lines()
        .find_map(|l| l.strip_prefix("BOUND "))
        .expect("bound after NAK");
    assert_ne!(bound, "192.168.92.120");
    drop(srv);

    let lab = Lab::builder()
        .client_with_mac("02:00:00:00:07:02")
        .build()
        .unwrap();
    let srv = Server::start(
        &lab,
        &CONFIG.replace("authoritative = true", "authoritative = false"),
    );
    let dir = tempfile::tempdir().unwrap();
    dhclient_init_reboot(lab.client(0), dir.path(), "192.168.92.120", 4);
    let s = srv.cli(&["status", "--json"]);
    assert_eq!(
        s["counters"]["sent"]["nak"].as_u64().unwrap(),
        0,
        "no NAK: {s}"
    );
    assert!(srv.dropped("not_authoritative") >= 1, "{s}");
}

/// A lab whose client 0 is a relay: giaddr = its own address 10.20.0.1, a
/// second address on its eth0; the server reaches it by an on-link route.
fn relay_lab() -> (Lab, Server) {
    let lab = Lab::builder()
        .client_with_address(Ipv4Addr::new(192, 168, 92, 31))
        .build()
        .unwrap();
    lab.client(0)
        .run("ip", &["addr", "add", "10.20.0.1/24", "dev", "eth0"])
        .unwrap();
    lab.server()
        .run("ip", &["route", "add", "10.20.0.0/24", "dev", "eth0"])
        .unwrap();
    let srv = Server::start(&lab, CONFIG);
    (lab, srv)
}

#[test]
fn relayed_clients_are_served_from_the_giaddr_subnet() {
    skip_unless_root!();
    // perfdhcp acts as the relay.
    let (lab, srv) = relay_lab();
    let relay = lab.client(0);
    let out = relay
        .command("perfdhcp")
        .args([
            "-4",
            "-l",
            "10.20.0.1",
            "-r",
            "20",
            "-n",
            "40",
            "-R",
            "40",
            "-p",
            "5",
            "192.168.92.246",
        ])
        .output()
        .unwrap();
    // perfdhcp exits non-zero on any drop; the first exchange can be lost
    // while the server resolves the relay's address, so count leases instead.
    let text = String::from_utf8_lossy(&out.stdout);
    let leases = srv.leases();
    let bound: Vec<&Value> = leases.iter().filter(|l| l["state"] == "bound").collect();
    assert!(bound.len() >= 10, "{} bound\n{text}", bound.len());
    for l in &bound {
        let ip: Ipv4Addr = l["ip"].as_str().unwrap().parse().unwrap();
        assert_eq!(&ip.octets()[..3], &[10, 20, 0], "remote subnet: {ip}");
    }
}

#[test]
fn a_burst_toward_one_relay_is_paced() {
    skip_unless_root!();
    // A stalled server (SIGSTOP) finds 150 DISCOVERs from one relay queued
    // (the pool's size) and answers them in one batch, far faster than a
    // relay reads: it sends 64 (the burst) at once and the other 86 at its
    // pace (48 per ms): every OFFER arrives, the pacing counters say 86
    // waited, and the last cannot arrive before ~1.8 ms after the first.
    let (lab, srv) = relay_lab();
    let relay = lab.client(0);
    // The server learns the relay's MAC first, so no reply waits on ARP.
    relay
        .run(
            "ping",
            &["-c", "1", "-W", "2", "-I", "10.20.0.1", "192.168.92.246"],
        )
        .unwrap();
    let packets: Vec<String> = (0..150u8)
        .map(|i| {
            let mut b = request_header([2, 0, 0, 0, 0x0b, i]);
            b[3] = 1; // hops
            b[4..8].copy_from_slice(&[0x0b, 0, 0, i]); // xid
            b[24..28].copy_from_slice(&[10, 20, 0, 1]); // giaddr
            b.extend_from_slice(&[53, 1, 1, 255]);
            hex(&b)
        })
        .collect();
    // One socket on the relay's port 67: a reader child with a large
    // buffer (it must not be what loses replies) logs arrival times; the
    // parent sends the DISCOVERs back to back.
    let script = r#"
use IO::Socket::INET; use Socket; use Time::HiRes qw(time);
$| = 1;
my $s = IO::Socket::INET->new(LocalAddr => '10.20.0.1', LocalPort => 67, Proto => 'udp') or die "$!";
setsockopt($s, SOL_SOCKET, SO_RCVBUF, 4 << 20) or die "$!";
my $to = sockaddr_in(67, inet_aton('192.168.92.246'));
my $pid = fork() // die "$!";
if (!$pid) {
    my @t;
    while (1) {
        my $rin = ''; vec($rin, fileno($s), 1) = 1;
        last unless select($rin, undef, undef, 2);
        my $buf; $s->recv($buf, 2000);
        push @t, time if length($buf) > 240 && $buf =~ /\x35\x01\x02/;
    }
    printf "%d %.6f\n", scalar(@t), @t ? $t[-1] - $t[0] : 0;
    exit 0;
}
send($s, pack('H*', $_), 0, $to) or die "$!" for @ARGV;
print "sent\n";
waitpid($pid, 0);
"#;
    srv.daemon
        .signal(nix::sys::signal::Signal::SIGSTOP)
        .unwrap();
    let mut perl = relay
        .command("perl")
        .arg("-e")
        .arg(script)
        .args(&packets)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The sender says when every DISCOVER is out; only then the server
    // resumes, with all 150 queued.
    let mut stdout = std::io::BufReader::new(perl.stdout.take().unwrap());
    let mut sent = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut sent).unwrap();
    srv.daemon
        .signal(nix::sys::signal::Signal::SIGCONT)
        .unwrap();
    assert_eq!(sent, "sent\n");
    let mut text = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut text).unwrap();
    let out = perl.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut f = text.split_whitespace();
    let offers: usize = f.next().unwrap().parse().unwrap();
    let spread: f64 = f.next().unwrap().parse().unwrap();
    assert_eq!(offers, 150, "OFFERs received; log:\n{}", srv.daemon.log());
    let s = srv.cli(&["status", "--json"]);
    assert_eq!(s["pacing"]["delayed"], 150 - 64, "{s}");
    assert_eq!(s["pacing"]["dropped"], 0, "{s}");
    // (150 - 64) / 48 per ms = 1.8 ms at the least; read times can only
    // bunch, so allow for a late first read.
    assert!(spread >= 0.001, "150 OFFERs within {spread} s");
}

#[test]
fn sighup_reload_applies_a_valid_config_and_keeps_the_old_one_on_error() {
    skip_unless_root!();
    let lab = Lab::builder()
        .client_with_mac("02:00:00:00:08:01")
        .client_with_mac("02:00:00:00:08:02")
        .client_with_mac("02:00:00:00:08:03")
        .build()
        .unwrap();
    let mut srv = Server::start(&lab, CONFIG);
    let dir = tempfile::tempdir().unwrap();
    let sub = |i: usize| {
        let p = dir.path().join(format!("c{i}"));
        std::fs::create_dir_all(&p).unwrap();
        p
    };
    let b = udhcpc_once(lab.client(0), &sub(0), &["-O", "66"]);
    assert_eq!(env(&b, "tftp"), Some("192.168.92.246"));
    let file = srv.dir.path().join("dhcp.toml");
    // An invalid file: refused, old configuration kept.
    std::fs::write(
        &file,
        CONFIG.replace("any-device = true\n", "any-device = true\nbogus = 1\n"),
    )
    .unwrap();
    srv.daemon.signal(nix::sys::signal::Signal::SIGHUP).unwrap();
    srv.daemon
        .wait_notify("READY=1", Duration::from_secs(10))
        .unwrap();
    let log = srv.daemon.log();
    assert!(log.contains("reload refused"), "{log}");
    // The error itself is logged, with its position in the new file.
    let bogus_line = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .position(|l| l == "bogus = 1")
        .unwrap()
        + 1;
    assert!(log.contains("unknown key `bogus`"), "{log}");
    assert!(log.contains(&format!("dhcp.toml:{bogus_line}:1")), "{log}");
    let b = udhcpc_once(lab.client(1), &sub(1), &["-O", "66"]);
    assert_eq!(env(&b, "tftp"), Some("192.168.92.246"));
    // A valid change: applied.
    std::fs::write(
        &file,
        CONFIG.replacen(
            "  code = 66\n  value = \"${server_ip}\"",
            "  code = 66\n  value = \"tftp.example.lan\"",
            1,
        ),
    )
    .unwrap();
    srv.daemon.signal(nix::sys::signal::Signal::SIGHUP).unwrap();
    srv.daemon
        .wait_notify("READY=1", Duration::from_secs(10))
        .unwrap();
    let b = udhcpc_once(lab.client(2), &sub(2), &["-O", "66"]);
    assert_eq!(env(&b, "tftp"), Some("tftp.example.lan"));
}

#[test]
fn conflict_probe_skips_an_address_that_answers_ping() {
    skip_unless_root!();
    let cfg = CONFIG
        .replacen("authoritative = true\n", "authoritative = true\nconflict-probe = true\nconflict-probe-timeout = \"300ms\"\n", 1)
        .replacen(
            "[[class]]\nname = \"reserved\"",
            "[[pool]]\nname = \"probe-a\"\nrange = \"192.168.92.220..192.168.92.220\"\n[[pool]]\nname = \"probe-b\"\nrange = \"192.168.92.221..192.168.92.221\"\n\
             [[class]]\nname = \"probe-a\"\nmac = \"02:00:00:00:09:01\"\nprofile = \"generic\"\npool = \"probe-a\"\n\
             [[class]]\nname = \"probe-b\"\nmac = \"02:00:00:00:09:02\"\nprofile = \"generic\"\npool = \"probe-b\"\n\
             [[class]]\nname = \"reserved\"",
            1,
        );
    let lab = Lab::builder()
        .client_with_mac("02:00:00:00:09:01")
        .client_with_address(Ipv4Addr::new(192, 168, 92, 220)) // squatter
        .client_with_mac("02:00:00:00:09:02")
        .build()
        .unwrap();
    let srv = Server::start(&lab, &cfg);
    let dir = tempfile::tempdir().unwrap();
    // The only address of probe-a answers ping: no offer at all.
    let (script, _log) = udhcpc_script(dir.path());
    let out = lab
        .client(0)
        .command("udhcpc")
        .args([
            "-f",
            "-n",
            "-q",
            "-i",
            "eth0",
            "-t",
            "2",
            "-T",
            "1",
            "-s",
            script.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success(), "no free address: udhcpc must fail");
    let l = srv
        .leases()
        .into_iter()
        .find(|l| l["ip"] == "192.168.92.220")
        .expect("lease on .220");
    assert_eq!(l["state"], "declined");
    let s = srv.cli(&["status", "--json"]);
    assert_eq!(s["counters"]["conflicts"].as_u64(), Some(1), "{s}");
    assert!(
        srv.daemon.log().contains("conflict probe"),
        "{}",
        srv.daemon.log()
    );
    // probe-b's address is silent: offered after the probe.
    let dir2 = tempfile::tempdir().unwrap();
    let b = udhcpc_once(lab.client(2), dir2.path(), &[]);
    assert_eq!(env(&b, "ip"), Some("192.168.92.221"));
}

/// One info line per committed lease, as docs/operations.md promises: MAC
/// as aa:bb:cc:dd:ee:ff, IP, class, profile, host name, lease time; the
/// per-datagram debug lines print MACs the same way, never as decimal bytes.
#[test]
fn each_committed_lease_is_one_info_line_with_a_hex_mac() {
    skip_unless_root!();
    let lab = Lab::builder()
        .client_with_mac("00:90:8f:0a:bc:de")
        .build()
        .unwrap();
    let srv = Server::start(&lab, CONFIG);
    let dir = tempfile::tempdir().unwrap();
    let bound = udhcpc_once(lab.client(0), dir.path(), &["-x", "hostname:desk-7"]);
    let ip = env(&bound, "ip").expect("an address").to_string();
    let line = srv.wait_for(10, "the lease line", || {
        srv.daemon
            .log()
            .lines()
            .find(|l| l.contains("lease committed"))
            .map(str::to_string)
    });
    for field in [
        "mac=00:90:8f:0a:bc:de".to_string(),
        format!("ip={ip}"),
        "class=audiocodes-mac".to_string(),
        "profile=acmac".to_string(),
        "hostname=desk-7".to_string(),
        "lease_secs=12".to_string(),
    ] {
        assert!(line.contains(&field), "{field} missing in: {line}");
    }
    assert!(line.contains("INFO"), "{line}");
    let log = srv.daemon.log();
    assert_eq!(log.matches("lease committed").count(), 1, "{log}");
    assert!(!log.contains("mac: ["), "a MAC as decimal bytes:\n{log}");
}

/// A subscriber to the event socket sees udhcpc's DISCOVER, the OFFER, the
/// ACK (with what the server decided and the lease's end) and its RELEASE,
/// in order, each naming the device as it described itself; `status`
/// counts the subscriber and the events.
#[test]
fn a_subscriber_sees_the_exchange_of_a_real_client() {
    skip_unless_root!();
    let lab = Lab::builder()
        .client_with_mac("00:90:8f:0a:bc:de")
        .build()
        .unwrap();
    let srv = Server::start(&lab, CONFIG);
    let tap = srv.subscribe();
    let dir = tempfile::tempdir().unwrap();
    let (script, log) = udhcpc_script(dir.path());
    let mut child = lab
        .client(0)
        .command("udhcpc")
        .args([
            "-f",
            "-x",
            "hostname:desk-7",
            "-i",
            "eth0",
            "-t",
            "5",
            "-T",
            "1",
            "-s",
        ])
        .arg(&script)
        .spawn()
        .unwrap();
    let bound = srv.wait_for(15, "udhcpc bound", || udhcpc_events(&log, "bound").pop());
    let ip: Ipv4Addr = env(&bound, "ip").expect("an address").parse().unwrap();
    // SIGUSR2: udhcpc releases its lease.
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGUSR2).unwrap();
    let is = |m: DhcpMessage| move |e: &pbxnet_inventory::Envelope| matches!(&e.event, Event::Dhcp(d) if d.message == m);
    let released = tap.wait_for(Duration::from_secs(10), is(DhcpMessage::Release));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    child.wait().unwrap();
    released.unwrap_or_else(|seen| panic!("no release event; saw {seen:#?}\n{}", srv.daemon.log()));
    let dhcp: Vec<_> = tap
        .events()
        .into_iter()
        .filter_map(|e| match e.event {
            Event::Dhcp(d) => Some((e.at, d)),
            _ => None,
        })
        .collect();
    let kinds: Vec<DhcpMessage> = dhcp.iter().map(|(_, d)| d.message).collect();
    assert_eq!(
        kinds,
        [
            DhcpMessage::Discover,
            DhcpMessage::Offer,
            DhcpMessage::Ack,
            DhcpMessage::Release
        ],
        "{dhcp:#?}"
    );
    for (_, d) in &dhcp {
        assert_eq!(d.mac.to_string(), "00:90:8f:0a:bc:de");
        assert_eq!(d.relay, None);
    }
    // A RELEASE carries no description of the device; the others do.
    for (_, d) in &dhcp[..3] {
        assert_eq!(d.hostname.as_deref(), Some("desk-7"), "{d:?}");
        assert!(
            d.vendor_class
                .as_deref()
                .is_some_and(|v| v.starts_with("udhcp")),
            "{d:?}"
        );
        assert!(d.parameter_request.contains(&3), "{d:?}");
    }
    let (ack_at, ack) = &dhcp[2];
    for (_, d) in &dhcp[1..3] {
        assert_eq!(d.ip, Some(ip));
        assert_eq!(d.class.as_deref(), Some("audiocodes-mac"));
        assert_eq!(d.profile.as_deref(), Some("acmac"));
        assert_eq!(d.boot_file.as_deref(), Some("acmac.img"));
    }
    assert_eq!(ack.lease_expires, Some(ack_at + 12_000));
    assert_eq!(dhcp[3].1.ip, Some(ip));
    let status = srv.cli(&["status", "--json"]);
    assert_eq!(status["events"]["subscribers"], 1, "{status}");
    assert!(
        status["events"]["published"].as_u64() >= Some(4),
        "{status}"
    );
    assert_eq!(status["events"]["dropped"], 0, "{status}");
    let text = std::process::Command::new(BIN)
        .arg("--config")
        .arg(srv.dir.path())
        .arg("status")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("events: 1 subscriber, "), "{text}");
}
