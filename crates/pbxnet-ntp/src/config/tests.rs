use super::*;
use crate::ratelimit::SLOT_BYTES;
use pbxnet_config::{load, ConfigReport, Loaded};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

const ETC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../etc");

/// Copy the shipped example (and key file, chmod 600 as installed) into a
/// temporary directory, with `ntp.toml` replaced by `toml` if given.
fn stage(toml: Option<&str>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let ntp = toml
        .map(str::to_string)
        .unwrap_or_else(|| std::fs::read_to_string(Path::new(ETC).join("ntp.toml")).unwrap());
    std::fs::write(dir.path().join("ntp.toml"), ntp).unwrap();
    let keys = dir.path().join("ntp.keys");
    std::fs::copy(Path::new(ETC).join("ntp.keys"), &keys).unwrap();
    std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o600)).unwrap();
    if let Ok(site) = std::fs::read_to_string(Path::new(ETC).join("site.toml")) {
        std::fs::write(dir.path().join("site.toml"), site).unwrap();
    }
    dir
}

fn load_dir(dir: &Path) -> Result<Loaded<NtpConfig>, ConfigReport> {
    load::<NtpConfig>(Some(dir))
}

#[test]
fn shipped_example_parses_and_validates() {
    let dir = stage(None);
    let loaded = load_dir(dir.path()).unwrap_or_else(|r| panic!("{r}"));
    let c = loaded.daemon;
    assert_eq!(c.listen, vec!["0.0.0.0:123".parse().unwrap()]);
    assert_eq!(c.local_stratum, Some(10));
    assert_eq!(c.server.keys.len(), 3);
    assert_eq!(
        c.server.keys.get(3).unwrap().kind(),
        crate::KeyType::Aes128Cmac
    );
    let rl = c.server.rate_limit.unwrap();
    assert_eq!((rl.interval_ms, rl.burst, rl.leak), (1000, 16, 4));
    assert!(rl.slots * SLOT_BYTES <= 1 << 20);
    assert_eq!(c.server.policy.allow.len(), 2);
    assert!(c.send_batching);
    assert_eq!(c.coalesce, std::time::Duration::ZERO);
}

#[test]
fn absent_file_gives_defaults_unsynchronised() {
    let dir = tempfile::tempdir().unwrap();
    let c = load_dir(dir.path()).unwrap().daemon;
    assert_eq!(c.local_stratum, None);
    assert!(c.server.keys.is_empty());
    assert!(c.server.rate_limit.is_some());
}

#[test]
fn rejects_unknown_key_in_every_table() {
    let text = std::fs::read_to_string(Path::new(ETC).join("ntp.toml")).unwrap();
    let tables = [
        "[server]",
        "[server.rate-limit]",
        "[keys]",
        "[local]",
        "[clock]",
    ];
    for t in tables {
        assert!(text.contains(t), "{t}");
        let bad = text.replace(t, &format!("{t}\nspurious-key = 1"));
        let dir = stage(Some(&bad));
        let err = load_dir(dir.path()).expect_err(t).to_string();
        assert!(err.contains("spurious-key"), "{t}: {err}");
    }
}

#[test]
fn reports_every_semantic_problem() {
    let bad = r#"
[server]
listen = ["nowhere"]
allow = ["192.168.92.1/24"]
auth-required = ["10.0.0.0/8"]
coalesce-us = 1001
[server.rate-limit]
burst = 0
table-size = "100B"
[keys]
file = "ntp.keys"
trusted = [1, 42]
[local]
enabled = true
stratum = 16
"#;
    let dir = stage(Some(bad));
    let err = load_dir(dir.path()).unwrap_err();
    let text = err.to_string();
    for needle in [
        "server.listen[0]",
        "server.allow[0]",
        "server.coalesce-us",
        "server.rate-limit.burst",
        "server.rate-limit.table-size",
        "keys.trusted[1]",
        "local.stratum",
    ] {
        assert!(text.contains(needle), "missing {needle} in:\n{text}");
    }
    assert!(err.error_count() >= 7, "{text}");
}

#[test]
fn refuses_world_writable_key_file_warns_on_readable_and_never_prints_keys() {
    let dir = stage(None);
    let keys = dir.path().join("ntp.keys");
    std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o646)).unwrap();
    let text = load_dir(dir.path()).unwrap_err().to_string();
    assert!(text.contains("writable by every user"), "{text}");
    // world-readable (a fresh checkout): a warning, the daemon still starts
    std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o644)).unwrap();
    let loaded = load_dir(dir.path()).unwrap();
    assert!(
        loaded
            .warnings
            .iter()
            .any(|w| w.to_string().contains("readable by every user")),
        "{:?}",
        loaded.warnings
    );
    // group-readable is only a warning
    std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o640)).unwrap();
    let loaded = load_dir(dir.path()).unwrap();
    assert!(
        loaded
            .warnings
            .iter()
            .any(|w| w.to_string().contains("readable by group")),
        "{:?}",
        loaded.warnings
    );
    // a broken key file: errors name lines, never the key material
    std::fs::write(&keys, "1 MD5 HEX:zzsecretzz\n").unwrap();
    std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o600)).unwrap();
    let text = load_dir(dir.path()).unwrap_err().to_string();
    assert!(text.contains("line 1"), "{text}");
    assert!(!text.contains("zzsecretzz"), "{text}");
}

