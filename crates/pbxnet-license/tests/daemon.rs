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

use pbxnet_license::{PersistedState, Serial, StateKey};
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
        for d in ["keys", "state", "run", "statecopy"] {
            std::fs::create_dir(s.p(d)).unwrap();
            if is_root() {
                let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
                nix::unistd::chown(&s.p(d), Some(nobody.uid), Some(nobody.gid)).unwrap();
            }
        }
        std::fs::write(
            s.p("license.toml"),
            "serial = \"000068DA\"\nlab-serial = true\ntpm = \"off\"\nsoftware-major-version = 3\nkey-directory = \"keys\"\n\
             public-key = \"vendor.pub.pem\"\nstate-directory = \"state\"\nruntime-directory = \"run\"\n\
             state-copy-directory = \"statecopy\"\n",
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

fn state_key(site: &Site) -> StateKey {
    let hex = std::fs::read_to_string(site.p("statecopy/state-secret")).unwrap();
    let bytes: Vec<u8> = (0..64)
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    StateKey::derive(&bytes, Serial(0x68DA))
}

fn state_file(site: &Site) -> PersistedState {
    let text = std::fs::read_to_string(site.p("state/license-state")).unwrap();
    PersistedState::from_text(&text, &state_key(site)).unwrap()
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
    // (Both copies: one intact copy is simply used.)
    site.install(&site.issue("0000BEEF", 3, 300));
    for copy in ["state/license-state", "statecopy/license-state"] {
        let path = site.p(copy);
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 3;
        bytes[last] ^= 0x01;
        std::fs::write(&path, bytes).unwrap();
    }
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

fn run_licd(site: &Site, args: &[&str]) -> std::process::Output {
    Command::new(LICD)
        .args(["-c", site.p("license.toml").to_str().unwrap()])
        .args(args)
        .env_remove("PBXNET_CONFIG")
        .output()
        .expect("spawn pbxnet-licd")
}

/// Issue 20: `rm license-state` and a restart gave a fresh 30-day grace.
/// Now a deleted copy is restored from the other one, and with both copies
/// deleted (the state secret is still there) no new grace is granted.
#[test]
fn a_deleted_state_grants_no_new_grace() {
    let site = Site::new();
    let d = Daemon::start(&site, "del1");
    site.install(&site.issue("0000BEEF", 3, 300));
    let st = site.wait_main_verdict("wrong-serial");
    assert_eq!(st["keys"][0]["state"], "grace", "{st:#}");
    let until = st["keys"][0]["grace-until"].clone();
    let since = {
        drop(d.terminate());
        state_file(&site).main.problem_since
    };
    assert!(since.is_some());

    // One copy deleted: the other one is used, the episode goes on.
    std::fs::remove_file(site.p("state/license-state")).unwrap();
    let d = Daemon::start(&site, "del2");
    let st = site.status();
    assert_eq!(st["keys"][0]["state"], "grace", "{st:#}");
    assert_eq!(st["keys"][0]["grace-until"], until);
    let log = d.terminate();
    assert!(log.contains("one state copy is missing"), "{log}");
    assert_eq!(state_file(&site).main.problem_since, since, "episode kept");

    // Both copies deleted: detected, limited at once, logged.
    std::fs::remove_file(site.p("state/license-state")).unwrap();
    std::fs::remove_file(site.p("statecopy/license-state")).unwrap();
    let d = Daemon::start(&site, "del3");
    let st = site.status();
    assert_eq!(st["keys"][0]["verdict"], "wrong-serial", "{st:#}");
    assert_eq!(st["keys"][0]["state"], "limited", "no new grace: {st:#}");
    assert_eq!(st["state-recovered-from-deletion"], true);
    assert_eq!(st["try-and-buy"]["state"], "expired");
    let log = d.terminate();
    assert!(log.contains("state deleted"), "{log}");
}

/// Issue 20: the state carried a plain SHA-256 anyone could recompute after
/// an edit (highest edition lowered: an older key valid again).
#[test]
fn an_edited_state_is_refused_even_with_a_recomputed_sha256() {
    use sha2::{Digest, Sha256};
    let site = Site::new();
    site.install(&site.issue(SERIAL, 3, 100));
    let d = Daemon::start(&site, "edit1");
    assert_eq!(site.status()["keys"][0]["highest-edition"], 3);
    drop(d.terminate());
    for copy in ["state/license-state", "statecopy/license-state"] {
        let path = site.p(copy);
        let text = std::fs::read_to_string(&path).unwrap();
        let (header, body) = text.split_once('\n').unwrap();
        let body = body.replace("\"highest-edition\": 3", "\"highest-edition\": 1");
        let sum: String = Sha256::digest(body.strip_suffix('\n').unwrap().as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let format = header.split(' ').nth(1).unwrap();
        std::fs::write(&path, format!("pbxnet-licd-state {format} {sum}\n{body}")).unwrap();
    }
    let d = Daemon::start(&site, "edit2");
    let st = site.status();
    assert_eq!(
        st["state-recovered-from-corruption"], true,
        "the edit is detected: {st:#}"
    );
    assert_ne!(st["keys"][0]["highest-edition"], 1, "{st:#}");
    drop(d.terminate());
}

/// Issue 20: two daemons on one state directory both wrote it.
#[test]
fn a_second_daemon_on_the_same_state_refuses_to_start() {
    let site = Site::new();
    let d = Daemon::start(&site, "lock1");
    let out = run_licd(&site, &["run"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("already uses the state directory"), "{err}");
    // The first one is unaffected.
    assert_eq!(site.status()["keys"][0]["verdict"], "missing");
    drop(d.terminate());
}

/// Issue 20: `check --json` printed `[]` and exited 0 with rejected keys or
/// no public key; text `check` exited 0 in limited mode.
#[test]
fn check_fails_on_rejected_keys_and_names_the_reason() {
    let site = Site::new();
    site.install(&site.issue("0000BEEF", 3, 300));
    let out = run_licd(&site, &["check", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let diags: Value = serde_json::from_slice(&out.stdout).unwrap();
    let diags = diags.as_array().unwrap();
    let main = diags.iter().find(|d| d["key"] == "main-key").unwrap();
    assert_eq!(main["severity"], "error");
    assert!(
        main["message"]
            .as_str()
            .unwrap()
            .starts_with("wrong-serial"),
        "{main:#}"
    );
    let cti = diags.iter().find(|d| d["key"] == "cti-key").unwrap();
    assert!(
        cti["message"].as_str().unwrap().starts_with("missing"),
        "{cti:#}"
    );

    // No public key: named.
    std::fs::rename(site.p("vendor.pub.pem"), site.p("vendor.pub.pem.away")).unwrap();
    let out = run_licd(&site, &["check", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let diags: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        diags
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["key"] == "public-key"
                && d["message"].as_str().unwrap().contains("vendor.pub.pem")),
        "{diags:#}"
    );
    std::fs::rename(site.p("vendor.pub.pem.away"), site.p("vendor.pub.pem")).unwrap();

    // Text: missing main key = limited mode, exit 1, said.
    std::fs::remove_file(site.p(&format!("keys/{SERIAL}.msl"))).unwrap();
    let out = run_licd(&site, &["check"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("configuration OK"), "{text}");
    assert!(text.contains("would be in limited mode"), "{text}");
}

/// Issue 20: the serial was whatever license.toml said. Now it is derived
/// from the machine (DMI identity, injected here through `dmi-directory`);
/// a configured one needs `lab-serial = true` and is shown loudly.
#[test]
fn the_serial_is_the_machines_and_a_configured_one_is_for_labs() {
    let site = Site::new();
    let cfg = site.p("license.toml");
    let lab = std::fs::read_to_string(&cfg).unwrap();
    std::fs::create_dir(site.p("dmi")).unwrap();
    std::fs::write(
        site.p("dmi/product_uuid"),
        "4c4c4544-0042-3510-8051-b7c04f4e4d32\n",
    )
    .unwrap();
    std::fs::write(site.p("dmi/board_serial"), ".7B5QNM2.CN1296\n").unwrap();
    let machine = lab.replace(
        "serial = \"000068DA\"\nlab-serial = true\n",
        "dmi-directory = \"dmi\"\n",
    );
    std::fs::write(&cfg, &machine).unwrap();
    let expected = pbxnet_license::serial_from_machine(&pbxnet_license::MachineIdentity {
        product_uuid: Some("4c4c4544-0042-3510-8051-b7c04f4e4d32".into()),
        board_serial: Some(".7B5QNM2.CN1296".into()),
    })
    .unwrap();
    let printed = ok(LICD, &["-c", cfg.to_str().unwrap(), "serial"]);
    assert_eq!(printed.trim(), expected.to_string());
    assert_eq!(printed.trim().len(), 8);
    // Another board: another serial, so another site's key is not valid here.
    std::fs::write(site.p("dmi/board_serial"), "OTHER-BOARD\n").unwrap();
    let other = ok(LICD, &["-c", cfg.to_str().unwrap(), "serial"]);
    assert_ne!(other.trim(), printed.trim());

    // A configured serial without the lab switch is refused.
    std::fs::write(&cfg, lab.replace("lab-serial = true\n", "")).unwrap();
    let out = run_licd(&site, &["check"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("for labs only"));
    // With it: accepted, and loud.
    std::fs::write(&cfg, &lab).unwrap();
    let st: Value = serde_json::from_str(&ok(
        LICD,
        &["-c", cfg.to_str().unwrap(), "status", "--offline", "--json"],
    ))
    .unwrap();
    assert_eq!(st["serial-origin"], "lab");
    assert!(st["lab-serial-warning"]
        .as_str()
        .unwrap()
        .contains("LAB SERIAL"));
}

/// Issue 20: anti-rollback and grace survive the deletion of every file
/// when a TPM 2.0 holds the anchor (swtpm, the software TPM, stands in).
#[test]
fn with_a_tpm_editions_survive_deleting_every_file() {
    let tpm_state = tempfile::tempdir().unwrap();
    let Some(tpm) = Swtpm::start(&tpm_state) else {
        return;
    };
    let site = Site::new();
    let cfg = site.p("license.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        text.replace(
            "tpm = \"off\"",
            &format!("tpm = \"swtpm:host=127.0.0.1,port={}\"", tpm.port),
        ),
    )
    .unwrap();
    site.install(&site.issue(SERIAL, 5, 100));
    let d = Daemon::start(&site, "tpm1");
    assert_eq!(site.status()["keys"][0]["highest-edition"], 5);
    let log = d.terminate();
    assert!(log.contains("TPM anchor in use"), "{log}");
    // Every file gone: both state copies and the secret.
    for dir in ["state", "statecopy"] {
        for e in std::fs::read_dir(site.p(dir)).unwrap() {
            std::fs::remove_file(e.unwrap().path()).unwrap();
        }
    }
    site.install(&site.issue(SERIAL, 4, 300));
    let d = Daemon::start(&site, "tpm2");
    let st = site.status();
    assert_eq!(st["keys"][0]["verdict"], "older-edition", "{st:#}");
    assert_eq!(st["keys"][0]["highest-edition"], 5);
    let log = d.terminate();
    assert!(log.contains("rebuilt from the TPM"), "{log}");
}

/// A software TPM on 127.0.0.1 for one test (killed on drop).
struct Swtpm {
    child: Child,
    port: u16,
}

impl Swtpm {
    fn start(state: &tempfile::TempDir) -> Option<Swtpm> {
        if Command::new("swtpm").arg("--version").output().is_err() {
            println!("skipped: swtpm is not installed (tests/install-deps.sh installs it)");
            return None;
        }
        // A free pair of ports: ask the kernel for one, use it and the next.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
            .min(65000);
        let child = Command::new("swtpm")
            .args(["socket", "--tpm2"])
            .args([
                "--server",
                &format!("type=tcp,port={port},bindaddr=127.0.0.1"),
            ])
            .args([
                "--ctrl",
                &format!("type=tcp,port={},bindaddr=127.0.0.1", port + 1),
            ])
            .args(["--tpmstate", &format!("dir={}", state.path().display())])
            .args(["--flags", "not-need-init,startup-clear"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "swtpm did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(Swtpm { child, port })
    }
}

impl Drop for Swtpm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
