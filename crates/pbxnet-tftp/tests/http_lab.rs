//! pbxnet-tftpd's HTTP and HTTPS front ends against real peers in the
//! namespace lab (docs/testing.md, "HTTP lab").
//!
//! Server in its own namespace at 192.168.92.246; a well-behaved client at
//! 192.168.92.10 (curl, wget, openssl s_client, tftp-hpa) and, where a test
//! needs one, a hostile client at 192.168.92.11 (a raw TCP client on threads
//! moved into its namespace). The daemon runs on a scratch copy of the
//! example site (etc/tftpboot and etc/tftp.toml with its [http]/[https]
//! tables replaced by the test's own) and is waited for with READY=1. The
//! certificates are made with openssl in the test's temp dir: a lab CA, the
//! server's certificate for 192.168.92.246, a client certificate, and a
//! client certificate of another CA. Everything is asserted from what the
//! peer sees: status codes, bytes, negotiated TLS versions, and the daemon's
//! log lines and `status --json`.

use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pbxnet_inventory::{Event, Outcome, Protocol, TransferEvent};
use pbxnet_testlab::{skip_unless_root, Daemon, EventTap, Lab, Netns, SERVER_IP};

const GOOD_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 92, 10);
const BAD_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 92, 11);
const HOST: &str = "192.168.92.246";
/// Subject CN of the lab's client certificate (looked for in the log).
const CLIENT_CN: &str = "phone-00908f61a023";

static FETCH: AtomicUsize = AtomicUsize::new(0);

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

/// The example site shipped in etc/.
fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../etc")
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let kind = entry.file_type().unwrap();
        let dest = to.join(entry.file_name());
        if kind.is_dir() {
            copy_tree(&entry.path(), &dest);
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(entry.path()).unwrap(), dest).unwrap();
        } else {
            fs::copy(entry.path(), dest).unwrap();
        }
    }
}

/// Regular files under `dir`, as `/`-separated paths relative to `base`.
fn files_under(base: &Path, dir: &Path, out: &mut Vec<String>) {
    let mut entries: Vec<_> = fs::read_dir(dir).unwrap().map(|e| e.unwrap()).collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            files_under(base, &entry.path(), out);
        } else if kind.is_file() {
            let rel = entry.path().strip_prefix(base).unwrap().to_owned();
            out.push(rel.to_string_lossy().into_owned());
        }
    }
}

