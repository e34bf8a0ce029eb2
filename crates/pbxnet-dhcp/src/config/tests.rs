use super::*;
use crate::classify::Matcher;
use pbxnet_config::{parse_toml, Diagnostic, Site};
use pbxnet_config::{HostInterfaces, Source};
use std::net::Ipv4Addr;
use std::path::Path;

const EXAMPLE: &str = include_str!("../../../../etc/dhcp.toml");

pub(super) fn check(text: &str) -> Result<DhcpConfig, Vec<Diagnostic>> {
    let src = Source::new("dhcp.toml", text);
    let raw: RawDhcp = parse_toml(&src)?;
    let site = Site::default();
    let ctx = ValidateCtx {
        site: &site,
        source: &src,
        config_dir: Path::new("."),
        host: None,
    };
    let mut d = Diagnostics::new();
    let cfg = DhcpConfig::validate(raw, &ctx, &mut d);
    if d.has_errors() {
        return Err(d.into_sorted());
    }
    Ok(cfg.expect("no errors, so a config"))
}

pub(super) fn errors(text: &str) -> Vec<Diagnostic> {
    match check(text) {
        Ok(_) => panic!("expected errors"),
        Err(d) => d.into_iter().filter(|d| d.is_error()).collect(),
    }
}

fn has(d: &[Diagnostic], key: &str, needle: &str) -> bool {
    d.iter().any(|x| x.key == key && x.message.contains(needle))
}

pub(super) const BASE: &str = r#"
[[subnet]]
name = "site"
network = "192.168.92.0/24"
[[pool]]
name = "phones"
range = "192.168.92.10..192.168.92.69"
[[profile]]
name = "p"
"#;

#[test]
fn accepts_shipped_example() {
    let cfg = check(EXAMPLE).unwrap_or_else(|d| panic!("{d:#?}"));
    let s = &cfg.server;
    assert_eq!(s.subnets.len(), 1);
    let names: Vec<&str> = s.pools.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["switches", "phones", "stellar", "others"]);
    assert_eq!(
        (s.pools[0].start, s.pools[0].end),
        (
            Ipv4Addr::new(192, 168, 92, 5),
            Ipv4Addr::new(192, 168, 92, 9)
        )
    );
    assert_eq!(
        (s.pools[1].start, s.pools[1].end),
        (
            Ipv4Addr::new(192, 168, 92, 10),
            Ipv4Addr::new(192, 168, 92, 69)
        )
    );
    assert_eq!(
        (s.pools[2].start, s.pools[2].end),
        (
            Ipv4Addr::new(192, 168, 92, 70),
            Ipv4Addr::new(192, 168, 92, 133)
        )
    );
    assert!(
        !s.pools
            .iter()
            .any(|p| p.contains(Ipv4Addr::new(192, 168, 92, 134))),
        "virtual cluster IP stays free"
    );
    assert_eq!(s.classes.last().unwrap().matcher, Matcher::Any);
    // Every profile renders for the site.
    for p in &s.profiles {
        p.render(Ipv4Addr::new(192, 168, 92, 246)).unwrap();
    }
}

#[test]
fn rejects_unknown_key_in_every_table_of_the_example() {
    // hickory's test_reject_unknown_fields: a spurious key in each table.
    let tables = [
        "",
        "[flood]",
        "[[subnet]]",
        "[[pool]]",
        "[[class]]",
        "[[profile]]",
        "[[profile.option]]",
    ];
    for t in tables {
        let text = if t.is_empty() {
            format!("bogus-key = 1\n{EXAMPLE}")
        } else {
            let i = EXAMPLE
                .find(&format!("\n{t}\n"))
                .unwrap_or_else(|| EXAMPLE.find(&format!("  {t}\n")).expect(t));
            let end = EXAMPLE[i + 1..].find('\n').unwrap() + i + 2;
            format!("{}bogus-key = 1\n{}", &EXAMPLE[..end], &EXAMPLE[end..])
        };
        let d = check(&text)
            .err()
            .unwrap_or_else(|| panic!("{t}: accepted a bogus key"));
        assert!(
            d.iter().any(|x| x.message.contains("bogus-key")),
            "{t}: {d:#?}"
        );
    }
}

