//! The namespace lab of several pbxnet-dhcpd sharing one PostgreSQL: one
//! LAN (the testlab bridge) holding three server namespaces (.246, .245,
//! .244), PostgreSQL on .240 in a namespace of its own, a relay namespace
//! (.31, giaddrs 10.20.0.1–3 in the load subnet) where perfdhcp runs and
//! tcpdump records every reply the servers relay back, and DHCP client
//! namespaces for udhcpc. What the servers ACKed is read from that capture,
//! not from what the servers say about themselves.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use pbxnet_testlab::{Daemon, Lab, Netns};

use super::pg_net::NetPg;

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_pbxnet-dhcpd");
pub(crate) const SERVER_IPS: [Ipv4Addr; 3] = [
    Ipv4Addr::new(192, 168, 92, 246),
    Ipv4Addr::new(192, 168, 92, 245),
    Ipv4Addr::new(192, 168, 92, 244),
];
pub(crate) const PG_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 92, 240);
const RELAY_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 92, 31);
pub(crate) const GIADDRS: [&str; 3] = ["10.20.0.1", "10.20.0.2", "10.20.0.3"];
/// Lab clients: [server 2, server 3, PostgreSQL, relay, DHCP clients…].
const FIRST_DHCP_CLIENT: usize = 4;

const DHCP_TOML: &str = r#"
receive-buffer = 8388608
[[subnet]]
name = "site"
network = "192.168.92.0/24"
lease-time = "1h"
[[subnet]]
name = "load"
network = "10.16.0.0/12"
lease-time = "1h"
[[pool]]
name = "phones"
range = "192.168.92.10..192.168.92.69"
[[class]]
name = "any"
any-device = true
profile = "p"
[[profile]]
name = "p"
"#;

/// One ACK seen on the wire: address, client hardware address, server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Ack {
    pub ip: Ipv4Addr,
    pub mac: [u8; 6],
    pub server: Ipv4Addr,
}

/// The lab, the database and up to three servers of one site.
pub(crate) struct Cluster {
    pub lab: Lab,
    pub pg: NetPg,
    dirs: Vec<tempfile::TempDir>,
    pub daemons: Vec<Option<Daemon>>,
}

fn sh(mut c: Command, what: &str) -> String {
    let out = c.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Cluster {
    /// Lab with `dhcp_clients` client namespaces, PostgreSQL started, the
    /// schema created, `servers` configured for `site` (not started), the
    /// relayed clients' pool `load_pool` addresses from 10.16.1.0.
    pub(crate) fn new(servers: usize, dhcp_clients: usize, site: &str, load_pool: u32) -> Cluster {
        let mut b = Lab::builder()
            .client_with_address(SERVER_IPS[1])
            .client_with_address(SERVER_IPS[2])
            .client_with_address(PG_IP)
            .client_with_address(RELAY_IP);
        for _ in 0..dhcp_clients {
            b = b.client();
        }
        let lab = b.build().unwrap();
        for g in GIADDRS {
            lab.client(3)
                .run("ip", &["addr", "add", &format!("{g}/12"), "dev", "eth0"])
                .unwrap();
        }
        let pg = NetPg::start(lab.client(2), PG_IP);
        let mut c = Cluster {
            lab,
            pg,
            dirs: Vec::new(),
            daemons: Vec::new(),
        };
        for (i, server_ip) in SERVER_IPS.iter().enumerate().take(servers) {
            // Replies to the relay's giaddrs go out on the LAN.
            c.server_ns(i)
                .run("ip", &["route", "add", "10.16.0.0/12", "dev", "eth0"])
                .unwrap();
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(
                dir.path().join("site.toml"),
                format!(
                    "server-address = \"{1}\"\ninterfaces = [\"eth0\"]\nstate-directory = \"{0}/state\"\nruntime-directory = \"{0}/run\"\n[log]\nlevel = \"warn\"\n",
                    dir.path().display(),
                    server_ip
                ),
            )
            .unwrap();
            std::fs::write(
                dir.path().join("dhcp.toml"),
                format!(
                    "{DHCP_TOML}\n[[pool]]\nname = \"load\"\nrange = \"10.16.1.0..{}\"\n[leases]\nbackend = \"postgresql\"\nurl = \"{}\"\nsite = \"{site}\"\ntls = \"disable\"\n",
                    Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 16, 1, 0)) + load_pool - 1),
                    c.pg.conninfo()
                ),
            )
            .unwrap();
            c.dirs.push(dir);
            c.daemons.push(None);
        }
        c.dhcpd(0, &["db", "init"]);
        c
    }

    pub(crate) fn server_ns(&self, i: usize) -> &Netns {
        if i == 0 {
            self.lab.server()
        } else {
            self.lab.client(i - 1)
        }
    }

    pub(crate) fn relay(&self) -> &Netns {
        self.lab.client(3)
    }

    pub(crate) fn pg_ns(&self) -> &Netns {
        self.lab.client(2)
    }

    pub(crate) fn dhcp_clients(&self) -> &[Netns] {
        &self.lab.clients()[FIRST_DHCP_CLIENT..]
    }

    /// `pbxnet-dhcpd --config <server i> args…` in server i's namespace.
    pub(crate) fn dhcpd(&self, i: usize, args: &[&str]) -> String {
        let mut c = self.server_ns(i).command(BIN);
        c.arg("--config").arg(self.dirs[i].path()).args(args);
        sh(c, &format!("pbxnet-dhcpd {args:?}"))
    }

    /// Starts server i and waits for READY=1 (its leases are loaded).
    pub(crate) fn start(&mut self, i: usize) {
        let dir = self.dirs[i].path().to_str().unwrap().to_string();
        let mut d = Daemon::spawn(
            self.server_ns(i),
            Path::new(BIN),
            &["--config", &dir, "run"],
        )
        .unwrap();
        d.wait_ready(Duration::from_secs(60)).unwrap();
        self.daemons[i] = Some(d);
    }

    /// `kill -9` of server i: no shutdown, no final commit.
    pub(crate) fn kill9(&mut self, i: usize) {
        if let Some(mut d) = self.daemons[i].take() {
            d.signal(nix::sys::signal::Signal::SIGKILL).unwrap();
            d.wait_exit(Duration::from_secs(10)).unwrap();
        }
    }

    /// The rows of the site in the database: address → (MAC, state).
    pub(crate) fn db_leases(&self) -> HashMap<Ipv4Addr, (String, String)> {
        self.dhcpd(0, &["leases", "export"])
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .map(|r| {
                (
                    r["ip"].as_str().unwrap().parse().unwrap(),
                    (
                        r["mac"].as_str().unwrap().to_ascii_lowercase(),
                        r["state"].as_str().unwrap().to_string(),
                    ),
                )
            })
            .collect()
    }
}

