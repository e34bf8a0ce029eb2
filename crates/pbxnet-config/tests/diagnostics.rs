//! The loader reports every problem at once, each with file:line:column, key
//! path, message and hint. A small schema shaped like a DHCP pool section
//! stands in for a daemon's.

use std::path::Path;

use pbxnet_config::{
    check_no_overlaps, check_range_in_subnet, load, AddrRange, DaemonConfig, Diagnostic,
    Diagnostics, HexData, Ipv4Net, MacAddr, Spanned, Template, ValidateCtx,
};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[allow(dead_code)]
struct RawDemo {
    #[serde(default)]
    subnet: Option<Spanned<Ipv4Net>>,
    #[serde(default)]
    pools: Vec<RawPool>,
    #[serde(default)]
    reservations: Vec<RawReservation>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[allow(dead_code)]
struct RawPool {
    name: String,
    range: Spanned<AddrRange>,
    #[serde(default)]
    vendor_data: Option<HexData>,
    #[serde(default)]
    boot_url: Option<Template>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[allow(dead_code)]
struct RawReservation {
    mac: MacAddr,
}

#[derive(Debug)]
struct Demo {
    pools: usize,
}

impl DaemonConfig for Demo {
    const FILE_NAME: &'static str = "demo.toml";
    type Raw = RawDemo;
    fn validate(raw: RawDemo, ctx: &ValidateCtx<'_>, diags: &mut Diagnostics) -> Option<Self> {
        if let Some(subnet) = &raw.subnet {
            for (i, pool) in raw.pools.iter().enumerate() {
                check_range_in_subnet(
                    diags,
                    ctx.source,
                    &format!("pools[{i}].range"),
                    &pool.range,
                    subnet.get_ref(),
                );
            }
        }
        let ranges: Vec<(String, &Spanned<AddrRange>)> = raw
            .pools
            .iter()
            .enumerate()
            .map(|(i, p)| (format!("pools[{i}].range"), &p.range))
            .collect();
        check_no_overlaps(diags, ctx.source, &ranges);
        Some(Demo {
            pools: raw.pools.len(),
        })
    }
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

fn errors_of(text: &str) -> Vec<Diagnostic> {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "demo.toml", text);
    load::<Demo>(Some(dir.path()))
        .expect_err("config must be refused")
        .diagnostics
}

fn find<'a>(diags: &'a [Diagnostic], needle: &str) -> &'a Diagnostic {
    diags
        .iter()
        .find(|d| d.message.contains(needle))
        .unwrap_or_else(|| panic!("no diagnostic containing {needle:?} in {diags:#?}"))
}

#[test]
fn reports_every_error_with_position_key_and_hint() {
    let text = r#"subnet = "192.168.92.0/24"
subnett = "x"

[[pools]]
name = "phones"
range = "192.168.92.10..192.168.92.69"

[[pools]]
name = "elsewhere"
range = "192.168.93.10..192.168.93.20"

[[pools]]
name = "backwards"
range = "192.168.92.80..192.168.92.70"

[[pools]]
name = "hex"
range = "192.168.92.100..192.168.92.110"
vendor-data = "01:${server_ip}"
vendr-data = "01"

[[reservations]]
mac = "00:90:8g:61:a0:22"

[[reservations]]
mac = "00:90:8f:61:a0:22"
mac = "00:90:8f:61:a0:23"
"#;
    let diags = errors_of(text);
    let rendered: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
    let all = rendered.join("\n");

    let unknown = find(&diags, "unknown key `subnett`");
    assert_eq!((unknown.line, unknown.column), (2, 1), "{all}");
    assert!(
        unknown
            .hint
            .as_deref()
            .unwrap()
            .contains("did you mean `subnet`?"),
        "{all}"
    );

    let unknown2 = find(&diags, "unknown key `vendr-data`");
    assert_eq!(unknown2.line, 20, "{all}");
    assert_eq!(unknown2.key, "pools[3].vendr-data", "{all}");
    assert!(
        unknown2
            .hint
            .as_deref()
            .unwrap()
            .contains("did you mean `vendor-data`?"),
        "{all}"
    );

    let outside = find(&diags, "not inside the subnet 192.168.92.0/24");
    assert_eq!((outside.line, outside.column), (10, 9), "{all}");
    assert_eq!(outside.key, "pools[1].range");

    let backwards = find(&diags, "after its end");
    assert_eq!(backwards.line, 14, "{all}");
    assert_eq!(backwards.key, "pools[2].range", "{all}");

    let hex = find(&diags, "not allowed inside hex data");
    assert_eq!((hex.line, hex.column), (19, 15), "{all}");
    assert_eq!(hex.key, "pools[3].vendor-data");

    let mac = find(&diags, "invalid MAC address `00:90:8g:61:a0:22`");
    assert_eq!((mac.line, mac.column), (23, 7), "{all}");
    assert!(
        mac.hint.as_deref().unwrap().contains("00908f61a022"),
        "{all}"
    );

    let dup = find(&diags, "duplicate key `mac`");
    assert_eq!((dup.line, dup.column), (27, 1), "{all}");
    assert_eq!(dup.key, "reservations[1].mac", "{all}");
    println!("{all}");

    // Rendering: file:line:column and a caret under the offending text.
    assert!(all.contains("demo.toml:2:1"), "{all}");
    assert!(all.contains("2 | subnett = \"x\"\n  | ^^^^^^^"), "{all}");
    assert_eq!(diags.iter().filter(|d| d.is_error()).count(), 7, "{all}");
}

#[test]
fn a_valid_file_loads_and_absent_files_mean_defaults() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "demo.toml",
        "subnet = \"192.168.92.0/24\"\n[[pools]]\nname = \"p\"\nrange = \"192.168.92.10..192.168.92.69\"\nboot-url = \"tftp://${server_ip}/x\"\n",
    );
    let loaded = load::<Demo>(Some(dir.path())).unwrap();
    assert_eq!(loaded.daemon.pools, 1);
    assert_eq!(loaded.site.server_address.to_string(), "192.168.92.246");

    let empty = tempfile::tempdir().unwrap();
    let loaded = load::<Demo>(Some(empty.path())).unwrap();
    assert_eq!(loaded.daemon.pools, 0);
    assert!(loaded.files.is_empty());
}

#[test]
fn site_errors_are_reported_with_daemon_errors() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "site.toml",
        "server-address = \"192.168.92.300\"\n[log]\nlevel = \"verbose\"\n",
    );
    write(dir.path(), "demo.toml", "subnet = 5\n");
    let diags = load::<Demo>(Some(dir.path())).unwrap_err().diagnostics;
    let addr = find(&diags, "invalid IPv4 address `192.168.92.300`");
    assert!(addr.file.ends_with("site.toml"));
    let level = find(&diags, "invalid value `verbose`");
    assert!(
        level.hint.as_deref().unwrap().contains("debug"),
        "{diags:#?}"
    );
    let typ = find(&diags, "found the number 5");
    assert!(typ.file.ends_with("demo.toml"));
}

#[test]
fn explicit_missing_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.toml");
    let diags = load::<Demo>(Some(&missing)).unwrap_err().diagnostics;
    assert!(
        diags[0].message.contains("cannot read the file"),
        "{diags:#?}"
    );
}

#[test]
fn inline_array_errors_are_recovered() {
    let diags = errors_of(
        "pools = [{ name = \"a\", range = \"192.168.92.10..192.168.92.1\" }, { name = \"b\", range = \"x\", extra = 1 }]\n",
    );
    assert!(diags.len() >= 2, "{diags:#?}");
    find(&diags, "after its end");
}
