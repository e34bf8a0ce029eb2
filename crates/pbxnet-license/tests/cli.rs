//! The vendor tool and the validator CLI, end to end: keys are issued by
//! `pbxnet-keygen` at test time with a throwaway key pair, then judged by
//! `pbxnet-licd status --offline --json` (one row per seed case), and
//! `pbxnet-keygen inspect` must show what the order said.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use pbxnet_license::{PersistedState, Serial, StateKey};
use serde_json::Value;

const KEYGEN: &str = env!("CARGO_BIN_EXE_pbxnet-keygen");
const LICD: &str = env!("CARGO_BIN_EXE_pbxnet-licd");
const SERIAL: &str = "000068DA";

fn run(program: &str, args: &[&str]) -> Output {
    let out = Command::new(program)
        .args(args)
        .env_remove("PBXNET_CONFIG")
        .output()
        .expect("spawn");
    out
}

fn ok(program: &str, args: &[&str]) -> String {
    let out = run(program, args);
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}\n{}",
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
        let s = Site { dir };
        ok(KEYGEN, &["keypair", s.p("vendor").to_str().unwrap()]);
        std::fs::create_dir(s.p("keys")).unwrap();
        std::fs::write(
            s.p("license.toml"),
            "serial = \"000068DA\"\nlab-serial = true\ntpm = \"off\"\nsoftware-major-version = 3\nkey-directory = \"keys\"\n\
             public-key = \"vendor.pub.pem\"\nstate-directory = \"state\"\nruntime-directory = \"run\"\n\
             state-copy-directory = \"statecopy\"\n[hardware-limits]\nvoip-trunk-channels = 32\n",
        )
        .unwrap();
        s
    }

    fn p(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn order(
        &self,
        name: &str,
        kind: &str,
        serial: &str,
        major: u32,
        edition: u32,
        services: &str,
    ) -> PathBuf {
        let path = self.p(name);
        std::fs::write(
            &path,
            format!(
                "serial = \"{serial}\"\ntype = \"{kind}\"\nsoftware-major-version = {major}\nedition = {edition}\n\
                 ack-code = \"A5C3\"\n[services]\n{services}"
            ),
        )
        .unwrap();
        path
    }

    /// Issues with the CLI, returns the key text.
    fn issue(&self, order: &Path) -> String {
        let key = self.p("vendor.key.pem");
        ok(
            KEYGEN,
            &[
                "issue",
                order.to_str().unwrap(),
                "-k",
                key.to_str().unwrap(),
            ],
        )
        .trim_end()
        .to_string()
    }

    fn install(&self, kind_ext: &str, content: &str) {
        std::fs::write(self.p("keys").join(format!("{SERIAL}.{kind_ext}")), content).unwrap();
    }

    fn status(&self) -> Value {
        let cfg = self.p("license.toml");
        let text = ok(
            LICD,
            &["-c", cfg.to_str().unwrap(), "status", "--offline", "--json"],
        );
        serde_json::from_str(&text).unwrap()
    }
}

fn service<'a>(key: &'a Value, id: &str) -> &'a Value {
    key["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .unwrap()
}

#[test]
fn seed_cases_through_the_cli() {
    struct Case {
        name: &'static str,
        /// Key file content, built from the site.
        key: fn(&Site) -> Option<String>,
        highest_edition: Option<u16>,
        verdict: &'static str,
        state: &'static str,
        system: &'static str,
        utl: u64,
    }
    let cases = [
        Case {
            name: "valid",
            key: |s| Some(s.issue(&s.order("o.toml", "main", SERIAL, 3, 2, "utl = 150\n")) + "\n"),
            highest_edition: None,
            verdict: "valid",
            state: "valid",
            system: "normal",
            utl: 150,
        },
        Case {
            name: "wrong serial",
            key: |s| Some(s.issue(&s.order("o.toml", "main", "0000BEEF", 3, 2, "utl = 150\n"))),
            highest_edition: None,
            verdict: "wrong-serial",
            state: "grace",
            system: "grace",
            utl: 2,
        },
        Case {
            name: "syntax incorrect",
            key: |s| {
                Some(
                    s.issue(&s.order("o.toml", "main", SERIAL, 3, 2, "utl = 150\n"))
                        .to_lowercase(),
                )
            },
            highest_edition: None,
            verdict: "syntax-incorrect",
            state: "limited",
            system: "limited",
            utl: 2,
        },
        Case {
            name: "other major version",
            key: |s| Some(s.issue(&s.order("o.toml", "main", SERIAL, 4, 2, "utl = 150\n"))),
            highest_edition: None,
            verdict: "other-major-version",
            state: "limited",
            system: "limited",
            utl: 2,
        },
        Case {
            name: "older edition",
            key: |s| Some(s.issue(&s.order("o.toml", "main", SERIAL, 3, 2, "utl = 150\n"))),
            highest_edition: Some(3),
            verdict: "older-edition",
            state: "grace",
            system: "grace",
            utl: 150,
        },
        Case {
            name: "missing",
            key: |_| None,
            highest_edition: None,
            verdict: "missing",
            state: "limited",
            system: "limited",
            utl: 2,
        },
    ];
    for c in cases {
        let site = Site::new();
        if let Some(k) = (c.key)(&site) {
            site.install("msl", &k);
        }
        if let Some(h) = c.highest_edition {
            std::fs::create_dir_all(site.p("state")).unwrap();
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs() as i64;
            let mut st = PersistedState::fresh(Serial(0x68DA), now);
            st.main.highest_edition = Some(h);
            std::fs::create_dir_all(site.p("statecopy")).unwrap();
            std::fs::write(site.p("statecopy/state-secret"), "07".repeat(32)).unwrap();
            let key = StateKey::derive(&[7; 32], Serial(0x68DA));
            std::fs::write(site.p("state/license-state"), st.to_text(&key)).unwrap();
        }
        let st = site.status();
        let main = &st["keys"][0];
        assert_eq!(main["verdict"], c.verdict, "{}: {st:#}", c.name);
        assert_eq!(main["state"], c.state, "{}", c.name);
        assert_eq!(st["system-mode"], c.system, "{}", c.name);
        assert_eq!(service(main, "utl")["authorized"], c.utl, "{}", c.name);
        if c.state == "grace" {
            assert!(
                st["alarm"]
                    .as_str()
                    .unwrap()
                    .starts_with("Software Key problem: expires 20"),
                "{}",
                c.name
            );
        }
        // Offline status writes nothing.
        assert_eq!(
            site.p("state/license-state").exists(),
            c.highest_edition.is_some(),
            "{}",
            c.name
        );
    }
}

