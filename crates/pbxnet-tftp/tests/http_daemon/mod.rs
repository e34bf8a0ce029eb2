//! The daemon on loopback for the HTTP and HTTPS tests (no namespaces):
//! started on free high ports with its own tree, spoken to with raw
//! streams. Each test crate uses a part of it.
#![allow(dead_code)]

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The daemon, killed when the test ends (passing or not).
pub(crate) struct Running {
    pub(crate) child: Child,
    pub(crate) http: String,
    pub(crate) dir: tempfile::TempDir,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default();
            eprintln!("daemon log:\n{log}");
        }
    }
}

pub(crate) fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 251) as u8).collect()
}

pub(crate) fn free_ports() -> (u16, u16) {
    let t = TcpListener::bind("127.0.0.1:0").unwrap();
    let u = UdpSocket::bind("127.0.0.1:0").unwrap();
    (
        t.local_addr().unwrap().port(),
        u.local_addr().unwrap().port(),
    )
}

pub(crate) fn start() -> Running {
    start_with("")
}

pub(crate) fn start_with(extra: &str) -> Running {
    start_prepared(extra, |_| {})
}

/// As [`start_with`], with `prepare` run on the config directory first.
pub(crate) fn start_prepared(extra: &str, prepare: impl FnOnce(&std::path::Path)) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    for d in ["Binary", "ThirdParty_Devices", "Secured_Config", "uploads"] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    fs::write(root.join("Binary/small.bin"), pattern(300_001)).unwrap();
    fs::write(
        root.join("ThirdParty_Devices/phone.cfg"),
        b"server=${server_ip}\n",
    )
    .unwrap();
    fs::write(root.join("Secured_Config/secret.ini"), b"password=x\n").unwrap();
    let run = dir.path().join("run");
    fs::create_dir_all(&run).unwrap();
    let site = format!(
        "server-address = \"192.0.2.77\"\nruntime-directory = \"{}\"\nstate-directory = \"{}\"\n",
        run.display(),
        dir.path().display()
    );
    fs::write(dir.path().join("site.toml"), site).unwrap();
    let (http, tftp) = free_ports();
    let extra = extra.replace("HTTPS_PORT", &free_ports().0.to_string());
    let conf = format!(
        "[server]\nlisten = \"127.0.0.1:{tftp}\"\n[files]\nroot = \"root\"\nserve-secured-config = true\n\
         [http]\nenabled = true\nlisten = \"127.0.0.1:{http}\"\n{extra}"
    );
    fs::write(dir.path().join("tftp.toml"), conf).unwrap();
    prepare(dir.path());
    let child = Command::new(env!("CARGO_BIN_EXE_pbxnet-tftpd"))
        .args(["--config", dir.path().to_str().unwrap(), "run"])
        .stdout(Stdio::null())
        .stderr(fs::File::create(dir.path().join("daemon.log")).unwrap())
        .spawn()
        .unwrap();
    let running = Running {
        child,
        http: format!("127.0.0.1:{http}"),
        dir,
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(&running.http).is_err() {
        assert!(
            Instant::now() < deadline,
            "daemon not listening on {}",
            running.http
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    running
}

/// A response: status, fields (lower-case names), body.
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) fields: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Response {
    pub(crate) fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Send `request` and read one response (the body by Content-Length, none
/// for HEAD and 304).
pub(crate) fn exchange(
    conn: &mut BufReader<TcpStream>,
    request: &str,
    head_only: bool,
) -> Response {
    conn.get_mut().write_all(request.as_bytes()).unwrap();
    let mut line = String::new();
    conn.read_line(&mut line).unwrap();
    let status: u16 = line.split(' ').nth(1).unwrap_or("0").parse().unwrap();
    let mut fields = Vec::new();
    loop {
        let mut l = String::new();
        conn.read_line(&mut l).unwrap();
        let l = l.trim_end();
        if l.is_empty() {
            break;
        }
        let (n, v) = l.split_once(':').unwrap();
        fields.push((n.to_ascii_lowercase(), v.trim().to_string()));
    }
    let mut r = Response {
        status,
        fields,
        body: Vec::new(),
    };
    let len: usize = r.field("content-length").map_or(0, |v| v.parse().unwrap());
    if !head_only && status != 304 {
        r.body = vec![0; len];
        conn.read_exact(&mut r.body).unwrap();
    }
    r
}

pub(crate) fn connect(d: &Running) -> BufReader<TcpStream> {
    let s = TcpStream::connect(&d.http).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    BufReader::new(s)
}

pub(crate) fn get(path: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: t\r\nUser-Agent: http-test\r\n{extra}\r\n")
}

pub(crate) fn status_json(d: &Running) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_pbxnet-tftpd"))
        .args([
            "--config",
            d.dir.path().to_str().unwrap(),
            "status",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Wait for the self-signed certificate: the listeners are bound before
/// start-up, the certificate is made at start-up.
pub(crate) fn wait_for_certificate(d: &Running) {
    let cert = d.dir.path().join("tftpd/https-selfsigned.crt");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cert.exists() {
        assert!(Instant::now() < deadline, "no self-signed certificate made");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The port of `[https] listen` in a tftp.toml.
pub(crate) fn https_port(conf: &str) -> String {
    let https = conf.split("[https]").nth(1).unwrap();
    let after = https.split("127.0.0.1:").nth(1).unwrap();
    after.split('"').next().unwrap().to_string()
}
