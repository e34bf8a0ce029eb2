//! pbxnet-dhcpd on the PostgreSQL lease store in the namespace lab: real
//! udhcpc clients get leases through the daemon's serving loop, the ACKed
//! leases are in the database after a `kill -9`, and the restarted daemon
//! gives each client its address back from the rows it loaded.

mod support;

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use pbxnet_testlab::{can_run_lab, Daemon, Lab, Netns};
use support::pg_cluster::{unavailable, PgCluster};

const BIN: &str = env!("CARGO_BIN_EXE_pbxnet-dhcpd");

const DHCP_TOML: &str = r#"
[[subnet]]
name = "site"
network = "192.168.92.0/24"
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

fn dhcpd(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new(BIN)
        .arg("--config")
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// One udhcpc exchange (`-n -q`): the address it was given.
fn udhcpc(ns: &Netns) -> Ipv4Addr {
    let out = ns
        .command("udhcpc")
        .args([
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
            "/bin/true",
        ])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    let ip = text
        .lines()
        .find_map(|l| l.split("lease of ").nth(1)?.split(' ').next()?.parse().ok());
    ip.unwrap_or_else(|| panic!("udhcpc got no lease:\n{text}"))
}

fn start(lab: &Lab, dir: &Path) -> Daemon {
    let mut d = Daemon::spawn(
        lab.server(),
        Path::new(BIN),
        &["--config", dir.to_str().unwrap(), "run"],
    )
    .unwrap();
    d.wait_ready(Duration::from_secs(20)).unwrap();
    d
}

#[test]
fn udhcpc_leases_survive_kill_9_in_postgresql() {
    if let Some(why) = can_run_lab().err().or_else(unavailable) {
        eprintln!("SKIPPED {}: {why}", module_path!());
        return;
    }
    let pg = PgCluster::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("site.toml"),
        format!(
            "server-address = \"192.168.92.246\"\ninterfaces = [\"eth0\"]\nstate-directory = \"{0}/state\"\nruntime-directory = \"{0}/run\"\n",
            dir.path().display()
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("dhcp.toml"),
        format!(
            "{DHCP_TOML}\n[leases]\nbackend = \"postgresql\"\nurl = \"{}\"\nsite = \"lab\"\n",
            pg.url()
        ),
    )
    .unwrap();
    dhcpd(dir.path(), &["db", "init"]);
    let lab = Lab::builder().client().client().build().unwrap();
    let daemon = start(&lab, dir.path());
    let got: Vec<Ipv4Addr> = lab.clients().iter().map(udhcpc).collect();
    assert_ne!(got[0], got[1]);
    // kill -9: no shutdown, no final commit. What was ACKed is in the database.
    daemon.signal(nix::sys::signal::Signal::SIGKILL).unwrap();
    drop(daemon);
    let rows: Vec<serde_json::Value> = dhcpd(dir.path(), &["leases", "export"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for ip in &got {
        assert!(
            rows.iter()
                .any(|r| r["ip"] == ip.to_string() && r["state"] == "bound" && r["site"] == "lab"),
            "{ip} not bound in the database: {rows:?}"
        );
    }
    // The restarted daemon loads them: each client gets its address back.
    let _daemon = start(&lab, dir.path());
    let again: Vec<Ipv4Addr> = lab.clients().iter().map(udhcpc).collect();
    assert_eq!(again, got);
}
