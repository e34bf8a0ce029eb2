//! The systemd units in `systemd/`: `systemd-analyze verify` is clean,
//! `systemd-analyze security --offline=true` is at most 2.0 for every
//! daemon, and the settings the issue asks for are there. Needs the
//! `systemd` package (tests/install-deps.sh installs it); PID 1 need not be
//! systemd: both commands only read the files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use pbxnet_xtask::units::{self, DAEMON_UNITS, MAX_EXPOSURE, TARGET};

fn require_systemd_analyze() {
    assert!(
        units::have_systemd_analyze(),
        "systemd-analyze not found: install the `systemd` package (tests/install-deps.sh)"
    );
}

/// `target/<profile>/` of this test run.
fn built_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    Some(exe.parent()?.parent()?.to_path_buf())
}

/// The built daemon if it exists (it does under `cargo test --workspace`),
/// else an executable that surely exists: `verify` only needs the program
/// to be executable.
fn binary_for(name: &str) -> PathBuf {
    built_dir()
        .map(|d| d.join(name))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("/bin/true"))
}

/// `Key=value` lines of a unit (later lines of the same key are appended).
fn settings(unit: &str) -> BTreeMap<String, Vec<String>> {
    let text = std::fs::read_to_string(units::unit_dir().join(unit)).unwrap();
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.starts_with('[') {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            map.entry(k.to_string()).or_default().push(v.to_string());
        }
    }
    map
}

fn one<'a>(s: &'a BTreeMap<String, Vec<String>>, key: &str, unit: &str) -> &'a str {
    let v = s.get(key).unwrap_or_else(|| panic!("{unit}: no {key}="));
    v.last().unwrap()
}

#[test]
fn every_daemon_unit_has_exposure_at_most_2() {
    require_systemd_analyze();
    let mut report = Vec::new();
    for unit in DAEMON_UNITS {
        let (level, text) = units::exposure(&units::unit_dir().join(unit)).unwrap();
        println!("{unit}: exposure {level}");
        if level > MAX_EXPOSURE {
            report.push(format!("{unit}: {level} > {MAX_EXPOSURE}\n{text}"));
        }
    }
    assert!(report.is_empty(), "{}", report.join("\n"));
}

#[test]
fn the_exposure_check_rejects_an_unhardened_unit() {
    require_systemd_analyze();
    let dir = tempfile::tempdir().unwrap();
    let unit = dir.path().join("plain.service");
    std::fs::write(&unit, "[Service]\nExecStart=/bin/true\n").unwrap();
    let (level, _) = units::exposure(&unit).unwrap();
    assert!(level > MAX_EXPOSURE, "an unhardened unit scored {level}");
}

#[test]
fn units_verify_clean_against_the_built_binaries() {
    require_systemd_analyze();
    let dir = tempfile::tempdir().unwrap();
    let staged = units::stage(dir.path(), &binary_for).unwrap();
    for path in &staged {
        let text = std::fs::read_to_string(path).unwrap();
        assert!(
            !text.contains("ExecStart=/usr/sbin/"),
            "{}: not rewritten",
            path.display()
        );
    }
    units::verify(&staged).unwrap();
}

#[test]
fn verify_reports_a_misspelt_setting() {
    require_systemd_analyze();
    let dir = tempfile::tempdir().unwrap();
    let staged = units::stage(dir.path(), &binary_for).unwrap();
    let tftpd = staged
        .iter()
        .find(|p| p.ends_with("pbxnet-tftpd.service"))
        .unwrap();
    let text = std::fs::read_to_string(tftpd).unwrap();
    std::fs::write(tftpd, text.replace("ProtectHome=yes", "ProtectHomes=yes")).unwrap();
    let err = units::verify(&staged).unwrap_err().to_string();
    assert!(err.contains("ProtectHomes"), "{err}");
}