/// The example tftp.toml with `root` pointing at the copy and without its
/// own [http]/[https] tables (the test appends its own).
fn example_tftp_toml(root: &Path) -> String {
    let text = fs::read_to_string(example().join("tftp.toml")).unwrap();
    let mut out = String::new();
    let mut skipping = false;
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with('[') {
            let name = t.trim_start_matches('[');
            let name = name.split(']').next().unwrap_or("").trim();
            skipping = name == "http"
                || name == "https"
                || name.starts_with("http.")
                || name.starts_with("https.");
        }
        if skipping {
            continue;
        }
        if t.starts_with("root =") || t.starts_with("root=") {
            out.push_str(&format!("root = \"{}\"\n", root.display()));
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The per-device files the example configures: `<mac hex>.cfg`.
fn example_device_files() -> Vec<String> {
    let text = fs::read_to_string(example().join("tftp.toml")).unwrap();
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("mac = \""))
        .map(|rest| {
            let mac: String = rest
                .split('"')
                .next()
                .unwrap()
                .chars()
                .filter(|c| c.is_ascii_hexdigit())
                .collect();
            format!("{}.cfg", mac.to_ascii_lowercase())
        })
        .collect()
}

fn sh(dir: &Path, script: &str) -> Output {
    let out = Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Lab CA, server certificate for 192.168.92.246 (RSA, so that the RSA key
/// exchange cipher probes are meaningful), a client certificate of the lab
/// CA and one of another CA.
fn make_pki(pki: &Path) {
    fs::create_dir_all(pki).unwrap();
    fs::write(
        pki.join("server.ext"),
        "subjectAltName=IP:192.168.92.246\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    fs::write(
        pki.join("client.ext"),
        "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    sh(
        pki,
        "set -e
         for ca in ca rogue-ca; do
           openssl req -x509 -newkey rsa:2048 -nodes -keyout $ca.key -out $ca.pem -days 365 \
             -subj \"/CN=pbxnet lab $ca\" -addext basicConstraints=critical,CA:TRUE \
             -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
         done
         openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=192.168.92.246 2>/dev/null
         openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 365 \
           -extfile server.ext -out server.pem 2>/dev/null
         openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj /CN=phone-00908f61a023 2>/dev/null
         openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 365 \
           -extfile client.ext -out client.pem 2>/dev/null
         openssl req -newkey rsa:2048 -nodes -keyout rogue.key -out rogue.csr -subj /CN=rogue-phone 2>/dev/null
         openssl x509 -req -in rogue.csr -CA rogue-ca.pem -CAkey rogue-ca.key -CAcreateserial -days 365 \
           -extfile client.ext -out rogue.pem 2>/dev/null
         chmod 600 *.key",
    );
}

struct Site {
    lab: Lab,
    daemon: Daemon,
    dir: tempfile::TempDir,
}

impl Site {
    fn good(&self) -> &Netns {
        self.lab.client(0)
    }
    fn bad(&self) -> &Netns {
        self.lab.client(1)
    }
    fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }
    fn work(&self) -> PathBuf {
        self.dir.path().join("work")
    }
    fn pki(&self) -> PathBuf {
        self.dir.path().join("pki")
    }
    fn ca(&self) -> String {
        self.pki().join("ca.pem").display().to_string()
    }
    fn status(&self) -> serde_json::Value {
        let out = Command::new(env!("CARGO_BIN_EXE_pbxnet-tftpd"))
            .args([
                "--config",
                self.dir.path().to_str().unwrap(),
                "status",
                "--json",
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "status: {out:?}");
        serde_json::from_slice(&out.stdout).unwrap()
    }
    /// Subscribes to the event socket, once the daemon counts the
    /// subscriber (events are live only).
    fn subscribe(&self) -> EventTap {
        let tap = EventTap::connect(&self.dir.path().join("run/pbxnet-tftpd.events")).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.status()["events"]["subscribers"] != 1 {
            assert!(Instant::now() < deadline, "subscriber not counted");
            std::thread::sleep(Duration::from_millis(50));
        }
        tap
    }
}

/// The example site with HTTP on :80 and HTTPS on :443 (the lab CA's server
/// certificate). `http_keys` go into [http] (header-timeout is 2 s unless
/// overridden), `tables` after everything (`[[http.digest]]`,
/// `[[https.client-certificates]]`; `{pki}` in them is the folder of the
/// test's certificates); `prepare(root, dir)` runs before start.
fn start(http_keys: &str, tables: &str, prepare: impl FnOnce(&Path, &Path)) -> Site {
    let lab = Lab::builder()
        .client_with_address(GOOD_IP)
        .client_with_address(BAD_IP)
        .build()
        .expect("lab");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    copy_tree(&example().join("tftpboot"), &root);
    for d in ["work", "run", "state"] {
        fs::create_dir_all(dir.path().join(d)).unwrap();
    }
    let pki = dir.path().join("pki");
    make_pki(&pki);
    prepare(&root, dir.path());
    let tables = tables.replace("{pki}", pki.to_str().unwrap());
    fs::write(
        dir.path().join("site.toml"),
        format!(
            "server-address = \"{HOST}\"\nruntime-directory = \"{}\"\nstate-directory = \"{}\"\n[log]\nlevel = \"info\"\nformat = \"plain\"\n",
            dir.path().join("run").display(),
            dir.path().join("state").display()
        ),
    )
    .unwrap();
    let header_timeout = if http_keys.contains("header-timeout") {
        ""
    } else {
        "header-timeout = \"2s\"\n"
    };
    fs::write(
        dir.path().join("tftp.toml"),
        format!(
            "{}\n[http]\nenabled = true\nlisten = \"0.0.0.0:80\"\n{header_timeout}{http_keys}\n\
             [https]\nenabled = true\nlisten = \"0.0.0.0:443\"\ncertificate = \"{}\"\nkey = \"{}\"\n\n{tables}",
            example_tftp_toml(&root),
            pki.join("server.pem").display(),
            pki.join("server.key").display(),
        ),
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
    Site { lab, daemon, dir }
}

/// What curl saw of one transfer.
struct Fetch {
    /// HTTP status (0: no response).
    code: u16,
    body: Vec<u8>,
    /// Response headers as received.
    headers: String,
    /// curl's stderr (with -v: the TLS version negotiated).
    stderr: String,
    exit_ok: bool,
}

impl std::fmt::Debug for Fetch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetch")
            .field("code", &self.code)
            .field("body_len", &self.body.len())
            .field(
                "body_start",
                &String::from_utf8_lossy(&self.body[..self.body.len().min(160)]),
            )
            .field("headers", &self.headers)
            .field("stderr", &self.stderr)
            .field("exit_ok", &self.exit_ok)
            .finish()
    }
}

impl Fetch {
    fn header(&self, name: &str) -> Option<String> {
        self.headers.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }
}

/// `curl -sS <args> <url>` in `ns`, body and headers kept. `work` holds
/// the temporary files (and an output file named by the caller with `-C -`).
fn curl(ns: &Netns, work: &Path, args: &[&str]) -> Fetch {
    let n = FETCH.fetch_add(1, Ordering::Relaxed);
    let body = work.join(format!("body-{n}"));
    let headers = work.join(format!("headers-{n}"));
    let has_output = args.contains(&"-o");
    let mut cmd = ns.command("timeout");
    cmd.args(["60", "curl", "-sS", "-D"]).arg(&headers);
    if !has_output {
        cmd.arg("-o").arg(&body);
    }
    let out = cmd
        .args(["-w", "%{http_code}"])
        .args(args)
        .current_dir(work)
        .output()
        .expect("spawn curl");
    let code = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    let fetch = Fetch {
        code,
        body: fs::read(&body).unwrap_or_default(),
        headers: fs::read_to_string(&headers).unwrap_or_default(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        exit_ok: out.status.success(),
    };
    let _ = fs::remove_file(&body);
    let _ = fs::remove_file(&headers);
    fetch
}

fn http(path: &str) -> String {
    format!("http://{HOST}{path}")
}
fn https(path: &str) -> String {
    format!("https://{HOST}{path}")
}

/// The file as a TFTP read returns it (curl tftp://, blksize 1468), or
/// None when TFTP refuses it.
fn tftp_get(ns: &Netns, work: &Path, path: &str) -> Option<Vec<u8>> {
    let n = FETCH.fetch_add(1, Ordering::Relaxed);
    let file = work.join(format!("tftp-{n}"));
    let out = ns
        .command("timeout")
        .args(["60", "curl", "-sS", "--tftp-blksize", "1468", "-o"])
        .arg(&file)
        .arg(format!("tftp://{HOST}/{path}"))
        .output()
        .expect("spawn curl tftp");
    let got = out.status.success().then(|| fs::read(&file).unwrap());
    let _ = fs::remove_file(&file);
    got
}

fn run_in(ns: &Netns, cwd: &Path, program: &str, args: &[&str]) -> Output {
    ns.command("timeout")
        .arg("60")
        .arg(program)
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("spawn client")
}

/// The value of `key` in a `key=value` log line (quotes removed).
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let needle = format!("{key}=");
    let mut from = 0;
    while let Some(i) = line[from..].find(&needle) {
        let at = from + i;
        let boundary = at == 0 || line.as_bytes()[at - 1] == b' ';
        let rest = &line[at + needle.len()..];
        if boundary {
            return Some(if let Some(quoted) = rest.strip_prefix('"') {
                &quoted[..quoted.find('"').unwrap_or(quoted.len())]
            } else {
                &rest[..rest.find(' ').unwrap_or(rest.len())]
            });
        }
        from = at + needle.len();
    }
    None
}

/// The daemon's request log lines for the URL path `path`. The line's
/// `path` is the served (root-relative) path, or the target when nothing
/// was served: both are compared without the leading `/`, `/tpcfg/` or
/// `/securcfg/` (= Secured_Config/), ignoring case (the tree's real case).
fn request_lines(log: &str, path: &str) -> Vec<String> {
    fn plain(p: &str) -> String {
        let p = p.trim_start_matches('/');
        let p = p.strip_prefix("tpcfg/").unwrap_or(p);
        match p.strip_prefix("securcfg/") {
            Some(rest) => format!("Secured_Config/{rest}"),
            None => p.to_string(),
        }
        .to_ascii_lowercase()
    }
    let want = plain(path);
    log.lines()
        .filter(|l| {
            field(l, "status").is_some() && field(l, "path").map(plain) == Some(want.clone())
        })
        .map(str::to_string)
        .collect()
}

/// The `tls` field of a log line: None for plain HTTP (absent or "none").
fn tls_of(line: &str) -> Option<&str> {
    field(line, "tls").filter(|v| !v.is_empty() && *v != "none")
}

/// Every file of the example tree, the generated files and every rendered
/// per-MAC file of the example's devices: the same bytes over TFTP, HTTP
/// (/tpcfg/ and plain) and HTTPS (/tpcfg/, plain, and /securcfg/ for
/// Secured_Config); Secured_Config over plain HTTP is 403 without a byte of it.
#[test]
fn every_file_is_the_same_over_tftp_http_and_https() {
    skip_unless_root!();
    let s = start("", "", |_, _| {});
    let (c, work, root) = (s.good(), s.work(), s.root());
    let ca = s.ca();
    let mut paths = Vec::new();
    files_under(&root, &root, &mut paths);
    let tree_files = paths.len();
    assert!(tree_files >= 8, "example tree: {paths:?}");
    for generated in [
        "os_ins.alu",
        "os8_ins.alu",
        "hap_instruction.ini",
        "Secured_Config/hap_conf.ini",
    ] {
        paths.push(generated.to_string());
    }
    let devices = example_device_files();
    assert!(!devices.is_empty());
    paths.extend(devices);

    let mut compared = 0;
    for path in &paths {
        let over_tftp = tftp_get(c, &work, path)
            .unwrap_or_else(|| panic!("TFTP refused {path}: the example site serves it"));
        assert!(!over_tftp.is_empty() || path.ends_with(".txt"), "{path}");
        if let Ok(on_disk) = fs::read(root.join(path)) {
            if !on_disk.windows(2).any(|w| w == b"${") {
                assert!(on_disk == over_tftp, "{path}: TFTP differs from the file");
            }
        }
        let secured = path.starts_with("Secured_Config/");
        for url in [http(&format!("/tpcfg/{path}")), http(&format!("/{path}"))] {
            let f = curl(c, &work, &[&url]);
            if secured {
                assert_eq!(f.code, 403, "{url} over plain HTTP: {f:?}");
                assert!(
                    over_tftp.is_empty() || !contains(&f.body, &over_tftp),
                    "{url}: Secured_Config bytes over plain HTTP"
                );
            } else {
                assert!(f.code == 200 && f.exit_ok, "{url}: {} {}", f.code, f.stderr);
                assert!(
                    f.body == over_tftp,
                    "{url}: {} bytes, TFTP {} bytes",
                    f.body.len(),
                    over_tftp.len()
                );
            }
            compared += 1;
        }
        let mut tls_urls = vec![https(&format!("/tpcfg/{path}")), https(&format!("/{path}"))];
        if let Some(rest) = path.strip_prefix("Secured_Config/") {
            tls_urls.push(https(&format!("/securcfg/{rest}")));
            let f = curl(c, &work, &[&http(&format!("/securcfg/{rest}"))]);
            assert_eq!(f.code, 403, "/securcfg/{rest} over plain HTTP: {f:?}");
            assert!(over_tftp.is_empty() || !contains(&f.body, &over_tftp));
        }
        for url in tls_urls {
            let f = curl(c, &work, &["--cacert", &ca, &url]);
            assert_eq!(f.code, 200, "{url}: {}", f.stderr);
            assert!(
                f.body == over_tftp,
                "{url}: {} bytes, TFTP {} bytes",
                f.body.len(),
                over_tftp.len()
            );
            compared += 1;
        }
    }
    eprintln!(
        "{} paths ({tree_files} files of the example tree), {compared} HTTP(S) responses compared with TFTP",
        paths.len()
    );
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// curl and wget over HTTP, HTTPS with TLS 1.2 forced and TLS 1.3 forced:
/// same bytes, the negotiated version is the forced one (curl -v and the
/// daemon's log line agree).
#[test]
fn curl_and_wget_over_http_and_tls_12_and_13() {
    skip_unless_root!();
    let s = start("", "", |_, _| {});
    let (c, work) = (s.good(), s.work());
    let ca = s.ca();
    let path = "/tpcfg/ThirdParty_Devices/sip-phone.cfg";
    let want = tftp_get(c, &work, "ThirdParty_Devices/sip-phone.cfg").expect("tftp");

    let f = curl(c, &work, &[&http(path)]);
    assert_eq!((f.code, &f.body), (200, &want), "{}", f.stderr);
    for (flags, version) in [
        (&["--tlsv1.2", "--tls-max", "1.2"][..], "1.2"),
        (&["--tlsv1.3"][..], "1.3"),
    ] {
        let mut args = vec!["-v", "--cacert", &ca];
        args.extend_from_slice(flags);
        let url = https(path);
        args.push(&url);
        let f = curl(c, &work, &args);
        assert_eq!(f.code, 200, "{flags:?}: {}", f.stderr);
        assert_eq!(f.body, want, "{flags:?}");
        assert!(
            f.stderr
                .contains(&format!("SSL connection using TLSv{version}")),
            "{flags:?}: {}",
            f.stderr
        );
    }
    // Debian's wget is built with GnuTLS, where --secure-protocol=TLSv1_2
    // still lets TLS 1.3 through: the version is forced with a GnuTLS
    // priority string (wget's --ciphers with GnuTLS).
    for (priority, version) in [
        ("NORMAL:-VERS-TLS-ALL:+VERS-TLS1.2", "1.2"),
        ("NORMAL:-VERS-TLS-ALL:+VERS-TLS1.3", "1.3"),
    ] {
        let file = format!("wget-{version}");
        let out = run_in(
            c,
            &work,
            "wget",
            &[
                "-q",
                &format!("--ciphers={priority}"),
                &format!("--ca-certificate={ca}"),
                "-O",
                &file,
                &https(path),
            ],
        );
        assert!(out.status.success(), "wget TLS {version}: {out:?}");
        assert_eq!(
            fs::read(work.join(&file)).unwrap(),
            want,
            "wget TLS {version}"
        );
    }
    let out = run_in(c, &work, "wget", &["-q", "-O", "wget-http", &http(path)]);
    assert!(out.status.success(), "wget http: {out:?}");
    assert_eq!(fs::read(work.join("wget-http")).unwrap(), want);

    // The daemon's own account of the same requests.
    let log = s.daemon.log();
    let lines = request_lines(&log, path);
    assert_eq!(lines.len(), 6, "one line per request:\n{log}");
    let seen = |proto: &str, tls: Option<&str>, agent: &str| {
        lines.iter().any(|l| {
            field(l, "protocol") == Some(proto)
                && tls_of(l) == tls
                && field(l, "user_agent").is_some_and(|a| a.starts_with(agent))
        })
    };
    assert!(seen("http", None, "curl/"), "{lines:#?}");
    assert!(seen("http", None, "Wget/"), "{lines:#?}");
    for v in ["1.2", "1.3"] {
        assert!(seen("https", Some(v), "curl/"), "tls {v}: {lines:#?}");
        assert!(seen("https", Some(v), "Wget/"), "tls {v}: {lines:#?}");
    }
}

/// One info line per request, with client, path, method, status, bytes,
/// duration, protocol, TLS version and user agent; a 404 is logged too.
#[test]
fn each_request_has_one_log_line_with_its_fields() {
    skip_unless_root!();
    let s = start("", "", |_, _| {});
    let (c, work) = (s.good(), s.work());
    let ca = s.ca();
    let ok = "/Omniswitch/os_conf";
    let want = tftp_get(c, &work, "Omniswitch/os_conf").expect("tftp");
    for _ in 0..3 {
        let f = curl(c, &work, &["-A", "lab-agent/1", &http(ok)]);
        assert_eq!(f.code, 200);
    }
    for _ in 0..2 {
        let f = curl(
            c,
            &work,
            &[
                "-A",
                "lab-agent/2",
                "--tlsv1.3",
                "--cacert",
                &ca,
                &https(ok),
            ],
        );
        assert_eq!(f.code, 200, "{}", f.stderr);
    }
    // A per-MAC file: the line names the device.
    let device = "/tpcfg/00-90-8F-61-A0-23.cfg";
    assert_eq!(curl(c, &work, &[&http(device)]).code, 200);
    let missing = "/Binary/no-such-file.bin";
    assert_eq!(
        curl(c, &work, &["-A", "lab-agent/3", &http(missing)]).code,
        404
    );

    let log = s.daemon.log();
    let lines = request_lines(&log, ok);
    assert_eq!(lines.len(), 5, "{log}");
    for l in &lines {
        let client = field(l, "client").unwrap_or_else(|| panic!("no client: {l}"));
        assert!(client.starts_with("192.168.92.10"), "{l}");
        assert_eq!(field(l, "status"), Some("200"), "{l}");
        assert_eq!(field(l, "method"), Some("GET"), "{l}");
        assert_eq!(
            field(l, "bytes"),
            Some(want.len().to_string().as_str()),
            "{l}"
        );
        assert!(field(l, "duration_ms").is_some(), "{l}");
        assert!(l.contains("INFO") || l.contains("info"), "{l}");
    }
    let plain: Vec<_> = lines
        .iter()
        .filter(|l| field(l, "protocol") == Some("http"))
        .collect();
    assert_eq!(plain.len(), 3, "{lines:#?}");
    assert!(plain
        .iter()
        .all(|l| field(l, "user_agent") == Some("lab-agent/1") && tls_of(l).is_none()));
    let tls: Vec<_> = lines
        .iter()
        .filter(|l| field(l, "protocol") == Some("https"))
        .collect();
    assert_eq!(tls.len(), 2, "{lines:#?}");
    assert!(tls
        .iter()
        .all(|l| field(l, "user_agent") == Some("lab-agent/2") && tls_of(l) == Some("1.3")));
    let missed = request_lines(&log, missing);
    assert_eq!(missed.len(), 1, "{log}");
    assert_eq!(field(&missed[0], "status"), Some("404"));
    assert_eq!(field(&missed[0], "user_agent"), Some("lab-agent/3"));
    let rendered: Vec<_> = log
        .lines()
        .filter(|l| field(l, "status") == Some("200") && field(l, "mac") == Some("00908f61a023"))
        .collect();
    assert_eq!(rendered.len(), 1, "mac of {device}:\n{log}");
    assert!(
        lines.iter().all(|l| field(l, "mac") == Some("none")),
        "{lines:#?}"
    );
}

/// A folder with `required = true`: without a certificate 403, with the
/// lab CA's certificate 200 (curl and wget) and its subject in the log
/// line; a certificate of another CA never gets the file; other folders
/// need none; the folder is not served over plain HTTP.
#[test]
fn a_folder_requiring_a_client_certificate() {
    skip_unless_root!();
    let s = start(
        "",
        "[[https.client-certificates]]\nfolder = \"ThirdParty_Devices\"\nca = \"{pki}/ca.pem\"\nrequired = true\n",
        |_, _| {},
    );
    let (c, work, pki) = (s.good(), s.work(), s.pki());
    let ca = s.ca();
    let cert = pki.join("client.pem").display().to_string();
    let key = pki.join("client.key").display().to_string();
    let rogue = pki.join("rogue.pem").display().to_string();
    let rogue_key = pki.join("rogue.key").display().to_string();
    let path = "/tpcfg/ThirdParty_Devices/sip-phone.cfg";
    let want = tftp_get(c, &work, "ThirdParty_Devices/sip-phone.cfg").expect("tftp");

    for versions in [&["--tlsv1.3"][..], &["--tlsv1.2", "--tls-max", "1.2"][..]] {
        let base = [&["--cacert", ca.as_str()][..], versions].concat();
        let tls = versions[0];
        let without = curl(c, &work, &[&base[..], &[&https(path)]].concat());
        assert_eq!(without.code, 403, "{tls} without certificate: {without:?}");
        assert!(!contains(&without.body, &want));
        let plain_path = "/ThirdParty_Devices/sip-phone.cfg";
        let with = curl(
            c,
            &work,
            &[
                &base[..],
                &["--cert", &cert, "--key", &key, &https(plain_path)],
            ]
            .concat(),
        );
        assert_eq!(with.code, 200, "{tls} with certificate: {}", with.stderr);
        assert_eq!(with.body, want);
        let other = curl(
            c,
            &work,
            &[
                &base[..],
                &["--cert", &rogue, "--key", &rogue_key, &https(path)],
            ]
            .concat(),
        );
        assert_ne!(other.code, 200, "{tls} other CA's certificate: {other:?}");
        assert!(!contains(&other.body, &want));
    }
    // Another folder needs no certificate.
    let f = curl(
        c,
        &work,
        &["--cacert", &ca, &https("/tpcfg/Binary/README.txt")],
    );
    assert_eq!(f.code, 200, "{}", f.stderr);
    // The guarded folder is not handed out without TLS.
    let f = curl(c, &work, &[&http(path)]);
    assert_eq!(
        f.code, 403,
        "plain HTTP of a client-certificate folder: {f:?}"
    );
    assert!(!contains(&f.body, &want));
    // wget presents the certificate too.
    let out = run_in(
        c,
        &work,
        "wget",
        &[
            "-q",
            &format!("--ca-certificate={ca}"),
            &format!("--certificate={cert}"),
            &format!("--private-key={key}"),
            "-O",
            "wget-cert",
            &https(path),
        ],
    );
    assert!(out.status.success(), "wget with certificate: {out:?}");
    assert_eq!(fs::read(work.join("wget-cert")).unwrap(), want);
    let out = run_in(
        c,
        &work,
        "wget",
        &[
            "-q",
            &format!("--ca-certificate={ca}"),
            "-O",
            "wget-nocert",
            &https(path),
        ],
    );
    assert!(!out.status.success(), "wget without certificate got it");

    let log = s.daemon.log();
    let granted: Vec<_> = log
        .lines()
        .filter(|l| field(l, "status") == Some("200") && l.contains("ThirdParty_Devices"))
        .collect();
    assert_eq!(granted.len(), 3, "{log}");
    assert!(
        granted
            .iter()
            .all(|l| field(l, "client_cert").is_some_and(|c| c.contains(CLIENT_CN))),
        "subject in every granted line: {granted:#?}"
    );
    assert!(!log.contains("rogue-phone") || !granted.iter().any(|l| l.contains("rogue")));
}

/// `printf name:realm:password | <sum>` as hex.
fn digest_ha1(sum: &str, name: &str, password: &str) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("printf '%s' '{name}:pbxnet:{password}' | {sum}"))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// `[[http.digest]]` on two folders. Omniswitch: an installer with a
/// SHA-256 HA1 and a phone with both; ThirdParty_Devices: the phone with an
/// MD5 HA1 only (AudioCodes firmware), so only MD5 is offered there. No
/// credentials or a wrong password: 401 with a Digest challenge; the right
/// one: 200 with the bytes TFTP serves; curl (SHA-256 where offered first,
/// else MD5) and wget (MD5 only; exit 6 on refusal); HTTP and HTTPS.
#[test]
fn digest_authentication_on_a_folder() {
    skip_unless_root!();
    let tables = format!(
        "[[http.digest]]\nfolder = \"Omniswitch\"\nrealm = \"pbxnet\"\nusers = [\n  {{ name = \"installer\", ha1 = \"sha256:{}\" }},\n  {{ name = \"phone\", ha1 = \"sha256:{}\" }},\n  {{ name = \"phone\", ha1 = \"md5:{}\" }},\n]\n\
         [[http.digest]]\nfolder = \"ThirdParty_Devices\"\nrealm = \"pbxnet\"\nusers = [ {{ name = \"phone\", ha1 = \"md5:{}\" }} ]\n",
        digest_ha1("sha256sum", "installer", "s3cret-installer"),
        digest_ha1("sha256sum", "phone", "s3cret-phone"),
        digest_ha1("md5sum", "phone", "s3cret-phone"),
        digest_ha1("md5sum", "phone", "s3cret-phone"),
    );
    let s = start("", &tables, |_, _| {});
    let (c, work) = (s.good(), s.work());
    let ca = s.ca();
    let os_conf = tftp_get(c, &work, "Omniswitch/os_conf").expect("tftp");
    let sip = tftp_get(c, &work, "ThirdParty_Devices/sip-phone.cfg").expect("tftp");
    let both: &[(&str, &str)] = &[("installer", "s3cret-installer"), ("phone", "s3cret-phone")];
    let phone: &[(&str, &str)] = &[("phone", "s3cret-phone")];
    let cases = [
        (http("/tpcfg/Omniswitch/os_conf"), &os_conf, both, "SHA-256"),
        (https("/Omniswitch/os_conf"), &os_conf, both, "SHA-256"),
        (
            http("/ThirdParty_Devices/sip-phone.cfg"),
            &sip,
            phone,
            "MD5",
        ),
        (
            https("/tpcfg/ThirdParty_Devices/sip-phone.cfg"),
            &sip,
            phone,
            "MD5",
        ),
    ];
    for (url, want, users, first_algorithm) in cases {
        let tls: &[&str] = if url.starts_with("https") {
            &["--cacert", &ca]
        } else {
            &[]
        };
        let none = curl(c, &work, &[tls, &[&url]].concat());
        assert_eq!(none.code, 401, "{url}: {none:?}");
        let challenge = none.header("www-authenticate").unwrap_or_default();
        assert!(
            challenge.starts_with("Digest ")
                && challenge.contains(&format!("algorithm={first_algorithm}")),
            "{url}: {}",
            none.headers
        );
        if first_algorithm == "MD5" {
            assert!(!none.headers.contains("SHA-256"), "{url}: {}", none.headers);
        }
        assert!(!contains(&none.body, want));
        for (user, right) in users {
            let wrong = curl(
                c,
                &work,
                &[tls, &["--digest", "-u", &format!("{user}:wrong"), &url]].concat(),
            );
            assert_eq!(wrong.code, 401, "{url} {user} wrong password");
            assert!(!contains(&wrong.body, want));
            let good = curl(
                c,
                &work,
                &[tls, &["--digest", "-u", &format!("{user}:{right}"), &url]].concat(),
            );
            assert_eq!(good.code, 200, "{url} {user}: {good:?}");
            assert_eq!(&good.body, want, "{url} {user}");
        }
        // wget speaks MD5 digest only: the phone's account.
        let mut args = vec!["-q".to_string()];
        if url.starts_with("https") {
            args.push(format!("--ca-certificate={ca}"));
        }
        for (password, expect_ok) in [("wrong", false), ("s3cret-phone", true)] {
            let file = format!("wget-digest-{}", FETCH.fetch_add(1, Ordering::Relaxed));
            let mut a = args.clone();
            a.extend([
                "--user=phone".to_string(),
                format!("--password={password}"),
                "-O".to_string(),
                file.clone(),
                url.clone(),
            ]);
            let a: Vec<&str> = a.iter().map(String::as_str).collect();
            let out = run_in(c, &work, "wget", &a);
            assert_eq!(
                out.status.success(),
                expect_ok,
                "wget {url} {password}: {out:?}"
            );
            if expect_ok {
                assert_eq!(&fs::read(work.join(&file)).unwrap(), want);
            } else {
                // wget's exit 6: authentication failure.
                assert_eq!(out.status.code(), Some(6), "{out:?}");
            }
        }
    }
    // Other folders need no credentials.
    assert_eq!(curl(c, &work, &[&http("/Binary/README.txt")]).code, 200);
}

/// `openssl s_client` as the probe: TLS 1.0, 1.1, RC4 and non-ECDHE or
/// CBC suites are refused; TLS 1.2 (ECDHE AEAD) and 1.3 are accepted. The
/// client's own floor is lowered (`@SECLEVEL=0`) so that a refusal is the
/// server's; a suite this OpenSSL cannot offer at all is reported and not
/// counted as refused.
#[test]
fn openssl_s_client_refuses_old_versions_and_weak_ciphers() {
    skip_unless_root!();
    let s = start("", "", |_, _| {});
    let (c, work) = (s.good(), s.work());
    let ca = s.ca();
    let probe = |flags: &[&str]| -> (bool, String) {
        let mut args = vec![
            "s_client",
            "-brief",
            "-connect",
            "192.168.92.246:443",
            "-CAfile",
            &ca,
        ];
        args.extend_from_slice(flags);
        let out = c
            .command("timeout")
            .args(["20", "openssl"])
            .args(&args)
            .stdin(std::process::Stdio::null())
            .current_dir(&work)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (text.contains("CONNECTION ESTABLISHED"), text)
    };
    let offerable = |cipher: &str| {
        Command::new("openssl")
            .args(["ciphers", "-tls1_2", &format!("{cipher}:@SECLEVEL=0")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    for (flags, what) in [
        (&["-tls1", "-cipher", "DEFAULT:@SECLEVEL=0"][..], "TLS 1.0"),
        (
            &["-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"][..],
            "TLS 1.1",
        ),
    ] {
        let (ok, text) = probe(flags);
        assert!(!ok, "{what} accepted:\n{text}");
    }
    let mut skipped = Vec::new();
    for cipher in [
        "RC4-SHA",
        "AES128-SHA",
        "AES256-GCM-SHA384",
        "ECDHE-RSA-AES128-SHA",
        "DES-CBC3-SHA",
    ] {
        if !offerable(cipher) {
            skipped.push(cipher);
            continue;
        }
        let c2 = format!("{cipher}:@SECLEVEL=0");
        let (ok, text) = probe(&["-tls1_2", "-cipher", &c2]);
        assert!(!ok, "TLS 1.2 {cipher} accepted:\n{text}");
    }
    assert!(
        skipped.len() < 5,
        "this openssl offers none of the weak suites: {skipped:?}"
    );
    if !skipped.is_empty() {
        eprintln!("not offerable by this openssl (not probed): {skipped:?}");
    }
    let (ok, text) = probe(&["-tls1_2"]);
    assert!(ok && text.contains("Protocol version: TLSv1.2"), "{text}");
    assert!(text.contains("Ciphersuite: ECDHE-"), "{text}");
    let (ok, text) = probe(&["-tls1_3"]);
    assert!(ok && text.contains("Protocol version: TLSv1.3"), "{text}");
}

const BIG_LEN: usize = 24 * 1024 * 1024 + 4321;

/// `curl -C -` on a partial download completes it byte-exact (206), over
/// HTTP and HTTPS; `curl -z` (If-Modified-Since) and If-None-Match with the
/// ETag of a first response get 304 without a body, for a file, a rendered
/// per-MAC file and a generated one; a changed file or a foreign ETag gets
/// the whole file again.
#[test]
fn resumed_downloads_and_conditional_requests() {
    skip_unless_root!();
    let s = start("", "", |root, _| {
        fs::write(root.join("Binary/big.img"), pattern(BIG_LEN, 7)).unwrap();
    });
    let (c, work, root) = (s.good(), s.work(), s.root());
    let ca = s.ca();
    let original = fs::read(root.join("Binary/big.img")).unwrap();
    for (name, url, tls) in [
        ("resume-http", http("/tpcfg/Binary/big.img"), false),
        ("resume-https", https("/Binary/big.img"), true),
    ] {
        fs::write(work.join(name), &original[..9_000_001]).unwrap();
        let mut args = vec!["-C", "-", "-o", name];
        if tls {
            args.extend(["--cacert", &ca]);
        }
        args.push(&url);
        let f = curl(c, &work, &args);
        assert_eq!(f.code, 206, "{url}: {}", f.stderr);
        assert!(
            f.header("content-range")
                .is_some_and(|r| r.starts_with(&format!("bytes 9000001-{}/{BIG_LEN}", BIG_LEN - 1))),
            "{}",
            f.headers
        );
        let got = fs::read(work.join(name)).unwrap();
        assert!(
            got == original,
            "{url}: resumed file differs ({} bytes)",
            got.len()
        );
    }

    // (path, over TLS, a plain file: it must carry Last-Modified). Rendered
    // and generated content has no file date of its own; it is validated by
    // its ETag (and by a date only when the server gives one).
    for (path, tls, dated) in [
        ("/Binary/big.img", false, true),
        ("/tpcfg/Binary/big.img", true, true),
        ("/tpcfg/00908f61a023.cfg", false, false),
        ("/os_ins.alu", true, false),
        ("/tpcfg/ThirdParty_Devices/sip-phone.cfg", true, false),
    ] {
        let url = if tls { https(path) } else { http(path) };
        let tls_args: &[&str] = if tls { &["--cacert", &ca] } else { &[] };
        // First response: the file with its Last-Modified (-R puts it on
        // the local copy for -z) and its ETag.
        let local = format!("cond-{}", FETCH.fetch_add(1, Ordering::Relaxed));
        let first = curl(c, &work, &[tls_args, &["-R", "-o", &local, &url]].concat());
        assert_eq!(first.code, 200, "{url}: {}", first.stderr);
        let etag = first
            .header("etag")
            .unwrap_or_else(|| panic!("{url}: no ETag in {}", first.headers));
        let full = fs::read(work.join(&local)).unwrap();
        assert!(
            !dated || first.header("last-modified").is_some(),
            "{url}: {}",
            first.headers
        );
        if first.header("last-modified").is_some() {
            let by_date = curl(c, &work, &[tls_args, &["-z", &local, &url]].concat());
            assert_eq!(by_date.code, 304, "{url} -z: {}", by_date.headers);
            assert!(by_date.body.is_empty(), "{url}: 304 with a body");
        }

        let inm = format!("If-None-Match: {etag}");
        let by_tag = curl(c, &work, &[tls_args, &["-H", &inm, &url]].concat());
        assert_eq!(by_tag.code, 304, "{url} If-None-Match: {}", by_tag.headers);
        assert!(by_tag.body.is_empty(), "{url}: 304 with a body");
        assert_eq!(by_tag.header("etag").as_deref(), Some(etag.as_str()));

        let foreign = curl(
            c,
            &work,
            &[tls_args, &["-H", "If-None-Match: \"not-this-one\"", &url]].concat(),
        );
        assert_eq!(foreign.code, 200, "{url}");
        assert!(foreign.body == full, "{url}: foreign ETag");
    }

    // The file changes: the old ETag and date no longer match.
    let path = "/ThirdParty_Devices/sip-phone.cfg";
    let first = curl(c, &work, &[&http(path)]);
    let etag = first.header("etag").expect("etag");
    std::thread::sleep(Duration::from_millis(1100));
    let mut changed = fs::read(root.join("ThirdParty_Devices/sip-phone.cfg")).unwrap();
    changed.extend_from_slice(b"# edited\n");
    fs::write(root.join("ThirdParty_Devices/sip-phone.cfg"), &changed).unwrap();
    let again = curl(
        c,
        &work,
        &["-H", &format!("If-None-Match: {etag}"), &http(path)],
    );
    assert_eq!(again.code, 200, "changed file: {}", again.headers);
    assert!(again.body.ends_with(b"# edited\n"));
    assert_ne!(again.header("etag"), Some(etag));
}

/// Where a secret lives: the test's root, Secured_Config, and a file beside
/// the root reachable only by escaping it.
const SECRET_IN_SECURED: &str = "SECURED-7f3a9c-secret";
const SECRET_OUTSIDE: &str = "OUTSIDE-51be02-secret";

/// Every escape gets 400/403/404 (an over-long path any 4xx) over HTTP,
/// HTTPS and raw TCP, and no response holds a secret: `..`, `%2e%2e`,
/// `%2f`, double encoding, backslashes, symlinks out of the root, NUL,
/// absolute paths, Secured_Config over plain HTTP.
#[test]
fn path_escapes_serve_nothing() {
    skip_unless_root!();
    let s = start("", "", |root, dir| {
        fs::write(
            root.join("Secured_Config/secret.ini"),
            format!("{SECRET_IN_SECURED}\n"),
        )
        .unwrap();
        fs::write(dir.join("outside.txt"), format!("{SECRET_OUTSIDE}\n")).unwrap();
        std::os::unix::fs::symlink(dir.join("outside.txt"), root.join("Binary/escape_link"))
            .unwrap();
        std::os::unix::fs::symlink(dir, root.join("escape_dir")).unwrap();
    });
    let (c, work) = (s.good(), s.work());
    let ca = s.ca();
    let long = format!("/Binary/{}", "a/".repeat(6000));
    let escapes: Vec<(String, bool)> = vec![
        ("/../outside.txt".into(), false),
        ("/tpcfg/../../outside.txt".into(), false),
        ("/Binary/../../outside.txt".into(), false),
        ("/%2e%2e/outside.txt".into(), false),
        ("/tpcfg/%2e%2e/%2E%2E/outside.txt".into(), false),
        ("/%2e%2e%2foutside.txt".into(), false),
        ("/Binary%2f..%2f..%2foutside.txt".into(), false),
        ("/%252e%252e/outside.txt".into(), false),
        ("/%252e%252e%252foutside.txt".into(), false),
        ("/..%5c..%5coutside.txt".into(), false),
        ("/Binary/escape_link".into(), false),
        ("/tpcfg/Binary/escape_link".into(), false),
        ("/escape_dir/outside.txt".into(), false),
        ("/Binary/README.txt%00.png".into(), false),
        ("/escape_dir%00/outside.txt".into(), false),
        ("/%2fetc/passwd".into(), false),
        ("//etc/passwd".into(), false),
        ("/tpcfg//etc/passwd".into(), false),
        ("/securcfg/../../outside.txt".into(), false),
        (long, true),
    ];
    // Over plain HTTP, Secured_Config by its own URLs is 403; spelled
    // otherwise (case, `..`, encoding) it is refused all the same.
    let plain_secured: [(&str, &[u16]); 6] = [
        ("/securcfg/secret.ini", &[403]),
        ("/Secured_Config/secret.ini", &[403]),
        ("/tpcfg/Secured_Config/secret.ini", &[403]),
        ("/secured_config/SECRET.ini", &[403, 404]),
        ("/Binary/../Secured_Config/secret.ini", &[400, 403, 404]),
        ("/%53ecured_Config/secret.ini", &[400, 403, 404]),
    ];
    let leaked = |body: &[u8]| {
        contains(body, SECRET_OUTSIDE.as_bytes())
            || contains(body, b"root:x:0:0")
            || contains(body, SECRET_IN_SECURED.as_bytes())
    };
    let mut checked = 0;
    for (path, any_4xx) in &escapes {
        for tls in [false, true] {
            let url = if tls { https(path) } else { http(path) };
            let tls_args: &[&str] = if tls { &["--cacert", &ca] } else { &[] };
            let f = curl(c, &work, &[tls_args, &["--path-as-is", &url]].concat());
            let allowed = if *any_4xx {
                (400..500).contains(&f.code)
            } else {
                [400, 403, 404].contains(&f.code)
            };
            assert!(
                allowed,
                "{} {path}: {} {}",
                if tls { "https" } else { "http" },
                f.code,
                f.stderr
            );
            assert!(!leaked(&f.body), "{url}: secret in the response");
            checked += 1;
        }
    }
    for (path, codes) in plain_secured {
        let f = curl(c, &work, &["--path-as-is", &http(path)]);
        assert!(codes.contains(&f.code), "plain HTTP {path}: {f:?}");
        assert!(!leaked(&f.body), "{path}: secret over plain HTTP");
        checked += 1;
    }
    // Over HTTPS the Secured_Config file itself is served (the control):
    // the refusals above are about the escape, not a broken folder.
    let f = curl(c, &work, &["--cacert", &ca, &https("/securcfg/secret.ini")]);
    assert_eq!(f.code, 200, "{}", f.stderr);
    assert!(contains(&f.body, SECRET_IN_SECURED.as_bytes()));

    // Raw TCP: what curl will not send.
    let raw = [
        "GET ../outside.txt HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /..\\..\\outside.txt HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET http://192.168.92.246/../outside.txt HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /Binary/escape_link HTTP/1.0\r\n\r\n",
        "GET /Binary/README.txt\0.png HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /securcfg/secret.ini HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /Secured_Config/secret.ini HTTP/1.0\r\n\r\n",
        "GET /Secured_Config/./secret.ini HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /tpcfg/%2e%2e/%2e%2e/outside.txt HTTP/1.1\r\nHost: x\r\n\r\n",
    ];
    let answers = in_netns(c, move || {
        raw.iter()
            .map(|req| {
                let mut stream = TcpStream::connect((HOST, 80)).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(5)))
                    .unwrap();
                stream.write_all(req.as_bytes()).unwrap();
                let mut got = Vec::new();
                let _ = stream.read_to_end(&mut got);
                (req.to_string(), got)
            })
            .collect::<Vec<_>>()
    });
    for (req, got) in answers {
        let code = status_of(&got);
        assert!(
            matches!(code, Some(400 | 403 | 404)),
            "{req:?}: {:?}",
            String::from_utf8_lossy(&got[..got.len().min(200)])
        );
        assert!(!leaked(&got), "{req:?}: secret in the response");
        checked += 1;
    }
    eprintln!("{checked} escape attempts refused");
}

/// The status code of a raw HTTP response.
fn status_of(response: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(response.get(..12)?).ok()?;
    let rest = text.strip_prefix("HTTP/1.")?;
    rest.get(2..5)?.parse().ok()
}

/// A thread moved into a client namespace (threads it spawns stay there).
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

/// What a raw client got back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// An HTTP response with this status.
    Status(u16),
    /// The server closed (or reset) without a byte.
    Closed,
    /// A TLS alert record.
    TlsAlert,
    /// Connection refused.
    Refused,
    /// Nothing within the wait, connection still open.
    Silent,
    /// Bytes that are neither HTTP nor a TLS alert.
    Other,
}

fn classify(got: &[u8]) -> Answer {
    if got.is_empty() {
        Answer::Closed
    } else if let Some(code) = status_of(got) {
        Answer::Status(code)
    } else if got[0] == 0x15 && got.len() >= 7 {
        Answer::TlsAlert
    } else {
        Answer::Other
    }
}

/// Sends `payload` on a new connection to `port` (then half-closes when
/// asked) and reads the answer: an HTTP status line, an alert, or the close.
fn exchange(port: u16, payload: &[u8], half_close: bool, wait: Duration) -> Answer {
    let Ok(mut stream) = TcpStream::connect_timeout(&(SERVER_IP, port).into(), wait) else {
        return Answer::Refused;
    };
    stream.set_read_timeout(Some(wait)).unwrap();
    // The server may answer and close before it has read everything.
    let _ = stream.write_all(payload);
    if half_close {
        let _ = stream.shutdown(Shutdown::Write);
    }
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                got.extend_from_slice(&buf[..n]);
                let head_line = got.starts_with(b"HTTP/") && contains(&got, b"\r\n");
                if head_line || (got[0] == 0x15 && got.len() >= 7) || got.len() > 65536 {
                    break;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return if got.is_empty() {
                    Answer::Silent
                } else {
                    classify(&got)
                };
            }
            Err(_) => break,
        }
    }
    classify(&got)
}