#[test]
fn validates_sources_and_clock() {
    let good = r#"
[keys]
file = "ntp.keys"
trusted = [1]
[[source]]
address = "192.168.92.1"
key = 2
[[source]]
address = "pool.ntp.org:1234"
pool = true
minpoll = 4
maxpoll = 10
[clock]
mode = "simulated"
sim-offset = 0.5
sim-frequency-ppm = 30.0
"#;
    let dir = stage(Some(good));
    let c = load_dir(dir.path())
        .unwrap_or_else(|r| panic!("{r}"))
        .daemon;
    assert_eq!(c.sources.len(), 2);
    assert_eq!(
        (c.sources[0].host.as_str(), c.sources[0].port),
        ("192.168.92.1", 123)
    );
    assert_eq!(
        c.sources[0].key.as_ref().unwrap().kind(),
        crate::KeyType::Sha1
    );
    assert_eq!(
        (
            c.sources[1].host.as_str(),
            c.sources[1].port,
            c.sources[1].pool
        ),
        ("pool.ntp.org", 1234, true)
    );
    assert_eq!(c.clock.mode, ClockMode::Simulated);
    assert_eq!(c.clock.discipline.step_threshold, 600.0);
    assert!(c.clock.drift_file.is_absolute());

    let bad = r#"
[keys]
file = "ntp.keys"
[[source]]
address = "not a host!"
[[source]]
address = "192.168.92.1"
key = 77
minpoll = 9
maxpoll = 3
spurious = 1
[clock]
mode = "warp"
"#;
    let dir = stage(Some(bad));
    let text = load_dir(dir.path()).unwrap_err().to_string();
    for needle in [
        "source[0].address",
        "source[1].key",
        "source[1].maxpoll",
        "spurious",
        "warp",
    ] {
        assert!(text.contains(needle), "missing {needle}:\n{text}");
    }
}

/// The key file reaches validation as data: no file exists here, the
/// contents and mode are handed in as the shell's loader would.
#[test]
fn validates_the_key_file_from_data_without_touching_the_filesystem() {
    use pbxnet_config::{CompanionFiles, FileData, Site, Source, ValidateCtx};
    let text = "[server]\nallow = [\"192.168.92.0/24\"]\n[keys]\nfile = \"nowhere/ntp.keys\"\ntrusted = [1, 5]\n[[source]]\naddress = \"192.168.92.1\"\nkey = 1\n";
    let source = Source::new("/nonexistent/ntp.toml", text);
    let raw: RawNtpConfig = pbxnet_config::parse_toml(&source).unwrap();
    let site = Site::default();
    let ctx = ValidateCtx {
        site: &site,
        source: &source,
        config_dir: Path::new("/nonexistent"),
        host: None,
    };
    assert_eq!(
        NtpConfig::companion_files(&raw),
        vec![PathBuf::from("nowhere/ntp.keys")]
    );
    let key_path = Path::new("/nonexistent/nowhere/ntp.keys");
    let run = |mode: u32| {
        let mut files = CompanionFiles::default();
        let data = FileData {
            text: "1 SHA1 HEX:00112233445566778899aabbccddeeff00112233\n".into(),
            mode,
            uid: 0,
            gid: 0,
        };
        files.insert(key_path, Ok(data));
        let raw: RawNtpConfig = pbxnet_config::parse_toml(&source).unwrap();
        let mut diags = Diagnostics::new();
        let cfg = NtpConfig::validate_with_files(raw, &ctx, &files, &mut diags);
        (cfg, diags.into_sorted())
    };
    let (cfg, diags) = run(0o600);
    let text: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
    assert!(cfg.is_none(), "{text:?}");
    assert_eq!(diags.len(), 1, "{text:?}");
    assert_eq!(diags[0].key, "keys.trusted[1]");
    assert!(text[0].contains("trusted key id 5 is not in the key file"));
    let (_, diags) = run(0o602);
    assert!(diags
        .iter()
        .any(|d| d.key == "keys.file"
            && d.to_string().contains("writable by every user (mode 0602)")));
    // without the loader's data the file counts as unread
    let mut diags = Diagnostics::new();
    assert!(NtpConfig::validate(raw, &ctx, &mut diags).is_none());
    assert!(diags
        .iter()
        .any(|d| d.key == "keys.file" && d.to_string().contains("cannot read key file")));
}
