//! The serde shapes of `dhcp.toml`, field for field as written, with the
//! defaults an absent key takes.

use pbxnet_config::{
    AddrRange, HexData, HumanDuration, Ipv4, Ipv4Net, MacAddr, MacPattern, RawMetrics, Spanned,
};
use serde::Deserialize;

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
    /// Which lease store: SQLite (default) or PostgreSQL.
    #[serde(default)]
    pub leases: RawLeases,
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
    /// `/metrics` (Prometheus).
    #[serde(default)]
    pub metrics: RawMetrics,
}

impl Default for RawDhcp {
    fn default() -> Self {
        Self {
            authoritative: default_true(),
            offer_hold: default_offer_hold(),
            decline_probation: default_probation(),
            receive_buffer: default_receive_buffer(),
            lease_database: default_lease_database(),
            leases: RawLeases::default(),
            conflict_probe: false,
            conflict_probe_timeout: default_probe_timeout(),
            flood: RawFlood::default(),
            subnet: Vec::new(),
            pool: Vec::new(),
            class: Vec::new(),
            profile: Vec::new(),
            metrics: RawMetrics::default(),
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

/// `[leases]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawLeases {
    /// `sqlite` or `postgresql`.
    #[serde(default = "default_backend")]
    pub backend: Spanned<String>,
    /// PostgreSQL connection string (libpq style).
    pub url: Option<Spanned<String>>,
    /// File holding the database password.
    pub password_file: Option<Spanned<std::path::PathBuf>>,
    /// Site whose leases this server serves.
    #[serde(default = "default_site")]
    pub site: Spanned<String>,
    /// TLS to the database: `disable`, `require` or `verify-full`.
    #[serde(default = "default_tls")]
    pub tls: Spanned<String>,
    /// CA certificates (PEM) that sign the database's certificate
    /// (`verify-full`).
    pub tls_ca_file: Option<Spanned<std::path::PathBuf>>,
}

impl Default for RawLeases {
    fn default() -> Self {
        Self {
            backend: default_backend(),
            url: None,
            password_file: None,
            site: default_site(),
            tls: default_tls(),
            tls_ca_file: None,
        }
    }
}

fn default_backend() -> Spanned<String> {
    Spanned::new(0..0, "sqlite".into())
}
fn default_site() -> Spanned<String> {
    Spanned::new(0..0, "default".into())
}
fn default_tls() -> Spanned<String> {
    Spanned::new(0..0, "disable".into())
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
    pub interface: Option<Spanned<String>>,
    /// Server identifier (default: the receiving interface's address, else
    /// the site server address).
    #[serde(default)]
    pub server_id: Option<Ipv4>,
    /// Routers (option 3).
    #[serde(default)]
    pub routers: Vec<Spanned<Ipv4>>,
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