#[test]
fn rejects_static_ip_inside_dynamic_range_and_duplicates() {
    let d = errors(&format!(
        r#"{BASE}
[[class]]
name = "a"
mac = "00:80:9f:00:00:01"
static-ip = "192.168.92.20"
profile = "p"
[[class]]
name = "b"
mac = "00:80:9f:00:00:02"
static-ip = "192.168.92.200"
profile = "p"
[[class]]
name = "c"
mac = "00:80:9f:00:00:03"
static-ip = "192.168.92.200"
profile = "p"
[[class]]
name = "d"
mac-pattern = "00:80:9f*"
static-ip = "192.168.92.201"
profile = "p"
"#
    ));
    assert!(
        has(
            &d,
            "class[0].static-ip",
            "inside the dynamic range 192.168.92.10..192.168.92.69 of pool `phones`"
        ),
        "{d:#?}"
    );
    assert!(
        has(&d, "class[2].static-ip", "already given to class[1]"),
        "{d:#?}"
    );
    assert!(
        has(&d, "class[3].static-ip", "needs an exact `mac`"),
        "{d:#?}"
    );
    let line = d
        .iter()
        .find(|x| x.key == "class[0].static-ip")
        .unwrap()
        .line;
    assert_eq!(line, 14, "points at the static-ip line");
}

#[test]
fn rejects_any_device_not_last_and_unknown_references() {
    let d = errors(&format!(
        r#"{BASE}
[[class]]
name = "all"
any-device = true
profile = "p"
[[class]]
name = "x"
vendor-class = "450HD"
profile = "q"
pool = "phone"
"#
    ));
    assert!(has(&d, "class[0].any-device", "number 1 of 2"), "{d:#?}");
    assert!(has(&d, "class[1].profile", "unknown profile `q`"), "{d:#?}");
    let pool = d.iter().find(|x| x.key == "class[1].pool").unwrap();
    assert!(
        pool.hint
            .as_deref()
            .unwrap()
            .contains("did you mean `phones`"),
        "{pool:#?}"
    );
}

#[test]
fn rejects_option_150_not_ip_list_and_macro_in_hex() {
    let d = errors(
        r#"
[[subnet]]
name = "site"
network = "192.168.92.0/24"
[[profile]]
name = "p"
  [[profile.option]]
  code = 150
  type = "string"
  value = "192.168.92.246"
  [[profile.option]]
  code = 125
  type = "hex"
  value = "01${server_ip}"
  [[profile.option]]
  code = 151
  type = "ip-list"
  value = ["10.0.0.300"]
  [[profile.option]]
  code = 54
  type = "ip"
  value = "1.2.3.4"
"#,
    );
    assert!(
        has(
            &d,
            "profile[0].option[0].type",
            "option 150 cannot have type `string`"
        ),
        "{d:#?}"
    );
    assert!(
        has(
            &d,
            "profile[0].option[1].value",
            "macro is not allowed inside hex"
        ),
        "{d:#?}"
    );
    assert!(
        has(&d, "profile[0].option[2].value", "10.0.0.300"),
        "{d:#?}"
    );
    assert!(
        has(
            &d,
            "profile[0].option[3].code",
            "option 54 cannot be set in a profile"
        ),
        "{d:#?}"
    );
}

#[test]
fn rejects_overlapping_pools_and_pool_outside_subnet() {
    let d = errors(&format!(
        r#"{BASE}
[[pool]]
name = "more"
range = "192.168.92.60..192.168.92.80"
[[pool]]
name = "far"
subnet = "site"
range = "10.0.0.1..10.0.0.9"
"#
    ));
    assert!(
        has(&d, "pool[1].range", "overlaps 192.168.92.10..192.168.92.69"),
        "{d:#?}"
    );
    assert!(
        has(&d, "pool[2].range", "not inside the subnet 192.168.92.0/24"),
        "{d:#?}"
    );
}

#[test]
fn rejects_bad_120_and_sub_options() {
    let d = errors(
        r#"
[[subnet]]
name = "site"
network = "192.168.92.0/24"
[[profile]]
name = "p"
  [[profile.option]]
  code = 120
  type = "ip-list"
  value = ["1.2.3.4"]
  [[profile.option]]
  code = 43
  sub-options = [ { code = 1, type = "string", value = 5 } ]
  [[profile.option]]
  code = 119
  value = ["bad..name"]
"#,
    );
    assert!(
        has(
            &d,
            "profile[0].option[0].type",
            "option 120 cannot have type `ip-list`"
        ),
        "{d:#?}"
    );
    assert!(
        has(
            &d,
            "profile[0].option[1].sub-options[0].value",
            "expected a string"
        ),
        "{d:#?}"
    );
    assert!(has(&d, "profile[0].option[2].value", "bad..name"), "{d:#?}");
}

#[test]
fn rejects_empty_config_with_a_reason() {
    let d = errors("");
    assert!(
        d.iter().any(|x| x.message.contains("no [[subnet]]")),
        "{d:#?}"
    );
}