#[test]
fn issue_inspect_validate_round_trip() {
    let site = Site::new();
    let order = site.order(
        "cti.toml",
        "cti",
        SERIAL,
        3,
        7,
        "counter1 = 10\ncounter7 = 100\ncsta6-sessions = 5\ncsta6-monitors = 300\ncsta6-features = 1\n",
    );
    let key = site.issue(&order);
    assert!(key.len() <= 161);
    site.install("csl", &format!("{key}\n"));
    let file = site.p("keys").join(format!("{SERIAL}.csl"));
    let pk = site.p("vendor.pub.pem");
    let text = ok(
        KEYGEN,
        &[
            "inspect",
            file.to_str().unwrap(),
            "--public-key",
            pk.to_str().unwrap(),
            "--json",
        ],
    );
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["type"], "cti");
    assert_eq!(v["edition"], 7);
    assert_eq!(v["ack-code"], "A5C3");
    assert_eq!(v["signature"]["valid"], true);
    assert_eq!(v["signature"]["serial"], SERIAL);
    let get = |id: &str| {
        v["services"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id)
            .unwrap()["value"]
            .clone()
    };
    assert_eq!(get("counter1"), 10);
    assert_eq!(get("counter7"), 100);
    assert_eq!(get("csta6-monitors"), 300);
    assert_eq!(get("counter2"), 0);
    // Inspect of the bare key text, with another serial: signature invalid, exit 3.
    let out = run(
        KEYGEN,
        &[
            "inspect",
            &key,
            "--public-key",
            pk.to_str().unwrap(),
            "--serial",
            "00000001",
        ],
    );
    assert_eq!(out.status.code(), Some(3));
    // And the validator agrees.
    let st = site.status();
    let cti = &st["keys"][1];
    assert_eq!(cti["verdict"], "valid");
    assert_eq!(cti["edition"], 7);
    assert_eq!(service(cti, "csta6-monitors")["authorized"], 300);
    // Try-and-Buy not started yet: PIMphony Pro open at its maximum.
    assert_eq!(service(cti, "counter1")["authorized"], 200);
    // A tampered copy is rejected by inspect.
    let mut bad = key.into_bytes();
    bad[100] = if bad[100] == b'A' { b'B' } else { b'A' };
    let bad = String::from_utf8(bad).unwrap();
    let out = run(
        KEYGEN,
        &[
            "inspect",
            &bad,
            "--public-key",
            pk.to_str().unwrap(),
            "--serial",
            SERIAL,
        ],
    );
    assert_ne!(out.status.code(), Some(0));
}

#[test]
fn fully_loaded_keys_fit_the_seed_lengths() {
    let site = Site::new();
    let mut main = String::new();
    let mut cti = String::new();
    for s in pbxnet_license::MAIN {
        main.push_str(&format!("{} = {}\n", s.id, s.max_value()));
    }
    for s in pbxnet_license::CTI {
        if s.max_value() > 0 {
            cti.push_str(&format!("{} = {}\n", s.id, s.max_value()));
        }
    }
    let m = site.issue(&site.order("m.toml", "main", "FFFFFFFF", 10, 0xFFFF, &main));
    let c = site.issue(&site.order("c.toml", "cti", "FFFFFFFF", 10, 0xFFFF, &cti));
    eprintln!(
        "fully loaded: main {} chars, CTI {} chars",
        m.len(),
        c.len()
    );
    assert!(m.len() <= 138 && m.len() >= 42, "main {}", m.len());
    assert!(c.len() <= 161 && c.len() >= 17, "cti {}", c.len());
}

