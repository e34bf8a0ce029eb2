//! pbxnet-tftpd against real TFTP clients in the namespace lab.
//!
//! Server in its own namespace at 192.168.92.246, clients in theirs; the
//! daemon is waited for with READY=1. Peers: tftp-hpa `tftp`, `atftp`,
//! `curl` (tftp://), `busybox tftp`, and a raw UDP client (a thread moved
//! into a client namespace with setns) for what the tools cannot do.

use std::fs;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use pbxnet_testlab::{skip_unless_root, Daemon, Lab, Netns, SERVER_IP};

const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 92, 10);
const BIG: usize = 33 * 1024 * 1024 + 1234; // over 32 MiB: block roll-over at 512

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

struct Setup {
    _lab: Lab,
    lab_client: usize,
    daemon: Daemon,
    dir: tempfile::TempDir,
}

impl Setup {
    fn client(&self) -> &Netns {
        self._lab.client(self.lab_client)
    }
    fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }
    fn work(&self) -> PathBuf {
        self.dir.path().join("work")
    }
}

/// Lab with one addressed client; daemon running with `extra` appended to
/// tftp.toml; a root with the seed folders and test files.
fn setup(extra: &str, big: bool) -> Setup {
    setup_with(extra, big, |_| {})
}

/// As [`setup`], with `prepare` run on the root before the daemon starts.
fn setup_with(extra: &str, big: bool, prepare: impl FnOnce(&Path)) -> Setup {
    let lab = Lab::builder()
        .client_with_address(CLIENT_IP)
        .build()
        .expect("lab");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    for d in [
        "Omniswitch",
        "ThirdParty_Devices/420HD",
        "Secured_Config",
        "Binary",
    ] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    fs::create_dir_all(dir.path().join("work")).unwrap();
    fs::create_dir_all(dir.path().join("run")).unwrap();
    fs::write(root.join("Binary/small.bin"), pattern(1_000_003, 1)).unwrap();
    if big {
        fs::write(root.join("Binary/big.img"), pattern(BIG, 2)).unwrap();
    }
    fs::write(
        root.join("ThirdParty_Devices/text.cfg"),
        b"line one\nbare\rcr then lf\n\nlast line without newline".repeat(200),
    )
    .unwrap();
    fs::write(
        root.join("ThirdParty_Devices/420HD/420HD.cfg"),
        b"model=420HD\n",
    )
    .unwrap();
    fs::write(root.join("Secured_Config/secret.ini"), b"password=x\n").unwrap();
    std::os::unix::fs::symlink("/etc", root.join("escape")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", root.join("passwd_link")).unwrap();
    std::os::unix::fs::symlink("Binary/small.bin", root.join("inside_link")).unwrap();
    prepare(&root);
    fs::write(
        dir.path().join("site.toml"),
        format!(
            "server-address = \"192.168.92.246\"\nruntime-directory = \"{}\"\n",
            dir.path().join("run").display()
        ),
    )
    .unwrap();
    fs::write(
        dir.path().join("tftp.toml"),
        format!("[server]\nlisten = \"0.0.0.0:69\"\n[files]\nroot = \"root\"\n{extra}"),
    )
    .unwrap();
    let bin = Path::new(env!("CARGO_BIN_EXE_pbxnet-tftpd"));
    let mut daemon = Daemon::spawn(
        lab.server(),
        bin,
        &["--config", dir.path().to_str().unwrap(), "run"],
    )
    .expect("spawn");
    daemon
        .wait_ready(Duration::from_secs(20))
        .expect("daemon READY");
    Setup {
        _lab: lab,
        lab_client: 0,
        daemon,
        dir,
    }
}

fn run_in(ns: &Netns, cwd: &Path, program: &str, args: &[&str]) -> std::process::Output {
    let out = ns
        .command("timeout")
        .arg("120")
        .arg(program)
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("spawn client");
    out
}

fn assert_same(got: &Path, want: &Path, what: &str, out: &std::process::Output) {
    let g = fs::read(got).unwrap_or_else(|e| {
        panic!(
            "{what}: no output file {}: {e}\nstdout {}\nstderr {}",
            got.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let w = fs::read(want).unwrap();
    assert!(g == w, "{what}: {} bytes, want {} bytes", g.len(), w.len());
}

#[test]
fn real_clients_download_byte_exact() {
    skip_unless_root!();
    let s = setup("", true);
    let c = s.client();
    let work = s.work();
    let root = s.root();
    let host = SERVER_IP.to_string();
    let t0 = Instant::now();

    // tftp-hpa, octet, lock-step 512 on a file over 32 MiB (roll-over).
    let out = run_in(
        c,
        &work,
        "tftp",
        &[
            "-m",
            "binary",
            &host,
            "-c",
            "get",
            "Binary/big.img",
            "hpa_big",
        ],
    );
    assert_same(
        &work.join("hpa_big"),
        &root.join("Binary/big.img"),
        "tftp-hpa octet 33 MiB @512",
        &out,
    );
    let hpa_big = t0.elapsed();

    // tftp-hpa netascii: the client converts back to local LF text.
    let out = run_in(
        c,
        &work,
        "tftp",
        &[
            "-m",
            "netascii",
            &host,
            "-c",
            "get",
            "/tftpboot/text.cfg",
            "hpa_text",
        ],
    );
    assert_same(
        &work.join("hpa_text"),
        &root.join("ThirdParty_Devices/text.cfg"),
        "tftp-hpa netascii",
        &out,
    );

    // atftp without options, then with blksize/windowsize/tsize on the big file.
    let out = run_in(
        c,
        &work,
        "atftp",
        &["-g", "-r", "Binary/small.bin", "-l", "atftp_plain", &host],
    );
    assert_same(
        &work.join("atftp_plain"),
        &root.join("Binary/small.bin"),
        "atftp plain",
        &out,
    );
    let out = run_in(
        c,
        &work,
        "atftp",
        &[
            "--option",
            "blksize 1468",
            "--option",
            "windowsize 16",
            "--option",
            "tsize",
            "-g",
            "-r",
            "big.img",
            "-l",
            "atftp_big",
            &host,
        ],
    );
    assert_same(
        &work.join("atftp_big"),
        &root.join("Binary/big.img"),
        "atftp 1468/16/tsize",
        &out,
    );
    let out = run_in(
        c,
        &work,
        "atftp",
        &[
            "--option",
            "blksize 8192",
            "--option",
            "windowsize 64",
            "-g",
            "-r",
            "small.bin",
            "-l",
            "atftp_8k",
            &host,
        ],
    );
    assert_same(
        &work.join("atftp_8k"),
        &root.join("Binary/small.bin"),
        "atftp 8192/64",
        &out,
    );
    // atftp netascii mode (interactive command; no CLI flag for it).
    let script =
        format!("printf 'mode netascii\\nget text.cfg atftp_text\\nquit\\n' | atftp {host}");
    let out = run_in(c, &work, "sh", &["-c", &script]);
    assert_same(
        &work.join("atftp_text"),
        &root.join("ThirdParty_Devices/text.cfg"),
        "atftp netascii",
        &out,
    );

    // curl, default and blksize 1468.
    let url = format!("tftp://{host}/Binary/small.bin");
    let out = run_in(c, &work, "curl", &["-sS", "-o", "curl_512", &url]);
    assert_same(
        &work.join("curl_512"),
        &root.join("Binary/small.bin"),
        "curl 512",
        &out,
    );
    let out = run_in(
        c,
        &work,
        "curl",
        &["-sS", "--tftp-blksize", "1468", "-o", "curl_1468", &url],
    );
    assert_same(
        &work.join("curl_1468"),
        &root.join("Binary/small.bin"),
        "curl 1468",
        &out,
    );

    // busybox tftp, blksize 1468; `<Model>/<file>` form through the search folders.
    let out = run_in(
        c,
        &work,
        "busybox",
        &[
            "tftp",
            "-g",
            "-b",
            "1468",
            "-r",
            "small.bin",
            "-l",
            "bb",
            &host,
        ],
    );
    assert_same(
        &work.join("bb"),
        &root.join("Binary/small.bin"),
        "busybox 1468",
        &out,
    );
    let out = run_in(
        c,
        &work,
        "busybox",
        &[
            "tftp",
            "-g",
            "-r",
            "420HD/420HD.cfg",
            "-l",
            "bb_model",
            &host,
        ],
    );
    assert_same(
        &work.join("bb_model"),
        &root.join("ThirdParty_Devices/420HD/420HD.cfg"),
        "busybox model path",
        &out,
    );
    // Case folding: the phone asks in another case.
    let out = run_in(
        c,
        &work,
        "busybox",
        &[
            "tftp",
            "-g",
            "-r",
            "420hd/420hd.CFG",
            "-l",
            "bb_case",
            &host,
        ],
    );
    assert_same(
        &work.join("bb_case"),
        &root.join("ThirdParty_Devices/420HD/420HD.cfg"),
        "busybox case-folded",
        &out,
    );
    // A symlink that stays inside the root is served.
    let out = run_in(
        c,
        &work,
        "busybox",
        &["tftp", "-g", "-r", "inside_link", "-l", "bb_link", &host],
    );
    assert_same(
        &work.join("bb_link"),
        &root.join("Binary/small.bin"),
        "inside symlink",
        &out,
    );

    eprintln!(
        "33 MiB @512 lock-step (tftp-hpa): {hpa_big:?}; all clients: {:?}",
        t0.elapsed()
    );
    let log = s.daemon.log();
    assert!(log.contains("outcome=complete"), "{log}");
}

/// A raw TFTP client on a thread moved into a client namespace.
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

fn rrq(name: &[u8], mode: &str, opts: &[(&str, &str)]) -> Vec<u8> {
    let mut v = vec![0, 1];
    v.extend_from_slice(name);
    v.push(0);
    v.extend_from_slice(mode.as_bytes());
    v.push(0);
    for (k, val) in opts {
        v.extend_from_slice(k.as_bytes());
        v.push(0);
        v.extend_from_slice(val.as_bytes());
        v.push(0);
    }
    v
}

/// Send a request; return (opcode, code-or-block, message) of the answer.
fn ask(sock: &UdpSocket, req: &[u8]) -> (u16, u16, String, SocketAddr) {
    let server = SocketAddr::from((SERVER_IP, 69));
    sock.send_to(req, server).unwrap();
    let mut buf = [0u8; 70_000];
    let (n, from) = sock.recv_from(&mut buf).expect("an answer");
    let op = u16::from_be_bytes([buf[0], buf[1]]);
    let code = u16::from_be_bytes([buf[2], buf[3]]);
    let msg = String::from_utf8_lossy(&buf[4..n])
        .trim_end_matches('\0')
        .to_string();
    (op, code, msg, from)
}

#[test]
fn escape_attempts_fail_with_the_right_error_and_are_logged() {
    skip_unless_root!();
    let s = setup("", false);
    let results = in_netns(s.client(), || {
        let sock = UdpSocket::bind((CLIENT_IP, 0)).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let cases: Vec<(Vec<u8>, &str, u16, u16)> = vec![
            (b"../etc/passwd".to_vec(), "octet", 5, 2),
            (b"Binary/../../etc/passwd".to_vec(), "octet", 5, 2),
            (b"..\\..\\etc\\passwd".to_vec(), "octet", 5, 2),
            (b"/etc/passwd".to_vec(), "octet", 5, 1),
            (b"%2e%2e/%2e%2e/etc/passwd".to_vec(), "octet", 5, 1),
            (b"escape/passwd".to_vec(), "octet", 5, 2),
            (b"passwd_link".to_vec(), "octet", 5, 2),
            (b"Secured_Config/secret.ini".to_vec(), "octet", 5, 2),
            (
                b"/tftpboot/secured_config/secret.ini".to_vec(),
                "octet",
                5,
                2,
            ),
            (b"text.cfg\r\n../../etc/passwd".to_vec(), "netascii", 5, 2),
            (b"a\rb".to_vec(), "netascii", 5, 2),
            (vec![b'a'; 600], "octet", 5, 2),
            (vec![b'a'; 10_000], "octet", 5, 4),
            (b"Binary/small.bin\0x".to_vec(), "octet", 5, 4),
            (b"nonexistent.cfg".to_vec(), "octet", 5, 1),
        ];
        let mut out = Vec::new();
        for (name, mode, want_op, want_code) in cases {
            let (op, code, msg, from) = ask(&sock, &rrq(&name, mode, &[]));
            out.push((
                String::from_utf8_lossy(&name[..name.len().min(40)]).into_owned(),
                op,
                code,
                msg,
                from,
                want_op,
                want_code,
            ));
        }
        out
    });
    for (name, op, code, msg, _from, want_op, want_code) in &results {
        assert_eq!(
            (op, code),
            (want_op, want_code),
            "{name:?}: got {op}/{code} {msg:?}"
        );
    }
    // And a sane request next to them still works (no state was hurt).
    let ok = in_netns(s.client(), || {
        let sock = UdpSocket::bind((CLIENT_IP, 0)).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let (op, block, _, _) = ask(&sock, &rrq(b"420HD/420HD.cfg", "octet", &[]));
        (op, block)
    });
    assert_eq!(ok, (3, 1));
    let log = s.daemon.log();
    assert!(log.contains("path traversal"), "{log}");
    assert!(log.contains("path leaves the root"), "{log}");
    assert!(log.contains("Secured_Config is not served"), "{log}");
}

/// Receive DATA packets until `quiet` passes without one; count them.
fn count_data(sock: &UdpSocket, quiet: Duration) -> usize {
    sock.set_read_timeout(Some(quiet)).unwrap();
    let mut buf = [0u8; 70_000];
    let mut n = 0;
    while let Ok(len) = sock.recv(&mut buf) {
        if len >= 4 && buf[1] == 3 {
            n += 1;
        }
    }
    n
}

#[test]
fn client_error_stops_the_transfer_at_once() {
    skip_unless_root!();
    let s = setup("", false);
    let status = |dir: &Path| -> serde_json::Value {
        let out = Command::new(env!("CARGO_BIN_EXE_pbxnet-tftpd"))
            .args(["--config", dir.to_str().unwrap(), "status", "--json"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let (lockstep_after, window_after, window_first) = in_netns(s.client(), || {
        // Lock-step: read DATA 1 (a phone reading the firmware header), ERROR.
        let sock = UdpSocket::bind((CLIENT_IP, 0)).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let (op, block, _, from) = ask(&sock, &rrq(b"Binary/small.bin", "octet", &[]));
        assert_eq!((op, block), (3, 1));
        sock.connect(from).unwrap();
        sock.send(b"\x00\x05\x00\x00firmware unchanged\x00")
            .unwrap();
        // Longer than the initial RTO (1 s): a retransmission would show.
        let lockstep_after = count_data(&sock, Duration::from_millis(1500));

        // Windowed: take the whole first window of 16, then ERROR.
        let sock = UdpSocket::bind((CLIENT_IP, 0)).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let (op, _, _, from) = ask(
            &sock,
            &rrq(
                b"Binary/small.bin",
                "octet",
                &[("blksize", "1024"), ("windowsize", "16")],
            ),
        );
        assert_eq!(op, 6, "OACK");
        sock.connect(from).unwrap();
        sock.send(b"\x00\x04\x00\x00").unwrap();
        let mut buf = [0u8; 2000];
        let mut first = 0;
        while first < 16 {
            let n = sock.recv(&mut buf).expect("window DATA");
            if n >= 4 && buf[1] == 3 {
                first += 1;
            }
        }
        sock.send(b"\x00\x05\x00\x00abort\x00").unwrap();
        let window_after = count_data(&sock, Duration::from_millis(1500));
        (lockstep_after, window_after, first)
    });
    assert_eq!(window_first, 16);
    assert_eq!(lockstep_after, 0, "DATA after a client ERROR (lock-step)");
    assert_eq!(window_after, 0, "DATA after a client ERROR (window 16)");
    let st = status(s.dir.path());
    assert_eq!(st["active"].as_array().unwrap().len(), 0, "{st}");
    let outcomes = st["totals"]["outcomes"].as_object().unwrap();
    let client_errors: u64 = outcomes
        .iter()
        .filter(|(k, _)| k.starts_with("client-error"))
        .map(|(_, v)| v.as_u64().unwrap())
        .sum();
    assert_eq!(client_errors, 2, "{st}");
}

/// Two lock-step reads held open after DATA 1 (one without options, one
/// that negotiated windowsize 1), then SIGTERM: each client gets an ERROR
/// "server shutting down" and no more DATA, and the daemon exits. The
/// initial RTO is 5 s, so an ERROR well before that shows the transfer
/// noticed the shutdown itself, not at its next retransmission.
#[test]
fn sigterm_aborts_lockstep_transfers() {
    skip_unless_root!();
    let mut s = setup("[transfer]\ninitial-rto = \"5s\"\n", false);
    let pid = s.daemon.pid();
    let ends = in_netns(s.client(), move || {
        let plain = UdpSocket::bind((CLIENT_IP, 0)).unwrap();
        plain
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let (op, block, _, from) = ask(&plain, &rrq(b"Binary/small.bin", "octet", &[]));
        assert_eq!((op, block), (3, 1));
        plain.connect(from).unwrap();
        let w1 = UdpSocket::bind((CLIENT_IP, 0)).unwrap();
        w1.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let (op, _, _, from) = ask(
            &w1,
            &rrq(
                b"Binary/small.bin",
                "octet",
                &[("blksize", "1024"), ("windowsize", "1")],
            ),
        );
        assert_eq!(op, 6, "OACK");
        w1.connect(from).unwrap();
        w1.send(b"\x00\x04\x00\x00").unwrap();
        let mut buf = [0u8; 2000];
        let n = w1.recv(&mut buf).expect("DATA 1");
        assert_eq!(&buf[..4.min(n)], b"\x00\x03\x00\x01");
        let sent = Instant::now();
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        let mut ends = Vec::new();
        for sock in [&plain, &w1] {
            sock.set_read_timeout(Some(Duration::from_secs(8))).unwrap();
            let mut data = 0;
            let end = loop {
                match sock.recv(&mut buf) {
                    Ok(n) if n >= 4 && buf[1] == 5 => {
                        let msg = String::from_utf8_lossy(&buf[4..n])
                            .trim_end_matches('\0')
                            .to_string();
                        break Some((msg, sent.elapsed()));
                    }
                    Ok(n) if n >= 4 && buf[1] == 3 => data += 1,
                    Ok(_) => {}
                    Err(_) => break None,
                }
            };
            ends.push((data, end));
        }
        ends
    });
    for (data, end) in ends {
        let (msg, after) = end.expect("an ERROR after SIGTERM");
        assert_eq!(data, 0, "DATA before the shutdown ERROR");
        assert!(msg.contains("shutting down"), "{msg:?}");
        assert!(
            after < Duration::from_secs(3),
            "ERROR {after:?} after SIGTERM"
        );
    }
    let status = s.daemon.wait_exit(Duration::from_secs(5)).expect("exit");
    assert!(status.success(), "{status:?}");
    // Each transfer ended by SIGTERM has its log line, as any other end.
    let log = s.daemon.log();
    let aborted = log
        .lines()
        .filter(|l| l.contains("transfer") && l.contains("aborted"))
        .count();
    assert_eq!(aborted, 2, "{log}");
}

#[test]
fn sighup_moves_the_instruction_file_to_the_new_server_address() {
    skip_unless_root!();
    let s = setup("", false);
    let work = s.work();
    let root = s.root();
    let Setup {
        _lab: lab,
        mut daemon,
        dir,
        ..
    } = s;
    let c = lab.client(0);
    let host = SERVER_IP.to_string();
    let out = run_in(
        c,
        &work,
        "tftp",
        &["-m", "binary", &host, "-c", "get", "os_ins.alu", "ins1"],
    );
    let ins1 = fs::read_to_string(work.join("ins1")).unwrap_or_else(|_| panic!("{out:?}"));
    assert!(ins1.contains("TFTP Server IP:192.168.92.246\n"), "{ins1}");
    assert!(ins1.contains("Config filename:os_conf\n"), "{ins1}");

    // An invalid config is refused on SIGHUP: the old one stays.
    let site = dir.path().join("site.toml");
    let good = fs::read_to_string(&site).unwrap();
    fs::write(
        dir.path().join("tftp.toml"),
        "[server]\nlisten = \"0.0.0.0:69\"\nbogus = 1\n[files]\nroot = \"root\"\n",
    )
    .unwrap();
    daemon.signal(nix::sys::signal::Signal::SIGHUP).unwrap();
    daemon
        .wait_notify("RELOADING=1", Duration::from_secs(10))
        .unwrap();
    daemon
        .wait_notify("READY=1", Duration::from_secs(10))
        .unwrap();
    let out = run_in(
        c,
        &work,
        "tftp",
        &["-m", "binary", &host, "-c", "get", "os_ins.alu", "ins2"],
    );
    let ins2 = fs::read_to_string(work.join("ins2")).unwrap_or_else(|_| panic!("{out:?}"));
    assert_eq!(ins1, ins2);

    // The installer changes the server address (and the AOS 6 config name).
    fs::write(&site, good.replace("192.168.92.246", "192.168.92.247")).unwrap();
    fs::write(
        dir.path().join("tftp.toml"),
        "[server]\nlisten = \"0.0.0.0:69\"\n[files]\nroot = \"root\"\n[omniswitch]\nconfig-file = \"site_conf\"\n",
    )
    .unwrap();
    daemon.signal(nix::sys::signal::Signal::SIGHUP).unwrap();
    daemon
        .wait_notify("RELOADING=1", Duration::from_secs(10))
        .unwrap();
    daemon
        .wait_notify("READY=1", Duration::from_secs(10))
        .unwrap();
    let out = run_in(
        c,
        &work,
        "tftp",
        &["-m", "binary", &host, "-c", "get", "os_ins.alu", "ins3"],
    );
    let ins3 = fs::read_to_string(work.join("ins3")).unwrap_or_else(|_| panic!("{out:?}"));
    assert!(ins3.contains("TFTP Server IP:192.168.92.247\n"), "{ins3}");
    assert!(ins3.contains("Config filename:site_conf\n"), "{ins3}");

    // An imported file takes precedence, with the macro expanded; removing
    // it brings the generated one back.
    let imported = root.join("Omniswitch/os_ins.alu");
    fs::write(
        &imported,
        "Custom instruction\nTFTP Server IP:${server_ip}\n",
    )
    .unwrap();
    let out = run_in(
        c,
        &work,
        "tftp",
        &["-m", "binary", &host, "-c", "get", "os_ins.alu", "ins4"],
    );
    let ins4 = fs::read_to_string(work.join("ins4")).unwrap_or_else(|_| panic!("{out:?}"));
    assert_eq!(ins4, "Custom instruction\nTFTP Server IP:192.168.92.247\n");
    fs::remove_file(&imported).unwrap();
    let out = run_in(
        c,
        &work,
        "tftp",
        &["-m", "binary", &host, "-c", "get", "os_ins.alu", "ins5"],
    );
    let ins5 = fs::read_to_string(work.join("ins5")).unwrap_or_else(|_| panic!("{out:?}"));
    assert_eq!(ins5, ins3);
}

#[test]
fn uploads_refused_by_default_and_capped_when_enabled() {
    skip_unless_root!();
    // Default: WRQ refused with ERROR 2.
    let s = setup("", false);
    let (op, code, msg, _) = in_netns(s.client(), || {
        let sock = UdpSocket::bind((CLIENT_IP, 0)).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut w = rrq(b"log.txt", "octet", &[]);
        w[1] = 2;
        ask(&sock, &w)
    });
    assert_eq!((op, code), (5, 2), "{msg}");
    drop(s);

    // The upload folder must exist before start (check refuses otherwise).
    let s = setup_with(
        "[uploads]\nenabled = true\nmax-size = \"64KiB\"\n",
        false,
        |root| fs::create_dir_all(root.join("uploads")).unwrap(),
    );
    let c = s.client();
    let work = s.work();
    let host = SERVER_IP.to_string();
    let payload = pattern(50_000, 5);
    fs::write(work.join("up.bin"), &payload).unwrap();
    let text = b"a\nb\rc\n".repeat(1000);
    fs::write(work.join("up.txt"), &text).unwrap();
    // tftp-hpa put (octet), atftp put with options, tftp-hpa netascii put.
    let out = run_in(
        c,
        &work,
        "tftp",
        &["-m", "binary", &host, "-c", "put", "up.bin", "up.bin"],
    );
    assert_same(
        &s.root().join("uploads/up.bin"),
        &work.join("up.bin"),
        "tftp-hpa put",
        &out,
    );
    let out = run_in(
        c,
        &work,
        "atftp",
        &[
            "--option",
            "blksize 1468",
            "--option",
            "windowsize 8",
            "-p",
            "-l",
            "up.bin",
            "-r",
            "uploads/atftp.bin",
            &host,
        ],
    );
    assert_same(
        &s.root().join("uploads/atftp.bin"),
        &work.join("up.bin"),
        "atftp put 1468/8",
        &out,
    );
    let out = run_in(
        c,
        &work,
        "tftp",
        &["-m", "netascii", &host, "-c", "put", "up.txt", "up.txt"],
    );
    assert_same(
        &s.root().join("uploads/up.txt"),
        &work.join("up.txt"),
        "tftp-hpa netascii put",
        &out,
    );
    // Never overwrite: ERROR 6. Too large: ERROR 3 and nothing left behind.
    let big = pattern(100_000, 6);
    fs::write(work.join("big.bin"), &big).unwrap();
    let out = run_in(
        c,
        &work,
        "tftp",
        &["-m", "binary", &host, "-c", "put", "up.txt", "up.bin"],
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("code 6")
            || String::from_utf8_lossy(&out.stdout).contains("code 6"),
        "{out:?}"
    );
    assert_eq!(fs::read(s.root().join("uploads/up.bin")).unwrap(), payload);
    let out = run_in(
        c,
        &work,
        "tftp",
        &["-m", "binary", &host, "-c", "put", "big.bin", "big.bin"],
    );
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("code 3"), "{said}");
    let left: Vec<_> = fs::read_dir(s.root().join("uploads"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!left.iter().any(|n| n.contains("big")), "{left:?}");
    // Uploads go to the upload folder only.
    let out = run_in(
        c,
        &work,
        "tftp",
        &["-m", "binary", &host, "-c", "put", "up.bin", "Binary/x.bin"],
    );
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("code 2"), "{said}");
    assert!(!s.root().join("Binary/x.bin").exists());
}

#[test]
fn per_device_cfg_is_rendered_from_its_template() {
    skip_unless_root!();
    let extra = "[[devices.device]]\nmac = \"00:90:8f:61:a0:23\"\nmodel = \"420HD\"\nvars = { extension = \"202\" }\n\
                 [[devices.device]]\nmac = \"00:90:8f:61:a0:24\"\nvars = { extension = \"203\" }\n";
    let s = setup_with(extra, false, |root| {
        fs::create_dir_all(root.join("ThirdParty_Devices/templates")).unwrap();
        fs::write(
            root.join("ThirdParty_Devices/templates/420HD.cfg"),
            "model=${model}\nmac=${mac}\next=${extension}\nserver=${server_ip}\n",
        )
        .unwrap();
        fs::write(
            root.join("ThirdParty_Devices/templates/default.cfg"),
            "generic ext=${extension}\n",
        )
        .unwrap();
    });
    let c = s.client();
    let work = s.work();
    let host = SERVER_IP.to_string();
    let out = run_in(
        c,
        &work,
        "busybox",
        &[
            "tftp",
            "-g",
            "-r",
            "00-90-8F-61-A0-23.cfg",
            "-l",
            "d1",
            &host,
        ],
    );
    let d1 = fs::read_to_string(work.join("d1")).unwrap_or_else(|_| panic!("{out:?}"));
    assert_eq!(
        d1,
        "model=420HD\nmac=00908f61a023\next=202\nserver=192.168.92.246\n"
    );
    let out = run_in(
        c,
        &work,
        "tftp",
        &[
            "-m",
            "binary",
            &host,
            "-c",
            "get",
            "/tftpboot/00908f61a024.cfg",
            "d2",
        ],
    );
    let d2 = fs::read_to_string(work.join("d2")).unwrap_or_else(|_| panic!("{out:?}"));
    assert_eq!(d2, "generic ext=203\n");
    // An unknown MAC is not rendered.
    let out = run_in(
        c,
        &work,
        "tftp",
        &["-m", "binary", &host, "-c", "get", "00908f61a099.cfg", "d3"],
    );
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("code 1"), "{said}");
}

#[test]
fn transfers_use_the_configured_port_range_and_caps() {
    skip_unless_root!();
    // Own config: the [server] table carries the port range and caps.
    let lab = Lab::builder()
        .client_with_address(CLIENT_IP)
        .build()
        .expect("lab");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    fs::create_dir_all(root.join("Binary")).unwrap();
    fs::write(root.join("Binary/small.bin"), pattern(100_000, 3)).unwrap();
    fs::create_dir_all(dir.path().join("run")).unwrap();
    fs::write(
        dir.path().join("site.toml"),
        format!(
            "runtime-directory = \"{}\"\n",
            dir.path().join("run").display()
        ),
    )
    .unwrap();
    fs::write(
        dir.path().join("tftp.toml"),
        "[server]\nlisten = \"0.0.0.0:69\"\nport-range = \"40000-40003\"\nmax-transfers = 4\nmax-transfers-per-client = 2\n[files]\nroot = \"root\"\n",
    )
    .unwrap();
    let bin = Path::new(env!("CARGO_BIN_EXE_pbxnet-tftpd"));
    let mut daemon = Daemon::spawn(
        lab.server(),
        bin,
        &["--config", dir.path().to_str().unwrap(), "run"],
    )
    .unwrap();
    daemon.wait_ready(Duration::from_secs(20)).unwrap();
    let answers = in_netns(lab.client(0), || {
        // Three requests held open (never ACKed): two admitted from ports in
        // the range, the third refused by the per-client cap.
        let mut out = Vec::new();
        let mut socks = Vec::new();
        for _ in 0..3 {
            let sock = UdpSocket::bind((CLIENT_IP, 0)).unwrap();
            sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let (op, code, msg, from) = ask(&sock, &rrq(b"Binary/small.bin", "octet", &[]));
            out.push((op, code, msg, from));
            socks.push(sock);
        }
        // Abort the two transfers: the slots come back at once (polled: the
        // release is internal, there is nothing to wait on).
        for (sock, (_, _, _, from)) in socks.iter().zip(&out).take(2) {
            sock.send_to(b"\x00\x05\x00\x00done\x00", from).unwrap();
        }
        let sock = UdpSocket::bind((CLIENT_IP, 0)).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut again = None;
        for _ in 0..50 {
            let a = ask(&sock, &rrq(b"Binary/small.bin", "octet", &[]));
            if a.0 == 3 {
                again = Some(a);
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        (out, again)
    });
    let (out, again) = answers;
    for (op, block, _, from) in &out[..2] {
        assert_eq!((*op, *block), (3, 1));
        assert!((40_000..=40_003).contains(&from.port()), "{from}");
    }
    assert_eq!(
        (out[2].0, out[2].1),
        (5, 0),
        "third request: {:?}",
        out[2].2
    );
    assert!(out[2].2.contains("busy"), "{}", out[2].2);
    let again = again.expect("a slot after the ERRORs");
    assert!((40_000..=40_003).contains(&again.3.port()));
    assert!(daemon.log().contains("concurrency cap reached"));
}

/// curl 7.88 refuses `tsize 0` in an OACK, so an empty file could not be
/// fetched: the server leaves an empty file's tsize out of the OACK.
#[test]
fn curl_fetches_an_empty_file() {
    skip_unless_root!();
    let s = setup_with("", false, |root| {
        fs::write(root.join("Binary/empty.bin"), b"").unwrap();
    });
    let url = format!("tftp://{SERVER_IP}/Binary/empty.bin");
    let out = run_in(
        s.client(),
        &s.work(),
        "curl",
        &["-sS", "-o", "empty.out", &url],
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(fs::read(s.work().join("empty.out")).unwrap(), b"");
}

/// A device template that fails to render is the server's configuration
/// error: the client gets ERROR 0 and the refusal is counted as
/// `config-error`, not `not-found`.
#[test]
fn template_error_is_counted_as_config_error() {
    skip_unless_root!();
    let extra = "[[devices.device]]\nmac = \"00:90:8f:61:a0:23\"\n";
    let s = setup_with(extra, false, |root| {
        fs::create_dir_all(root.join("ThirdParty_Devices/templates")).unwrap();
        fs::write(
            root.join("ThirdParty_Devices/templates/default.cfg"),
            "mac=${mac}\n",
        )
        .unwrap();
    });
    // Broken after start (check would refuse it at start).
    fs::write(
        s.root().join("ThirdParty_Devices/templates/default.cfg"),
        "name=${undefined}\n",
    )
    .unwrap();
    let (op, code, msg, _) = in_netns(s.client(), || {
        let sock = UdpSocket::bind((CLIENT_IP, 0)).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        ask(&sock, &rrq(b"00908f61a023.cfg", "octet", &[]))
    });
    assert_eq!((op, code), (5, 0), "{msg}");
    let st = status_when(&s, |_| true);
    let refused = &st["totals"]["refused"];
    assert_eq!(refused["config-error"], 1, "{st}");
    assert!(refused.get("not-found").is_none(), "{st}");
}

/// With serve-secured-config = false, the refusal is decided on where the
/// file resolves: a symlink to the secured folder, or to a file in it, is
/// refused like the folder's own name (ERROR 2), and logged as such.
#[test]
fn secured_config_is_refused_by_where_the_path_resolves() {
    skip_unless_root!();
    let s = setup_with("", false, |root| {
        std::os::unix::fs::symlink("Secured_Config", root.join("sc")).unwrap();
        std::os::unix::fs::symlink("Secured_Config/secret.ini", root.join("link.ini")).unwrap();
    });
    let answers = in_netns(s.client(), || {
        let sock = UdpSocket::bind((CLIENT_IP, 0)).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        ["sc/secret.ini", "link.ini", "inside_link"]
            .map(|name| {
                let (op, code, msg, _) = ask(&sock, &rrq(name.as_bytes(), "octet", &[]));
                (name, op, code, msg)
            })
            .to_vec()
    });
    assert_eq!((answers[0].1, answers[0].2), (5, 2), "{answers:?}");
    assert_eq!((answers[1].1, answers[1].2), (5, 2), "{answers:?}");
    assert!(
        answers[0].3.contains("Secured_Config is not served"),
        "{answers:?}"
    );
    // A symlink elsewhere inside the root is still served.
    assert_eq!((answers[2].1, answers[2].2), (3, 1), "{answers:?}");
}

/// The same RRQ twice from one client port (a client retransmitting before
/// the first DATA came) starts one transfer: DATA 1 comes from one server
/// port only, and the repeat is counted.
#[test]
fn a_repeated_request_from_the_same_port_starts_one_transfer() {
    skip_unless_root!();
    let s = setup("[transfer]\ninitial-rto = \"5s\"\n", false);
    let sources = in_netns(s.client(), || {
        let sock = UdpSocket::bind((CLIENT_IP, 0)).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(700)))
            .unwrap();
        let req = rrq(b"Binary/small.bin", "octet", &[]);
        let server = SocketAddr::from((SERVER_IP, 69));
        sock.send_to(&req, server).unwrap();
        sock.send_to(&req, server).unwrap();
        let mut buf = [0u8; 2000];
        let mut from = Vec::new();
        while let Ok((n, f)) = sock.recv_from(&mut buf) {
            if n >= 4 && buf[1] == 3 && !from.contains(&f) {
                from.push(f);
            }
        }
        from
    });
    assert_eq!(sources.len(), 1, "DATA from {sources:?}");
    let st = status_when(&s, |_| true);
    assert_eq!(st["totals"]["duplicate_requests"], 1, "{st}");
}

/// Any LAN host may upload: the upload folder as a whole is bounded by
/// uploads.folder-quota. 25 uploads of 2 MiB into a 10 MiB quota: at most
/// five are stored, the others get ERROR 3, and the folder stays within it.
#[test]
fn uploads_stop_at_the_folder_quota() {
    skip_unless_root!();
    let extra = "[uploads]\nenabled = true\nmax-size = \"4MiB\"\nfolder-quota = \"10MiB\"\n";
    let s = setup_with(extra, false, |root| {
        fs::create_dir_all(root.join("uploads")).unwrap();
    });
    let work = s.work();
    fs::write(work.join("two.bin"), pattern(2 << 20, 9)).unwrap();
    let host = SERVER_IP.to_string();
    let mut refused = 0;
    for i in 0..25 {
        let name = format!("u{i}.bin");
        let out = run_in(
            s.client(),
            &work,
            "tftp",
            &["-m", "binary", &host, "-c", "put", "two.bin", &name],
        );
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if said.contains("code 3") {
            refused += 1;
        }
    }
    let stored: Vec<u64> = fs::read_dir(s.root().join("uploads"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .collect();
    let total: u64 = stored.iter().sum();
    assert!(total <= 10 << 20, "{total} bytes in {stored:?}");
    assert_eq!(stored.len(), 5, "{stored:?}");
    assert_eq!(refused, 20);
}

/// RFC 1350 §4: a datagram to a transfer's port from another port (a
/// foreign TID) is answered with ERROR 5 from that port, and the transfer
/// goes on undisturbed to the last byte (also when the stranger's port is
/// closed and the ERROR 5 draws an ICMP error); status counts both.
#[test]
fn a_foreign_transfer_id_gets_error_5_and_the_transfer_goes_on() {
    skip_unless_root!();
    let s = setup("[transfer]\ninitial-rto = \"5s\"\n", false);
    let (answer, received) = in_netns(s.client(), || {
        let client = UdpSocket::bind((CLIENT_IP, 0)).unwrap();
        let stranger = UdpSocket::bind((CLIENT_IP, 0)).unwrap();
        for sock in [&client, &stranger] {
            sock.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        }
        let req = rrq(b"Binary/small.bin", "octet", &[]);
        client.send_to(&req, (SERVER_IP, 69)).unwrap();
        let mut buf = [0u8; 600];
        let (n, transfer_port) = client.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..4], &[0, 3, 0, 1], "DATA 1 first");
        let mut received = buf[4..n].to_vec();
        // The stranger acknowledges block 1 to the transfer's port.
        stranger.send_to(&[0, 4, 0, 1], transfer_port).unwrap();
        let (m, from) = stranger.recv_from(&mut buf).unwrap();
        assert_eq!(from, transfer_port, "ERROR 5 comes from the transfer port");
        let answer = buf[..m].to_vec();
        // A second stranger is gone before the ERROR 5 arrives: the ICMP
        // port unreachable it draws is not the client's and must not end
        // the transfer.
        let gone = UdpSocket::bind((CLIENT_IP, 0)).unwrap();
        gone.send_to(&[0, 4, 0, 1], transfer_port).unwrap();
        drop(gone);
        std::thread::sleep(Duration::from_millis(200));
        // The client carries on in lock-step to the end.
        let ack = |block: u16| [0, 4, (block >> 8) as u8, block as u8];
        let (mut block, mut last) = (1u16, n);
        while last == 516 {
            client.send_to(&ack(block), transfer_port).unwrap();
            let (n, from) = client.recv_from(&mut buf).unwrap();
            assert_eq!(from, transfer_port);
            block = block.wrapping_add(1);
            assert_eq!(
                &buf[..4],
                &[0, 3, (block >> 8) as u8, block as u8],
                "DATA {block}"
            );
            received.extend_from_slice(&buf[4..n]);
            last = n;
        }
        client.send_to(&ack(block), transfer_port).unwrap();
        (answer, received)
    });
    assert_eq!(&answer[..4], &[0, 5, 0, 5], "ERROR 5, got {answer:?}");
    assert_eq!(
        received,
        pattern(1_000_003, 1),
        "the transfer was not disturbed"
    );
    // The count arrives with the finished transfer.
    let st = status_when(&s, |st| st["totals"]["foreign_tids"] == 2);
    assert_eq!(st["totals"]["foreign_tids"], 2, "{st}");
    assert_eq!(st["totals"]["outcomes"]["complete"], 1, "{st}");
}

/// A client that goes away mid-transfer: the retransmission to its closed
/// port draws ICMP port unreachable, and the transfer ends at once
/// ("unreachable") instead of after every retry (about 9 s here).
#[test]
fn a_client_gone_mid_transfer_ends_it_at_the_next_retransmission() {
    skip_unless_root!();
    let s = setup(
        "[transfer]
initial-rto = \"300ms\"\nmin-rto = \"300ms\"\n",
        false,
    );
    in_netns(s.client(), || {
        let client = UdpSocket::bind((CLIENT_IP, 0)).unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(3)))
            .unwrap();
        let req = rrq(b"Binary/small.bin", "octet", &[]);
        client.send_to(&req, (SERVER_IP, 69)).unwrap();
        let mut buf = [0u8; 600];
        let (_, _) = client.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..4], &[0, 3, 0, 1], "DATA 1 first");
    });
    let started = Instant::now();
    let st = status_when(&s, |st| st["totals"]["outcomes"]["unreachable"] == 1);
    assert_eq!(st["totals"]["outcomes"]["unreachable"], 1, "{st}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

/// `status --json` of the test's daemon, polled until `done` holds on it
/// (at most 5 s; then the last answer, for the assertion to show).
fn status_when(s: &Setup, done: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let out = Command::new(env!("CARGO_BIN_EXE_pbxnet-tftpd"))
            .args([
                "--config",
                s.dir.path().to_str().unwrap(),
                "status",
                "--json",
            ])
            .output()
            .unwrap();
        let st: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        if done(&st) || Instant::now() > deadline {
            return st;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
