//! `/metrics` of the real pbxnet-dhcpd after real clients (busybox udhcpc)
//! in the namespace lab: the counters, pool usage and allocation failures
//! the clients caused, scraped with curl on the server namespace's
//! loopback (the default `[metrics] listen`), and `promtool check metrics`
//! on the text. Skips with a printed reason when not root.

use std::path::Path;
use std::time::Duration;

use pbxnet_testlab::scrape::{promtool_check, sample, scrape};
use pbxnet_testlab::{skip_unless_root, Daemon, Lab, Netns};

const BIN: &str = env!("CARGO_BIN_EXE_pbxnet-dhcpd");

/// Two pools: `phones` (10 addresses) for the AudioCodes MAC prefix,
/// `others` with one address for everything else, so the second other
/// device finds no address.
const CONFIG: &str = r#"
[[subnet]]
name = "lan"
network = "192.168.92.0/24"
interface = "eth0"
lease-time = "1h"

[[pool]]
name = "phones"
range = "192.168.92.10..192.168.92.19"
[[pool]]
name = "others"
range = "192.168.92.140..192.168.92.140"

[[class]]
name = "audiocodes"
mac-pattern = "00:90:8f*"
profile = "generic"
pool = "phones"
[[class]]
name = "any-device"
any-device = true
profile = "generic"
pool = "others"

[[profile]]
name = "generic"
  [[profile.option]]
  code = 66
  value = "${server_ip}"
"#;

fn start(lab: &Lab, dir: &Path) -> Daemon {
    let site = format!(
        "server-address = \"192.168.92.246\"\ninterfaces = [\"eth0\"]\nstate-directory = \"{0}/state\"\nruntime-directory = \"{0}/run\"\n",
        dir.display()
    );
    std::fs::write(dir.join("site.toml"), site).unwrap();
    std::fs::write(dir.join("dhcp.toml"), CONFIG).unwrap();
    let cfg = dir.to_str().unwrap();
    let mut daemon =
        Daemon::spawn(lab.server(), Path::new(BIN), &["--config", cfg, "run"]).unwrap();
    daemon.wait_ready(Duration::from_secs(20)).unwrap();
    daemon
}

/// udhcpc once (`-n -q`: give up after the tries, quit once bound without
/// releasing); whether it got an address.
fn udhcpc(ns: &Netns) -> bool {
    ns.command("udhcpc")
        .args([
            "-f",
            "-n",
            "-q",
            "-i",
            "eth0",
            "-t",
            "3",
            "-T",
            "1",
            "-s",
            "/bin/true",
        ])
        .output()
        .unwrap()
        .status
        .success()
}

#[test]
fn dhcpd_metrics_count_what_udhcpc_clients_did_and_pass_promtool() {
    skip_unless_root!();
    let lab = Lab::builder()
        .client_with_mac("00:90:8f:00:00:01")
        .client_with_mac("00:90:8f:00:00:02")
        .client_with_mac("02:00:00:00:07:01")
        .client_with_mac("02:00:00:00:07:02")
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let daemon = start(&lab, dir.path());
    let got: Vec<bool> = lab.clients().iter().map(udhcpc).collect();
    assert_eq!(got, [true, true, true, false], "log:\n{}", daemon.log());

    let text = scrape(lab.server(), "127.0.0.1:9641");
    promtool_check(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let value = |name: &str, labels: &str| {
        sample(&text, name, labels).unwrap_or_else(|| panic!("no {name}{{{labels}}} in\n{text}"))
    };
    assert_eq!(
        value("pbxnet_dhcp4_addresses_assigned", "pool=\"phones\""),
        2.0
    );
    assert_eq!(
        value("pbxnet_dhcp4_pool_addresses", "pool=\"phones\""),
        10.0
    );
    assert_eq!(
        value("pbxnet_dhcp4_addresses_assigned", "pool=\"others\""),
        1.0
    );
    assert_eq!(value("pbxnet_dhcp4_pool_addresses", "pool=\"others\""), 1.0);
    // Three clients bound: one DISCOVER/OFFER and one REQUEST/ACK each; the
    // fourth sent a DISCOVER per try (3) and got nothing.
    assert_eq!(
        value("pbxnet_dhcp4_packets_sent_total", "type=\"ack\""),
        3.0
    );
    assert_eq!(
        value("pbxnet_dhcp4_packets_sent_total", "type=\"offer\""),
        3.0
    );
    assert_eq!(
        value("pbxnet_dhcp4_packets_sent_total", "type=\"nak\""),
        0.0
    );
    assert_eq!(
        value("pbxnet_dhcp4_packets_received_total", "type=\"request\""),
        3.0
    );
    assert_eq!(
        value("pbxnet_dhcp4_packets_received_total", "type=\"discover\""),
        6.0
    );
    assert_eq!(value("pbxnet_dhcp4_allocation_failures_total", ""), 3.0);
    assert_eq!(
        value(
            "pbxnet_dhcp4_packets_dropped_total",
            "reason=\"pool_exhausted\""
        ),
        3.0
    );
    assert_eq!(
        value(
            "pbxnet_build_info",
            "daemon=\"pbxnet-dhcpd\",version=\"0.1.0\""
        ),
        1.0
    );

    // Only /metrics is served.
    let other = lab
        .server()
        .command("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "http://127.0.0.1:9641/",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&other.stdout), "404");
    // Prometheus asks for OpenMetrics and gets it.
    let om = lab
        .server()
        .run(
            "curl",
            &[
                "-sS",
                "-H",
                "Accept: application/openmetrics-text;version=1.0.0",
                "http://127.0.0.1:9641/metrics",
            ],
        )
        .unwrap();
    let om = String::from_utf8_lossy(&om.stdout);
    assert!(om.ends_with("# EOF\n"), "{om}");
    assert!(
        om.contains("# TYPE pbxnet_dhcp4_packets_received counter\n"),
        "{om}"
    );
}