#[test]
fn example_profiles_encode_expected_bytes() {
    let cfg = check(EXAMPLE).unwrap();
    let srv = Ipv4Addr::new(192, 168, 92, 246);
    let prof = |n: &str| {
        cfg.server
            .profiles
            .iter()
            .find(|p| p.name == n)
            .unwrap()
            .render(srv)
            .unwrap()
    };
    let ac = prof("audiocodes-400hd");
    assert_eq!(ac.get(160).unwrap().1, b"https://192.168.92.246/;<MAC>.cfg");
    let ac_http = prof("audiocodes-400hd-http");
    assert_eq!(
        ac_http.get(160).unwrap().1,
        b"http://192.168.92.246/;<MAC>.cfg"
    );
    assert_eq!(ac.get(2).unwrap().1, [0, 0, 0x1c, 0x20]);
    assert_eq!(ac.get(120).unwrap().1, b"\x00\x03pbx\x07example\x03lan\x00");
    let lync = prof("audiocodes-400hd-lync");
    let mut want = vec![1, 12];
    want.extend(b"MS-UC-Client");
    want.extend([2, 5]);
    want.extend(b"https");
    want.extend([3, 20]);
    want.extend(b"lyncpool.example.lan");
    want.extend([4, 3]);
    want.extend(b"443");
    want.extend([5, 37]);
    want.extend(b"/CertProv/CertProvisioningService.svc");
    want.extend([10, 3]);
    want.extend(b"100");
    assert_eq!(lync.get(43).unwrap().1, want);
    assert_eq!(lync.get(120).unwrap().1, [1, 192, 168, 92, 246]);
    let sw = prof("omniswitch");
    assert_eq!(sw.get(67).unwrap().1, b"os_ins.alu");
    assert_eq!(sw.get(150).unwrap().1, srv.octets());
    assert_eq!(sw.next_server, Some(srv));
    assert_eq!(
        prof("stellar-ap").get(67).unwrap().1,
        b"hap_instruction.ini"
    );
}

#[test]
fn vendor_class_hex_is_a_raw_byte_matcher() {
    let cfg = check(&format!(
        r#"{BASE}
[[class]]
name = "binary-exact"
vendor-class-hex = "00:0d:e9:00"
profile = "p"
[[class]]
name = "binary-prefix"
vendor-class-hex-prefix = "0x000d"
profile = "p"
"#
    ))
    .unwrap_or_else(|d| panic!("{d:#?}"));
    assert_eq!(
        cfg.server.classes[0].matcher,
        Matcher::VendorClassData {
            value: vec![0, 0x0d, 0xe9, 0],
            prefix: false
        }
    );
    assert_eq!(
        cfg.server.classes[1].matcher,
        Matcher::VendorClassData {
            value: vec![0, 0x0d],
            prefix: true
        }
    );
}

#[test]
fn vendor_class_hex_errors_name_the_key_and_line() {
    let d = errors(&format!(
        r#"{BASE}
[[class]]
name = "odd"
vendor-class-hex = "00:0g"
profile = "p"
"#
    ));
    let bad = d
        .iter()
        .find(|x| x.key == "class[0].vendor-class-hex")
        .unwrap_or_else(|| panic!("{d:#?}"));
    assert_eq!((bad.line, bad.column), (13, 20), "{bad:#?}");
    assert!(bad.message.contains("`0g` is not hex"), "{bad:#?}");

    let d = errors(&format!(
        r#"{BASE}
[[class]]
name = "two"
vendor-class-hex = "00:0d"
vendor-class = "450HD"
profile = "p"
[[class]]
name = "empty-user"
user-class = ""
profile = "p"
[[class]]
name = "empty-hex"
vendor-class-hex-prefix = ""
profile = "p"
"#
    ));
    assert!(has(&d, "class[0]", "has 2 matchers"), "{d:#?}");
    assert!(
        has(&d, "class[1].user-class", "empty class string"),
        "{d:#?}"
    );
    assert!(
        has(&d, "class[2].vendor-class-hex-prefix", "empty hex data"),
        "{d:#?}"
    );
}

/// Every diagnostic of `text` validated on a site read from `site_text`
/// (as `site.toml`) and on a host with `host`'s interfaces.
fn on_host(site_text: &str, host: &[(&str, &[Ipv4Addr])], text: &str) -> Vec<Diagnostic> {
    use pbxnet_config::{HostInterface, RawSite};
    let site_src = Source::new("site.toml", site_text);
    let raw_site: RawSite = parse_toml(&site_src).unwrap();
    let host = HostInterfaces::new(
        host.iter()
            .map(|(name, ipv4)| HostInterface {
                name: name.to_string(),
                ipv4: ipv4.to_vec(),
            })
            .collect(),
    );
    let mut d = Diagnostics::new();
    let site = Site::validate(raw_site, &site_src, Some(&host), &mut d);
    let src = Source::new("dhcp.toml", text);
    let raw: RawDhcp = parse_toml(&src).unwrap();
    let ctx = ValidateCtx {
        site: &site,
        source: &src,
        config_dir: Path::new("."),
        host: Some(&host),
    };
    DhcpConfig::validate(raw, &ctx, &mut d);
    d.into_sorted()
}

