//! The four daemons' `/metrics` in one namespace lab, scraped by a real
//! Prometheus (Debian package `prometheus`, a scratch config and data
//! directory, 1 s scrape interval, listening on the server namespace's
//! loopback), after real clients: udhcpc (leases), tftp-hpa and curl
//! (TFTP and HTTP fetches), ntpdig (time). Asserts, through Prometheus'
//! HTTP API, the leased addresses per pool the clients got; through each
//! daemon's own scrape, the values the traffic caused; and `promtool check
//! metrics` on every daemon's output. Skips with a printed reason when not
//! root.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pbxnet_testlab::scrape::{promtool_check, sample, scrape};
use pbxnet_testlab::{skip_unless_root, workspace_binary, Daemon, Lab, Netns};

const SERVER: &str = "192.168.92.246";
/// The daemons and their default metrics ports (`[metrics]` not written).
const TARGETS: [(&str, &str); 4] = [
    ("pbxnet-dhcpd", "127.0.0.1:9641"),
    ("pbxnet-tftpd", "127.0.0.1:9642"),
    ("pbxnet-ntpd", "127.0.0.1:9643"),
    ("pbxnet-licd", "127.0.0.1:9644"),
];
const FILE: &str = "hello.cfg";
const FILE_TEXT: &str = "phone configuration, served over TFTP and HTTP\n";

const DHCP: &str = r#"
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
range = "192.168.92.140..192.168.92.149"
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

/// The upstream the server's NTP client polls (chronyd, local stratum 3).
const UPSTREAM: &str = "192.168.92.60";

/// A virtual clock (the machine's is never touched) polling the upstream
/// every 0.25 s.
const NTP: &str = r#"
[server]
listen = ["192.168.92.246:123"]
allow = ["192.168.92.0/24"]
[local]
enabled = true
stratum = 10
[[source]]
address = "192.168.92.60"
minpoll = -2
maxpoll = -2
[clock]
mode = "simulated"
sim-offset = 0.02
"#;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The daemons are other packages' binaries: build them (a no-op after
/// `make build`).
fn build_daemons() {
    static BUILT: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .current_dir(workspace())
            .args(["build", "--bins", "-p", "pbxnet-dhcp", "-p", "pbxnet-tftp"])
            .args(["-p", "pbxnet-ntp", "-p", "pbxnet-license"])
            .status()
            .expect("running cargo build");
        assert!(status.success(), "building the daemons failed");
    });
}

