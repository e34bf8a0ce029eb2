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

/// A site whose dhcp.toml does not validate, with a lease database of 500
/// leases at the `lease-database` it names.
fn site_with_leases_and_a_broken_dhcp_toml() -> tempfile::TempDir {
    use pbxnet_dhcp::daemon::SqliteStore;
    use pbxnet_dhcp::{ClientKey, Lease, LeaseState, LeaseStore};
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    std::fs::write(
        dir.path().join("site.toml"),
        format!("state-directory = \"{}\"\n", state.display()),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("dhcp.toml"),
        "lease-database = \"site-leases.sqlite3\"\nauthoritativ = true\n",
    )
    .unwrap();
    let mut store = SqliteStore::open(&state.join("site-leases.sqlite3")).unwrap();
    for i in 0..500u32 {
        let mac = [2, 0, 0, 0, (i >> 8) as u8, i as u8];
        store.upsert(Lease {
            ip: std::net::Ipv4Addr::from(0x0a00_0000 + i),
            client: ClientKey::hw(1, &mac),
            mac,
            state: LeaseState::Bound,
            expires: 4_000_000_000,
            class: "phones".into(),
            vendor_class: "450HD".into(),
            hostname: "".into(),
        });
    }
    store.commit().unwrap();
    dir
}

/// `leases` reads the lease database even while dhcp.toml is broken (it
/// needs only the state directory and `lease-database`), and says so.
#[test]
fn leases_lists_the_database_while_dhcp_toml_is_broken() {
    let dir = site_with_leases_and_a_broken_dhcp_toml();
    let out = Command::new(BIN)
        .arg("--config")
        .arg(dir.path())
        .arg("leases")
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert_eq!(stdout.lines().count(), 501, "{stdout}");
    assert!(stdout.contains("02:00:00:00:01:f3 10.0.1.243"), "{stdout}");
    assert!(stderr.contains("dhcp.toml does not validate"), "{stderr}");
    assert!(stderr.contains("site-leases.sqlite3"), "{stderr}");
}

/// `leases | head`: the reader goes away; the command ends quietly with
/// exit 0 instead of panicking on the broken pipe.
#[test]
fn leases_into_a_closed_pipe_ends_quietly() {
    let dir = site_with_leases_and_a_broken_dhcp_toml();
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(dir.path())
        .arg("leases")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader closes before any write
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// `--help` documents the exit codes (74 was in no help text nor man page).
#[test]
fn help_lists_the_exit_codes() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for code in [
        "  74  reading state or printing failed",
        "  78  run: the configuration was refused",
        "  1   check: the configuration has errors",
    ] {
        assert!(help.contains(code), "{code:?} missing:\n{help}");
    }
}