#[test]
fn issue_refuses_bad_orders_and_unsafe_private_keys() {
    let site = Site::new();
    let key = site.p("vendor.key.pem");
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let order = site.order(
        "bad.toml",
        "main",
        SERIAL,
        3,
        1,
        "utl = 301\ngreetings = 6\nacd-agents = 7\n",
    );
    let out = run(
        KEYGEN,
        &[
            "issue",
            order.to_str().unwrap(),
            "-k",
            key.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(65));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("utl = 301: above the maximum 300"), "{err}");
    assert!(
        err.contains("greetings = 6: not on the granularity"),
        "{err}"
    );
    assert!(
        err.contains("acd-agents = 7: not one of [0, 5, 10, 20, 32]"),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "no key printed");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let good = site.order("good.toml", "main", SERIAL, 3, 1, "");
    let out = run(
        KEYGEN,
        &["issue", good.to_str().unwrap(), "-k", key.to_str().unwrap()],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("chmod 600"));
}

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../etc/license.toml")
}

#[test]
fn shipped_example_config_is_valid() {
    let loaded = pbxnet_config::load::<pbxnet_license::LicenseConfig>(Some(&example()))
        .unwrap_or_else(|r| panic!("etc/license.toml:\n{r}"));
    assert_eq!(loaded.daemon.serial, pbxnet_license::SerialSource::Machine);
    assert_eq!(
        loaded.daemon.hardware_limits.get("voip-trunk-channels"),
        Some(&32)
    );
    // The configuration is valid; what fails here is the licence itself
    // (no vendor public key installed on the build machine): `check` says so
    // and exits 1 (issue 20: it printed [] and exited 0).
    let out = run(
        LICD,
        &["-c", example().to_str().unwrap(), "check", "--json"],
    );
    let diags: Value = serde_json::from_slice(&out.stdout).unwrap();
    let diags = diags.as_array().unwrap();
    assert!(
        diags
            .iter()
            .all(|d| d["file"] != example().to_str().unwrap()),
        "no configuration diagnostic: {diags:#?}"
    );
    if !Path::new("/etc/pbxnet/license-vendor.pub.pem").exists() {
        assert_eq!(out.status.code(), Some(1));
        assert!(
            diags
                .iter()
                .any(|d| d["key"] == "public-key" && d["severity"] == "error"),
            "{diags:#?}"
        );
    }
}

#[test]
fn example_config_rejects_unknown_keys_in_every_table() {
    let text = std::fs::read_to_string(example()).unwrap();
    // Insert a spurious key at the top level and in every table.
    let mut variants = vec![format!("bogus-key = 1\n{text}")];
    for (i, line) in text.lines().enumerate() {
        if line.starts_with('[') {
            let mut lines: Vec<&str> = text.lines().collect();
            lines.insert(i + 1, "bogus-key = 1");
            variants.push(lines.join("\n"));
        }
    }
    assert!(variants.len() >= 2);
    for v in variants {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("license.toml");
        std::fs::write(&path, &v).unwrap();
        let r = pbxnet_config::load::<pbxnet_license::LicenseConfig>(Some(&path));
        let report = r.expect_err("spurious key accepted");
        // Same shape as the loader's own unknown-key diagnostics (the
        // conformance suite checks message, key path and line).
        let d: Vec<_> = report
            .diagnostics
            .iter()
            .filter(|d| d.message == "unknown key `bogus-key`")
            .collect();
        assert_eq!(d.len(), 1, "{report}");
        let line = v
            .lines()
            .position(|l| l.trim_start().starts_with("bogus-key"))
            .unwrap()
            + 1;
        assert_eq!(d[0].line, line, "{report}");
        assert!(
            [
                "bogus-key",
                "hardware-limits.bogus-key",
                "metrics.bogus-key"
            ]
            .contains(&d[0].key.as_str()),
            "{report}"
        );
    }
}

#[test]
fn check_reports_a_bad_config_with_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("license.toml");
    std::fs::write(&path, "serial = \"68DA\"\nsoftware-major-version = 3\n").unwrap();
    let out = run(LICD, &["-c", path.to_str().unwrap(), "check"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("license.toml:1:10"), "{text}");
    let out = run(LICD, &["-c", path.to_str().unwrap(), "run"]);
    assert_eq!(
        out.status.code(),
        Some(78),
        "run refuses a bad config with EX_CONFIG"
    );
}

#[test]
fn command_lines_are_well_formed() {
    pbxnet_license::daemon::licd_cli().debug_assert();
    pbxnet_license::daemon::keygen_cli().debug_assert();
    let help = ok(LICD, &["--help"]);
    for sub in ["run", "check", "status", "try-and-buy-use", "restart-done"] {
        assert!(help.contains(sub), "{help}");
    }
    let help = ok(KEYGEN, &["--help"]);
    for sub in ["keypair", "issue", "inspect"] {
        assert!(help.contains(sub), "{help}");
    }
}
