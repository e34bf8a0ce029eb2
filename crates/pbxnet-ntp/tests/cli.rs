//! CLI behaviour on good and bad configurations (no root needed).

use std::process::Command;

fn ntpd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pbxnet-ntpd"))
}

fn dir_with(ntp_toml: &str) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("ntp.toml"), ntp_toml).unwrap();
    std::fs::write(
        d.path().join("site.toml"),
        format!("runtime-directory = \"{}/run\"\n", d.path().display()),
    )
    .unwrap();
    d
}

#[test]
fn check_reports_every_error_with_key_path_and_exits_1() {
    let d = dir_with("[server]\nlisten = [\"nowhere\"]\nallow = [\"10.0.0.1/8\"]\n[keys]\ntrusted = [7]\n[local]\nenabled = true\nstratum = 0\n");
    let out = ntpd()
        .args(["--config", d.path().to_str().unwrap(), "check"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    for key in [
        "server.listen[0]",
        "server.allow[0]",
        "keys.trusted[0]",
        "local.stratum",
    ] {
        assert!(text.contains(key), "{key} missing:\n{text}");
    }
    let out = ntpd()
        .args(["--config", d.path().to_str().unwrap(), "check", "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v.as_array().unwrap().len() >= 4, "{v}");
}

#[test]
fn run_refuses_a_bad_config_with_exit_78() {
    let d = dir_with("[server]\nlisten = [\"nowhere\"]\n");
    let out = ntpd()
        .args(["--config", d.path().to_str().unwrap(), "run"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
}

#[test]
fn check_accepts_a_good_config_and_version_prints() {
    let d = dir_with("[server]\nlisten = [\"127.0.0.1:0\"]\nallow = [\"127.0.0.0/8\"]\n[local]\nenabled = true\n");
    let out = ntpd()
        .args(["--config", d.path().to_str().unwrap(), "check"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = ntpd().arg("--version").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("pbxnet-ntpd"));
}

#[test]
fn status_without_daemon_fails_clearly() {
    let d = dir_with("");
    let out = ntpd()
        .args(["--config", d.path().to_str().unwrap(), "status"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("pbxnet-ntpd.sock"));
}