struct XorShift(u64);
impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Request `i` of the hostile client: (port, bytes, half-close). Kinds
/// 0–9 are malformed HTTP on port 80, 10–11 broken TLS on 443.
const BAD_KINDS: usize = 12;
fn bad_request(i: usize) -> (u16, Vec<u8>, bool) {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15 ^ (i as u64 + 1).wrapping_mul(0x2545_f491));
    let mut random = |n: usize| -> Vec<u8> { (0..n).map(|_| rng.next() as u8).collect() };
    let text = |s: &str| s.as_bytes().to_vec();
    match i % BAD_KINDS {
        0 => (80, text("GARBAGE\r\n\r\n"), false),
        1 => (80, text("GET\r\n\r\n"), false),
        2 => (80, text("GET / XTTP/1.1\r\nHost: x\r\n\r\n"), false),
        3 => (80, text("GET /Binary/README.txt HTTP/1.1\r\nHost x\r\n\r\n"), false),
        4 => (
            80,
            text("GET /Binary/README.txt HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n"),
            false,
        ),
        5 => (
            80,
            text("GET /Binary/README.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
            false,
        ),
        6 => {
            let mut v = text("GET /Binary/README.txt HTTP/1.1\r\nHost: x\r\nX-Big: ");
            v.extend(std::iter::repeat_n(b'a', 20_000 + i % 1000));
            v.extend_from_slice(b"\r\n\r\n");
            (80, v, false)
        }
        7 => {
            let len = 1 + (i * 7919) % 600;
            let mut v = random(len);
            v[0] = 0x01;
            v.extend_from_slice(b"\r\n\r\n");
            (80, v, false)
        }
        8 => (80, b"GET /\0 HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), false),
        9 => (80, text("GET /a b HTTP/1.1\r\nHost: x\r\n\r\n"), false),
        10 => {
            // A ClientHello record announcing 512 bytes, cut after a few.
            let mut v = vec![0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03];
            v.extend(random(20 + i % 40));
            (443, v, true)
        }
        _ => {
            let mut v = random(1 + (i * 104_729) % 700);
            v[0] = 0x16;
            (443, v, true)
        }
    }
}

/// 5,000 malformed requests (bad request lines, huge headers, random bytes,
/// truncated and garbage TLS handshakes) and 100 slowloris connections (a
/// byte a second; header-timeout 2 s) plus 20 stalled TLS handshakes from
/// one client, while another fetches over HTTP and HTTPS in a loop: every
/// good fetch gets the right bytes, every bad request is answered 4xx or
/// closed (never 2xx/5xx, never left open), and `status --json` counts the
/// malformed requests and the timeouts. Bounded well under 60 s.
#[test]
fn malformed_requests_and_slowloris_do_not_disturb_good_clients() {
    skip_unless_root!();
    const MALFORMED: usize = 5000;
    const SLOW_HTTP: usize = 100;
    const SLOW_TLS: usize = 20;
    let s = start("max-connections-per-client = 256\n", "", |_, _| {});
    let (c, work) = (s.good(), s.work());
    let ca = s.ca();
    let started = Instant::now();
    let good_urls = [
        (http("/ThirdParty_Devices/sip-phone.cfg"), false),
        (https("/securcfg/hap_conf.ini"), true),
        (http("/tpcfg/os_ins.alu"), false),
    ];
    let reference: Vec<Vec<u8>> = good_urls
        .iter()
        .map(|(url, tls)| {
            let args: Vec<&str> = if *tls {
                vec!["--cacert", &ca, url]
            } else {
                vec![url]
            };
            let f = curl(c, &work, &args);
            assert_eq!(f.code, 200, "{url}: {}", f.stderr);
            f.body
        })
        .collect();

    let done = Arc::new(AtomicBool::new(false));
    let bad_ns = s.bad().clone();
    let done_bad = done.clone();
    let hostile = std::thread::spawn(move || {
        let result = in_netns(&bad_ns, move || {
            let slow_answers = Arc::new(Mutex::new(Vec::new()));
            let mut slow = Vec::new();
            for k in 0..SLOW_HTTP + SLOW_TLS {
                let answers = slow_answers.clone();
                slow.push(std::thread::spawn(move || {
                    let tls = k >= SLOW_HTTP;
                    let port = if tls { 443 } else { 80 };
                    let script: &[u8] = if tls {
                        &[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, 0, 0]
                    } else {
                        b"GET /Binary/README.txt HTTP/1.1\r\nHost: 192.168.92.246\r\nX-Slow: abcdefghijklmnopq"
                    };
                    let t0 = Instant::now();
                    let answer = match TcpStream::connect((SERVER_IP, port)) {
                        Err(_) => Answer::Refused,
                        Ok(mut stream) => {
                            stream
                                .set_read_timeout(Some(Duration::from_secs(1)))
                                .unwrap();
                            let mut answer = Answer::Silent;
                            let mut buf = [0u8; 4096];
                            for byte in script {
                                if stream.write_all(&[*byte]).is_err() {
                                    answer = Answer::Closed;
                                    break;
                                }
                                match stream.read(&mut buf) {
                                    Ok(0) => {
                                        answer = Answer::Closed;
                                        break;
                                    }
                                    Ok(n) => {
                                        answer = classify(&buf[..n]);
                                        break;
                                    }
                                    Err(e)
                                        if matches!(
                                            e.kind(),
                                            std::io::ErrorKind::WouldBlock
                                                | std::io::ErrorKind::TimedOut
                                        ) => {}
                                    Err(_) => {
                                        answer = Answer::Closed;
                                        break;
                                    }
                                }
                                if t0.elapsed() > Duration::from_secs(8) {
                                    break;
                                }
                            }
                            answer
                        }
                    };
                    answers
                        .lock()
                        .unwrap()
                        .push((tls, answer, t0.elapsed()));
                }));
            }
            let workers: Vec<_> = (0..8)
                .map(|w| {
                    std::thread::spawn(move || {
                        (w..MALFORMED)
                            .step_by(8)
                            .map(|i| {
                                let (port, bytes, half) = bad_request(i);
                                (i, exchange(port, &bytes, half, Duration::from_secs(5)))
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            let mut malformed: Vec<(usize, Answer)> = Vec::new();
            for w in workers {
                malformed.extend(w.join().unwrap());
            }
            for t in slow {
                t.join().unwrap();
            }
            let slow = slow_answers.lock().unwrap().clone();
            (malformed, slow)
        });
        done_bad.store(true, Ordering::SeqCst);
        result
    });

    let mut good = 0;
    let mut round = 0;
    while !done.load(Ordering::SeqCst) || good < 10 {
        let k = round % good_urls.len();
        let (url, tls) = &good_urls[k];
        let args: Vec<&str> = if *tls {
            vec!["--cacert", &ca, url]
        } else {
            vec![url]
        };
        let f = curl(c, &work, &args);
        assert_eq!(f.code, 200, "good fetch {round} {url}: {}", f.stderr);
        assert!(
            f.body == reference[k],
            "good fetch {round} {url}: bytes differ"
        );
        good += 1;
        round += 1;
        assert!(started.elapsed() < Duration::from_secs(55), "not bounded");
    }
    let (malformed, slow) = hostile.join().expect("hostile client");

    let mut by_answer = std::collections::BTreeMap::<String, usize>::new();
    for (i, answer) in &malformed {
        *by_answer.entry(format!("{answer:?}")).or_default() += 1;
        let port = bad_request(*i).0;
        let fine = match answer {
            Answer::Status(code) => (400..500).contains(code),
            Answer::Closed => true,
            Answer::TlsAlert => port == 443,
            Answer::Refused | Answer::Silent | Answer::Other => false,
        };
        assert!(
            fine,
            "bad request {i} (kind {}): {answer:?}: {:?}",
            i % BAD_KINDS,
            String::from_utf8_lossy(&bad_request(*i).1[..bad_request(*i).1.len().min(80)])
        );
    }
    assert_eq!(malformed.len(), MALFORMED);
    for (tls, answer, after) in &slow {
        let fine = matches!(
            answer,
            Answer::Closed | Answer::Status(408) | Answer::TlsAlert
        ) || matches!(answer, Answer::Status(c) if (400..500).contains(c));
        assert!(
            fine,
            "slow {} connection: {answer:?} after {after:?}",
            if *tls { "TLS" } else { "HTTP" }
        );
        assert!(
            *after >= Duration::from_millis(1500) && *after <= Duration::from_secs(5),
            "slow connection closed after {after:?} (header-timeout 2 s)"
        );
    }
    assert_eq!(slow.len(), SLOW_HTTP + SLOW_TLS);

    // Heads that do not parse (request line, header syntax, size, random
    // bytes) are `malformed`; every bad HTTP request, whatever refused it,
    // is counted under its 4xx status.
    let unparsable = (0..MALFORMED)
        .filter(|i| [0, 1, 2, 3, 6, 7, 9].contains(&(i % BAD_KINDS)))
        .count();
    let plain_bad = (0..MALFORMED).filter(|i| bad_request(*i).0 == 80).count();
    let st = s.status();
    let h = &st["http"];
    let malformed_count = h["malformed"].as_u64().unwrap_or_else(|| panic!("{st}"));
    let timeouts = h["timeouts"].as_u64().unwrap_or_else(|| panic!("{st}"));
    let counted_4xx: u64 = h["by_status"]
        .as_object()
        .unwrap_or_else(|| panic!("{st}"))
        .iter()
        .filter(|(code, _)| code.starts_with('4'))
        .map(|(_, n)| n.as_u64().unwrap_or(0))
        .sum();
    eprintln!(
        "{} malformed answered {by_answer:?}; {} slow closed; {good} good fetches in {:?}; status http: {h}",
        malformed.len(),
        slow.len(),
        started.elapsed()
    );
    assert!(
        malformed_count >= unparsable as u64,
        "status counts {malformed_count} malformed, {unparsable} unparsable heads were sent: {h}"
    );
    assert!(
        counted_4xx >= plain_bad as u64,
        "status counts {counted_4xx} 4xx, {plain_bad} bad HTTP requests were sent: {h}"
    );
    assert!(
        timeouts >= SLOW_HTTP as u64,
        "status counts {timeouts} timeouts: {h}"
    );
    assert!(started.elapsed() < Duration::from_secs(60));
}

/// A subscriber sees one event per transfer end, whatever the protocol:
/// tftp-hpa's read and a name TFTP does not have, curl's HTTP read (with
/// its User-Agent) and 404, and an HTTPS read with a client certificate
/// (its subject) and one refused without it.
#[test]
fn a_subscriber_sees_every_transfer_end() {
    skip_unless_root!();
    let s = start(
        "",
        "[[https.client-certificates]]\nfolder = \"ThirdParty_Devices\"\nca = \"{pki}/ca.pem\"\nrequired = true\n",
        |_, _| {},
    );
    let tap = s.subscribe();
    let (c, work, pki) = (s.good(), s.work(), s.pki());
    let ca = s.ca();
    let cert = pki.join("client.pem").display().to_string();
    let key = pki.join("client.key").display().to_string();
    let file = "ThirdParty_Devices/sip-phone.cfg";
    let out = run_in(
        c,
        &work,
        "tftp",
        &["-m", "binary", HOST, "-c", "get", file, "hpa-got"],
    );
    assert!(out.status.success(), "{out:?}");
    // Served as rendered (its macros expanded): the size the client got.
    let size = fs::metadata(work.join("hpa-got")).unwrap().len();
    assert!(size > 0);
    let _ = run_in(
        c,
        &work,
        "tftp",
        &[HOST, "-c", "get", "no-such.cfg", "hpa-missing"],
    );
    let f = curl(
        c,
        &work,
        &["-A", "lab-agent/7", &http("/tpcfg/Binary/README.txt")],
    );
    assert_eq!(f.code, 200, "{}", f.stderr);
    let readme = f.body.len() as u64;
    assert_eq!(curl(c, &work, &[&http("/Binary/none.bin")]).code, 404);
    let tls = ["--cacert", ca.as_str()];
    let f = curl(
        c,
        &work,
        &[
            &tls[..],
            &["--cert", &cert, "--key", &key, &https(&format!("/{file}"))],
        ]
        .concat(),
    );
    assert_eq!(f.code, 200, "{}", f.stderr);
    assert_eq!(
        curl(
            c,
            &work,
            &[&tls[..], &[&https(&format!("/{file}"))]].concat()
        )
        .code,
        403
    );

    tap.wait_for(
        Duration::from_secs(10),
        |e| matches!(&e.event, Event::Transfer(t) if t.outcome == Outcome::Denied),
    )
    .unwrap_or_else(|seen| panic!("no denied transfer; saw {seen:#?}\n{}", s.daemon.log()));
    let transfers: Vec<TransferEvent> = tap
        .events()
        .into_iter()
        .filter_map(|e| match e.event {
            Event::Transfer(t) => Some(t),
            _ => None,
        })
        .collect();
    let brief: Vec<(Protocol, &str, Outcome, u64)> = transfers
        .iter()
        .map(|t| (t.protocol, t.path.as_str(), t.outcome, t.bytes))
        .collect();
    assert_eq!(
        brief,
        [
            (Protocol::Tftp, file, Outcome::Ok, size),
            (Protocol::Tftp, "no-such.cfg", Outcome::NotFound, 0),
            (Protocol::Http, "Binary/README.txt", Outcome::Ok, readme),
            (Protocol::Http, "Binary/none.bin", Outcome::NotFound, 0),
            (Protocol::Https, file, Outcome::Ok, size),
            (Protocol::Https, file, Outcome::Denied, brief[5].3),
        ],
        "{transfers:#?}"
    );
    assert!(transfers.iter().all(|t| t.client_ip == GOOD_IP));
    assert_eq!(transfers[2].user_agent.as_deref(), Some("lab-agent/7"));
    assert!(transfers[0].user_agent.is_none());
    assert!(
        transfers[4]
            .client_cert
            .as_deref()
            .is_some_and(|c| c.contains(CLIENT_CN)),
        "{transfers:#?}"
    );
    assert_eq!(transfers[5].client_cert, None);
    let status = s.status();
    assert_eq!(status["events"]["published"], 6, "{status}");
    assert_eq!(status["events"]["dropped"], 0, "{status}");
}
