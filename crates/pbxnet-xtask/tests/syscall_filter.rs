//! The units' `SystemCallFilter=` against what the daemons really call.
//!
//! The units deny every system call outside their filter with EPERM
//! (`SystemCallErrorNumber=EPERM`), and nothing else in the test suite runs
//! the daemons under systemd, so a call missing from a filter would only
//! show on an installed site. Here each built daemon runs under `strace -f`
//! in the namespace lab (pbxnet-testlab: no packet leaves the lab): start,
//! READY, one real client exchange (a DHCP lease with udhcpc, a TFTP fetch
//! with busybox, an SNTP query with ntpdig), `status` over the control
//! socket, SIGHUP reload, SIGTERM. Every system call it made must be allowed
//! by its unit's filter, as `systemd-analyze syscall-filter` expands the
//! groups. Root only (the lab); needs strace (tests/install-deps.sh).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::process::Stdio;

use pbxnet_testlab::{skip_unless_root, Lab};

fn built(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} not built (cargo test --workspace builds it)",
        path.display()
    );
    path
}

/// Every system call of a group (recursively) or a single call.
fn expand(item: &str, out: &mut BTreeSet<String>) {
    if !item.starts_with('@') {
        out.insert(item.to_string());
        return;
    }
    let o = Command::new("systemd-analyze")
        .args(["syscall-filter", item])
        .output()
        .expect("systemd-analyze");
    assert!(o.status.success(), "systemd-analyze syscall-filter {item}");
    for line in String::from_utf8_lossy(&o.stdout).lines().skip(1) {
        let word = line.trim();
        if word.is_empty() || word.starts_with('#') {
            continue;
        }
        expand(word, out);
    }
}

/// The calls a unit allows: its allow lists minus its deny lists.
fn allowed(unit: &str) -> BTreeSet<String> {
    let text = std::fs::read_to_string(pbxnet_xtask::units::unit_dir().join(unit)).unwrap();
    let (mut allow, mut deny) = (BTreeSet::new(), BTreeSet::new());
    for line in text.lines() {
        let Some(v) = line.strip_prefix("SystemCallFilter=") else {
            continue;
        };
        match v.strip_prefix('~') {
            Some(d) => d.split_whitespace().for_each(|i| expand(i, &mut deny)),
            None => v.split_whitespace().for_each(|i| expand(i, &mut allow)),
        }
    }
    assert!(!allow.is_empty(), "{unit}: no allow list");
    allow.difference(&deny).cloned().collect()
}

/// System call names in an `strace -f -qq` log.
fn used(log: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(log).unwrap();
    text.lines()
        .filter_map(|l| {
            let rest = l.split_once(' ').map(|(_, r)| r.trim_start())?;
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            (rest[name.len()..].starts_with('(') && !name.is_empty()).then_some(name)
        })
        .collect()
}

/// Address families of the `socket()` calls in an strace log.
fn families(log: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(log).unwrap();
    text.lines()
        .filter_map(|l| l.split_once(" socket(AF_").map(|(_, r)| r))
        .filter_map(|r| r.split(',').next())
        .map(|f| format!("AF_{f}"))
        .collect()
}

/// Paths under /proc opened successfully that are not per-process
/// (`/proc/self`, `/proc/thread-self`, `/proc/<pid>`).
fn proc_paths(log: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(log).unwrap();
    text.lines()
        .filter(|l| !l.contains("= -1 "))
        .filter_map(|l| l.split_once("\"/proc/").map(|(_, r)| r))
        .filter_map(|r| r.split('"').next())
        .filter(|p| {
            let first = p.split('/').next().unwrap_or("");
            !(first == "self"
                || first == "thread-self"
                || (!first.is_empty() && first.bytes().all(|b| b.is_ascii_digit())))
        })
        .map(|p| format!("/proc/{p}"))
        .collect()
}

/// The space-separated values of every `key` line of a unit.
fn unit_list(unit: &str, key: &str) -> BTreeSet<String> {
    let text = std::fs::read_to_string(pbxnet_xtask::units::unit_dir().join(unit)).unwrap();
    text.lines()
        .filter_map(|l| l.strip_prefix(key))
        .flat_map(|v| v.split_whitespace().map(String::from))
        .collect()
}

