//! A site for pbxnet-admind under test: a config directory, the daemon as a
//! real process (READY=1 through NOTIFY_SOCKET), event sockets the test
//! serves itself with schema lines, fake control sockets speaking the
//! daemons' frames, and curl as the HTTP client.
#![allow(dead_code, unreachable_pub)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const ADMIND: &str = env!("CARGO_BIN_EXE_pbxnet-admind");
pub const READ_TOKEN: &str = "read-token-0123456789abcdef0123456789abcdef";
pub const ADMIN_TOKEN: &str = "admin-token-0123456789abcdef0123456789abcdef";
/// alice / "correct horse battery", role admin (Argon2id, built by
/// `pbxnet-admind hash-password` in `Site::new`).
pub const USER: &str = "alice";
pub const PASSWORD: &str = "correct horse battery";

pub fn sha256_hex(text: &str) -> String {
    pbxnet_admin::auth::sha256_hex(text)
}

pub struct Site {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub extra: String,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Site {
    pub fn new() -> Site {
        Site::with("")
    }

    /// A site whose admin.toml also has `extra` (top-level keys and tables).
    pub fn with(extra: &str) -> Site {
        let dir = tempfile::tempdir().unwrap();
        for d in ["run", "state"] {
            std::fs::create_dir(dir.path().join(d)).unwrap();
        }
        std::fs::write(
            dir.path().join("site.toml"),
            format!(
                "runtime-directory = \"{0}/run\"\nstate-directory = \"{0}/state\"\n",
                dir.path().display()
            ),
        )
        .unwrap();
        let site = Site {
            dir,
            port: free_port(),
            extra: extra.to_string(),
        };
        site.write_config(&[]);
        site
    }

    /// Writes admin.toml with the standard credentials plus `more_tokens`
    /// (name, token, role).
    pub fn write_config(&self, more_tokens: &[(&str, &str, &str)]) {
        let phc = hashed_password();
        let mut text = format!(
            "listen = \"127.0.0.1:{}\"\n{}\n[daemons]\ntimeout-ms = 300\n\n\
             [[token]]\nname = \"monitor\"\nsha256 = \"{}\"\nrole = \"read\"\n\n\
             [[token]]\nname = \"ops\"\nsha256 = \"{}\"\nrole = \"admin\"\n\n\
             [[user]]\nname = \"{USER}\"\npassword-hash = \"{phc}\"\nrole = \"admin\"\n",
            self.port,
            self.extra,
            sha256_hex(READ_TOKEN),
            sha256_hex(ADMIN_TOKEN),
        );
        for (name, token, role) in more_tokens {
            text.push_str(&format!(
                "\n[[token]]\nname = \"{name}\"\nsha256 = \"{}\"\nrole = \"{role}\"\n",
                sha256_hex(token)
            ));
        }
        std::fs::write(self.p("admin.toml"), text).unwrap();
    }

