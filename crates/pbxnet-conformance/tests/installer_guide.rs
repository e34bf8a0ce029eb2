//! The installer's guide is followed literally: the shell block of its
//! section 5 (NTP keys) is run on a copy of the example site, with chrony's
//! real `chronyc keygen`, and the result must pass the same validation as
//! `pbxnet-ntpd check`. (Issue 20: the guide's one-key command broke `check`
//! because the example trusts keys 1, 2 and 3.)

mod common;

use std::path::Path;
use std::process::Command;

use pbxnet_config::load;

fn guide() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/installer-guide.md");
    std::fs::read_to_string(path).unwrap()
}

/// The body of the first ```sh block of the guide's section `number`.
fn shell_block(guide: &str, number: &str) -> String {
    let heading = format!("## {number}. ");
    let section = guide
        .split("\n## ")
        .map(|s| format!("## {s}"))
        .find(|s| s.starts_with(&heading))
        .unwrap_or_else(|| panic!("installer-guide.md has no section {number}"));
    let start = section
        .find("```sh\n")
        .unwrap_or_else(|| panic!("section {number} has no ```sh block"))
        + "```sh\n".len();
    let end = start + section[start..].find("```").unwrap();
    section[start..end].to_string()
}

#[test]
fn the_guides_ntp_key_commands_leave_a_site_that_passes_check() {
    let block = shell_block(&guide(), "5");
    assert!(
        block.contains("chronyc keygen"),
        "section 5's block generates no key:\n{block}"
    );
    assert!(
        Command::new("chronyc").arg("--version").output().is_ok(),
        "chronyc is not installed (tests/install-deps.sh installs chrony)"
    );
    let site = common::copy_etc();
    let dir = site.path().to_str().unwrap();
    // The guide works in /etc/pbxnet; here, the copy. `chown` needs the
    // package's user and `pbxnet-ntpd check` an installed binary: the check
    // below runs the same validation through the library.
    let script: Vec<String> = block
        .lines()
        .filter(|l| !l.starts_with("chown ") && !l.starts_with("pbxnet-ntpd "))
        .map(|l| l.replace("/etc/pbxnet", dir))
        .collect();
    assert!(script.iter().any(|l| l.starts_with("cd ")), "{block}");
    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script.join("\n")])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the guide's commands failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let keys = std::fs::read_to_string(site.path().join("ntp.keys")).unwrap();
    assert!(
        !keys.contains("5A8C0D3F9E2B4A61C7D8E9F0A1B2C3D4"),
        "the example's public key is still there:\n{keys}"
    );
    if let Err(report) = load::<pbxnet_ntp::NtpConfig>(Some(&site.path().join("ntp.toml"))) {
        panic!("after the guide's section 5, check fails:\n{report}");
    }
}