#[test]
fn units_have_the_settings_the_issue_asks_for() {
    for unit in DAEMON_UNITS {
        let s = settings(unit);
        let binary = unit.trim_end_matches(".service");
        assert_eq!(one(&s, "Type", unit), "notify", "{unit}");
        assert_eq!(
            one(&s, "ExecReload", unit),
            "/bin/kill -HUP $MAINPID",
            "{unit}"
        );
        assert_eq!(
            one(&s, "ExecStart", unit),
            format!("/usr/sbin/{binary} run --config /etc/pbxnet"),
            "{unit}"
        );
        assert_eq!(one(&s, "Restart", unit), "on-failure", "{unit}");
        assert_eq!(one(&s, "RestartPreventExitStatus", unit), "78", "{unit}");
        assert_eq!(one(&s, "User", unit), "pbxnet", "{unit}");
        assert_eq!(one(&s, "RuntimeDirectory", unit), "pbxnet", "{unit}");
        assert_eq!(one(&s, "RuntimeDirectoryPreserve", unit), "yes", "{unit}");
        assert_eq!(one(&s, "ConfigurationDirectory", unit), "pbxnet", "{unit}");
        assert_eq!(one(&s, "PartOf", unit), TARGET, "{unit}");
        assert_eq!(one(&s, "WantedBy", unit), TARGET, "{unit}");
        for key in [
            "ProtectSystem=strict",
            "ProtectHome=yes",
            "PrivateTmp=yes",
            "PrivateDevices=yes",
            "NoNewPrivileges=yes",
            "MemoryDenyWriteExecute=yes",
            "LockPersonality=yes",
            "RestrictNamespaces=yes",
            "RestrictRealtime=yes",
            "RestrictSUIDSGID=yes",
            "ProtectKernelTunables=yes",
            "ProtectKernelModules=yes",
            "ProtectKernelLogs=yes",
            "ProtectControlGroups=yes",
            "ProtectHostname=yes",
            "ProtectProc=invisible",
            "ProcSubset=pid",
            "SystemCallArchitectures=native",
        ] {
            let (k, v) = key.split_once('=').unwrap();
            assert_eq!(one(&s, k, unit), v, "{unit}: {k}");
        }
        assert!(
            s.get("SystemCallFilter")
                .is_some_and(|f| f[0].starts_with("@system-service")),
            "{unit}: SystemCallFilter must start from @system-service"
        );
        let caps = s
            .get("CapabilityBoundingSet")
            .cloned()
            .unwrap_or_default()
            .join(" ");
        let ambient = s
            .get("AmbientCapabilities")
            .cloned()
            .unwrap_or_default()
            .join(" ");
        assert_eq!(caps, ambient, "{unit}: bounding set and ambient set differ");
        let is_ntp = unit == "pbxnet-ntpd.service";
        assert_eq!(
            caps.contains("CAP_SYS_TIME"),
            is_ntp,
            "{unit}: CAP_SYS_TIME is for NTP only"
        );
        assert_eq!(
            one(&s, "ProtectClock", unit),
            if is_ntp { "no" } else { "yes" },
            "{unit}"
        );
        assert!(
            !caps.contains("CAP_SYS_ADMIN")
                && (unit == "pbxnet-dhcpd.service" || !caps.contains("CAP_NET_RAW")),
            "{unit}: {caps}"
        );
    }
}

/// Source of a daemon's shell, to see whether it pings the watchdog.
fn daemon_sources(krate: &str) -> String {
    let dir = pbxnet_xtask::workspace_root()
        .join("crates")
        .join(krate)
        .join("src/daemon");
    let mut text = String::new();
    let mut stack = vec![dir];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                text.push_str(&std::fs::read_to_string(&p).unwrap_or_default());
            }
        }
    }
    text
}

/// Whether the daemon skeleton's loop pings the watchdog.
fn skeleton_pings() -> bool {
    let run = pbxnet_xtask::workspace_root().join("crates/pbxnet-runtime/src/run.rs");
    pings_directly(&std::fs::read_to_string(run).unwrap_or_default())
}

fn pings_watchdog(source: &str) -> bool {
    // A shell on the runtime's skeleton is pinged from the skeleton's loop.
    (source.contains("impl Daemon for") && skeleton_pings()) || pings_directly(source)
}

fn pings_directly(source: &str) -> bool {
    source.contains("Watchdog::from_env")
        || source.contains("WatchdogTimer::from_env")
        || source.contains("WATCHDOG=1")
}

#[test]
fn watchdog_is_set_only_where_the_daemon_pings() {
    for (unit, krate) in [
        ("pbxnet-dhcpd.service", "pbxnet-dhcp"),
        ("pbxnet-tftpd.service", "pbxnet-tftp"),
        ("pbxnet-ntpd.service", "pbxnet-ntp"),
        ("pbxnet-licd.service", "pbxnet-license"),
        ("pbxnet-admind.service", "pbxnet-admin"),
    ] {
        let has_watchdog = settings(unit).contains_key("WatchdogSec");
        let pings = pings_watchdog(&daemon_sources(krate));
        if has_watchdog {
            assert!(pings, "{unit} sets WatchdogSec= but {krate} never sends WATCHDOG=1: systemd would kill it");
        } else if pings {
            println!("note: {krate} pings the watchdog; {unit} could set WatchdogSec=");
        }
    }
    assert!(Path::new(&units::unit_dir().join(TARGET)).is_file());
}
