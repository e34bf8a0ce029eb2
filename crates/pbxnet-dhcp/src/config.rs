//! `dhcp.toml`: raw serde structs and their validation into a
//! [`ServerConfig`]. Every problem is reported with its key path, its
//! `file:line:column` and a hint; validation never stops at the first one.

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::ops::Range;

use pbxnet_config::{
    check_no_overlaps, check_range_in_subnet, did_you_mean, AddrRange, DaemonConfig, Diagnostics,
    HexData, HumanDuration, Ipv4, Ipv4Net, MacAddr, MacPattern, Source, Spanned, ValidateCtx,
};
use serde::Deserialize;

use crate::classify::{Class, Matcher};
use crate::profile::{IpSpec, Profile, ProfileOption, SubOption, Text, Value};
use crate::server::{FloodLimit, LeaseTimes, Net, Pool, ServerConfig, Subnet};

/// `dhcp.toml` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawDhcp {
    /// NAK requests we cannot honour (else stay silent).
    #[serde(default = "default_true")]
    pub authoritative: bool,
    /// How long an OFFER holds its address.
    #[serde(default = "default_offer_hold")]
    pub offer_hold: Spanned<HumanDuration>,
    /// Probation of a DECLINEd address.
    #[serde(default = "default_probation")]
    pub decline_probation: Spanned<HumanDuration>,
    /// Socket receive buffer in bytes (SO_RCVBUFFORCE as root).
    #[serde(default = "default_receive_buffer")]
    pub receive_buffer: u64,
    /// Lease database (SQLite); relative paths are under the site
    /// `state-directory`.
    #[serde(default = "default_lease_database")]
    pub lease_database: std::path::PathBuf,
    /// ICMP-probe never-used addresses before offering them.
    #[serde(default)]
    pub conflict_probe: bool,
    /// How long the conflict probe waits for an echo reply.
    #[serde(default = "default_probe_timeout")]
    pub conflict_probe_timeout: HumanDuration,
    /// Per-MAC flood protection.
    #[serde(default)]
    pub flood: RawFlood,
    /// Subnets.
    #[serde(default)]
    pub subnet: Vec<RawSubnet>,
    /// Pools.
    #[serde(default)]
    pub pool: Vec<RawPool>,
    /// Classification, first match wins.
    #[serde(default)]
    pub class: Vec<RawClass>,
    /// Option profiles.
    #[serde(default)]
    pub profile: Vec<RawProfile>,
}

impl Default for RawDhcp {
    fn default() -> Self {
        Self {
            authoritative: default_true(),
            offer_hold: default_offer_hold(),
            decline_probation: default_probation(),
            receive_buffer: default_receive_buffer(),
            lease_database: default_lease_database(),
            conflict_probe: false,
            conflict_probe_timeout: default_probe_timeout(),
            flood: RawFlood::default(),
            subnet: Vec::new(),
            pool: Vec::new(),
            class: Vec::new(),
            profile: Vec::new(),
        }
    }
}

fn default_true() -> bool {
    true
}
fn default_offer_hold() -> Spanned<HumanDuration> {
    Spanned::new(0..0, "30s".parse().expect("valid"))
}
fn default_probation() -> Spanned<HumanDuration> {
    Spanned::new(0..0, "10m".parse().expect("valid"))
}
fn default_probe_timeout() -> HumanDuration {
    "500ms".parse().expect("valid")
}
fn default_lease_database() -> std::path::PathBuf {
    "dhcp-leases.sqlite3".into()
}
fn default_receive_buffer() -> u64 {
    4 * 1024 * 1024
}

/// `[flood]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawFlood {
    /// Packets per second allowed per MAC (0 disables the limit).
    #[serde(default = "default_flood_rate")]
    pub max_per_second: u32,
    /// How long an offender is ignored.
    #[serde(default = "default_flood_ban")]
    pub ban: HumanDuration,
}

impl Default for RawFlood {
    fn default() -> Self {
        Self {
            max_per_second: default_flood_rate(),
            ban: default_flood_ban(),
        }
    }
}

fn default_flood_rate() -> u32 {
    20
}
fn default_flood_ban() -> HumanDuration {
    "10s".parse().expect("valid")
}

/// `[[subnet]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawSubnet {
    /// Name, referenced by pools.
    pub name: Spanned<String>,
    /// Network in CIDR form.
    pub network: Spanned<Ipv4Net>,
    /// Interface serving it directly.
    #[serde(default)]
    pub interface: Option<String>,
    /// Server identifier (default: the receiving interface's address, else
    /// the site server address).
    #[serde(default)]
    pub server_id: Option<Ipv4>,
    /// Routers (option 3).
    #[serde(default)]
    pub routers: Vec<Ipv4>,
    /// Default lease time.
    #[serde(default = "default_lease")]
    pub lease_time: Spanned<HumanDuration>,
    /// Shortest lease granted to a client asking for less.
    #[serde(default = "default_min_lease")]
    pub min_lease_time: Spanned<HumanDuration>,
    /// Longest lease granted to a client asking for more.
    #[serde(default = "default_max_lease")]
    pub max_lease_time: Spanned<HumanDuration>,
    /// T1 as a fraction of the lease.
    #[serde(default = "default_t1")]
    pub t1: Spanned<f64>,
    /// T2 as a fraction of the lease.
    #[serde(default = "default_t2")]
    pub t2: Spanned<f64>,
}

