//! `pbxnet-tftpd check` on what the configuration names outside itself:
//! the served tree (read by the shell, judged by the core) and the host's
//! addresses. Each case is a config directory in a temporary folder; the
//! assertions are on the exit code and the printed diagnostics.

use std::fs;
use std::path::Path;
use std::process::Command;

/// A config directory: `site.toml` with `server_address`, `tftp.toml`
/// with `root = "root"` and `extra`, and `root/` prepared by `prepare`.
fn config_dir(server_address: &str, extra: &str, prepare: impl FnOnce(&Path)) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    fs::create_dir_all(root.join("Binary")).unwrap();
    prepare(&root);
    fs::write(
        dir.path().join("site.toml"),
        format!("server-address = \"{server_address}\"\n"),
    )
    .unwrap();
    fs::write(
        dir.path().join("tftp.toml"),
        format!("[files]\nroot = \"root\"\nserve-secured-config = true\n{extra}"),
    )
    .unwrap();
    dir
}

/// Run `check`; (exit success, everything printed).
fn check(dir: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_pbxnet-tftpd"))
        .args(["--config", dir.to_str().unwrap(), "check"])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// A server address for the cases about the tree (192.0.2.77, TEST-NET-1:
/// on no interface of any test host, which is only a warning).
const HERE: &str = "192.0.2.77";

/// A non-loopback IPv4 address of this host, if it has one.
fn own_address() -> Option<String> {
    nix::ifaddrs::getifaddrs()
        .ok()?
        .filter_map(|i| i.address?.as_sockaddr_in().map(|a| a.ip()))
        .find(|ip| !ip.is_loopback())
        .map(|ip| ip.to_string())
}

#[test]
fn check_fails_when_uploads_are_on_and_their_folder_is_missing() {
    let dir = config_dir(HERE, "[uploads]\nenabled = true\n", |_| {});
    let (ok, text) = check(dir.path());
    assert!(!ok, "{text}");
    assert!(text.contains("uploads are enabled but"), "{text}");
    assert!(text.contains("key: uploads.folder"), "{text}");
    fs::create_dir(dir.path().join("root/uploads")).unwrap();
    let (ok, text) = check(dir.path());
    assert!(ok, "{text}");
}

#[test]
fn check_counts_the_upload_folder_against_its_quota() {
    let extra = "[uploads]\nenabled = true\nmax-size = \"1KiB\"\nfolder-quota = \"2KiB\"\n";
    let dir = config_dir(HERE, extra, |root| {
        fs::create_dir(root.join("uploads")).unwrap();
        for i in 0..3 {
            fs::write(root.join(format!("uploads/{i}.log")), vec![b'x'; 1000]).unwrap();
        }
    });
    let (ok, text) = check(dir.path());
    assert!(ok, "a full upload folder is a warning: {text}");
    assert!(
        text.contains("uploads holds 3000 bytes, at or over uploads.folder-quota (2048 bytes)"),
        "{text}"
    );
}

#[test]
fn check_fails_on_a_template_folder_that_resolves_outside_the_root() {
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("default.cfg"), "ext=${extension}\n").unwrap();
    let target = outside.path().to_path_buf();
    let extra = "[[devices.device]]\nmac = \"00:90:8f:61:a0:23\"\nvars = { extension = \"202\" }\n";
    let dir = config_dir(HERE, extra, move |root| {
        fs::create_dir_all(root.join("ThirdParty_Devices")).unwrap();
        std::os::unix::fs::symlink(&target, root.join("ThirdParty_Devices/templates")).unwrap();
    });
    let (ok, text) = check(dir.path());
    assert!(!ok, "{text}");
    assert!(text.contains("outside the root"), "{text}");
    assert!(text.contains("key: devices.template-folder"), "{text}");
}

/// A macro file too large to expand would reach a device with a literal
/// `${server_ip}`: check says so (and the daemon refuses to serve it).
#[test]
fn check_reports_a_macro_file_over_macro_max_size() {
    let dir = config_dir(HERE, "macro-max-size = \"1KiB\"\n", |root| {
        let mut text = b"server=${server_ip}\n".to_vec();
        text.resize(5000, b'#');
        fs::write(root.join("Binary/phone.txt"), text).unwrap();
    });
    let (ok, text) = check(dir.path());
    assert!(!ok, "{text}");
    assert!(
        text.contains("Binary/phone.txt: 5000 bytes is over files.macro-max-size (1024 bytes)"),
        "{text}"
    );
}

/// 192.0.2.77 (TEST-NET-1) is on no interface of any test host.
#[test]
fn check_warns_when_server_address_is_on_no_interface() {
    let dir = config_dir(HERE, "", |_| {});
    let (ok, text) = check(dir.path());
    assert!(ok, "a warning only: {text}");
    assert!(
        text.contains("server-address 192.0.2.77 is not an address of any interface of this host"),
        "{text}"
    );
    if let Some(own) = own_address() {
        let dir = config_dir(&own, "", |_| {});
        let (ok, text) = check(dir.path());
        assert!(
            ok && !text.contains("any interface of this host"),
            "{own}: {text}"
        );
    }
}
