//! `make bench-tftp`: pbxnet-tftpd vs tftpd-hpa and atftpd in the namespace
//! lab, same run, same files. Ignored by default (it takes minutes); run
//! with `cargo test --release -p pbxnet-tftp --test bench -- --ignored
//! --nocapture`.
//!
//! Single transfers: a 32 MiB image, servers pinned to CPU 0 and client to
//! CPU 1 (taskset), median of `BENCH_REPS` (default 5) runs; the servers
//! run at once on their own addresses and the runs alternate between them
//! in an order that rotates every repetition, so background load and any
//! effect of the position in the sequence hit all alike; with atftp at
//! blksize 512/1468/8192 × windowsize 1/8/64, curl at 512/1468, busybox at
//! 1468 and tftp-hpa's client at 512; every download is compared with the
//! original (a mismatch or a non-zero exit counts as a failure). In the
//! lock-step cases a minimal C server (tests/bench/tftp-lockstep.c: a
//! forked child doing pread, send, poll, recv per block) runs beside them
//! as the reference for the cost of a block.
//! Then DATA seen after a client ERROR (window 64), and a boot storm of
//! `BENCH_STORM` (default 300) concurrent curl clients each fetching a 4 KiB
//! config and a 16 MiB image (unpinned), with the server's summed
//! proportional set size sampled every 100 ms and the machine's CPU time
//! split into the clients' and the rest; the same C program as one epoll
//! loop (`-E`) is the storm's reference.
//!
//! tftpd-hpa and atftpd come from `TFTPD_HPA` and `ATFTPD` (default: the
//! unpacked Debian packages that tests/bench/tftp-prepare.sh puts in
//! /var/cache/pbxnet-bench; the two packages conflict, so neither is
//! installed), the C program from `TFTP_LOCKSTEP` (default: built there by
//! the same script).

use std::collections::BTreeSet;
use std::fs;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pbxnet_testlab::{skip_unless_root, Daemon, Lab, Netns, SERVER_IP};

const MIB: usize = 1024 * 1024;

fn pattern(n: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

fn in_netns<T: Send + 'static>(ns: &Netns, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/var/run/netns/{}", ns.name());
    std::thread::spawn(move || {
        let file = fs::File::open(&path).expect("netns file");
        nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        f()
    })
    .join()
    .expect("netns thread")
}

fn rrq(name: &str, opts: &[(&str, &str)]) -> Vec<u8> {
    let mut v = vec![0, 1];
    v.extend_from_slice(name.as_bytes());
    v.extend_from_slice(b"\0octet\0");
    for (k, val) in opts {
        v.extend_from_slice(k.as_bytes());
        v.push(0);
        v.extend_from_slice(val.as_bytes());
        v.push(0);
    }
    v
}

/// Poll the server with a real request until it answers (servers without
/// a readiness notification).
fn probe_ready(ns: &Netns, ip: Ipv4Addr) {
    let ok = in_netns(ns, move || {
        let sock = UdpSocket::bind((Ipv4Addr::new(192, 168, 92, 10), 0)).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut buf = [0u8; 1600];
        for _ in 0..100 {
            sock.send_to(&rrq("cfg4k.cfg", &[]), (ip, 69)).unwrap();
            if let Ok((_, from)) = sock.recv_from(&mut buf) {
                let _ = sock.send_to(b"\x00\x05\x00\x00probe\x00", from);
                return true;
            }
        }
        false
    });
    assert!(ok, "server did not answer");
}