fn default_lease() -> Spanned<HumanDuration> {
    Spanned::new(0..0, "1d".parse().expect("valid"))
}
fn default_min_lease() -> Spanned<HumanDuration> {
    Spanned::new(0..0, "1m".parse().expect("valid"))
}
fn default_max_lease() -> Spanned<HumanDuration> {
    Spanned::new(0..0, "7d".parse().expect("valid"))
}
fn default_t1() -> Spanned<f64> {
    Spanned::new(0..0, 0.5)
}
fn default_t2() -> Spanned<f64> {
    Spanned::new(0..0, 0.875)
}

/// `[[pool]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawPool {
    /// Name, referenced by classes.
    pub name: Spanned<String>,
    /// Subnet name (default: the subnet containing the range).
    #[serde(default)]
    pub subnet: Option<Spanned<String>>,
    /// Dynamic range.
    pub range: Spanned<AddrRange>,
    /// Default lease of this pool (default: the subnet's).
    #[serde(default)]
    pub lease_time: Option<Spanned<HumanDuration>>,
    /// Shortest lease of this pool (default: the subnet's).
    #[serde(default)]
    pub min_lease_time: Option<Spanned<HumanDuration>>,
    /// Longest lease of this pool (default: the subnet's).
    #[serde(default)]
    pub max_lease_time: Option<Spanned<HumanDuration>>,
}

/// `[[class]]`: exactly one matcher key.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawClass {
    /// Name (shown in `leases`).
    pub name: Spanned<String>,
    /// Exact MAC.
    #[serde(default)]
    pub mac: Option<Spanned<MacAddr>>,
    /// MAC prefix with wildcard, `00:90:8f*`.
    #[serde(default)]
    pub mac_pattern: Option<Spanned<MacPattern>>,
    /// Option 60, exact.
    #[serde(default)]
    pub vendor_class: Option<Spanned<String>>,
    /// Option 60, prefix.
    #[serde(default)]
    pub vendor_class_prefix: Option<Spanned<String>>,
    /// Option 60 as hex bytes (data-string), exact.
    #[serde(default)]
    pub vendor_class_hex: Option<Spanned<HexData>>,
    /// Option 60 as hex bytes (data-string), prefix.
    #[serde(default)]
    pub vendor_class_hex_prefix: Option<Spanned<HexData>>,
    /// Option 77, exact (RFC 3004 instance or raw ASCII).
    #[serde(default)]
    pub user_class: Option<Spanned<String>>,
    /// Option 77, prefix.
    #[serde(default)]
    pub user_class_prefix: Option<Spanned<String>>,
    /// Matches every device; must be last.
    #[serde(default)]
    pub any_device: Option<Spanned<bool>>,
    /// Option profile name.
    pub profile: Spanned<String>,
    /// Pool name.
    #[serde(default)]
    pub pool: Option<Spanned<String>>,
    /// Static address (exact MAC only).
    #[serde(default)]
    pub static_ip: Option<Spanned<Ipv4>>,
}

/// `[[profile]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawProfile {
    /// Name, referenced by classes.
    pub name: Spanned<String>,
    /// siaddr ("next server"): an address or `${server_ip}`.
    #[serde(default)]
    pub next_server: Option<Spanned<String>>,
    /// Options, in order.
    #[serde(default)]
    pub option: Vec<RawOption>,
}

/// `[[profile.option]]` and `sub-options` entries.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawOption {
    /// Code 1..=254.
    pub code: Spanned<i64>,
    /// Value type (default by code for well-known options).
    #[serde(default, rename = "type")]
    pub kind: Option<Spanned<String>>,
    /// The value.
    #[serde(default)]
    pub value: Option<Spanned<toml::Value>>,
    /// Option 43 sub-options, in order (type `sub-options`).
    #[serde(default)]
    pub sub_options: Vec<RawOption>,
    /// Send even when the client did not ask for it.
    #[serde(default)]
    pub always_send: bool,
}

/// The validated `dhcp.toml`.
#[derive(Debug, Clone)]
pub struct DhcpConfig {
    /// What the core runs on.
    pub server: ServerConfig,
    /// Receive buffer size in bytes.
    pub receive_buffer: u64,
    /// Lease database path (absolute).
    pub lease_database: std::path::PathBuf,
    /// Conflict probe timeout.
    pub probe_timeout: std::time::Duration,
}