/// The example site, rewritten to live in `dir`.
fn site(dir: &Path) -> PathBuf {
    let cfg = dir.join("cfg");
    let etc = pbxnet_xtask::workspace_root().join("etc");
    let out = Command::new("cp")
        .arg("-r")
        .arg(&etc)
        .arg(&cfg)
        .status()
        .unwrap();
    assert!(out.success());
    let _ = std::fs::remove_file(cfg.join("tftpboot/Binary/big.bin"));
    for d in ["state", "run", "keys", "traces"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    std::fs::write(
        cfg.join("site.toml"),
        format!(
            "server-address = \"192.168.92.246\"\nstate-directory = \"{}\"\nruntime-directory = \"{}\"\n[log]\nformat = \"plain\"\n",
            dir.join("state").display(),
            dir.join("run").display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(cfg.join("ntp.keys"), std::fs::Permissions::from_mode(0o600)).unwrap();
    // The NTP client side too: one upstream, by name (resolved through
    // /etc/hosts: no DNS traffic), so that resolution, the client socket and
    // the clock calls are traced. The lab's bounding set has no CAP_SYS_TIME:
    // the clock is never changed.
    let mut ntp = std::fs::read_to_string(cfg.join("ntp.toml")).unwrap();
    ntp.push_str("\n[[source]]\naddress = \"localhost\"\n");
    std::fs::write(cfg.join("ntp.toml"), ntp).unwrap();
    // The DHCP conflict probe (a raw ICMP socket, CAP_NET_RAW) too.
    let dhcp = std::fs::read_to_string(cfg.join("dhcp.toml")).unwrap();
    std::fs::write(
        cfg.join("dhcp.toml"),
        format!("conflict-probe = true\nconflict-probe-timeout = \"200ms\"\n{dhcp}"),
    )
    .unwrap();
    let lic = std::fs::read_to_string(cfg.join("license.toml")).unwrap();
    std::fs::write(
        cfg.join("license.toml"),
        lic.replace(
            "/etc/pbxnet/licenses",
            &dir.join("keys").display().to_string(),
        )
        .replace(
            "/etc/pbxnet/license-vendor.pub.pem",
            &dir.join("vendor.pub.pem").display().to_string(),
        )
        // The serial from /etc/machine-id: lab machines have no DMI, and
        // the daemon runs unprivileged (DMI is root-only without the unit).
        .replace("# serial = \"machine\"", "serial = \"machine-id\"")
        // The second state copy in the scratch too, not the host's /var/lib.
        .replace(
            "# state-copy-directory = \"/var/lib/pbxnet-licd\"",
            &format!("state-copy-directory = {:?}", dir.join("statecopy")),
        ),
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("statecopy")).unwrap();
    // Readable by the daemons' user; state, sockets and the NTP key theirs.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    for own in ["state", "statecopy", "run", "traces", "cfg/ntp.keys"] {
        std::os::unix::fs::chown(dir.join(own), Some(NOBODY), Some(NOBODY)).unwrap();
    }
    let ok = Command::new(built("pbxnet-keygen"))
        .arg("keypair")
        .arg(dir.join("vendor"))
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    cfg
}

/// A `NOTIFY_SOCKET` the unprivileged daemon can send to.
struct Notify {
    path: PathBuf,
    socket: UnixDatagram,
}

impl Notify {
    fn new(dir: &Path) -> Notify {
        let path = dir.join("notify.sock");
        let _ = std::fs::remove_file(&path);
        let socket = UnixDatagram::bind(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777)).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        Notify { path, socket }
    }

    /// Waits (20 s at most) for a message with a line starting with `needle`.
    fn wait(&self, needle: &str) {
        let mut buf = [0u8; 4096];
        loop {
            let n = self
                .socket
                .recv(&mut buf)
                .unwrap_or_else(|e| panic!("no {needle} from the daemon: {e}"));
            let text = String::from_utf8_lossy(&buf[..n]);
            if text.lines().any(|l| l.starts_with(needle)) {
                return;
            }
        }
    }
}

/// The unprivileged user the daemons run as here (nobody/nogroup).
const NOBODY: u32 = 65534;

/// `AmbientCapabilities=` of a unit, as setpriv names them (`net_admin`).
fn unit_caps(unit: &str) -> Vec<String> {
    let text = std::fs::read_to_string(pbxnet_xtask::units::unit_dir().join(unit)).unwrap();
    text.lines()
        .filter_map(|l| l.strip_prefix("AmbientCapabilities="))
        .flat_map(|v| v.split_whitespace())
        .map(|c| c.trim_start_matches("CAP_").to_ascii_lowercase())
        .collect()
}

/// The traced daemon: the child of strace (`ip netns exec` and setpriv
/// exec into strace).
fn daemon_pid(strace_pid: u32) -> u32 {
    for _ in 0..100 {
        let children =
            std::fs::read_to_string(format!("/proc/{strace_pid}/task/{strace_pid}/children"))
                .unwrap_or_default();
        if let Some(pid) = children.split_whitespace().next() {
            return pid.parse().unwrap();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("strace started no daemon");
}

fn kill(sig: &str, pid: u32) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap();
    assert!(ok.success(), "kill {sig} {pid}");
}

fn exercise(lab: &Lab, cfg: &Path, dir: &Path, daemon: &str, client: &dyn Fn(&Lab)) {
    let binary = built(&format!("pbxnet-{daemon}"));
    let trace = dir.join("traces").join(format!("{daemon}.strace"));
    let config = cfg.display().to_string();
    // As the unit runs it: an unprivileged user with the unit's ambient
    // capabilities (CAP_SYS_TIME excepted: the lab removes it from every
    // bounding set, so that nothing here can touch the machine's clock).
    let caps: Vec<String> = unit_caps(&format!("pbxnet-{daemon}.service"))
        .into_iter()
        .filter(|c| c != "sys_time")
        .map(|c| format!("+{c}"))
        .collect();
    let mut args: Vec<String> = vec![
        format!("--reuid={NOBODY}"),
        format!("--regid={NOBODY}"),
        "--clear-groups".into(),
    ];
    if !caps.is_empty() {
        args.push(format!("--inh-caps={}", caps.join(",")));
        args.push(format!("--ambient-caps={}", caps.join(",")));
    }
    args.extend(
        [
            "strace",
            "-f",
            "-qq",
            "-o",
            &trace.display().to_string(),
            &binary.display().to_string(),
            "run",
            "--config",
            &config,
        ]
        .map(String::from),
    );
    let notify = Notify::new(&dir.join("traces"));
    let mut child = lab
        .server()
        .command("setpriv")
        .args(&args)
        .env("NOTIFY_SOCKET", &notify.path)
        .env_remove("JOURNAL_STREAM")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    notify.wait("READY=1");
    let pid = daemon_pid(child.id());
    client(lab);
    let status_cmd = if daemon == "dhcpd" {
        "leases"
    } else {
        "status"
    };
    let st = lab
        .server()
        .command(&binary)
        .args([status_cmd, "--config", &config])
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{daemon} {status_cmd}: {}",
        String::from_utf8_lossy(&st.stderr)
    );
    kill("-HUP", pid);
    notify.wait("RELOADING=1");
    notify.wait("READY=1");
    kill("-TERM", pid);
    let exit = child.wait().unwrap();
    assert!(exit.success(), "{daemon}: {exit}");
    let used = used(&trace);
    assert!(used.len() > 20, "{daemon}: strace log too small: {used:?}");
    let allowed = allowed(&format!("pbxnet-{daemon}.service"));
    let denied: Vec<&String> = used.difference(&allowed).collect();
    assert!(
        denied.is_empty(),
        "pbxnet-{daemon} calls {denied:?}, which pbxnet-{daemon}.service's SystemCallFilter denies (EPERM)"
    );
    if daemon == "dhcpd" {
        // The conflict probe opened its raw ICMP socket with the unit's
        // capabilities (a refused one would be `= -1 EPERM`).
        let text = std::fs::read_to_string(&trace).unwrap();
        assert!(
            text.lines().any(|l| l.contains("socket(AF_INET, SOCK_RAW")
                && l.contains("IPPROTO_ICMP")
                && !l.contains("= -1")),
            "pbxnet-dhcpd opened no raw ICMP socket for the conflict probe"
        );
    }
    // ProcSubset=pid / ProtectProc=invisible: only per-process /proc files.
    let proc_files = proc_paths(&trace);
    assert!(
        proc_files.is_empty(),
        "pbxnet-{daemon} reads {proc_files:?}, hidden by ProcSubset=pid"
    );
    let families = families(&trace);
    let allowed_families = unit_list(
        &format!("pbxnet-{daemon}.service"),
        "RestrictAddressFamilies=",
    );
    let refused: Vec<&String> = families
        .iter()
        .filter(|f| !allowed_families.contains(*f))
        .collect();
    assert!(
        refused.is_empty(),
        "pbxnet-{daemon} opens {refused:?} sockets, which pbxnet-{daemon}.service's RestrictAddressFamilies refuses"
    );
    println!(
        "pbxnet-{daemon}: {} system calls and socket families {families:?}, all allowed by its unit",
        used.len()
    );
}

#[test]
fn every_system_call_the_daemons_make_is_allowed_by_their_unit() {
    skip_unless_root!();
    assert!(
        Command::new("strace")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success()),
        "strace not found: install it (tests/install-deps.sh)"
    );
    let dir = tempfile::tempdir().unwrap();
    let cfg = site(dir.path());
    let lab = Lab::builder()
        .client()
        .client_with_address(std::net::Ipv4Addr::new(192, 168, 92, 50))
        .build()
        .unwrap();
    exercise(&lab, &cfg, dir.path(), "dhcpd", &|lab: &Lab| {
        let out = lab.client(0).run(
            "udhcpc",
            &[
                "-i",
                "eth0",
                "-n",
                "-q",
                "-t",
                "5",
                "-T",
                "1",
                "-s",
                "/bin/true",
            ],
        );
        assert!(out.is_ok(), "udhcpc got no lease: {out:?}");
    });
    exercise(&lab, &cfg, dir.path(), "tftpd", &|lab: &Lab| {
        let out = lab.client(1).run(
            "busybox",
            &[
                "tftp",
                "-g",
                "-r",
                "os_ins.alu",
                "-l",
                "/dev/null",
                "192.168.92.246",
            ],
        );
        assert!(out.is_ok(), "busybox tftp: {out:?}");
    });
    exercise(&lab, &cfg, dir.path(), "ntpd", &|lab: &Lab| {
        let out = lab.client(1).run("ntpdig", &["-t", "2", "192.168.92.246"]);
        assert!(out.is_ok(), "ntpdig: {out:?}");
    });
    exercise(&lab, &cfg, dir.path(), "licd", &|_| {});
}