/// DATA packets that arrive after the client sent ERROR, beyond what was
/// already in flight: RRQ (blksize 1468, windowsize 64), ACK the OACK if
/// any, read one DATA, send ERROR, then for 2 s count DATA that is either a
/// block of a later window or a repeat of a block already seen.
fn data_after_error(ns: &Netns, ip: Ipv4Addr) -> usize {
    in_netns(ns, move || {
        let sock = UdpSocket::bind((Ipv4Addr::new(192, 168, 92, 10), 0)).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        sock.send_to(
            &rrq(
                "Binary/image32.bin",
                &[("blksize", "1468"), ("windowsize", "64")],
            ),
            (ip, 69),
        )
        .unwrap();
        let mut buf = [0u8; 70_000];
        let (n, from): (usize, SocketAddr) = sock.recv_from(&mut buf).unwrap();
        sock.connect(from).unwrap();
        if n >= 2 && buf[1] == 6 {
            sock.send(b"\x00\x04\x00\x00").unwrap();
            let _ = sock.recv(&mut buf).unwrap();
        }
        let mut seen = BTreeSet::new();
        seen.insert(u16::from_be_bytes([buf[2], buf[3]]));
        sock.send(b"\x00\x05\x00\x00firmware unchanged\x00")
            .unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(2000)))
            .unwrap();
        let mut after = 0;
        while let Ok(n) = sock.recv(&mut buf) {
            if n >= 4 && buf[1] == 3 {
                let b = u16::from_be_bytes([buf[2], buf[3]]);
                if b > 64 || !seen.insert(b) {
                    after += 1;
                }
            }
        }
        after
    })
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Pbxnet,
    /// pbxnet-tftpd with `server.threads = 8` (four per CPU on the 2-CPU
    /// bench machine, the previous default; storm only).
    Pbxnet8,
    Hpa,
    Atftpd,
    /// tests/bench/tftp-lockstep.c: the smallest lock-step server (a
    /// forked child per transfer doing pread, send, poll, recv per block),
    /// the reference for lock-step cases; lock-step cases only, storm only
    /// when named in `BENCH_STORM_SERVERS`.
    Minimal,
    /// The same program with `-E`: one thread, one epoll loop over all
    /// transfer sockets (per block recv, pread, send), the leanest server
    /// design for the storm; storm only.
    MinimalLoop,
}

impl Kind {
    /// Each server has its own address, so all can run at once and the
    /// single-transfer runs interleave (background noise hits all alike).
    fn ip(self) -> Ipv4Addr {
        match self {
            Kind::Pbxnet | Kind::Pbxnet8 => SERVER_IP,
            Kind::Hpa => Ipv4Addr::new(192, 168, 92, 247),
            Kind::Atftpd => Ipv4Addr::new(192, 168, 92, 248),
            Kind::Minimal => Ipv4Addr::new(192, 168, 92, 249),
            Kind::MinimalLoop => Ipv4Addr::new(192, 168, 92, 250),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Pbxnet => "pbxnet-tftpd",
            Kind::Pbxnet8 => "pbxnet-tftpd (8 threads)",
            Kind::Hpa => "tftpd-hpa",
            Kind::Atftpd => "atftpd",
            Kind::Minimal => "minimal C",
            Kind::MinimalLoop => "minimal C event loop",
        }
    }
}