/// Codes the server sets itself; profiles may not set them.
const MANAGED: &[(u8, &str)] = &[
    (1, "the subnet mask comes from the subnet's `network`"),
    (50, "requested address is a client option"),
    (51, "the lease time comes from the subnet's `lease-time`"),
    (52, "overload is decided by the codec"),
    (53, "the message type is set by the server"),
    (
        54,
        "the server identifier comes from the subnet's `server-id`",
    ),
    (55, "the parameter request list is a client option"),
    (58, "T1 comes from the subnet's `t1`"),
    (59, "T2 comes from the subnet's `t2`"),
    (61, "the client identifier is echoed from the client"),
    (82, "relay agent information is echoed from the relay"),
];

const TYPES: &[&str] = &[
    "ip",
    "ip-list",
    "string",
    "hex",
    "u8",
    "u16",
    "u32",
    "i32",
    "bool",
    "domain-list",
    "sub-options",
    "sip-names",
    "sip-addrs",
];

fn default_type(code: u8) -> Option<&'static str> {
    Some(match code {
        3 | 4 | 6 | 28 | 42 | 44 | 150 => "ip-list",
        2 => "i32",
        12 | 15 | 17 | 66 | 67 | 160 => "string",
        119 => "domain-list",
        _ => return None,
    })
}

struct V<'a> {
    src: &'a Source,
    diags: &'a mut Diagnostics,
}

impl V<'_> {
    fn err(
        &mut self,
        span: Range<usize>,
        key: impl Into<String>,
        msg: impl Into<String>,
        hint: impl Into<String>,
    ) {
        let hint = hint.into();
        let d = self.diags.error(self.src, span, key, msg);
        if !hint.is_empty() {
            d.set_hint(hint);
        }
    }
}

fn lookup(
    v: &mut V<'_>,
    names: &[String],
    what: &str,
    key: String,
    name: &Spanned<String>,
) -> Option<usize> {
    let n = name.get_ref();
    if let Some(i) = names.iter().position(|x| x == n) {
        return Some(i);
    }
    let hint = match did_you_mean(n, names) {
        Some(s) => format!("did you mean `{s}`? defined {what}s: {}", names.join(", ")),
        None if names.is_empty() => format!("no {what} is defined; add a [[{what}]] table"),
        None => format!("defined {what}s: {}", names.join(", ")),
    };
    v.err(name.span(), key, format!("unknown {what} `{n}`"), hint);
    None
}

fn unique_names<'a>(
    v: &mut V<'_>,
    table: &str,
    names: impl Iterator<Item = &'a Spanned<String>>,
) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (i, n) in names.enumerate() {
        if !seen.insert(n.get_ref().clone()) {
            v.err(
                n.span(),
                format!("{table}[{i}].name"),
                format!("duplicate {table} name `{}`", n.get_ref()),
                "names must be unique",
            );
        }
        out.push(n.get_ref().clone());
    }
    out
}

fn secs(d: &HumanDuration) -> u32 {
    u32::try_from(d.get().as_secs()).unwrap_or(u32::MAX)
}

impl DaemonConfig for DhcpConfig {
    const FILE_NAME: &'static str = "dhcp.toml";
    type Raw = RawDhcp;

