use std::path::Path;

use pbxnet_config::{Diagnostic, Diagnostics, Site, Source, ValidateCtx};

use crate::{RawTftpConfig, TftpConfig};

/// Validate `text` as `dir/tftp.toml`, then check the tree it names as the
/// daemon does at start-up.
fn validate(text: &str, dir: &Path) -> Result<TftpConfig, Vec<Diagnostic>> {
    let source = Source::new(dir.join("tftp.toml"), text);
    let raw: RawTftpConfig = pbxnet_config::parse_toml(&source)?;
    let site = Site::default();
    let ctx = ValidateCtx {
        site: &site,
        source: &source,
        config_dir: dir,
        host: None,
    };
    let mut d = Diagnostics::new();
    let cfg = <TftpConfig as pbxnet_config::DaemonConfig>::validate(raw, &ctx, &mut d);
    if let Some(cfg) = cfg.as_ref() {
        let found = cfg.check_tree(&super::snapshot(cfg), site.server_address);
        for f in found {
            d.push(f);
        }
    }
    if d.has_errors() {
        Err(d.into_sorted())
    } else {
        Ok(cfg.unwrap())
    }
}

#[test]
fn over_quota_switch_file_and_bad_macro_are_config_errors() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("Omniswitch")).unwrap();
    std::fs::write(root.join("Omniswitch/os_conf"), vec![b'x'; 600_000]).unwrap();
    std::fs::write(root.join("Omniswitch/os_ins.alu"), "server ${serverip}\n").unwrap();
    let errs = validate("[files]\nroot = \"root\"\n", dir.path()).unwrap_err();
    assert!(
        errs.iter()
            .any(|d| d.message.contains("Omniswitch/os_conf") && d.message.contains("quota")),
        "{errs:#?}"
    );
    assert!(
        errs.iter()
            .any(|d| d.message.contains("Omniswitch/os_ins.alu")
                && d.message.contains("unknown macro")),
        "{errs:#?}"
    );
    std::fs::write(root.join("Omniswitch/os_conf"), b"ok").unwrap();
    std::fs::write(root.join("Omniswitch/os_ins.alu"), "server ${server_ip}\n").unwrap();
    validate("[files]\nroot = \"root\"\n", dir.path()).unwrap();
}

#[test]
fn device_templates_are_checked_at_load_time() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("ThirdParty_Devices/templates")).unwrap();
    std::fs::write(
        root.join("ThirdParty_Devices/templates/default.cfg"),
        "ext=${extension}\nname=${name}\n",
    )
    .unwrap();
    let text = "[files]\nroot = \"root\"\n[[devices.device]]\nmac = \"00:90:8f:61:a0:23\"\nvars = { extension = \"202\" }\n\
                [[devices.device]]\nmac = \"00:90:8f:61:a0:23\"\n[[devices.device]]\nmac = \"nope\"\n";
    let errs = validate(text, dir.path()).unwrap_err();
    assert!(
        errs.iter()
            .any(|d| d.message.contains("unknown variable `${name}`")
                && d.message.contains("00908f61a023")),
        "{errs:#?}"
    );
    assert!(
        errs.iter()
            .any(|d| d.key == "devices.device[1].mac" && d.message.contains("twice")),
        "{errs:#?}"
    );
    assert!(
        errs.iter().any(|d| d.key == "devices.device[2].mac"),
        "{errs:#?}"
    );
    let ok = "[files]\nroot = \"root\"\n[[devices.device]]\nmac = \"00-90-8F-61-A0-23\"\nvars = { extension = \"202\", name = \"x\" }\n";
    let cfg = validate(ok, dir.path()).unwrap();
    assert_eq!(cfg.device("00908f61a023").unwrap().vars["name"], "x");
}

/// `[https]` certificate files are read by the host checks (what `check`,
/// start-up and reload run), and only while HTTPS is enabled.
#[test]
fn https_certificate_is_checked_when_https_is_enabled() {
    use std::time::{Duration, SystemTime};
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["pbxnet.invalid".to_string()]).unwrap();
    let now = SystemTime::now();
    params.not_before = (now - Duration::from_secs(400 * 86_400)).into();
    params.not_after = (now - Duration::from_secs(86_400)).into();
    let cert = params.self_signed(&key).unwrap();
    std::fs::write(dir.path().join("server.pem"), cert.pem()).unwrap();
    std::fs::write(dir.path().join("server.key"), key.serialize_pem()).unwrap();
    std::fs::set_permissions(
        dir.path().join("server.key"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let paths = pbxnet_config::ConfigPaths {
        site: dir.path().join("site.toml"),
        daemon: dir.path().join("tftp.toml"),
        daemon_explicit: true,
    };
    let https = |enabled: bool| {
        format!(
            "[https]\nenabled = {enabled}\ncertificate = \"server.pem\"\nkey = \"server.key\"\n"
        )
    };
    let cfg = validate(&https(true), dir.path()).unwrap();
    let found = super::host_checks(&cfg, &Site::default(), &paths);
    let https_keys: Vec<&str> = found
        .iter()
        .filter(|d| d.key.starts_with("https."))
        .map(|d| d.key.as_str())
        .collect();
    // Expired, and issued for a name rather than the server address.
    assert_eq!(
        https_keys,
        ["https.certificate", "https.certificate"],
        "{found:#?}"
    );
    assert!(found
        .iter()
        .any(|d| d.is_error() && d.message.contains("expired on")));
    let cfg = validate(&https(false), dir.path()).unwrap();
    let found = super::host_checks(&cfg, &Site::default(), &paths);
    assert!(
        found.iter().all(|d| !d.key.starts_with("https.")),
        "{found:#?}"
    );
}
