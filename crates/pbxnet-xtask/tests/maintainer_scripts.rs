//! The package's maintainer scripts on the normal path (no DPKG_ROOT), with
//! every command they run replaced by a stub that logs its arguments: the
//! enablement policy (target, tftpd and licd enabled; dhcpd and ntpd never
//! enabled, on installation or upgrade; admins' choices kept) is checked
//! without a package, root, or the machine's service manager. The DPKG_ROOT
//! path is exercised for real by `make test-deb`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Commands the scripts may run; each becomes a logging stub.
const STUBS: &[&str] = &[
    "systemd-sysusers",
    "systemd-tmpfiles",
    "systemctl",
    "deb-systemd-helper",
    "deb-systemd-invoke",
    "sysctl",
    "chown",
    "chmod",
    "rm",
    "rmdir",
];

struct Sandbox {
    _dir: tempfile::TempDir,
    bin: PathBuf,
    log: PathBuf,
    enabled: PathBuf,
}

/// Stubs in a fresh directory. `deb-systemd-helper was-enabled U` answers
/// from `enabled` (one unit per line), as the real one answers from its
/// state file (a new installation: every unit "was enabled").
fn sandbox(previously_enabled: Option<&[&str]>) -> Sandbox {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let log = dir.path().join("log");
    let enabled = dir.path().join("enabled");
    for name in STUBS {
        let body = if *name == "deb-systemd-helper" {
            format!(
                "#!/bin/sh\necho \"$(basename \"$0\") $*\" >> '{log}'\n\
                 if [ \"$1\" = --quiet ]; then shift; fi\n\
                 if [ \"$1\" = was-enabled ]; then\n\
                 [ ! -e '{en}' ] && exit 0\n\
                 grep -qx \"$2\" '{en}'; exit $?\nfi\nexit 0\n",
                log = log.display(),
                en = enabled.display()
            )
        } else {
            format!(
                "#!/bin/sh\necho \"$(basename \"$0\") $*\" >> '{}'\nexit 0\n",
                log.display()
            )
        };
        let path = bin.join(name);
        std::fs::write(&path, body).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    if let Some(units) = previously_enabled {
        std::fs::write(&enabled, units.join("\n") + "\n").unwrap();
    }
    Sandbox {
        _dir: dir,
        bin,
        log,
        enabled,
    }
}

fn run(s: &Sandbox, script: &str, args: &[&str]) -> Vec<String> {
    let path = pbxnet_xtask::workspace_root()
        .join("packaging/debian")
        .join(script);
    let out = Command::new("sh")
        .arg(&path)
        .args(args)
        .env("PATH", format!("{}:/usr/bin:/bin", s.bin.display()))
        .env_remove("DPKG_ROOT")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{script} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(&s.log)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn systemd_runs() -> bool {
    Path::new("/run/systemd/system").is_dir()
}

const ENABLED: [&str; 3] = [
    "pbxnet.target",
    "pbxnet-tftpd.service",
    "pbxnet-licd.service",
];
const MANUAL: [&str; 2] = ["pbxnet-dhcpd.service", "pbxnet-ntpd.service"];

#[test]
fn fresh_install_enables_tftpd_licd_and_the_target_but_never_dhcpd_or_ntpd() {
    let s = sandbox(None);
    let log = run(&s, "postinst", &["configure", ""]);
    assert!(
        log.contains(&"systemd-sysusers pbxnet.conf".to_string()),
        "{log:#?}"
    );
    assert!(
        log.contains(&"systemd-tmpfiles --create pbxnet.conf".to_string()),
        "{log:#?}"
    );
    for unit in ENABLED {
        assert!(
            log.contains(&format!("deb-systemd-helper enable {unit}")),
            "{unit}: {log:#?}"
        );
    }
    for unit in MANUAL {
        assert!(
            !log.iter()
                .any(|l| l.contains("enable") && l.contains(unit) && !l.contains("was-enabled")),
            "{unit} enabled: {log:#?}"
        );
        assert!(
            log.contains(&format!("deb-systemd-helper update-state {unit}")),
            "{log:#?}"
        );
        assert!(
            !log.iter()
                .any(|l| l.starts_with("deb-systemd-invoke start") && l.contains(unit)),
            "{unit} started: {log:#?}"
        );
    }
    let started = log
        .iter()
        .any(|l| l.starts_with("deb-systemd-invoke start"));
    assert_eq!(
        started,
        systemd_runs(),
        "start only where systemd runs: {log:#?}"
    );
    assert!(
        !log.iter().any(|l| l.starts_with("systemctl --root")),
        "{log:#?}"
    );
}

#[test]
fn upgrade_keeps_an_admins_choices_and_restarts_only_what_runs() {
    // The admin disabled tftpd and enabled dhcpd.
    let s = sandbox(Some(&[
        "pbxnet.target",
        "pbxnet-licd.service",
        "pbxnet-dhcpd.service",
    ]));
    let log = run(&s, "postinst", &["configure", "0.0.9"]);
    assert!(log.contains(&"deb-systemd-helper enable pbxnet-licd.service".to_string()));
    assert!(
        !log.contains(&"deb-systemd-helper enable pbxnet-tftpd.service".to_string()),
        "a disabled unit was re-enabled: {log:#?}"
    );
    assert!(log.contains(&"deb-systemd-helper update-state pbxnet-tftpd.service".to_string()));
    assert!(
        !log.iter()
            .any(|l| l.starts_with("deb-systemd-invoke start")),
        "{log:#?}"
    );
    if systemd_runs() {
        assert!(log
            .iter()
            .any(|l| l.starts_with("deb-systemd-invoke try-restart")));
    }
    // The NTP key file is the admin's after the first installation.
    assert!(!log
        .iter()
        .any(|l| l.starts_with("chown") || l.starts_with("chmod")));
    assert!(s.enabled.exists());
}

#[test]
fn purge_forgets_the_units_and_removes_the_state() {
    let s = sandbox(None);
    let log = run(&s, "postrm", &["purge"]);
    assert!(
        log.iter().any(
            |l| l.starts_with("deb-systemd-helper purge") && l.contains("pbxnet-dhcpd.service")
        ),
        "{log:#?}"
    );
    assert!(
        log.contains(&"rm -rf /var/lib/pbxnet".to_string()),
        "{log:#?}"
    );
    let s = sandbox(None);
    let log = run(&s, "postrm", &["remove"]);
    assert!(
        !log.iter().any(|l| l.starts_with("rm ")),
        "remove keeps the state: {log:#?}"
    );
}