struct Server {
    _daemon: Option<Daemon>,
    child: Option<Child>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(c) = &mut self.child {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

struct Programs {
    atftpd: PathBuf,
    hpa: PathBuf,
    minimal: PathBuf,
}

fn start(kind: Kind, lab: &Lab, dir: &Path, pinned: bool, progs: &Programs) -> Server {
    let ns = lab.server();
    let root = dir.join("root");
    let mut argv: Vec<String> = Vec::new();
    if pinned {
        argv.extend(["taskset", "-c", "0"].map(String::from));
    }
    match kind {
        Kind::Pbxnet | Kind::Pbxnet8 => {
            let config = if kind == Kind::Pbxnet8 {
                dir.join("threads8")
            } else {
                dir.to_path_buf()
            };
            argv.push(env!("CARGO_BIN_EXE_pbxnet-tftpd").into());
            argv.extend([
                "--config".into(),
                config.display().to_string(),
                "run".into(),
            ]);
            let prog = PathBuf::from(&argv[0]);
            let args: Vec<&str> = argv[1..].iter().map(String::as_str).collect();
            let mut d = Daemon::spawn(ns, &prog, &args).expect("spawn pbxnet-tftpd");
            d.wait_ready(Duration::from_secs(20)).expect("READY");
            Server {
                _daemon: Some(d),
                child: None,
            }
        }
        Kind::Hpa | Kind::Atftpd | Kind::Minimal | Kind::MinimalLoop => {
            if matches!(kind, Kind::Minimal | Kind::MinimalLoop) {
                argv.push(progs.minimal.display().to_string());
                if kind == Kind::MinimalLoop {
                    argv.push("-E".into());
                }
                argv.push(kind.ip().to_string());
                argv.push(root.display().to_string());
            } else if kind == Kind::Hpa {
                argv.push(progs.hpa.display().to_string());
                argv.extend(["-L", "-u", "root", "-s", "-a"].map(String::from));
                argv.push(format!("{}:69", kind.ip()));
                argv.push(root.display().to_string());
            } else {
                argv.push(progs.atftpd.display().to_string());
                argv.extend(
                    [
                        "--daemon",
                        "--no-fork",
                        "--logfile",
                        "/dev/null",
                        "--user",
                        "root.root",
                        "--maxthread",
                        "2000",
                        "--bind-address",
                        &kind.ip().to_string(),
                        "--port",
                        "69",
                    ]
                    .map(String::from),
                );
                argv.push(root.display().to_string());
            }
            let child = ns
                .command(&argv[0])
                .args(&argv[1..])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn server");
            probe_ready(lab.client(0), kind.ip());
            Server {
                _daemon: None,
                child: Some(child),
            }
        }
    }
}

struct ClientCase {
    label: String,
    argv: Vec<String>,
}

impl ClientCase {
    /// Lock-step (no windowsize asked).
    fn lockstep(&self) -> bool {
        !self.argv.iter().any(|a| a.starts_with("windowsize"))
    }
}

fn cases(host: &str) -> Vec<ClientCase> {
    let file = "Binary/image32.bin";
    let mut v = Vec::new();
    for blk in [512, 1468, 8192] {
        for win in [1, 8, 64] {
            let mut argv: Vec<String> = vec!["atftp".into()];
            argv.extend(["--option".into(), format!("blksize {blk}")]);
            if win > 1 {
                argv.extend(["--option".into(), format!("windowsize {win}")]);
            }
            argv.extend(["-g", "-r", file, "-l", "out.bin", host].map(String::from));
            v.push(ClientCase {
                label: format!("atftp {blk}/w{win}"),
                argv,
            });
        }
    }
    for blk in [512, 1468] {
        v.push(ClientCase {
            label: format!("curl {blk}"),
            argv: vec![
                "curl".into(),
                "-sS".into(),
                "--tftp-blksize".into(),
                blk.to_string(),
                "-o".into(),
                "out.bin".into(),
                format!("tftp://{host}/{file}"),
            ],
        });
    }
    v.push(ClientCase {
        label: "busybox 1468".into(),
        argv: [
            "busybox", "tftp", "-g", "-b", "1468", "-r", file, "-l", "out.bin", host,
        ]
        .map(String::from)
        .to_vec(),
    });
    v.push(ClientCase {
        label: "tftp-hpa 512".into(),
        argv: ["tftp", "-m", "binary", host, "-c", "get", file, "out.bin"]
            .map(String::from)
            .to_vec(),
    });
    v
}

/// One pinned single transfer: (seconds, ok).
fn single(ns: &Netns, work: &Path, case: &ClientCase, want: &[u8]) -> (f64, bool) {
    let out = work.join("out.bin");
    let _ = fs::remove_file(&out);
    let t0 = Instant::now();
    let output = ns
        .command("timeout")
        .arg("90")
        .args(["taskset", "-c", "1"])
        .args(&case.argv)
        .current_dir(work)
        .stdin(Stdio::null())
        .output()
        .expect("client");
    let secs = t0.elapsed().as_secs_f64();
    let got = fs::read(&out).unwrap_or_default();
    let ok = output.status.success() && got == want;
    if !ok {
        let err = String::from_utf8_lossy(&output.stderr);
        let tail: String = err.lines().rev().take(5).collect::<Vec<_>>().join(" | ");
        eprintln!(
            "FAILED {} after {secs:.2} s: {}, {} of {} bytes{}, stderr (last lines, reversed): {tail}",
            case.label,
            output.status,
            got.len(),
            want.len(),
            if got.len() == want.len() { " (content differs)" } else { "" },
        );
    }
    (secs, ok)
}

/// UDP datagrams the client namespace's sockets dropped because their
/// receive buffer was full (`Udp: RcvbufErrors` of /proc/net/snmp, read
/// inside the namespace): an unpaced window shows up here.
fn rcvbuf_errors(ns: &Netns) -> u64 {
    let out = ns
        .run("cat", &["/proc/net/snmp"])
        .expect("cat /proc/net/snmp");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut udp = text.lines().filter(|l| l.starts_with("Udp:"));
    let (Some(names), Some(values)) = (udp.next(), udp.next()) else {
        panic!("no Udp lines in /proc/net/snmp");
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(n, _)| *n == "RcvbufErrors")
        .and_then(|(_, v)| v.parse().ok())
        .expect("RcvbufErrors")
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The runs of one server in one case.
#[derive(Clone)]
struct Measured {
    times: Vec<f64>,
    fails: usize,
    drops: u64,
}

impl Measured {
    fn median(&self) -> f64 {
        median(self.times.clone())
    }
    fn min(&self) -> f64 {
        self.times.iter().copied().fold(f64::INFINITY, f64::min)
    }
    fn max(&self) -> f64 {
        self.times.iter().copied().fold(f64::NEG_INFINITY, f64::max)
    }
}

/// Processes in namespace `ns` (the server and, for forking servers, its
/// children), found through /proc without starting a process: the sampler
/// runs every 100 ms during the storm and its cost should stay out of the
/// CPU figures.
fn ns_pids(ns: &str) -> Vec<u32> {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = fs::metadata(format!("/var/run/netns/{ns}")) else {
        return Vec::new();
    };
    let want = format!("net:[{}]", meta.ino());
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            fs::read_link(format!("/proc/{pid}/ns/net"))
                .is_ok_and(|l| l.as_os_str() == want.as_str())
        })
        .collect()
}

fn pss_kib(ns: &Netns) -> u64 {
    pss_of(&ns_pids(ns.name()))
}

/// Summed proportional set size of `pids` (KiB).
fn pss_of(pids: &[u32]) -> u64 {
    let mut total = 0;
    for pid in pids {
        if let Ok(s) = fs::read_to_string(format!("/proc/{pid}/smaps_rollup")) {
            for line in s.lines() {
                if let Some(rest) = line.strip_prefix("Pss:") {
                    total += rest
                        .trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<u64>()
                        .unwrap_or(0);
                }
            }
        }
    }
    total
}

/// /proc reports CPU time in USER_HZ ticks, 100 per second on Linux.
const TICK: f64 = 0.01;

/// CPU busy time of the whole machine so far (user, nice, system, irq,
/// softirq of all CPUs; idle, iowait and steal excluded), in ticks.
fn machine_busy_ticks() -> u64 {
    let stat = fs::read_to_string("/proc/stat").unwrap_or_default();
    let cpu = stat.lines().next().unwrap_or_default();
    let v: Vec<u64> = cpu
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal ...
    [0, 1, 2, 5, 6].iter().filter_map(|&i| v.get(i)).sum()
}

/// (utime + stime, cutime + cstime) of a process, in ticks: the second is
/// the CPU of all its descendants that were waited for.
fn proc_ticks(pid: &str) -> (u64, u64) {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // After the command name (which may contain spaces) come the state
    // (field 3) ... utime, stime, cutime, cstime (fields 14 to 17).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(4)
        .filter_map(|x| x.parse().ok())
        .collect();
    if f.len() < 4 {
        return (0, 0);
    }
    (f[0] + f[1], f[2] + f[3])
}

/// One storm's figures.
struct StormResult {
    secs: f64,
    failures: usize,
    peak_pss_kib: u64,
    /// CPU-seconds of the whole machine while the storm ran.
    busy: f64,
    /// CPU-seconds of the curl clients (and their shells), as accounted to
    /// them: their syscalls including the delivery of their ACKs.
    clients: f64,
    /// CPU-seconds of the benchmark process itself (the PSS sampler).
    bench: f64,
}

impl StormResult {
    /// Everything else: the server (with the kernel's send path of its
    /// DATA through veth and bridge into the clients' sockets, which runs
    /// in its syscalls) plus any background load.
    fn rest(&self) -> f64 {
        self.busy - self.clients - self.bench
    }
}

/// Storm: `n` curl clients over the storm namespaces, each fetching the
/// 4 KiB config then the 16 MiB image, with the server's summed PSS
/// sampled every 100 ms and the machine's CPU split into clients and rest.
fn storm(lab: &Lab, n: usize, ip: Ipv4Addr) -> StormResult {
    let host = ip.to_string();
    let stop = Arc::new(AtomicBool::new(false));
    let server_ns = lab.server().name().to_string();
    let sampler = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut peak = 0;
            while !stop.load(Ordering::Relaxed) {
                peak = peak.max(pss_of(&ns_pids(&server_ns)));
                std::thread::sleep(Duration::from_millis(100));
            }
            peak
        })
    };
    let storm_ns = &lab.clients()[1..];
    let script = format!(
        "curl -s -o /dev/null -w '%{{size_download}} ' tftp://{host}/cfg4k.cfg && \
         curl -s -o /dev/null -w '%{{size_download}}' tftp://{host}/Binary/image16.bin"
    );
    let (self0, children0) = proc_ticks("self");
    let busy0 = machine_busy_ticks();
    let t0 = Instant::now();
    let children: Vec<Child> = (0..n)
        .map(|i| {
            storm_ns[i % storm_ns.len()]
                .command("timeout")
                .args(["300", "sh", "-c", &script])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("storm client")
        })
        .collect();
    let mut failures = 0;
    for c in children {
        let out = c.wait_with_output().expect("wait");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() || text.trim() != format!("4096 {}", 16 * MIB) {
            failures += 1;
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    let busy1 = machine_busy_ticks();
    let (self1, children1) = proc_ticks("self");
    stop.store(true, Ordering::Relaxed);
    let peak = sampler.join().unwrap();
    StormResult {
        secs,
        failures,
        peak_pss_kib: peak,
        busy: (busy1 - busy0) as f64 * TICK,
        clients: (children1 - children0) as f64 * TICK,
        bench: (self1 - self0) as f64 * TICK,
    }
}

/// Lock-step ratios from paired runs: in every repetition of every
/// lock-step case each server ran once, next to the others, so
/// ln(other / pbxnet) per repetition cancels what the moment does to both.
/// Reports the geometric mean over all such pairs with ±2 standard errors:
/// a sharper figure than the per-case medians when the runs spread by
/// ±5 %.
fn paired_lockstep(
    cases: &[ClientCase],
    kinds: &[Kind],
    results: &[Vec<Option<Measured>>],
) -> String {
    let mut out = String::from(
        "\nLock-step cases, paired per repetition: geometric mean of other / pbxnet-tftpd \
         over all lock-step runs (±2 standard errors; above 1: pbxnet faster)\n\n",
    );
    for (k, kind) in kinds.iter().enumerate().skip(1) {
        let mut logs = Vec::new();
        for (i, case) in cases.iter().enumerate() {
            if !case.lockstep() {
                continue;
            }
            let (Some(Some(ours)), Some(Some(other))) = (results[i].first(), results[i].get(k))
            else {
                continue;
            };
            for (a, b) in ours.times.iter().zip(&other.times) {
                logs.push((b / a).ln());
            }
        }
        if logs.len() < 2 {
            continue;
        }
        let n = logs.len() as f64;
        let mean = logs.iter().sum::<f64>() / n;
        let var = logs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
        let se = (var / n).sqrt();
        out.push_str(&format!(
            "- {} / pbxnet-tftpd: {:.3}× ({:.3}–{:.3}), {} pairs\n",
            kind.name(),
            mean.exp(),
            (mean - 2.0 * se).exp(),
            (mean + 2.0 * se).exp(),
            logs.len()
        ));
    }
    out
}

/// The program of a reference server: `$var`, else `default`; the server
/// takes part (is pushed on `kinds`) only if the program exists.
fn reference(var: &str, default: &str, kind: Kind, kinds: &mut Vec<Kind>) -> PathBuf {
    let path = PathBuf::from(std::env::var(var).unwrap_or_else(|_| default.into()));
    if path.exists() {
        kinds.push(kind);
    } else {
        eprintln!(
            "{} not found at {} (run tests/bench/tftp-prepare.sh): skipped",
            kind.name(),
            path.display()
        );
    }
    path
}

#[test]
#[ignore = "benchmark: run with make bench-tftp"]
fn bench_tftp() {
    skip_unless_root!();
    let reps: usize = std::env::var("BENCH_REPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let storm_n: usize = std::env::var("BENCH_STORM")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    let mut kinds = vec![Kind::Pbxnet];
    let hpa = reference(
        "TFTPD_HPA",
        "/var/cache/pbxnet-bench/tftpd-hpa/usr/sbin/in.tftpd",
        Kind::Hpa,
        &mut kinds,
    );
    let atftpd = reference(
        "ATFTPD",
        "/var/cache/pbxnet-bench/atftpd/usr/sbin/atftpd",
        Kind::Atftpd,
        &mut kinds,
    );
    // The minimal lock-step server, compiled by tests/bench/tftp-prepare.sh.
    let minimal = reference(
        "TFTP_LOCKSTEP",
        "/var/cache/pbxnet-bench/tftp-lockstep",
        Kind::Minimal,
        &mut kinds,
    );
    let progs = Programs {
        atftpd,
        hpa,
        minimal,
    };

    // 1 client for single transfers + 10 namespaces for the storm.
    let mut b = Lab::builder().client_with_address(Ipv4Addr::new(192, 168, 92, 10));
    for i in 0..10u8 {
        b = b.client_with_address(Ipv4Addr::new(192, 168, 92, 20 + i));
    }
    let lab = b.build().expect("lab");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    fs::create_dir_all(root.join("Binary")).unwrap();
    let image32 = pattern(32 * MIB, 7);
    fs::write(root.join("Binary/image32.bin"), &image32).unwrap();
    fs::write(root.join("Binary/image16.bin"), pattern(16 * MIB, 8)).unwrap();
    fs::write(root.join("cfg4k.cfg"), pattern(4096, 9)).unwrap();
    fs::create_dir_all(dir.path().join("run")).unwrap();
    fs::write(
        dir.path().join("site.toml"),
        format!(
            "runtime-directory = \"{}\"\n[log]\nlevel = \"warn\"\n",
            dir.path().join("run").display()
        ),
    )
    .unwrap();
    // Same service as the others: blocks as large as asked (IP-fragmented
    // like atftpd and tftpd-hpa do), generous caps for the storm.
    // BENCH_PBXNET_TRANSFER: extra `[transfer]` lines for pbxnet-tftpd
    // (for tuning, e.g. `pacing-gap = "300us"`; unset in the full run).
    let tuning = std::env::var("BENCH_PBXNET_TRANSFER")
        .map(|t| format!("{t}\n"))
        .unwrap_or_default();
    // BENCH_PBXNET_SERVER: likewise for `[server]` (e.g. `threads = 1`).
    let server_tuning = std::env::var("BENCH_PBXNET_SERVER")
        .map(|t| format!("{t}\n"))
        .unwrap_or_default();
    fs::write(
        dir.path().join("tftp.toml"),
        format!("[server]\nlisten = \"192.168.92.246:69\"\nmax-transfers = 2000\nmax-transfers-per-client = 200\n\
         {server_tuning}[transfer]\nblksize-within-mtu = false\n{tuning}[files]\nroot = \"root\"\n"
        ),
    )
    .unwrap();
    let threads8 = dir.path().join("threads8");
    fs::create_dir_all(&threads8).unwrap();
    fs::copy(dir.path().join("site.toml"), threads8.join("site.toml")).unwrap();
    fs::write(
        threads8.join("tftp.toml"),
        format!(
            "[server]\nlisten = \"192.168.92.246:69\"\nmax-transfers = 2000\nmax-transfers-per-client = 200\nthreads = 8\n\
             [transfer]\nblksize-within-mtu = false\n[files]\nroot = \"{}\"\n",
            root.display()
        ),
    )
    .unwrap();
    let work = dir.path().join("work");
    fs::create_dir_all(&work).unwrap();
    let host = SERVER_IP.to_string();
    // BENCH_CASES=label,label...: only the single transfers whose label
    // contains one of them (for tuning; the full run measures all).
    let filter = std::env::var("BENCH_CASES").unwrap_or_default();
    let cases: Vec<ClientCase> = cases(&host)
        .into_iter()
        .filter(|c| filter.is_empty() || filter.split(',').any(|f| c.label.contains(f)))
        .collect();

    for ip in [
        Kind::Hpa.ip(),
        Kind::Atftpd.ip(),
        Kind::Minimal.ip(),
        Kind::MinimalLoop.ip(),
    ] {
        lab.server()
            .run("ip", &["addr", "add", &format!("{ip}/24"), "dev", "eth0"])
            .expect("second address");
    }
    // results[case][kind] = per-run seconds, failures, client rcvbuf drops;
    // None where the server does not take part (the minimal server in a
    // windowed case).
    let mut results: Vec<Vec<Option<Measured>>> = vec![Vec::new(); cases.len()];
    let mut after_error = Vec::new();
    let singles = reps > 0;
    if singles {
        let servers: Vec<Server> = kinds
            .iter()
            .map(|&k| start(k, &lab, dir.path(), true, &progs))
            .collect();
        for (i, case) in cases.iter().enumerate() {
            let takes_part: Vec<bool> = kinds
                .iter()
                .map(|&k| k != Kind::Minimal || case.lockstep())
                .collect();
            let mut times: Vec<Vec<f64>> = vec![Vec::new(); kinds.len()];
            let mut fails = vec![0; kinds.len()];
            let mut drops = vec![0u64; kinds.len()];
            // The order rotates by one server every repetition, so that no
            // server always runs first (or always after the same one): with
            // a fixed order, an effect of the position (the previous run's
            // output file being written back, a client start after another
            // server's exit) lands on one server only.
            for rep in 0..reps {
                for j in 0..kinds.len() {
                    let k = (j + rep) % kinds.len();
                    if !takes_part[k] {
                        continue;
                    }
                    let kind = kinds[k];
                    let argv: Vec<String> = case
                        .argv
                        .iter()
                        .map(|a| a.replace(&host, &kind.ip().to_string()))
                        .collect();
                    let c = ClientCase {
                        label: case.label.clone(),
                        argv,
                    };
                    let before = rcvbuf_errors(lab.client(0));
                    let (t, ok) = single(lab.client(0), &work, &c, &image32);
                    // Every run, for the spread and for position effects.
                    eprintln!(
                        "run {:<16} rep {rep} position {j} {:<13} {t:.3} s",
                        case.label,
                        kind.name()
                    );
                    drops[k] += rcvbuf_errors(lab.client(0)) - before;
                    times[k].push(t);
                    if !ok {
                        fails[k] += 1;
                    }
                }
            }
            for (k, &kind) in kinds.iter().enumerate() {
                if !takes_part[k] {
                    results[i].push(None);
                    continue;
                }
                let m = Measured {
                    times: times[k].clone(),
                    fails: fails[k],
                    drops: drops[k],
                };
                eprintln!(
                    "{:<13} {:<16} {:>7.2} s  (min {:.2}, max {:.2})  failures {}  client rcvbuf drops {}",
                    kind.name(),
                    case.label,
                    m.median(),
                    m.min(),
                    m.max(),
                    m.fails,
                    m.drops
                );
                results[i].push(Some(m));
            }
        }
        for &kind in kinds.iter().filter(|&&k| k != Kind::Minimal) {
            after_error.push((kind, data_after_error(lab.client(0), kind.ip())));
        }
        drop(servers);
    }
    let mut storms = Vec::new();
    // Storms: pbxnet-tftpd, the two anchors and the event-loop reference
    // (the leanest server design measured here); pbxnet-tftpd with 8
    // threads and the forking minimal server only when named in
    // BENCH_STORM_SERVERS=name,name... (which otherwise narrows the set).
    let mut storm_kinds = kinds.clone();
    storm_kinds.insert(1, Kind::Pbxnet8);
    if kinds.contains(&Kind::Minimal) {
        storm_kinds.push(Kind::MinimalLoop);
    }
    let only = std::env::var("BENCH_STORM_SERVERS").unwrap_or_default();
    storm_kinds.retain(|k| {
        if only.is_empty() {
            !matches!(k, Kind::Pbxnet8 | Kind::Minimal)
        } else {
            only.split(',').any(|o| k.name() == o)
        }
    });
    if storm_n > 0 {
        for &kind in &storm_kinds {
            let server = start(kind, &lab, dir.path(), false, &progs);
            let idle = pss_kib(lab.server());
            let r = storm(&lab, storm_n, kind.ip());
            eprintln!(
                "storm {:<13} {:>7.1} s failures {} peak PSS {} KiB (idle {idle} KiB) CPU busy {:.1} s clients {:.1} s bench {:.1} s rest {:.1} s",
                kind.name(),
                r.secs,
                r.failures,
                r.peak_pss_kib,
                r.busy,
                r.clients,
                r.bench,
                r.rest()
            );
            storms.push(r);
            drop(server);
        }
    }

    // The table, pbxnet first, ratios = other / pbxnet (above 1: pbxnet faster).
    let mb = 32.0 * MIB as f64 / 1e6;
    let mut t = String::new();
    t.push_str(&format!(
        "\nSingle 32 MiB transfer, server on CPU 0, client on CPU 1, median of {reps} (seconds, MB/s, failures, datagrams the client's receive buffer dropped in all {reps} runs)\n\n"
    ));
    t.push_str("| client setting |");
    for k in &kinds {
        t.push_str(&format!(" {} |", k.name()));
    }
    for k in &kinds[1..] {
        t.push_str(&format!(" {} / pbxnet |", k.name()));
    }
    t.push_str("\n|---|");
    for _ in 0..(kinds.len() * 2 - 1) {
        t.push_str("---|");
    }
    t.push('\n');
    for (i, case) in cases.iter().enumerate().filter(|_| singles) {
        t.push_str(&format!("| {} |", case.label));
        for m in &results[i] {
            match m {
                Some(m) => t.push_str(&format!(
                    " {:.2} s ({:.2}–{:.2}), {:.0} MB/s, {} fail, {} drop |",
                    m.median(),
                    m.min(),
                    m.max(),
                    mb / m.median(),
                    m.fails,
                    m.drops
                )),
                None => t.push_str(" – |"),
            }
        }
        let ours = results[i][0].as_ref().map_or(f64::NAN, Measured::median);
        for m in &results[i][1..] {
            match m {
                Some(m) => t.push_str(&format!(" {:.2}× |", m.median() / ours)),
                None => t.push_str(" – |"),
            }
        }
        t.push('\n');
    }
    if singles {
        t.push_str(&paired_lockstep(&cases, &kinds, &results));
    }
    t.push_str("\nDATA after a client ERROR (blksize 1468, windowsize 64 asked; beyond the window in flight)\n\n");
    for (k, n) in &after_error {
        t.push_str(&format!("- {}: {n}\n", k.name()));
    }
    if !storms.is_empty() {
        t.push_str(&format!(
            "\nBoot storm: {storm_n} concurrent curl clients × (4 KiB + 16 MiB), unpinned\n\n\
             | server | seconds | failures | peak server PSS | time / tftpd-hpa's | CPU-s busy | CPU-s clients | CPU-s rest (server, kernel) |\n\
             |---|---|---|---|---|---|---|---|\n"
        ));
        let hpa_secs = storm_kinds
            .iter()
            .zip(&storms)
            .find(|(k, _)| **k == Kind::Hpa)
            .map(|(_, r)| r.secs);
        for (k, r) in storm_kinds.iter().zip(&storms) {
            let ratio = hpa_secs.map_or("–".to_string(), |h| format!("{:.2}×", r.secs / h));
            t.push_str(&format!(
                "| {} | {:.1} | {} | {:.1} MiB | {ratio} | {:.1} | {:.1} | {:.1} |\n",
                k.name(),
                r.secs,
                r.failures,
                r.peak_pss_kib as f64 / 1024.0,
                r.busy,
                r.clients,
                r.rest()
            ));
        }
    }
    println!("{t}");
    if let Ok(path) = std::env::var("BENCH_OUT") {
        fs::write(path, &t).unwrap();
    }
}
