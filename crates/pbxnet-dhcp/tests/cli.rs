//! `pbxnet-dhcpd check` on the shipped example site and on a bad fixture.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_pbxnet-dhcpd");

#[test]
fn check_accepts_the_shipped_example_site() {
    let etc = concat!(env!("CARGO_MANIFEST_DIR"), "/../../etc");
    let out = Command::new(BIN)
        .args(["--config", etc, "check"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn check_reports_every_problem_with_position_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("site.toml"),
        "server-address = \"192.168.92.246\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("dhcp.toml"),
        r#"[[subnet]]
name = "site"
network = "192.168.92.0/24"
[[pool]]
name = "phones"
range = "192.168.92.10..192.168.92.69"
[[class]]
name = "all"
any-device = true
profile = "p"
[[class]]
name = "desk"
mac = "00:80:9f:00:00:01"
static-ip = "192.168.92.20"
profile = "p"
[[profile]]
name = "p"
  [[profile.option]]
  code = 150
  type = "hex"
  value = "c0a85cf6"
"#,
    )
    .unwrap();
    let out = Command::new(BIN)
        .arg("--config")
        .arg(dir.path())
        .args(["check", "--json"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let diags: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let find = |key: &str| {
        diags
            .iter()
            .find(|d| d["key"] == key)
            .unwrap_or_else(|| panic!("{key}: {diags:#?}"))
    };
    assert_eq!(find("class[0].any-device")["line"], 9);
    assert_eq!(find("class[1].static-ip")["line"], 14);
    assert_eq!(find("profile[0].option[0].type")["line"], 20);
    // Text form names file:line too.
    let out = Command::new(BIN)
        .arg("--config")
        .arg(dir.path())
        .arg("check")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("dhcp.toml:14"), "{text}");
}
