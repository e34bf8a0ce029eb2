//! Lease durability with real load (issue 4): perfdhcp as a relay against
//! pbxnet-dhcpd in the namespace lab; the ACKs the relay really received are
//! captured with tcpdump on its interface and compared with the lease
//! database after each crash (kill -9) and restart, and under a full disk.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use pbxnet_dhcp::daemon::read_all;
use pbxnet_dhcp::{LeaseState, Packet};
use pbxnet_testlab::{skip_unless_root, Daemon, Lab, Netns};
use rand::{Rng, SeedableRng};

const BIN: &str = env!("CARGO_BIN_EXE_pbxnet-dhcpd");

const CONFIG: &str = r#"
[[subnet]]
name = "site"
network = "192.168.92.0/24"
[[subnet]]
name = "load"
network = "10.16.0.0/12"
lease-time = "1h"
[[pool]]
name = "load"
range = "10.16.1.0..10.31.255.254"
[[class]]
name = "any-device"
any-device = true
profile = "generic"
[[profile]]
name = "generic"
  [[profile.option]]
  code = 66
  value = "${server_ip}"
  always-send = true
"#;

fn write_config(dir: &Path, state: &Path) {
    std::fs::write(
        dir.join("site.toml"),
        format!(
            "server-address = \"192.168.92.246\"\ninterfaces = [\"eth0\"]\nstate-directory = \"{}\"\nruntime-directory = \"{}/run\"\n[log]\nlevel = \"info\"\n",
            state.display(),
            dir.display()
        ),
    )
    .unwrap();
    std::fs::write(dir.join("dhcp.toml"), CONFIG).unwrap();
}

/// A relay lab: client 0 is the relay (192.168.92.31 + giaddr 10.20.0.1).
fn relay_lab() -> Lab {
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
    lab
}

/// tcpdump writing the server's replies (to the relay's port 67) to a pcap.
struct Capture {
    child: Child,
    file: PathBuf,
}