/// The site's files in `dir`: every daemon reads `--config dir`.
fn write_site(dir: &Path) {
    for d in ["run", "state", "root", "keys", "statecopy", "work"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    let site = format!(
        "server-address = \"{SERVER}\"\ninterfaces = [\"eth0\"]\nstate-directory = \"{0}/state\"\nruntime-directory = \"{0}/run\"\n",
        dir.display()
    );
    std::fs::write(dir.join("site.toml"), site).unwrap();
    std::fs::write(dir.join("dhcp.toml"), DHCP).unwrap();
    std::fs::write(dir.join("root").join(FILE), FILE_TEXT).unwrap();
    let tftp = format!(
        "[server]\nlisten = \"{SERVER}:69\"\n[files]\nroot = \"{}\"\n[http]\nenabled = true\nlisten = \"{SERVER}:80\"\n",
        dir.join("root").display()
    );
    std::fs::write(dir.join("tftp.toml"), tftp).unwrap();
    std::fs::write(dir.join("ntp.toml"), NTP).unwrap();
    let keygen = workspace_binary("pbxnet-keygen");
    let vendor = dir.join("vendor");
    let out = Command::new(keygen)
        .args(["keypair", vendor.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "keygen: {out:?}");
    std::fs::write(
        dir.join("license.toml"),
        "serial = \"000068DA\"\nlab-serial = true\ntpm = \"off\"\nkey-directory = \"keys\"\n\
         public-key = \"vendor.pub.pem\"\nstate-directory = \"state/licd\"\n\
         state-copy-directory = \"statecopy\"\n",
    )
    .unwrap();
}

fn start(ns: &Netns, name: &str, dir: &Path) -> Daemon {
    let bin = workspace_binary(name);
    let mut d = Daemon::spawn(ns, &bin, &["--config", dir.to_str().unwrap(), "run"]).unwrap();
    d.wait_ready(Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{name}: {e}\n{}", d.log()));
    d
}

/// A peer process (Prometheus, chronyd), killed on drop (and with the lab).
struct Peer(Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// chronyd as the NTP upstream (local stratum 3, `-x`: never touches the
/// clock). Not waited for: the server's client polls until it answers.
fn chronyd(ns: &Netns, dir: &Path) -> Peer {
    let conf = dir.join("chrony.conf");
    let d = dir.display();
    std::fs::write(
        &conf,
        format!("local stratum 3\nallow 192.168.92.0/24\ncmdport 0\nbindcmdaddress /\npidfile {d}/chronyd.pid\n"),
    )
    .unwrap();
    let child = ns
        .command("chronyd")
        .args(["-x", "-d", "-u", "root", "-f"])
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chronyd (tests/install-deps.sh)");
    Peer(child)
}

/// Prometheus on the server namespace's loopback, scraping the four
/// daemons every second.
struct Prometheus;

impl Prometheus {
    fn start(ns: &Netns, dir: &Path) -> Peer {
        let targets: Vec<String> = TARGETS.iter().map(|(_, t)| format!("'{t}'")).collect();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: pbxnet\n    static_configs:\n      - targets: [{}]\n",
            targets.join(", ")
        );
        let file = dir.join("prometheus.yml");
        std::fs::write(&file, config).unwrap();
        let child = ns
            .command("prometheus")
            .arg(format!("--config.file={}", file.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg("--web.listen-address=127.0.0.1:9090")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("prometheus.log")).unwrap())
            .spawn()
            .expect("prometheus (Debian package prometheus, tests/install-deps.sh)");
        Peer(child)
    }
}

/// `/api/v1/query?query=…` from inside `ns`: each series' labels and value.
fn query(ns: &Netns, promql: &str) -> Vec<(BTreeMap<String, String>, f64)> {
    let out = ns
        .command("curl")
        .args([
            "-sS",
            "--max-time",
            "5",
            "-G",
            "http://127.0.0.1:9090/api/v1/query",
        ])
        .args(["--data-urlencode", &format!("query={promql}")])
        .output()
        .unwrap();
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&out.stdout) else {
        return Vec::new();
    };
    let mut series = Vec::new();
    for r in v["data"]["result"].as_array().into_iter().flatten() {
        let labels = r["metric"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
            .collect();
        let value = r["value"][1].as_str().unwrap().parse().unwrap();
        series.push((labels, value));
    }
    series
}

/// Polls `query` until `ok` holds of its answer; panics after 30 s.
fn wait_query(
    ns: &Netns,
    promql: &str,
    ok: impl Fn(&[(BTreeMap<String, String>, f64)]) -> bool,
    log: &Path,
) -> Vec<(BTreeMap<String, String>, f64)> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = query(ns, promql);
        if ok(&got) {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus never answered {promql} as expected: {got:?}\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// udhcpc once, configuring the address it got (so the client can use
/// it); whether it got one.
fn udhcpc(ns: &Netns, dir: &Path) -> bool {
    let script = dir.join("udhcpc.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\ncase $1 in bound|renew) ip addr replace $ip/$subnet dev $interface ;; esac\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    ns.command("udhcpc")
        .args(["-f", "-n", "-q", "-i", "eth0", "-t", "3", "-T", "1", "-s"])
        .arg(&script)
        .output()
        .unwrap()
        .status
        .success()
}

/// The clients' traffic: leases for all, a TFTP fetch (and a miss), an
/// HTTP fetch (and a 404), an NTP query.
fn client_traffic(lab: &Lab, work: &Path) {
    for ns in &lab.clients()[..3] {
        assert!(udhcpc(ns, work), "udhcpc in {}", ns.name());
    }
    let tftp = |file: &str| {
        lab.client(0)
            .command("tftp")
            .current_dir(work)
            .args([SERVER, "-m", "binary", "-c", "get", file])
            .output()
            .unwrap()
    };
    tftp(FILE);
    assert_eq!(std::fs::read_to_string(work.join(FILE)).unwrap(), FILE_TEXT);
    tftp("missing.cfg");
    let curl = |file: &str| {
        let url = format!("http://{SERVER}/{file}");
        let out = lab
            .client(1)
            .command("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", &url])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(curl(FILE), "200");
    assert_eq!(curl("missing.cfg"), "404");
    let ntp = lab
        .client(2)
        .command("ntpdig")
        .args(["-t", "2", SERVER])
        .output()
        .unwrap();
    assert!(ntp.status.success(), "ntpdig: {ntp:?}");
}

/// Every daemon's scrape passes promtool and shows what the clients did.
fn check_scrapes(lab: &Lab, dir: &Path) {
    let mut texts = BTreeMap::new();
    for (name, addr) in TARGETS {
        let text = scrape(lab.server(), addr);
        promtool_check(&text).unwrap_or_else(|e| panic!("{name}: {e}\n{text}"));
        let build = format!(
            "daemon=\"{name}\",version=\"{}\"",
            env!("CARGO_PKG_VERSION")
        );
        assert_eq!(
            sample(&text, "pbxnet_build_info", &build),
            Some(1.0),
            "{text}"
        );
        texts.insert(name, text);
    }
    let value = |daemon: &str, name: &str, labels: &str| {
        sample(&texts[daemon], name, labels)
            .unwrap_or_else(|| panic!("{daemon}: no {name}{{{labels}}}\n{}", texts[daemon]))
    };
    let len = FILE_TEXT.len() as f64;
    let t = "pbxnet-tftpd";
    let transfers = "pbxnet_tftp_transfers_total";
    assert_eq!(
        value(t, transfers, "protocol=\"tftp\",outcome=\"complete\""),
        1.0
    );
    assert_eq!(
        value(t, transfers, "protocol=\"tftp\",outcome=\"refused\""),
        1.0
    );
    assert_eq!(
        value(t, transfers, "protocol=\"http\",outcome=\"complete\""),
        1.0
    );
    assert_eq!(
        value(t, transfers, "protocol=\"http\",outcome=\"refused\""),
        1.0
    );
    assert_eq!(
        value(t, "pbxnet_tftp_bytes_sent_total", "protocol=\"tftp\""),
        len
    );
    assert_eq!(
        value(t, "pbxnet_tftp_bytes_sent_total", "protocol=\"http\""),
        len
    );
    let refused = "pbxnet_tftp_requests_refused_total";
    assert_eq!(value(t, refused, "protocol=\"http\",reason=\"404\""), 1.0);
    let n = "pbxnet-ntpd";
    assert!(value(n, "pbxnet_ntp_requests_total", "result=\"accepted\"") >= 1.0);
    assert_eq!(
        value(n, "pbxnet_ntp_requests_total", "result=\"denied\""),
        0.0
    );
    // licd: the mode the daemon's own status names is the one set to 1.
    let status = Command::new(workspace_binary("pbxnet-licd"))
        .args(["--config", dir.to_str().unwrap(), "status", "--json"])
        .output()
        .unwrap();
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let mode = status["system-mode"].as_str().expect("system-mode");
    let l = "pbxnet-licd";
    for m in ["normal", "grace", "limited"] {
        let want = if m == mode { 1.0 } else { 0.0 };
        assert_eq!(
            value(l, "pbxnet_license_mode", &format!("mode=\"{m}\"")),
            want
        );
    }
}

#[test]
fn prometheus_scrapes_every_daemon_and_sees_the_leases_per_pool() {
    skip_unless_root!();
    build_daemons();
    let lab = Lab::builder()
        .client_with_mac("00:90:8f:00:00:01")
        .client_with_mac("00:90:8f:00:00:02")
        .client_with_mac("02:00:00:00:07:01")
        .client_with_address(UPSTREAM.parse().unwrap())
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_site(dir.path());
    let _daemons: Vec<Daemon> = TARGETS
        .iter()
        .map(|(name, _)| start(lab.server(), name, dir.path()))
        .collect();
    let _prometheus = Prometheus::start(lab.server(), dir.path());
    let _upstream = chronyd(lab.client(3), &dir.path().join("work"));
    let log = dir.path().join("prometheus.log");
    client_traffic(&lab, &dir.path().join("work"));

    let leased = wait_query(
        lab.server(),
        "pbxnet_dhcp4_addresses_assigned",
        |got| {
            let of = |pool: &str| got.iter().find(|(l, _)| l["pool"] == pool).map(|s| s.1);
            of("phones") == Some(2.0) && of("others") == Some(1.0)
        },
        &log,
    );
    assert_eq!(leased.len(), 2, "{leased:?}");
    // Every daemon is a healthy target.
    wait_query(
        lab.server(),
        "up",
        |got| got.len() == TARGETS.len() && got.iter().all(|(_, v)| *v == 1.0),
        &log,
    );
    let ntp = wait_query(
        lab.server(),
        "pbxnet_ntp_requests_total{result=\"accepted\"}",
        |got| got.len() == 1 && got[0].1 >= 1.0,
        &log,
    );
    assert_eq!(ntp[0].0["instance"], "127.0.0.1:9643");
    check_scrapes(&lab, dir.path());
    ntp_client_side(&lab);
}

/// The client side of ntpd: the upstream as a source with its stratum,
/// reachability and delay, selected, and the server then announcing the
/// stratum below it.
fn ntp_client_side(lab: &Lab) {
    let source = format!("source=\"{UPSTREAM}:123\"");
    let deadline = Instant::now() + Duration::from_secs(30);
    let text = loop {
        let text = scrape(lab.server(), "127.0.0.1:9643");
        let selected = sample(&text, "pbxnet_ntp_source_selected", &source);
        if selected == Some(1.0) && sample(&text, "pbxnet_ntp_stratum", "") == Some(4.0) {
            break text;
        }
        assert!(
            Instant::now() < deadline,
            "the upstream was never selected:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    promtool_check(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let value = |name: &str| {
        sample(&text, name, &source).unwrap_or_else(|| panic!("no {name}{{{source}}}\n{text}"))
    };
    assert_eq!(value("pbxnet_ntp_source_stratum"), 3.0);
    assert!(value("pbxnet_ntp_source_reachability") >= 1.0);
    assert_eq!(value("pbxnet_ntp_source_poll_interval_seconds"), 0.25);
    let delay = value("pbxnet_ntp_source_delay_seconds");
    assert!(delay > 0.0 && delay < 0.1, "{delay}");
    // The virtual clock starts 20 ms off: the source's offset says so.
    let offset = value("pbxnet_ntp_source_offset_seconds");
    assert!(offset.abs() < 0.1, "{offset}");
    assert_eq!(sample(&text, "pbxnet_ntp_synchronized", ""), Some(1.0));
}