/// tcpdump in the relay namespace, writing every relayed server reply
/// (UDP 67 → 67) to a pcap file, packet-buffered so it can be read while
/// it runs.
pub(crate) struct Capture {
    child: Child,
    pub path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Capture {
    pub(crate) fn start(ns: &Netns) -> Capture {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("replies.pcap");
        let mut child = ns
            .command("tcpdump")
            .args([
                "-i", "eth0", "-n", "-U", "-Z", "root", "-B", "65536", "-s", "0", "-w",
            ])
            .arg(&path)
            .arg("udp src port 67 and udp dst port 67")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tcpdump (tests/install-deps.sh)");
        // "listening on eth0 …" once the capture is active.
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        while err.read_line(&mut line).unwrap() > 0 && !line.contains("listening on") {
            line.clear();
        }
        assert!(line.contains("listening on"), "tcpdump did not start");
        child.stderr = Some(err.into_inner());
        Capture {
            child,
            path,
            _dir: dir,
        }
    }

    /// Stops tcpdump; panics when the kernel dropped captured packets (the
    /// checks would miss ACKs).
    pub(crate) fn stop(&mut self) -> Vec<Ack> {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
        let mut tail = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut tail)
            .unwrap();
        self.child.wait().unwrap();
        let dropped = tail
            .lines()
            .find(|l| l.contains("dropped by kernel"))
            .and_then(|l| l.split_whitespace().next()?.parse::<u64>().ok());
        assert_eq!(dropped, Some(0), "tcpdump: {tail}");
        self.acks()
    }