impl Capture {
    fn start(ns: &Netns, file: &Path) -> Capture {
        let mut child = ns
            .command("tcpdump")
            .args([
                "-i",
                "eth0",
                "-n",
                "-U",
                "-w",
                file.to_str().unwrap(),
                "udp and src host 192.168.92.246 and dst port 67",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // tcpdump says "listening on eth0" once the capture runs.
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        while err.read_line(&mut line).unwrap() > 0 && !line.contains("listening on") {
            line.clear();
        }
        std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
        Capture {
            child,
            file: file.to_path_buf(),
        }
    }

    /// Stops the capture and returns every ACK seen: chaddr → yiaddr.
    fn acks(mut self) -> HashMap<[u8; 6], Ipv4Addr> {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGINT,
        );
        self.child.wait().unwrap();
        let data = std::fs::read(&self.file).unwrap();
        let mut out = HashMap::new();
        // pcap: 24-byte global header, then 16-byte record headers.
        let mut i = 24;
        while i + 16 <= data.len() {
            let caplen = u32::from_le_bytes(data[i + 8..i + 12].try_into().unwrap()) as usize;
            let frame = &data[i + 16..(i + 16 + caplen).min(data.len())];
            i += 16 + caplen;
            // Ethernet (14) + IPv4 (IHL) + UDP (8).
            if frame.len() < 14 + 20 + 8 {
                continue;
            }
            let ihl = usize::from(frame[14] & 0x0f) * 4;
            let Ok(p) = Packet::decode(&frame[14 + ihl + 8..]) else {
                continue;
            };
            if p.options.message_type() == Some(5) {
                out.insert(p.mac(), p.yiaddr);
            }
        }
        out
    }
}

fn perfdhcp(ns: &Netns, rate: u32, secs: u32, mac_base: &str) -> Child {
    ns.command("perfdhcp")
        .args([
            "-4",
            "-l",
            "10.20.0.1",
            "-r",
            &rate.to_string(),
            "-R",
            "1000000",
            "-b",
            &format!("mac={mac_base}"),
            "-p",
            &secs.to_string(),
            "192.168.92.246",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn check_acked_leases_present(db: &Path, acks: &HashMap<[u8; 6], Ipv4Addr>, round: usize) {
    let leases = read_all(db).unwrap();
    let mut by_ip: HashMap<Ipv4Addr, [u8; 6]> = HashMap::new();
    for l in &leases {
        if l.state == LeaseState::Bound {
            assert!(
                by_ip.insert(l.ip, l.mac).is_none(),
                "round {round}: {} bound twice",
                l.ip
            );
        }
    }
    for (mac, ip) in acks {
        assert_eq!(
            by_ip.get(ip),
            Some(mac),
            "round {round}: ACKed lease {ip} for {mac:02x?} missing after the crash"
        );
    }
}

#[test]
fn kill_9_under_load_loses_no_acked_lease() {
    skip_unless_root!();
    let lab = relay_lab();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    write_config(dir.path(), &state);
    let db = state.join("dhcp-leases.sqlite3");
    let cfg = dir.path().to_str().unwrap().to_string();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
    let mut all_acks: HashMap<[u8; 6], Ipv4Addr> = HashMap::new();
    let rounds = 20;
    for round in 0..rounds {
        let mut daemon =
            Daemon::spawn(lab.server(), Path::new(BIN), &["--config", &cfg, "run"]).unwrap();
        daemon.wait_ready(Duration::from_secs(20)).unwrap();
        // After every restart: every lease ACKed so far is there.
        check_acked_leases_present(&db, &all_acks, round);
        let cap = Capture::start(lab.client(0), &dir.path().join(format!("r{round}.pcap")));
        let mut load = perfdhcp(
            lab.client(0),
            400,
            3,
            &format!("02:{:02x}:00:00:00:00", round + 1),
        );
        std::thread::sleep(Duration::from_millis(rng.gen_range(300..1500)));
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(daemon.pid() as i32),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        let _ = daemon.wait_exit(Duration::from_secs(5));
        let _ = load.kill();
        let _ = load.wait();
        let acks = cap.acks();
        assert!(
            !acks.is_empty() || round > 0,
            "round {round}: no ACK captured at all"
        );
        all_acks.extend(acks);
    }
    assert!(
        all_acks.len() > 100,
        "only {} ACKs over {rounds} rounds",
        all_acks.len()
    );
    check_acked_leases_present(&db, &all_acks, rounds);
}

#[test]
fn full_disk_stops_acks_and_says_why() {
    skip_unless_root!();
    let lab = relay_lab();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    write_config(dir.path(), &state);
    let cfg = dir.path().to_str().unwrap().to_string();
    // A 256 KiB tmpfs over the state directory, in the daemon's own mount
    // namespace (the host's mounts are untouched).
    let script = format!(
        "mount -t tmpfs -o size=256k tmpfs {} && exec {BIN} --config {cfg} run",
        state.display()
    );
    let mut daemon = Daemon::spawn(
        lab.server(),
        Path::new("unshare"),
        &["-m", "sh", "-c", &script],
    )
    .unwrap();
    daemon.wait_ready(Duration::from_secs(20)).unwrap();
    let cap = Capture::start(lab.client(0), &dir.path().join("full.pcap"));
    let mut load = perfdhcp(lab.client(0), 1000, 6, "02:aa:00:00:00:00");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !daemon.log().contains("lease store commit failed") {
        assert!(
            Instant::now() < deadline,
            "the disk never filled; log:\n{}",
            daemon.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = load.wait();
    let acks = cap.acks();
    let log = daemon.log();
    assert!(log.contains("withholding"), "{log}");
    // Every ACK that left is in the database (read inside the daemon's mount
    // namespace, where the tmpfs is).
    let out = lab
        .server()
        .command("nsenter")
        .args([
            "--target",
            &daemon.pid().to_string(),
            "--mount",
            BIN,
            "--config",
            &cfg,
            "leases",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let leases: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let bound: HashMap<String, String> = leases
        .iter()
        .filter(|l| l["state"] == "bound")
        .map(|l| {
            (
                l["ip"].as_str().unwrap().to_string(),
                l["mac"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(!acks.is_empty());
    for (mac, ip) in &acks {
        let mac = pbxnet_config::MacAddr(*mac).to_string();
        assert_eq!(
            bound.get(&ip.to_string()),
            Some(&mac),
            "ACK for {ip} without a durable lease"
        );
    }
    // The info line "lease committed" is written only once the lease is
    // durable: every lease it names is in the database.
    let field = |line: &str, key: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(key))
            .map(str::to_string)
    };
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("lease committed"))
        .collect();
    assert!(!lines.is_empty(), "no lease line at all:\n{log}");
    for line in lines {
        let (ip, mac) = (field(line, "ip=").unwrap(), field(line, "mac="));
        assert_eq!(
            bound.get(&ip),
            mac.as_ref(),
            "'lease committed' for {ip} without a durable lease: {line}"
        );
    }
}

#[test]
fn unwritable_state_directory_refuses_to_start() {
    skip_unless_root!();
    let lab = relay_lab();
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), Path::new("/proc/pbxnet-no-such-dir"));
    let cfg = dir.path().to_str().unwrap().to_string();
    let mut daemon =
        Daemon::spawn(lab.server(), Path::new(BIN), &["--config", &cfg, "run"]).unwrap();
    let status = daemon.wait_exit(Duration::from_secs(10)).unwrap();
    assert!(!status.success());
    assert!(
        daemon.log().contains("creating the state directory"),
        "{}",
        daemon.log()
    );
}

#[test]
fn foreign_lease_file_is_refused_not_replaced() {
    skip_unless_root!();
    let lab = relay_lab();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    write_config(dir.path(), &state);
    let db = state.join("dhcp-leases.sqlite3");
    std::fs::write(
        &db,
        b"this is not a database, but an operator's precious file\n",
    )
    .unwrap();
    let cfg = dir.path().to_str().unwrap().to_string();
    let mut daemon =
        Daemon::spawn(lab.server(), Path::new(BIN), &["--config", &cfg, "run"]).unwrap();
    let status = daemon.wait_exit(Duration::from_secs(10)).unwrap();
    assert!(!status.success());
    assert!(
        daemon.log().contains("opening the lease database"),
        "{}",
        daemon.log()
    );
    assert_eq!(
        std::fs::read(&db).unwrap(),
        b"this is not a database, but an operator's precious file\n"
    );
}
