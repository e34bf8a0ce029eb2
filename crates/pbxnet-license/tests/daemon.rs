//! `pbxnet-licd run` as a real process: readiness through `NOTIFY_SOCKET`,
//! the control socket (`status`, `try-and-buy-use`), inotify on the key
//! directory, the state file across SIGTERM and restart, and a corrupt state
//! file. When the test runs as root, the daemon runs as `nobody` (setpriv)
//! to show it needs no privilege: its state and socket directories come
//! from license.toml.
//!
//! licd has no network peer, so no namespace is needed; its peers are the
//! CLI and the local socket.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pbxnet_license::PersistedState;
use serde_json::Value;

const KEYGEN: &str = env!("CARGO_BIN_EXE_pbxnet-keygen");
const LICD: &str = env!("CARGO_BIN_EXE_pbxnet-licd");
const SERIAL: &str = "000068DA";

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

fn ok(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .env_remove("PBXNET_CONFIG")
        .output()
        .expect("spawn");
    assert!(
        out.status.success(),
        "{program} {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

struct Site {
    dir: tempfile::TempDir,
}

impl Site {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let s = Site { dir };
        ok(KEYGEN, &["keypair", s.p("vendor").to_str().unwrap()]);
        for d in ["keys", "state", "run"] {
            std::fs::create_dir(s.p(d)).unwrap();
            if is_root() {
                let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
                nix::unistd::chown(&s.p(d), Some(nobody.uid), Some(nobody.gid)).unwrap();
            }
        }
        std::fs::write(
            s.p("license.toml"),
            "serial = \"000068DA\"\nsoftware-major-version = 3\nkey-directory = \"keys\"\n\
             public-key = \"vendor.pub.pem\"\nstate-directory = \"state\"\nruntime-directory = \"run\"\n",
        )
        .unwrap();
        s
    }

    fn p(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn issue(&self, serial: &str, edition: u32, utl: u32) -> String {
        let order = self.p("order.toml");
        std::fs::write(
            &order,
            format!(
                "serial = \"{serial}\"\ntype = \"main\"\nsoftware-major-version = 3\nedition = {edition}\n\
                 [services]\nutl = {utl}\nacd-agents = 5\n"
            ),
        )
        .unwrap();
        ok(
            KEYGEN,
            &[
                "issue",
                order.to_str().unwrap(),
                "-k",
                self.p("vendor.key.pem").to_str().unwrap(),
            ],
        )
    }

    /// Installs a main key the way an installer tool should: temp file + rename.
    fn install(&self, key: &str) {
        let tmp = self.p("keys/.incoming");
        std::fs::write(&tmp, key).unwrap();
        std::fs::rename(&tmp, self.p(&format!("keys/{SERIAL}.msl"))).unwrap();
    }

    fn status(&self) -> Value {
        let text = ok(
            LICD,
            &[
                "-c",
                self.p("license.toml").to_str().unwrap(),
                "status",
                "--json",
            ],
        );
        serde_json::from_str(&text).unwrap()
    }

    /// Waits (bounded) until the daemon reports `verdict` for the main key.
    fn wait_main_verdict(&self, verdict: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let st = self.status();
            if st["keys"][0]["verdict"] == verdict {
                return st;
            }
            assert!(
                Instant::now() < deadline,
                "main key never became {verdict}: {st:#}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

struct Daemon {
    child: Child,
    log: PathBuf,
    notify: UnixDatagram,
}

impl Daemon {
    /// Starts `pbxnet-licd run` and waits for READY=1 on a notify socket.
    fn start(site: &Site, tag: &str) -> Daemon {
        Self::start_as(site, tag, is_root())
    }

    /// Same, choosing whether to start it as `nobody` through setpriv.
    fn start_as(site: &Site, tag: &str, as_nobody: bool) -> Daemon {
        let notify_path = site.p(&format!("notify-{tag}.sock"));
        let notify = UnixDatagram::bind(&notify_path).unwrap();
        std::fs::set_permissions(&notify_path, std::fs::Permissions::from_mode(0o666)).unwrap();
        notify
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let log = site.p(&format!("licd-{tag}.log"));
        let mut cmd = if as_nobody {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", LICD]);
            c
        } else {
            Command::new(LICD)
        };
        cmd.args(["-c", site.p("license.toml").to_str().unwrap(), "run"])
            .env("NOTIFY_SOCKET", &notify_path)
            .env_remove("PBXNET_CONFIG")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        let child = cmd.spawn().expect("spawn pbxnet-licd");
        let mut d = Daemon { child, log, notify };
        d.wait_ready();
        d
    }

    /// Waits for the next READY=1 (start-up, or the end of a reload).
    fn wait_ready(&mut self) {
        let mut buf = [0u8; 512];
        loop {
            match self.notify.recv(&mut buf) {
                Ok(n)
                    if std::str::from_utf8(&buf[..n])
                        .unwrap_or("")
                        .contains("READY=1") =>
                {
                    break
                }
                Ok(_) => continue,
                Err(e) => {
                    let _ = self.child.kill();
                    panic!(
                        "no READY=1 ({e}); log:\n{}",
                        std::fs::read_to_string(&self.log).unwrap_or_default()
                    );
                }
            }
        }
    }

    fn signal(&self, sig: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), sig).unwrap();
    }

    fn terminate(mut self) -> String {
        self.signal(nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(
                    status.success(),
                    "exit {status}: {}",
                    std::fs::read_to_string(&self.log).unwrap()
                );
                break;
            }
            assert!(Instant::now() < deadline, "did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
        std::fs::read_to_string(&self.log).unwrap()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn state_file(site: &Site) -> PersistedState {
    PersistedState::from_text(&std::fs::read_to_string(site.p("state/license-state")).unwrap())
        .unwrap()
}

#[test]
fn daemon_watches_keys_persists_state_and_survives_corruption() {
    let site = Site::new();
    site.install(&site.issue(SERIAL, 2, 100));
    let d = Daemon::start(&site, "1");
    let st = site.status();
    assert_eq!(st["keys"][0]["verdict"], "valid", "{st:#}");
    assert_eq!(st["system-mode"], "normal");
    if is_root() {
        let meta = std::fs::metadata(site.p("run/pbxnet-licd.sock")).unwrap();
        assert_ne!(
            std::os::unix::fs::MetadataExt::uid(&meta),
            0,
            "socket created by the unprivileged daemon"
        );
    }

    // A key for another CPU dropped in: grace with the alarm, no restart needed.
    site.install(&site.issue("0000BEEF", 3, 300));
    let st = site.wait_main_verdict("wrong-serial");
    assert_eq!(st["keys"][0]["state"], "grace");
    assert!(st["alarm"]
        .as_str()
        .unwrap()
        .contains("Software Key problem: expires"));
    // Levels from the last valid key for this serial, not from the foreign key.
    let utl = st["keys"][0]["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "utl")
        .unwrap()
        .clone();
    assert_eq!(utl["authorized"], 100);

    // Try-and-Buy first use through the socket.
    ok(
        LICD,
        &[
            "-c",
            site.p("license.toml").to_str().unwrap(),
            "try-and-buy-use",
        ],
    );
    assert_eq!(site.status()["try-and-buy"]["state"], "running");

    // Key removed: a missing key is limited mode at once.
    std::fs::remove_file(site.p(&format!("keys/{SERIAL}.msl"))).unwrap();
    let st = site.wait_main_verdict("missing");
    assert_eq!(st["system-mode"], "limited");

    let log = d.terminate();
    assert!(log.contains("licence mode changed"), "{log}");
    let saved = state_file(&site);
    assert_eq!(saved.main.highest_edition, Some(2));
    assert!(saved.main.problem_since.is_some());
    assert!(saved.try_and_buy_started.is_some());

    // Restart: an older edition than the one accepted goes to grace.
    site.install(&site.issue(SERIAL, 1, 100));
    let d = Daemon::start(&site, "2");
    let st = site.status();
    assert_eq!(st["keys"][0]["verdict"], "older-edition", "{st:#}");
    assert_eq!(st["keys"][0]["highest-edition"], 2);
    assert_eq!(
        st["try-and-buy"]["state"], "running",
        "Try-and-Buy start survives restarts"
    );
    drop(d.terminate());

    // Corrupt state file while a foreign key sits in the directory: reported,
    // kept aside, and no grace granted for the episode in progress.
    site.install(&site.issue("0000BEEF", 3, 300));
    let path = site.p("state/license-state");
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 3;
    bytes[last] ^= 0x01;
    std::fs::write(&path, bytes).unwrap();
    let d = Daemon::start(&site, "3");
    let st = site.status();
    assert_eq!(st["state-recovered-from-corruption"], true);
    assert!(site.p("state/license-state.corrupt").exists());
    assert_eq!(st["keys"][0]["verdict"], "wrong-serial", "{st:#}");
    assert_eq!(
        st["keys"][0]["state"], "limited",
        "no grace after a corrupt state file"
    );
    assert_eq!(st["try-and-buy"]["state"], "expired");
    // A valid key ends limited mode, and the PBX is told to warm-restart.
    site.install(&site.issue(SERIAL, 4, 120));
    let st = site.wait_main_verdict("valid");
    assert_eq!(st["system-mode"], "normal");
    assert!(
        !st["warm-restart-required"].as_array().unwrap().is_empty(),
        "{st:#}"
    );
    let log = d.terminate();
    assert!(log.contains("state file is corrupt"), "{log}");
    assert!(state_file(&site).main.highest_edition == Some(4));
    // Text status renders too.
    let text = ok(
        LICD,
        &[
            "-c",
            site.p("license.toml").to_str().unwrap(),
            "status",
            "--offline",
        ],
    );
    assert!(text.contains("000068DA.msl: VALID"), "{text}");
}

#[test]
fn sighup_applies_a_new_config_and_keeps_the_old_one_on_error() {
    let site = Site::new();
    let order = site.p("trunks.toml");
    std::fs::write(
        &order,
        "serial = \"000068DA\"\ntype = \"main\"\nsoftware-major-version = 3\nedition = 1\n\
         [services]\nvoip-trunk-channels = 60\n",
    )
    .unwrap();
    site.install(&ok(
        KEYGEN,
        &[
            "issue",
            order.to_str().unwrap(),
            "-k",
            site.p("vendor.key.pem").to_str().unwrap(),
        ],
    ));
    let mut d = Daemon::start(&site, "hup");
    let trunks = |st: &Value| {
        st["keys"][0]["services"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == "voip-trunk-channels")
            .unwrap()
            .clone()
    };
    let t = trunks(&site.status());
    assert_eq!(
        (t["authorized"].as_u64(), t["activated"].as_u64()),
        (Some(60), Some(60))
    );
    let cfg = site.p("license.toml");
    let base = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        format!("{base}[hardware-limits]\nvoip-trunk-channels = 24\n"),
    )
    .unwrap();
    d.signal(nix::sys::signal::Signal::SIGHUP);
    d.wait_ready();
    let t = trunks(&site.status());
    assert_eq!(
        (t["authorized"].as_u64(), t["activated"].as_u64()),
        (Some(60), Some(24))
    );
    // A broken config is refused; the daemon keeps serving the previous one.
    std::fs::write(&cfg, base.replace("000068DA", "68DA")).unwrap();
    d.signal(nix::sys::signal::Signal::SIGHUP);
    d.wait_ready();
    // (The CLI reads the config too, so ask the socket directly.)
    let st = socket_status(&site.p("run/pbxnet-licd.sock"));
    assert_eq!(st["keys"][0]["verdict"], "valid");
    assert_eq!(trunks(&st)["activated"].as_u64(), Some(24));
    let log = d.terminate();
    assert!(log.contains("reload refused"), "{log}");
}

/// One request on the control socket: 4-byte big-endian length, then JSON.
fn socket_status(path: &std::path::Path) -> Value {
    use std::io::{Read, Write};
    let mut s = std::os::unix::net::UnixStream::connect(path).unwrap();
    let req = br#"{"cmd":"status"}"#;
    s.write_all(&(req.len() as u32).to_be_bytes()).unwrap();
    s.write_all(req).unwrap();
    let mut len = [0u8; 4];
    s.read_exact(&mut len).unwrap();
    let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
    s.read_exact(&mut body).unwrap();
    serde_json::from_slice(&body).unwrap()
}

#[test]
fn starts_without_a_key_directory_in_limited_mode() {
    let site = Site::new();
    std::fs::remove_dir(site.p("keys")).unwrap();
    let d = Daemon::start(&site, "nodir");
    let st = site.status();
    assert_eq!(st["system-mode"], "limited");
    assert_eq!(st["keys"][0]["verdict"], "missing");
    let log = d.terminate();
    assert!(log.contains("re-reading the keys every minute"), "{log}");
}

#[test]
fn started_as_root_it_drops_to_the_site_user_before_touching_state() {
    if !is_root() {
        eprintln!(
            "SKIPPED started_as_root_it_drops_to_the_site_user_before_touching_state: not root"
        );
        return;
    }
    let site = Site::new();
    std::fs::write(site.p("site.toml"), "user = \"nobody\"\n").unwrap();
    site.install(&site.issue(SERIAL, 1, 10));
    let d = Daemon::start_as(&site, "drop", false);
    assert_eq!(site.status()["keys"][0]["verdict"], "valid");
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    for f in ["run/pbxnet-licd.sock", "state/license-state"] {
        let meta = std::fs::metadata(site.p(f)).unwrap();
        assert_eq!(
            std::os::unix::fs::MetadataExt::uid(&meta),
            nobody.uid.as_raw(),
            "{f}"
        );
    }
    let log = d.terminate();
    assert!(log.contains("dropped root privileges"), "{log}");
}