    fn validate(raw: RawDhcp, ctx: &ValidateCtx<'_>, diags: &mut Diagnostics) -> Option<Self> {
        let mut v = V {
            src: ctx.source,
            diags,
        };
        let server_ip = ctx.site.server_address;

        // Subnets.
        if raw.subnet.is_empty() {
            v.diags.push(
                pbxnet_config::Diagnostic::file(pbxnet_config::Severity::Error, &ctx.source.path, "no [[subnet]] is configured: the server would serve nobody")
                    .with_hint("add a [[subnet]] with `name` and `network`, e.g. network = \"192.168.92.0/24\""),
            );
        }
        let subnet_names = unique_names(&mut v, "subnet", raw.subnet.iter().map(|s| &s.name));
        let mut subnets = Vec::new();
        for (i, s) in raw.subnet.iter().enumerate() {
            let net = *s.network.get_ref();
            let k = |f: &str| format!("subnet[{i}].{f}");
            let (def, min, max) = (
                secs(s.lease_time.get_ref()),
                secs(s.min_lease_time.get_ref()),
                secs(s.max_lease_time.get_ref()),
            );
            if min > def || def > max {
                v.err(s.lease_time.span(), k("lease-time"), format!("lease times must satisfy min-lease-time ({min}s) <= lease-time ({def}s) <= max-lease-time ({max}s)"), "adjust lease-time, min-lease-time or max-lease-time");
            }
            if def < 10 || min < 10 {
                v.err(
                    s.lease_time.span(),
                    k("lease-time"),
                    format!("a lease of {}s is too short", def.min(min)),
                    "use at least 10s (60s or more outside tests)",
                );
            } else if def < 60 {
                v.diags
                    .warning(
                        v.src,
                        s.lease_time.span(),
                        k("lease-time"),
                        format!("a lease of {def}s makes clients renew every {}s", def / 2),
                    )
                    .set_hint("short leases are for tests; sites use hours or days");
            }
            let (t1, t2) = (*s.t1.get_ref(), *s.t2.get_ref());
            if !(t1 > 0.0 && t1 < t2 && t2 < 1.0) {
                v.err(
                    s.t2.span(),
                    k("t2"),
                    format!("T1 ({t1}) and T2 ({t2}) must satisfy 0 < t1 < t2 < 1"),
                    "the RFC 2131 defaults are t1 = 0.5, t2 = 0.875",
                );
            }
            if subnets
                .iter()
                .any(|o: &Subnet| o.net.contains(net.network()) || net.contains(o.net.addr))
            {
                v.err(
                    s.network.span(),
                    k("network"),
                    format!("subnet {net} overlaps another subnet"),
                    "each subnet must be a distinct network",
                );
            }
            subnets.push(Subnet {
                name: s.name.get_ref().clone(),
                net: Net {
                    addr: net.network(),
                    prefix: net.prefix_len(),
                },
                interface: s.interface.clone(),
                server_id: s.server_id.map(|a| a.0),
                routers: s.routers.iter().map(|a| a.0).collect(),
                lease: LeaseTimes {
                    default: def,
                    min,
                    max,
                    t1,
                    t2,
                },
            });
        }

        // Pools.
        let pool_names = unique_names(&mut v, "pool", raw.pool.iter().map(|p| &p.name));
        let mut pools = Vec::new();
        for (i, p) in raw.pool.iter().enumerate() {
            let r = *p.range.get_ref();
            let si = match &p.subnet {
                Some(n) => lookup(
                    &mut v,
                    &subnet_names,
                    "subnet",
                    format!("pool[{i}].subnet"),
                    n,
                ),
                None => {
                    let f = subnets.iter().position(|s| s.net.contains(r.start));
                    if f.is_none() {
                        v.err(
                            p.range.span(),
                            format!("pool[{i}].range"),
                            format!("the range {r} lies in no configured subnet"),
                            "add `subnet = \"name\"` or a [[subnet]] whose network contains it",
                        );
                    }
                    f
                }
            };
            if let Some(si) = si {
                let net = raw.subnet[si].network.get_ref();
                check_range_in_subnet(v.diags, v.src, &format!("pool[{i}].range"), &p.range, net);
                let sl = subnets[si].lease;
                let lease = if p.lease_time.is_some()
                    || p.min_lease_time.is_some()
                    || p.max_lease_time.is_some()
                {
                    let get = |d: &Option<Spanned<HumanDuration>>, dflt: u32| {
                        d.as_ref().map(|d| secs(d.get_ref())).unwrap_or(dflt)
                    };
                    let (def, min, max) = (
                        get(&p.lease_time, sl.default),
                        get(&p.min_lease_time, sl.min),
                        get(&p.max_lease_time, sl.max),
                    );
                    let span = p
                        .lease_time
                        .as_ref()
                        .or(p.min_lease_time.as_ref())
                        .or(p.max_lease_time.as_ref())
                        .map(|s| s.span())
                        .unwrap_or(p.range.span());
                    if min > def || def > max {
                        v.err(span.clone(), format!("pool[{i}].lease-time"), format!("lease times must satisfy min-lease-time ({min}s) <= lease-time ({def}s) <= max-lease-time ({max}s) (unset ones come from the subnet)"), "adjust the pool's or the subnet's lease times");
                    }
                    if min < 10 {
                        v.err(
                            span,
                            format!("pool[{i}].min-lease-time"),
                            format!("a lease of {min}s is too short"),
                            "use at least 10s",
                        );
                    }
                    Some((def, min, max))
                } else {
                    None
                };
                pools.push(Pool {
                    name: p.name.get_ref().clone(),
                    subnet: si,
                    start: r.start,
                    end: r.end,
                    lease,
                });
            } else {
                pools.push(Pool {
                    name: p.name.get_ref().clone(),
                    subnet: 0,
                    start: r.start,
                    end: r.end,
                    lease: None,
                });
            }
        }
        let ranges: Vec<(String, &Spanned<AddrRange>)> = raw
            .pool
            .iter()
            .enumerate()
            .map(|(i, p)| (format!("pool[{i}].range"), &p.range))
            .collect();
        check_no_overlaps(v.diags, v.src, &ranges);

        // Profiles.
        let profile_names = unique_names(&mut v, "profile", raw.profile.iter().map(|p| &p.name));
        let mut profiles = Vec::new();
        for (i, p) in raw.profile.iter().enumerate() {
            let mut options = Vec::new();
            let mut codes = HashSet::new();
            for (j, o) in p.option.iter().enumerate() {
                let key = format!("profile[{i}].option[{j}]");
                if let Some(opt) = parse_option(&mut v, &key, o, false) {
                    if !codes.insert(opt.code) {
                        v.err(
                            o.code.span(),
                            format!("{key}.code"),
                            format!(
                                "option {} appears twice in profile `{}`",
                                opt.code,
                                p.name.get_ref()
                            ),
                            "merge the two entries; an option appears once per profile",
                        );
                    }
                    options.push(opt);
                }
            }
            let next_server = p.next_server.as_ref().and_then(|n| {
                ip_spec(n.get_ref())
                    .map_err(|e| {
                        v.err(
                            n.span(),
                            format!("profile[{i}].next-server"),
                            e,
                            "expected an IPv4 address or ${server_ip}",
                        )
                    })
                    .ok()
            });
            profiles.push(Profile {
                name: p.name.get_ref().clone(),
                options,
                next_server,
            });
        }

        // Classes.
        let class_names = unique_names(&mut v, "class", raw.class.iter().map(|c| &c.name));
        let _ = class_names;
        let mut classes = Vec::new();
        let mut statics: Vec<(Ipv4Addr, usize)> = Vec::new();
        let mut macs: Vec<([u8; 6], usize)> = Vec::new();
        let n = raw.class.len();
        for (i, c) in raw.class.iter().enumerate() {
            let k = |f: &str| format!("class[{i}].{f}");
            let mut matchers = Vec::new();
            if let Some(m) = &c.mac {
                matchers.push((Matcher::Mac(m.get_ref().0), m.span()));
            }
            if let Some(m) = &c.mac_pattern {
                matchers.push((Matcher::MacPrefix(m.get_ref().clone()), m.span()));
            }
            for (f, key, prefix, user) in [
                (&c.vendor_class, "vendor-class", false, false),
                (&c.vendor_class_prefix, "vendor-class-prefix", true, false),
                (&c.user_class, "user-class", false, true),
                (&c.user_class_prefix, "user-class-prefix", true, true),
            ] {
                if let Some(s) = f {
                    if s.get_ref().is_empty() {
                        v.err(
                            s.span(),
                            k(key),
                            "an empty class string matches nothing useful",
                            "give the exact text the device sends, e.g. \"450HD\"",
                        );
                    }
                    let value = s.get_ref().as_bytes().to_vec();
                    let m = if user {
                        Matcher::UserClass { value, prefix }
                    } else {
                        Matcher::VendorClass { value, prefix }
                    };
                    matchers.push((m, s.span()));
                }
            }
            for (f, key, prefix) in [
                (&c.vendor_class_hex, "vendor-class-hex", false),
                (&c.vendor_class_hex_prefix, "vendor-class-hex-prefix", true),
            ] {
                if let Some(h) = f {
                    if h.get_ref().0.is_empty() {
                        v.err(
                            h.span(),
                            k(key),
                            "empty hex data matches nothing useful",
                            "give the bytes the device sends in option 60, e.g. \"00:0d:e9:01\"",
                        );
                    }
                    let value = h.get_ref().0.clone();
                    matchers.push((Matcher::VendorClassData { value, prefix }, h.span()));
                }
            }
            if let Some(a) = &c.any_device {
                if *a.get_ref() {
                    matchers.push((Matcher::Any, a.span()));
                    if i + 1 != n {
                        v.err(a.span(), k("any-device"), format!("the \"any device\" class `{}` is number {} of {n}: every class after it would never match", c.name.get_ref(), i + 1), "move it to the end of the [[class]] list");
                    }
                } else {
                    v.err(
                        a.span(),
                        k("any-device"),
                        "`any-device = false` means nothing",
                        "remove the key, or set it to true",
                    );
                }
            }
            let matcher = match matchers.len() {
                1 => matchers.pop().map(|m| m.0),
                0 => {
                    v.err(c.name.span(), format!("class[{i}]"), format!("class `{}` has no matcher", c.name.get_ref()), "give exactly one of mac, mac-pattern, vendor-class, vendor-class-prefix, vendor-class-hex, vendor-class-hex-prefix, user-class, user-class-prefix, any-device");
                    None
                }
                _ => {
                    v.err(matchers[1].1.clone(), format!("class[{i}]"), format!("class `{}` has {} matchers", c.name.get_ref(), matchers.len()), "a class matches on exactly one thing; split it into several classes (first match wins)");
                    None
                }
            };
            if let Some(Matcher::Mac(m)) = &matcher {
                if let Some((_, j)) = macs.iter().find(|(x, _)| x == m) {
                    v.err(
                        c.mac.as_ref().map(|s| s.span()).unwrap_or(0..0),
                        k("mac"),
                        format!("MAC {} is already matched by class[{j}]", MacAddr(*m)),
                        "this class would never match; remove one",
                    );
                }
                macs.push((*m, i));
            }
            let profile = lookup(&mut v, &profile_names, "profile", k("profile"), &c.profile);
            let pool = c
                .pool
                .as_ref()
                .and_then(|p| lookup(&mut v, &pool_names, "pool", k("pool"), p));
            let mut static_ip = None;
            if let Some(s) = &c.static_ip {
                let ip = s.get_ref().0;
                static_ip = Some(ip);
                if !matches!(matcher, Some(Matcher::Mac(_))) {
                    v.err(
                        s.span(),
                        k("static-ip"),
                        "a static address needs an exact `mac` matcher",
                        "only one device can hold a static address",
                    );
                }
                match subnets.iter().find(|sn| sn.net.contains(ip)) {
                    None => v.err(
                        s.span(),
                        k("static-ip"),
                        format!("static address {ip} lies in no configured subnet"),
                        "use an address of one of the [[subnet]] networks",
                    ),
                    Some(sn) if ip == sn.net.addr || ip == sn.net.broadcast() => v.err(
                        s.span(),
                        k("static-ip"),
                        format!("{ip} is the network or broadcast address"),
                        "use a host address",
                    ),
                    Some(_) => {}
                }
                if let Some(p) = raw.pool.iter().find(|p| p.range.get_ref().contains(ip)) {
                    v.err(s.span(), k("static-ip"), format!("static address {ip} lies inside the dynamic range {} of pool `{}`", p.range.get_ref(), p.name.get_ref()), "static addresses must lie outside every dynamic range; pick an address outside the pools or shrink the pool");
                }
                if ip == server_ip {
                    v.err(
                        s.span(),
                        k("static-ip"),
                        format!("{ip} is the server's own address"),
                        "pick another address",
                    );
                }
                if let Some((_, j)) = statics.iter().find(|(a, _)| *a == ip) {
                    v.err(
                        s.span(),
                        k("static-ip"),
                        format!("static address {ip} is already given to class[{j}]"),
                        "two devices cannot share an address",
                    );
                }
                statics.push((ip, i));
            }
            if let (Some(matcher), Some(profile)) = (matcher, profile) {
                classes.push(Class {
                    name: c.name.get_ref().as_str().into(),
                    matcher,
                    profile,
                    pool,
                    static_ip,
                });
            }
        }

        let server = ServerConfig {
            server_ip,
            authoritative: raw.authoritative,
            subnets,
            pools,
            classes,
            profiles,
            flood: FloodLimit {
                max_per_second: raw.flood.max_per_second,
                ban_ms: raw.flood.ban.get().as_millis() as u64,
            },
            decline_probation: secs(raw.decline_probation.get_ref()),
            offer_hold: secs(raw.offer_hold.get_ref()).max(1),
            conflict_probe: raw.conflict_probe,
        };
        // Encode every profile once for every subnet so that encoding
        // errors (bad DNS names, long sub-options) surface at load.
        if !v.diags.has_errors() {
            for (pi, p) in server.profiles.iter().enumerate() {
                for sn in &server.subnets {
                    if let Err((code, e)) = p.render(sn.server_id.unwrap_or(server_ip)) {
                        let j = p.options.iter().position(|o| o.code == code).unwrap_or(0);
                        let span = raw.profile[pi]
                            .option
                            .get(j)
                            .and_then(|o| o.value.as_ref().map(|x| x.span()))
                            .unwrap_or(0..0);
                        v.err(
                            span,
                            format!("profile[{pi}].option[{j}].value"),
                            format!("option {code}: {e}"),
                            "",
                        );
                    }
                }
            }
        }
        if v.diags.has_errors() {
            return None;
        }
        Some(DhcpConfig {
            server,
            receive_buffer: raw.receive_buffer,
            lease_database: ctx.site.state_directory.join(&raw.lease_database),
            probe_timeout: raw.conflict_probe_timeout.get(),
        })
    }
}