    pub fn p(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn run_dir(&self) -> PathBuf {
        self.p("run")
    }

    pub fn events_socket(&self, daemon: &str) -> PathBuf {
        self.run_dir().join(format!("pbxnet-{daemon}.events"))
    }

    pub fn control_socket(&self, daemon: &str) -> PathBuf {
        self.run_dir().join(format!("pbxnet-{daemon}.sock"))
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// `curl -X method` with an optional Authorization header and body:
    /// (status, JSON body or Null).
    pub fn http(
        &self,
        method: &str,
        path: &str,
        auth: Option<&str>,
        body: Option<&str>,
    ) -> (u16, Value) {
        let (status, text) = self.http_text(method, path, auth, body);
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub fn http_text(
        &self,
        method: &str,
        path: &str,
        auth: Option<&str>,
        body: Option<&str>,
    ) -> (u16, String) {
        let mut cmd = Command::new("curl");
        cmd.args([
            "-sS",
            "--max-time",
            "10",
            "-X",
            method,
            "-w",
            "\n%{http_code}",
        ]);
        if let Some(a) = auth {
            cmd.args(["-H", &format!("Authorization: {a}")]);
        }
        if let Some(b) = body {
            cmd.args(["-H", "Content-Type: application/json", "--data-binary", b]);
        }
        cmd.arg(self.url(path));
        let out = cmd.output().expect("curl");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
        (code.trim().parse().unwrap_or(0), body.to_string())
    }

    /// GET with the read token, expecting 200.
    pub fn get(&self, path: &str) -> Value {
        let (status, body) = self.http("GET", path, Some(&bearer(READ_TOKEN)), None);
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// Polls `path` until `done` holds (10 s).
    pub fn wait_for(&self, path: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (status, body) = self.http("GET", path, Some(&bearer(READ_TOKEN)), None);
            if status == 200 && done(&body) {
                return body;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: never true; last {status} {body:#}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

pub fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        pbxnet_admin::auth::encode_base64(format!("{user}:{password}").as_bytes())
    )
}

/// The PHC string of PASSWORD, made once per test process through the
/// daemon's own `hash-password` subcommand.
fn hashed_password() -> String {
    static PHC: Mutex<Option<String>> = Mutex::new(None);
    let mut g = PHC.lock().unwrap();
    if let Some(p) = &*g {
        return p.clone();
    }
    let mut child = Command::new(ADMIND)
        .args([
            "-c",
            "/nonexistent",
            "hash-password",
            "--name",
            USER,
            "--role",
            "admin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let phc = text
        .lines()
        .find_map(|l| {
            l.strip_prefix("password-hash = \"")
                .map(|r| r.trim_end_matches('"').to_string())
        })
        .expect("a password-hash line");
    *g = Some(phc.clone());
    phc
}

/// pbxnet-admind as a process.
pub struct Admind {
    pub child: Child,
    pub log: PathBuf,
    notify: UnixDatagram,
}

impl Admind {
    pub fn start(site: &Site, tag: &str) -> Admind {
        let notify_path = site.p(&format!("notify-{tag}.sock"));
        let _ = std::fs::remove_file(&notify_path);
        let notify = UnixDatagram::bind(&notify_path).unwrap();
        notify
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let log = site.p(&format!("admind-{tag}.log"));
        let child = Command::new(ADMIND)
            .args(["-c", site.p("admin.toml").to_str().unwrap(), "run"])
            .env("NOTIFY_SOCKET", &notify_path)
            .env("RUST_LOG", "info")
            .env_remove("PBXNET_CONFIG")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("spawn pbxnet-admind");
        let mut d = Admind { child, log, notify };
        d.wait_ready();
        d
    }

    pub fn wait_ready(&mut self) {
        let mut buf = [0u8; 512];
        loop {
            match self.notify.recv(&mut buf) {
                Ok(n) if String::from_utf8_lossy(&buf[..n]).contains("READY=1") => return,
                Ok(_) => continue,
                Err(e) => {
                    let _ = self.child.kill();
                    panic!("no READY=1 ({e}); log:\n{}", self.log_text());
                }
            }
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), sig).unwrap();
    }

    /// SIGKILL, and reaped.
    pub fn kill_9(mut self) -> String {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self.log_text()
    }

    /// SIGTERM: exits 0.
    pub fn terminate(mut self) -> String {
        self.signal(nix::sys::signal::Signal::SIGTERM);
        let status = self.child.wait().unwrap();
        let log = self.log_text();
        assert!(status.success(), "exit {status}; log:\n{log}");
        log
    }
}

impl Drop for Admind {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An event socket served by the test: every line sent goes to every
/// connected subscriber.
pub struct Publisher {
    subscribers: Arc<Mutex<Vec<UnixStream>>>,
    path: PathBuf,
}

impl Publisher {
    pub fn bind(path: &Path) -> Publisher {
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path).unwrap();
        let subscribers = Arc::new(Mutex::new(Vec::new()));
        let subs = subscribers.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                subs.lock().unwrap().push(stream);
            }
        });
        Publisher {
            subscribers,
            path: path.to_path_buf(),
        }
    }

    /// Waits until someone subscribed (10 s).
    pub fn wait_subscriber(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.subscribers.lock().unwrap().is_empty() {
            assert!(
                Instant::now() < deadline,
                "nobody subscribed to {}",
                self.path.display()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends one line (a newline is added) to every subscriber; drops the
    /// ones that went away. Returns how many got it.
    pub fn send(&self, line: &str) -> usize {
        let mut subs = self.subscribers.lock().unwrap();
        let mut data = line.as_bytes().to_vec();
        data.push(b'\n');
        subs.retain_mut(|s| s.write_all(&data).is_ok());
        subs.len()
    }

    /// Closes every subscriber's connection (the daemon restarted).
    pub fn disconnect_all(&self) {
        self.subscribers.lock().unwrap().clear();
    }
}

/// A control socket served by the test in pbxnet-runtime's frame, answering
/// with `answer(request)`; records the requests.
pub struct FakeControl {
    pub requests: Arc<Mutex<Vec<Value>>>,
}

impl FakeControl {
    pub fn serve(
        path: &Path,
        answer: impl Fn(&Value) -> Option<Value> + Send + 'static,
    ) -> FakeControl {
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path).unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                let mut len = [0u8; 4];
                if stream.read_exact(&mut len).is_err() {
                    continue;
                }
                let mut body = vec![0; u32::from_be_bytes(len) as usize];
                if stream.read_exact(&mut body).is_err() {
                    continue;
                }
                let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                seen.lock().unwrap().push(request.clone());
                // None: hold the connection without answering (a wedged daemon).
                match answer(&request) {
                    Some(a) => {
                        let bytes = serde_json::to_vec(&a).unwrap();
                        let _ = stream.write_all(&(bytes.len() as u32).to_be_bytes());
                        let _ = stream.write_all(&bytes);
                    }
                    None => {
                        std::thread::spawn(move || {
                            std::thread::sleep(Duration::from_secs(5));
                            drop(stream);
                        });
                    }
                }
            }
        });
        FakeControl { requests }
    }
}

/// Schema lines of one AudioCodes phone's good boot at `t0` (ms):
/// discover, ack, its config over HTTP, an NTP request.
pub fn phone_boot(mac: &str, ip: &str, t0: u64) -> Vec<String> {
    let compact: String = mac.chars().filter(|c| *c != ':').collect();
    vec![
        format!(
            r#"{{"v":1,"daemon":"dhcpd","at":{t0},"event":{{"type":"dhcp","message":"discover","mac":"{mac}","vendor_class":"450HD","hostname":"phone-{compact}"}}}}"#
        ),
        format!(
            r#"{{"v":1,"daemon":"dhcpd","at":{},"event":{{"type":"dhcp","message":"ack","mac":"{mac}","ip":"{ip}","class":"audiocodes-450hd","profile":"audiocodes-400hd","hostname":"phone-{compact}","lease_expires":{}}}}}"#,
            t0 + 10,
            t0 + 3_600_000
        ),
        format!(
            r#"{{"v":1,"daemon":"tftpd","at":{},"event":{{"type":"transfer","client_ip":"{ip}","path":"/{compact}.cfg","protocol":"http","bytes":1500,"outcome":"ok","user_agent":"AUDC-IPPhone/3.4.8.229 (450HD-Rev2; {})"}}}}"#,
            t0 + 1000,
            compact.to_uppercase()
        ),
        format!(
            r#"{{"v":1,"daemon":"ntpd","at":{},"event":{{"type":"ntp-request","client_ip":"{ip}","version":4,"auth":"none"}}}}"#,
            t0 + 2000
        ),
    ]
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// The four publishers of a site.
pub struct Publishers {
    pub dhcpd: Publisher,
    pub tftpd: Publisher,
    pub ntpd: Publisher,
    pub licd: Publisher,
    pub sent: u64,
}

impl Publishers {
    pub fn bind(site: &Site) -> Publishers {
        Publishers {
            dhcpd: Publisher::bind(&site.events_socket("dhcpd")),
            tftpd: Publisher::bind(&site.events_socket("tftpd")),
            ntpd: Publisher::bind(&site.events_socket("ntpd")),
            licd: Publisher::bind(&site.events_socket("licd")),
            sent: 0,
        }
    }

    pub fn wait_subscribed(&self) {
        for p in [&self.dhcpd, &self.tftpd, &self.ntpd, &self.licd] {
            p.wait_subscriber();
        }
    }

    pub fn of(&self, line: &str) -> &Publisher {
        let v: Value = serde_json::from_str(line).unwrap();
        match v["daemon"].as_str().unwrap() {
            "dhcpd" => &self.dhcpd,
            "tftpd" => &self.tftpd,
            "ntpd" => &self.ntpd,
            _ => &self.licd,
        }
    }

    /// Sends schema lines on their daemon's socket, in order: before a
    /// line from another daemon than the previous one, waits until admind
    /// applied everything sent (the sockets are independent streams).
    pub fn send_in_order(&mut self, site: &Site, lines: &[String]) {
        let mut previous: Option<String> = None;
        for line in lines {
            let v: Value = serde_json::from_str(line).unwrap();
            let daemon = v["daemon"].as_str().unwrap().to_string();
            if previous.as_ref().is_some_and(|p| *p != daemon) {
                self.wait_applied(site);
            }
            assert_eq!(self.of(line).send(line), 1, "no subscriber for {line}");
            self.sent += 1;
            previous = Some(daemon);
        }
        self.wait_applied(site);
    }

    pub fn wait_applied(&self, site: &Site) {
        let want = self.sent;
        site.wait_for("/api/v1/status", "events applied", |s| {
            s["events_applied"].as_u64() >= Some(want)
        });
    }
}
