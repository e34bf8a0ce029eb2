use std::net::Ipv4Addr;
use std::path::Path;

use pbxnet_config::{
    parse_toml, CompanionFiles, DaemonConfig, Diagnostic, Diagnostics, FileData, Severity, Site,
    Source, TftpListeners, ValidateCtx,
};

use super::*;
use crate::config::{DhcpConfig, RawDhcp};

const SERVER: Ipv4Addr = Ipv4Addr::new(192, 168, 92, 246);
const EXAMPLE: &str = include_str!("../../../../../etc/dhcp.toml");

fn url(text: &str) -> Target {
    parse_url(text)
        .expect("a URL")
        .unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn configured(tftp_toml: &str) -> Reach {
    Reach {
        services: Services::Configured {
            file: "/etc/pbxnet/tftp.toml".into(),
            listeners: TftpListeners::parse(tftp_toml).unwrap(),
        },
        server_address: SERVER,
        server_ids: vec![Ipv4Addr::new(10, 1, 0, 1)],
    }
}

fn problem(v: Verdict) -> (String, String) {
    match v {
        Verdict::Warn { problem, hint } => (problem, hint),
        other => panic!("expected a warning, got {other:?}"),
    }
}

#[test]
fn splits_audiocodes_and_plain_urls() {
    let t = url("tftp://${server_ip}/;<MAC>.cfg");
    assert_eq!(
        (t.scheme.as_str(), t.host.as_str(), t.port),
        ("tftp", "${server_ip}", None)
    );
    let t = url("HTTPS://192.168.92.246:8443/400HD.img;<MAC>.cfg");
    assert_eq!(
        (t.scheme.as_str(), t.host.as_str(), t.port),
        ("https", "192.168.92.246", Some(8443))
    );
    let t = url("http://user:secret@pbx.example.lan:8080");
    assert_eq!((t.host.as_str(), t.port), ("pbx.example.lan", Some(8080)));
    let t = url("http://[2001:db8::1]:80/x");
    assert_eq!((t.host.as_str(), t.port), ("2001:db8::1", Some(80)));
    assert_eq!(parse_url("192.168.92.246"), None);
    assert_eq!(parse_url("ThirdParty_Devices/400HD.img"), None);
    assert_eq!(parse_url("1http://x/"), None);
    let e = parse_url("http://${server_ip}:80a/").unwrap().unwrap_err();
    assert!(e.contains("port `80a`"), "{e}");
    assert!(parse_url("http://h:0/").unwrap().is_err());
    let t = tftp_server("192.168.92.246:6969").unwrap();
    assert_eq!(
        (t.scheme.as_str(), t.host.as_str(), t.port),
        ("tftp", "192.168.92.246", Some(6969))
    );
}

#[test]
fn served_when_the_scheme_is_on_at_the_right_port_and_address() {
    let reach = configured("[http]\nenabled = true\n[https]\nenabled = true\n");
    for u in [
        "tftp://${server_ip}/;<MAC>.cfg",
        "http://${server_ip}/;<MAC>.cfg",
        "https://192.168.92.246:443/tpcfg/",
        "https://10.1.0.1/securcfg/hap_conf.ini",
    ] {
        assert_eq!(judge(&url(u), &reach), Verdict::Served, "{u}");
    }
    assert_eq!(
        judge(&tftp_server("${server_ip}").unwrap(), &reach),
        Verdict::Served
    );
}

#[test]
fn https_with_https_off_says_which_file_and_what_to_enable() {
    let reach = configured("[http]\nenabled = true\n");
    let (p, h) = problem(judge(&url("https://${server_ip}/;<MAC>.cfg"), &reach));
    assert_eq!(
        p,
        "names https, which no pbxnet service on this site answers: [https] is off in /etc/pbxnet/tftp.toml"
    );
    assert!(
        h.starts_with("set `enabled = true` under [https] in /etc/pbxnet/tftp.toml"),
        "{h}"
    );
    assert!(h.contains("http:// or tftp://"), "{h}");
    let (p, h) = problem(judge(&url("http://${server_ip}/"), &configured("")));
    assert!(p.contains("[http] is off"), "{p}");
    assert!(h.ends_with("change the URL to tftp://"), "{h}");
}

#[test]
fn no_tftp_toml_means_no_pbxnet_service_for_any_scheme() {
    let reach = Reach {
        services: Services::Absent {
            file: "/x/tftp.toml".into(),
        },
        server_address: SERVER,
        server_ids: Vec::new(),
    };
    let (p, h) = problem(judge(&url("https://${server_ip}/"), &reach));
    assert!(p.contains("there is no /x/tftp.toml"), "{p}");
    assert!(h.contains("`enabled = true` under [https]"), "{h}");
    let (p, _) = problem(judge(&tftp_server("${server_ip}").unwrap(), &reach));
    assert!(p.starts_with("names tftp on this server"), "{p}");
    // Another host is judged without tftp.toml all the same.
    let (p, _) = problem(judge(&url("https://lync.example.lan/"), &reach));
    assert!(p.contains("served by another host"), "{p}");
}

#[test]
fn another_host_is_not_checked_but_said() {
    let reach = configured("[https]\nenabled = true\n");
    for (u, host) in [
        (
            "https://lyncpool.example.lan:443/CertProv",
            "lyncpool.example.lan",
        ),
        ("http://192.168.92.10/", "192.168.92.10"),
    ] {
        let (p, h) = problem(judge(&url(u), &reach));
        assert!(
            p.starts_with(&format!(
                "names {host}, which is neither this site's server-address 192.168.92.246 nor ${{server_ip}}"
            )),
            "{p}"
        );
        assert!(p.ends_with("which pbxnet cannot check"), "{p}");
        assert!(h.starts_with(&format!("make sure {host} answers")), "{h}");
    }
    let (p, _) = problem(judge(&tftp_server("10.9.9.9").unwrap(), &reach));
    assert!(p.contains("names 10.9.9.9"), "{p}");
}

#[test]
fn unknown_scheme_wrong_port_and_wrong_listen_address() {
    let reach = configured(
        "[server]\nlisten = \"0.0.0.0:69\"\n[http]\nenabled = true\nlisten = \"10.1.0.1:80\"\n[https]\nenabled = true\nlisten = \"0.0.0.0:8443\"\n",
    );
    let (p, _) = problem(judge(&url("ftp://${server_ip}/"), &reach));
    assert!(p.starts_with("names the scheme `ftp`"), "{p}");
    let (p, h) = problem(judge(&url("https://${server_ip}/"), &reach));
    assert_eq!(
        p,
        "asks for https on port 443, but pbxnet-tftpd's [https] listens on 0.0.0.0:8443"
    );
    assert!(h.starts_with("use port 8443"), "{h}");
    assert_eq!(
        judge(&url("https://${server_ip}:8443/"), &reach),
        Verdict::Served
    );
    let (p, _) = problem(judge(&url("http://${server_ip}/"), &reach));
    assert_eq!(
        p,
        "names 192.168.92.246, but pbxnet-tftpd's [http] listens on 10.1.0.1:80 only"
    );
    assert_eq!(judge(&url("http://10.1.0.1/"), &reach), Verdict::Served);
    let (p, _) = problem(judge(&tftp_server("${server_ip}:6969").unwrap(), &reach));
    assert!(p.contains("port 6969"), "{p}");
}

#[test]
fn finds_the_targets_of_the_example_profiles() {
    let src = Source::new("dhcp.toml", EXAMPLE);
    let raw: RawDhcp = parse_toml(&src).unwrap();
    let found = targets(&raw.profile);
    let summary: Vec<(String, String, String)> = found
        .iter()
        .map(|f| {
            let t = f.target.as_ref().unwrap();
            (f.label.clone(), t.scheme.clone(), t.host.clone())
        })
        .collect();
    let expect = |label: &str, scheme: &str, host: &str| {
        assert!(
            summary
                .iter()
                .any(|(l, s, h)| l.starts_with(label) && s == scheme && h == host),
            "{label} {scheme} {host} not in {summary:#?}"
        )
    };
    // Option 160's scheme is the example's choice (tftp, http or https).
    assert!(
        summary
            .iter()
            .any(|(l, _, h)| l == "option 160" && h == "${server_ip}"),
        "{summary:#?}"
    );
    expect("option 66", "tftp", "${server_ip}");
    expect("option 150", "tftp", "${server_ip}");
    expect("option 43 (Lync", "https", "lyncpool.example.lan");
    // 67 as a file name is not a target.
    assert!(!summary.iter().any(|(l, _, _)| l == "option 67"));
    let lync = found
        .iter()
        .find(|f| f.label.starts_with("option 43"))
        .unwrap();
    assert_eq!(
        lync.target.as_ref().unwrap().shown,
        "https://lyncpool.example.lan:443/CertProv/CertProvisioningService.svc"
    );
    // The key and span are the host sub-option's value.
    assert!(lync.key.ends_with(".sub-options[2].value"), "{}", lync.key);
    assert_eq!(&EXAMPLE[lync.span.clone()], "\"lyncpool.example.lan\"");
}

/// Validates `dhcp` with `tftp` as the loader's reading of tftp.toml
/// (`None`: the file is absent); returns the warnings.
fn validate(dhcp: &str, tftp: Option<&str>) -> Vec<Diagnostic> {
    let src = Source::new("/site/dhcp.toml", dhcp);
    let raw: RawDhcp = parse_toml(&src).unwrap();
    let site = Site::default();
    let ctx = ValidateCtx {
        site: &site,
        source: &src,
        config_dir: Path::new("/site"),
        host: None,
    };
    let mut files = CompanionFiles::default();
    let data = match tftp {
        Some(text) => Ok(FileData {
            text: text.to_string(),
            mode: 0o644,
            uid: 0,
            gid: 0,
        }),
        None => Err(std::io::Error::from(std::io::ErrorKind::NotFound)),
    };
    files.insert("/site/tftp.toml", data);
    let mut diags = Diagnostics::new();
    let cfg = DhcpConfig::validate_with_files(raw, &ctx, &files, &mut diags);
    assert!(!diags.has_errors(), "{:#?}", diags.into_sorted());
    assert!(cfg.is_some());
    diags.into_sorted()
}

const AUDIOCODES: &str = r#"
[[subnet]]
name = "site"
network = "192.168.92.0/24"
[[pool]]
name = "phones"
range = "192.168.92.10..192.168.92.69"
[[profile]]
name = "audiocodes"
  [[profile.option]]
  code = 160
  value = "https://${server_ip}/400HD.img;<MAC>.cfg"
[[class]]
name = "all"
any-device = true
profile = "audiocodes"
"#;

#[test]
fn a_warning_names_the_value_position_the_url_and_what_to_do() {
    let d = validate(AUDIOCODES, Some("[http]\nenabled = true\n"));
    assert_eq!(d.len(), 1, "{d:#?}");
    let w = &d[0];
    assert_eq!(w.severity, Severity::Warning);
    assert_eq!(w.key, "profile[0].option[0].value");
    assert_eq!((w.line, w.column), (12, 11));
    assert!(
        w.message
            .starts_with("option 160 `https://${server_ip}/400HD.img;<MAC>.cfg` names https"),
        "{}",
        w.message
    );
    assert!(w.hint.as_deref().unwrap().contains("[https]"));
    // With [https] on: nothing to say.
    assert!(validate(AUDIOCODES, Some("[https]\nenabled = true\n")).is_empty());
    // Without tftp.toml: said.
    let d = validate(AUDIOCODES, None);
    assert!(
        d[0].message.contains("there is no /site/tftp.toml"),
        "{d:#?}"
    );
}

#[test]
fn an_unreadable_tftp_toml_is_one_warning_on_that_file() {
    let d = validate(AUDIOCODES, Some("[https\n"));
    assert_eq!(d.len(), 1, "{d:#?}");
    assert_eq!(d[0].file, Path::new("/site/tftp.toml"));
    assert!(
        d[0].message.contains("1 provisioning URL(s)"),
        "{}",
        d[0].message
    );
    assert!(d[0].message.contains("not valid TOML"), "{}", d[0].message);
    assert!(
        d[0].hint.as_deref().unwrap().contains("pbxnet-tftpd check"),
        "{d:#?}"
    );
}

#[test]
fn a_tftp_toml_that_cannot_be_opened_is_said_with_the_reason() {
    let file = Path::new("/site/tftp.toml");
    let mut files = CompanionFiles::default();
    files.insert(
        file,
        Err(std::io::Error::from(std::io::ErrorKind::PermissionDenied)),
    );
    match Services::from_files(&files, file) {
        Services::Unreadable { reason, .. } => {
            assert!(reason.starts_with("it cannot be read: "), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    // Not asked for (validation without the loader): nothing is judged.
    assert_eq!(
        Services::from_files(&CompanionFiles::default(), file),
        Services::Unknown
    );
}

#[test]
fn the_example_warns_only_on_the_lync_pool_served_elsewhere() {
    let tftp = include_str!("../../../../../etc/tftp.toml");
    let d = validate(EXAMPLE, Some(tftp));
    assert_eq!(d.len(), 1, "{d:#?}");
    assert!(d[0].message.starts_with(
        "option 43 (Lync certificate provisioning: scheme in sub-option 2, host in 3, port in 4) \
         `https://lyncpool.example.lan:443/CertProv/CertProvisioningService.svc` names lyncpool.example.lan"
    ), "{}", d[0].message);
    let lync = raw_profile_index(EXAMPLE, "audiocodes-400hd-lync");
    assert_eq!(
        d[0].key,
        format!("profile[{lync}].option[0].sub-options[2].value")
    );
}

/// The index of the profile named `name` in `dhcp`.
fn raw_profile_index(dhcp: &str, name: &str) -> usize {
    let raw: RawDhcp = parse_toml(&Source::new("dhcp.toml", dhcp)).unwrap();
    raw.profile
        .iter()
        .position(|p| p.name.get_ref() == name)
        .unwrap()
}

#[test]
fn validation_without_the_loaders_files_judges_nothing() {
    let src = Source::new("dhcp.toml", AUDIOCODES);
    let raw: RawDhcp = parse_toml(&src).unwrap();
    let site = Site::default();
    let ctx = ValidateCtx {
        site: &site,
        source: &src,
        config_dir: Path::new("."),
        host: None,
    };
    let mut diags = Diagnostics::new();
    assert!(DhcpConfig::validate(raw, &ctx, &mut diags).is_some());
    assert_eq!(diags.iter().count(), 0);
}