const LAN: &[Ipv4Addr] = &[Ipv4Addr::new(192, 168, 92, 246)];
const SITE: &str = "server-address = \"192.168.92.246\"\n";

fn find<'a>(d: &'a [Diagnostic], key: &str) -> &'a Diagnostic {
    d.iter()
        .find(|x| x.key == key)
        .unwrap_or_else(|| panic!("no diagnostic for {key}: {d:#?}"))
}

#[test]
fn accepts_the_example_on_a_host_that_holds_the_server_address() {
    let d = on_host(
        SITE,
        &[("lo", &[Ipv4Addr::LOCALHOST]), ("eth0", LAN)],
        EXAMPLE,
    );
    assert!(d.is_empty(), "{d:#?}");
}

#[test]
fn rejects_a_router_outside_its_subnet() {
    let text = BASE.replace(
        "network = \"192.168.92.0/24\"\n",
        "network = \"192.168.92.0/24\"\nrouters = [\"192.168.92.1\", \"192.168.93.1\"]\n",
    );
    let d = on_host(SITE, &[("eth0", LAN)], &text);
    let e = find(&d, "subnet[0].routers[1]");
    assert!(e.is_error());
    assert_eq!(
        e.message,
        "router 192.168.93.1 is outside the subnet 192.168.92.0/24"
    );
    assert_eq!(
        (e.file.to_str(), e.line, e.column),
        (Some("dhcp.toml"), 5, 28)
    );
    assert!(!d.iter().any(|x| x.key == "subnet[0].routers[0]"), "{d:#?}");
}

#[test]
fn rejects_a_server_address_outside_every_subnet_at_its_line_in_site_toml() {
    let site = "# the site\nserver-address = \"10.9.9.9\"\n";
    let d = on_host(site, &[("eth0", &[Ipv4Addr::new(10, 9, 9, 9)])], BASE);
    let e = find(&d, "server-address");
    assert!(e.is_error(), "{e:?}");
    assert_eq!(
        e.message,
        "server-address 10.9.9.9 lies in no [[subnet]] of dhcp.toml (192.168.92.0/24)"
    );
    assert_eq!(
        (e.file.to_str(), e.line, e.column),
        (Some("site.toml"), 2, 18)
    );
}

#[test]
fn rejects_a_pool_holding_the_server_address() {
    let text = BASE.replace(
        "192.168.92.10..192.168.92.69",
        "192.168.92.200..192.168.92.250",
    );
    let d = on_host(SITE, &[("eth0", LAN)], &text);
    let e = find(&d, "pool[0].range");
    assert!(e.is_error());
    assert_eq!(e.message, "the range 192.168.92.200..192.168.92.250 of pool `phones` contains 192.168.92.246, the server's own address (site.toml `server-address`)");
    assert_eq!((e.line, e.column), (7, 9));
    assert!(e.hint.as_deref().unwrap().contains("end at 192.168.92.245"));
}

#[test]
fn rejects_an_interface_this_host_does_not_have() {
    let text = BASE.replace(
        "network = \"192.168.92.0/24\"\n",
        "network = \"192.168.92.0/24\"\ninterface = \"eth7\"\n",
    );
    let d = on_host(SITE, &[("eth0", LAN)], &text);
    let e = find(&d, "subnet[0].interface");
    assert!(e.is_error());
    assert_eq!(e.message, "interface `eth7` does not exist on this host");
    assert_eq!((e.line, e.column), (5, 13));
    assert_eq!(
        e.hint.as_deref(),
        Some("interfaces here: eth0 (192.168.92.246)")
    );
    // the site's `interfaces` list is checked the same way
    let d = on_host(
        &format!("{SITE}interfaces = [\"eth0\", \"eth9\"]\n"),
        &[("eth0", LAN)],
        BASE,
    );
    let e = find(&d, "interfaces[1]");
    assert!(e.is_error());
    assert_eq!(
        (e.file.to_str(), e.line, e.column),
        (Some("site.toml"), 2, 23)
    );
    assert!(!d.iter().any(|x| x.key == "interfaces[0]"), "{d:#?}");
}

#[test]
fn warns_when_no_interface_holds_the_server_address() {
    let d = on_host(SITE, &[("eth0", &[Ipv4Addr::new(192, 168, 92, 2)])], BASE);
    assert_eq!(d.len(), 1, "{d:#?}");
    let w = &d[0];
    assert!(!w.is_error());
    assert_eq!(w.key, "server-address");
    assert_eq!(
        w.message,
        "server-address 192.168.92.246 is not an address of any interface of this host"
    );
    assert_eq!(
        (w.file.to_str(), w.line, w.column),
        (Some("site.toml"), 1, 18)
    );
}