    /// The ACKs captured so far.
    pub(crate) fn acks(&self) -> Vec<Ack> {
        acks_in_pcap(&std::fs::read(&self.path).unwrap())
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// DHCPACKs in a pcap (Ethernet, IPv4, UDP, BOOTP); a truncated last record
/// (tcpdump still writing) is ignored.
pub(crate) fn acks_in_pcap(pcap: &[u8]) -> Vec<Ack> {
    let mut out = Vec::new();
    if pcap.len() < 24 {
        return out;
    }
    let le = pcap[..4] == [0xd4, 0xc3, 0xb2, 0xa1];
    let u32_at = |b: &[u8]| {
        let a = [b[0], b[1], b[2], b[3]];
        if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }
    };
    let mut at = 24;
    while at + 16 <= pcap.len() {
        let len = u32_at(&pcap[at + 8..]) as usize;
        let Some(frame) = pcap.get(at + 16..at + 16 + len) else {
            break;
        };
        at += 16 + len;
        if let Some(ack) = ack_in_frame(frame) {
            out.push(ack);
        }
    }
    out
}

fn ack_in_frame(f: &[u8]) -> Option<Ack> {
    if f.get(12..14)? != [0x08, 0x00] {
        return None;
    }
    let ip = f.get(14..)?;
    let ihl = usize::from(ip.first()? & 0x0f) * 4;
    let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
    let bootp = ip.get(ihl + 8..)?;
    if bootp.first() != Some(&2) || bootp.get(236..240)? != [99, 130, 83, 99] {
        return None;
    }
    let mut opts = bootp.get(240..)?;
    while let [code, rest @ ..] = opts {
        match code {
            0 => opts = rest,
            255 => return None,
            _ => {
                let (&len, rest) = rest.split_first()?;
                let value = rest.get(..usize::from(len))?;
                if *code == 53 && value == [5] {
                    return Some(Ack {
                        ip: Ipv4Addr::new(bootp[16], bootp[17], bootp[18], bootp[19]),
                        mac: bootp.get(28..34)?.try_into().ok()?,
                        server: src,
                    });
                }
                opts = &rest[usize::from(len)..];
            }
        }
    }
    None
}

/// Addresses ACKed to more than one client.
pub(crate) fn duplicates(acks: &[Ack]) -> Vec<(Ipv4Addr, usize)> {
    let mut owners: HashMap<Ipv4Addr, HashSet<[u8; 6]>> = HashMap::new();
    for a in acks {
        owners.entry(a.ip).or_default().insert(a.mac);
    }
    let mut d: Vec<_> = owners
        .into_iter()
        .filter(|(_, m)| m.len() > 1)
        .map(|(ip, m)| (ip, m.len()))
        .collect();
    d.sort();
    d
}

pub(crate) fn mac_string(m: &[u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// ACKed leases (the last ACK per address) the database does not hold as
/// bound to the same client.
pub(crate) fn lost(acks: &[Ack], db: &HashMap<Ipv4Addr, (String, String)>) -> Vec<String> {
    let mut last: HashMap<Ipv4Addr, [u8; 6]> = HashMap::new();
    for a in acks {
        last.insert(a.ip, a.mac);
    }
    let mut lost: Vec<String> = last
        .iter()
        .filter(|(ip, mac)| {
            db.get(ip)
                .is_none_or(|(m, state)| *m != mac_string(mac) || state != "bound")
        })
        .map(|(ip, mac)| format!("{ip} {} (db: {:?})", mac_string(mac), db.get(ip)))
        .collect();
    lost.sort();
    lost
}

/// perfdhcp relaying through giaddr `g` to server `i`: `count` exchanges
/// (`-n`), or `secs` seconds (`-p`) when `count` is 0, at `rate`/s, new
/// random clients under the MAC base.
pub(crate) fn perfdhcp(ns: &Netns, i: usize, rate: u32, count: u32, secs: u32, mac: &str) -> Child {
    let mut c = ns.command("perfdhcp");
    c.args([
        "-4",
        "-l",
        GIADDRS[i],
        "-r",
        &rate.to_string(),
        "-R",
        "16000000",
    ])
    .args(["-b", &format!("mac={mac}"), "-W", "2000000"]);
    if count > 0 {
        c.args(["-n", &count.to_string()]);
    } else {
        c.args(["-p", &secs.to_string()]);
    }
    c.arg(SERVER_IPS[i].to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("perfdhcp (kea-admin, tests/install-deps.sh)")
}

/// One udhcpc exchange (`-n -q`, asking for `want` when given): the
/// address and the server that gave it.
pub(crate) fn udhcpc(ns: &Netns, want: Option<Ipv4Addr>) -> (Ipv4Addr, Ipv4Addr) {
    let mut c = ns.command("udhcpc");
    c.args([
        "-f",
        "-n",
        "-q",
        "-i",
        "eth0",
        "-t",
        "15",
        "-T",
        "1",
        "-s",
        "/bin/true",
    ]);
    if let Some(ip) = want {
        c.args(["-r", &ip.to_string()]);
    }
    let out = c.output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    // "lease of 192.168.92.10 obtained from 192.168.92.246, lease time 3600"
    text.lines()
        .find_map(|l| {
            let rest = l.split("lease of ").nth(1)?;
            let mut w = rest.split([' ', ',']);
            let ip = w.next()?.parse().ok()?;
            let server = rest
                .split("obtained from ")
                .nth(1)?
                .split([' ', ','])
                .next()?
                .parse()
                .ok()?;
            Some((ip, server))
        })
        .unwrap_or_else(|| panic!("udhcpc got no lease:\n{text}"))
}

/// The MAC address of a namespace's eth0.
pub(crate) fn mac_of(ns: &Netns) -> String {
    let out = ns.run("cat", &["/sys/class/net/eth0/address"]).unwrap();
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .to_ascii_lowercase()
}