fn ip_spec(s: &str) -> Result<IpSpec, String> {
    if s.trim() == pbxnet_config::MACRO_SERVER_IP {
        return Ok(IpSpec::ServerIp);
    }
    pbxnet_config::parse_ipv4(s).map(IpSpec::Addr)
}

fn parse_option(v: &mut V<'_>, key: &str, o: &RawOption, sub: bool) -> Option<ProfileOption> {
    let c = *o.code.get_ref();
    let kc = format!("{key}.code");
    if !(1..=254).contains(&c) {
        v.err(
            o.code.span(),
            kc,
            format!("option code {c} is out of range"),
            "expected 1 to 254 (0 is PAD and 255 is END)",
        );
        return None;
    }
    let code = c as u8;
    if !sub {
        if let Some((_, why)) = MANAGED.iter().find(|(m, _)| *m == code) {
            v.err(
                o.code.span(),
                kc,
                format!("option {code} cannot be set in a profile: {why}"),
                "remove this option",
            );
            return None;
        }
    }
    let kind = match &o.kind {
        Some(k) => {
            if !TYPES.contains(&k.get_ref().as_str()) {
                let all: Vec<String> = TYPES.iter().map(|s| s.to_string()).collect();
                let hint = match did_you_mean(k.get_ref(), &all) {
                    Some(s) => format!("did you mean `{s}`? valid types: {}", TYPES.join(", ")),
                    None => format!("valid types: {}", TYPES.join(", ")),
                };
                v.err(
                    k.span(),
                    format!("{key}.type"),
                    format!("unknown option type `{}`", k.get_ref()),
                    hint,
                );
                return None;
            }
            k.get_ref().clone()
        }
        None if code == 43 && !sub && !o.sub_options.is_empty() => "sub-options".to_string(),
        None => match (sub, default_type(code)) {
            (false, Some(t)) => t.to_string(),
            _ => {
                v.err(
                    o.code.span(),
                    format!("{key}.type"),
                    format!("option {code} needs a `type`"),
                    format!("valid types: {}", TYPES.join(", ")),
                );
                return None;
            }
        },
    };
    let span = o.value.as_ref().map(|x| x.span()).unwrap_or(o.code.span());
    let kv = format!("{key}.value");
    // Per-code type rules.
    let rule: Option<(&[&str], &str)> = match code {
        150 if !sub => Some((&["ip", "ip-list"], "option 150 (TFTP server address, RFC 5859) is a list of IPv4 addresses")),
        120 if !sub => Some((&["sip-names", "sip-addrs"], "option 120 (RFC 3361) is either DNS names (`sip-names`, encoding 0) or IPv4 addresses (`sip-addrs`, encoding 1)")),
        43 if !sub => Some((&["sub-options", "hex"], "option 43 is built from ordered `sub-options` or given as raw `hex`")),
        160 | 66 | 67 if !sub => Some((&["string"], "this option is a text string")),
        2 if !sub => Some((&["i32"], "option 2 (time offset) is a signed 32-bit number of seconds")),
        3 | 4 | 6 | 42 if !sub => Some((&["ip", "ip-list"], "this option is a list of IPv4 addresses")),
        _ => None,
    };
    if let Some((ok, why)) = rule {
        if !ok.contains(&kind.as_str()) {
            v.err(
                o.kind.as_ref().map(|k| k.span()).unwrap_or(span),
                format!("{key}.type"),
                format!("option {code} cannot have type `{kind}`: {why}"),
                format!("use type {}", ok.join(" or ")),
            );
            return None;
        }
    }
    if kind == "sub-options" {
        if sub {
            v.err(
                span,
                format!("{key}.type"),
                "sub-options cannot nest",
                "give this sub-option a plain type",
            );
            return None;
        }
        if o.value.is_some() {
            v.err(
                span,
                kv,
                "type `sub-options` takes `sub-options = [...]`, not `value`",
                "",
            );
            return None;
        }
        let mut subs = Vec::new();
        let mut seen = HashSet::new();
        for (j, s) in o.sub_options.iter().enumerate() {
            let sk = format!("{key}.sub-options[{j}]");
            if let Some(so) = parse_option(v, &sk, s, true) {
                if !seen.insert(so.code) {
                    v.err(
                        s.code.span(),
                        format!("{sk}.code"),
                        format!("sub-option {} appears twice", so.code),
                        "",
                    );
                }
                subs.push(SubOption {
                    code: so.code,
                    value: so.value,
                });
            }
        }
        if subs.is_empty() {
            v.err(
                o.code.span(),
                key.to_string(),
                "option 43 with no sub-options",
                "add `sub-options = [{ code = 1, type = \"string\", value = \"...\" }]`",
            );
            return None;
        }
        return Some(ProfileOption {
            code,
            value: Value::SubOptions(subs),
            always_send: o.always_send,
        });
    }
    if !o.sub_options.is_empty() {
        v.err(
            o.code.span(),
            format!("{key}.sub-options"),
            format!("`sub-options` only goes with type `sub-options`, not `{kind}`"),
            "",
        );
        return None;
    }
    let Some(val) = &o.value else {
        v.err(
            o.code.span(),
            kv,
            format!("option {code} has no `value`"),
            "",
        );
        return None;
    };
    let raw = val.get_ref();
    let bad = |v: &mut V<'_>, msg: String, hint: &str| {
        v.err(span.clone(), kv.clone(), msg, hint.to_string());
        None::<Value>
    };
    let strings = |x: &toml::Value| -> Option<Vec<String>> {
        match x {
            toml::Value::String(s) => Some(vec![s.clone()]),
            toml::Value::Array(a) => a.iter().map(|e| e.as_str().map(str::to_string)).collect(),
            _ => None,
        }
    };
    let int = |x: &toml::Value| x.as_integer();
    let value = match kind.as_str() {
        "ip" | "ip-list" | "sip-addrs" => match strings(raw) {
            None => bad(
                v,
                format!(
                    "expected an address string or a list of them, found {}",
                    raw.type_str()
                ),
                "e.g. [\"192.168.92.246\", \"${server_ip}\"]",
            ),
            Some(list) if list.is_empty() => {
                bad(v, "empty address list".into(), "give at least one address")
            }
            Some(list) if kind == "ip" && list.len() != 1 => bad(
                v,
                format!("type `ip` takes one address, found {}", list.len()),
                "use type `ip-list`",
            ),
            Some(list) => {
                let mut out = Vec::new();
                let mut ok = true;
                for s in &list {
                    match ip_spec(s) {
                        Ok(a) => out.push(a),
                        Err(e) => {
                            ok = false;
                            v.err(
                                span.clone(),
                                kv.clone(),
                                e,
                                "expected IPv4 addresses or ${server_ip}",
                            );
                        }
                    }
                }
                ok.then(|| {
                    if kind == "sip-addrs" {
                        Value::SipAddrs(out)
                    } else {
                        Value::Ips(out)
                    }
                })
            }
        },
        "string" => match raw.as_str() {
            None => bad(
                v,
                format!("expected a string, found {}", raw.type_str()),
                "",
            ),
            Some(s) if s.contains('\0') => bad(
                v,
                "a string option cannot hold a NUL byte".into(),
                "remove the \\u0000",
            ),
            Some(s) => match Text::parse(s) {
                Ok(t) => Some(Value::Text(t)),
                Err(e) => bad(v, e.to_string(), ""),
            },
        },
        "hex" => match raw.as_str() {
            None => bad(
                v,
                format!("expected a hex string, found {}", raw.type_str()),
                "e.g. \"01:04:c0:a8:5c:f6\"",
            ),
            Some(s) => match s.parse::<HexData>() {
                Ok(h) => Some(Value::Hex(h.0)),
                Err(e) => bad(v, e, ""),
            },
        },
        "u8" | "u16" | "u32" | "i32" => match int(raw) {
            None => bad(
                v,
                format!("expected an integer, found {}", raw.type_str()),
                "",
            ),
            Some(n) => {
                let (lo, hi) = match kind.as_str() {
                    "u8" => (0, i64::from(u8::MAX)),
                    "u16" => (0, i64::from(u16::MAX)),
                    "u32" => (0, i64::from(u32::MAX)),
                    _ => (i64::from(i32::MIN), i64::from(i32::MAX)),
                };
                if n < lo || n > hi {
                    bad(
                        v,
                        format!("{n} does not fit type `{kind}`"),
                        &format!("expected {lo} to {hi}"),
                    )
                } else {
                    Some(match kind.as_str() {
                        "u8" => Value::U8(n as u8),
                        "u16" => Value::U16(n as u16),
                        "u32" => Value::U32(n as u32),
                        _ => Value::I32(n as i32),
                    })
                }
            }
        },
        "bool" => match raw.as_bool() {
            None => bad(
                v,
                format!("expected true or false, found {}", raw.type_str()),
                "",
            ),
            Some(b) => Some(Value::Bool(b)),
        },
        "domain-list" | "sip-names" => match strings(raw) {
            None => bad(
                v,
                format!(
                    "expected a name or a list of names, found {}",
                    raw.type_str()
                ),
                "e.g. [\"sip.example.com\"]",
            ),
            Some(list) if list.is_empty() => bad(v, "empty name list".into(), ""),
            Some(list) => {
                let mut ok = true;
                for n in &list {
                    if let Err(e) = crate::profile::dns_name_wire(n) {
                        ok = false;
                        v.err(span.clone(), kv.clone(), e.to_string(), "");
                    }
                }
                ok.then(|| {
                    if kind == "sip-names" {
                        Value::SipNames(list)
                    } else {
                        Value::DomainList(list)
                    }
                })
            }
        },
        _ => None,
    }?;
    if code == 160 && !sub {
        if let Value::Text(t) = &value {
            let s = t.to_string();
            if !["tftp://", "ftp://", "http://", "https://"]
                .iter()
                .any(|p| s.starts_with(p))
            {
                v.diags
                    .warning(v.src, span.clone(), kv, format!("option 160 `{s}` does not start with tftp://, ftp://, http:// or https://"))
                    .set_hint("AudioCodes phones expect <proto>://<host>[/<firmware>][;<config>]");
            }
        }
    }
    Some(ProfileOption {
        code,
        value,
        always_send: o.always_send,
    })
}

#[cfg(test)]
mod tests;
