//! The serde mirror of `ntp.toml`, with a named default for every field.
//! [`super::NtpConfig`] is built from it by the checks in the sibling
//! modules.

use crate::keys::KeyFileFormat;
use crate::policy::BadMacResponse;
use pbxnet_config::{ByteSize, HumanDuration, Spanned};
use serde::Deserialize;
use std::path::PathBuf;

/// The whole `ntp.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawNtpConfig {
    /// `[server]`.
    #[serde(default)]
    pub server: RawServer,
    /// `[keys]`.
    #[serde(default)]
    pub keys: RawKeys,
    /// `[local]`.
    #[serde(default)]
    pub local: RawLocal,
    /// `[[source]]`: upstream servers.
    #[serde(default)]
    pub source: Vec<RawSource>,
    /// `[clock]`: what the client does with its measurements.
    #[serde(default)]
    pub clock: RawClock,
    /// `[metrics]`: `/metrics` (Prometheus).
    #[serde(default)]
    pub metrics: pbxnet_config::RawMetrics,
}

/// `[[source]]`: one upstream server (or pool name).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawSource {
    /// IP address or host name, optionally `:port` (default 123).
    pub address: Spanned<String>,
    /// Key id (from the key file) to authenticate this source.
    #[serde(default)]
    pub key: Option<Spanned<u32>>,
    /// Minimum poll exponent (6 = 64 s, the seed's "every minute").
    #[serde(default = "default_poll")]
    pub minpoll: Spanned<i8>,
    /// Maximum poll exponent.
    #[serde(default = "default_poll")]
    pub maxpoll: Spanned<i8>,
    /// Fast initial burst (4 polls 2 s apart).
    #[serde(default = "default_true")]
    pub burst: bool,
    /// A pool name: use every address it resolves to (up to 4).
    #[serde(default)]
    pub pool: bool,
}

/// How the clock is driven.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClockMode {
    /// Discipline the system clock (clock_adjtime: frequency, offset, leap).
    #[default]
    System,
    /// A simulated clock (tests and the demo): real time plus a simulated
    /// offset and frequency error; the real clock is never touched.
    Simulated,
    /// Measure only: never steer anything.
    Observe,
}

/// `[clock]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawClock {
    /// `system`, `simulated` or `observe`.
    #[serde(default)]
    pub mode: ClockMode,
    /// Offsets above this are stepped (seed: 10 min).
    #[serde(default = "default_step_threshold")]
    pub step_threshold: Spanned<HumanDuration>,
    /// Offsets below this are slewed smoothly; above, at the maximum rate.
    #[serde(default = "default_slew_threshold")]
    pub slew_threshold: Spanned<HumanDuration>,
    /// Root distance beyond which we announce ourselves unsynchronised.
    #[serde(default = "default_max_distance")]
    pub max_distance: HumanDuration,
    /// Simulated clock: initial offset in seconds (positive = ahead of true time).
    #[serde(default)]
    pub sim_offset: f64,
    /// Simulated clock: frequency error in ppm.
    #[serde(default)]
    pub sim_frequency_ppm: f64,
    /// Drift (frequency) file, relative to the state directory.
    #[serde(default = "default_drift_file")]
    pub drift_file: PathBuf,
}

impl Default for RawClock {
    fn default() -> Self {
        RawClock {
            mode: ClockMode::default(),
            step_threshold: default_step_threshold(),
            slew_threshold: default_slew_threshold(),
            max_distance: default_max_distance(),
            sim_offset: 0.0,
            sim_frequency_ppm: 0.0,
            drift_file: default_drift_file(),
        }
    }
}

fn default_poll() -> Spanned<i8> {
    Spanned::new(0..0, 6)
}
fn default_step_threshold() -> Spanned<HumanDuration> {
    Spanned::new(0..0, HumanDuration(std::time::Duration::from_secs(600)))
}
fn default_slew_threshold() -> Spanned<HumanDuration> {
    Spanned::new(0..0, HumanDuration(std::time::Duration::from_secs(1)))
}
fn default_max_distance() -> HumanDuration {
    HumanDuration(std::time::Duration::from_millis(1500))
}
fn default_drift_file() -> PathBuf {
    PathBuf::from("ntp.drift")
}

/// `[server]`: the NTP service offered to the site.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawServer {
    /// Socket addresses to listen on.
    #[serde(default = "default_listen")]
    pub listen: Vec<Spanned<String>>,
    /// Sockets (SO_REUSEPORT) and threads per address; 0 = one per CPU.
    #[serde(default = "default_workers")]
    pub workers: Spanned<u32>,
    /// Socket receive buffer.
    #[serde(default = "default_receive_buffer")]
    pub receive_buffer: ByteSize,
    /// Networks served (empty: everyone).
    #[serde(default)]
    pub allow: Vec<Spanned<String>>,
    /// Networks refused.
    #[serde(default)]
    pub deny: Vec<Spanned<String>>,
    /// Networks answered only with a valid MAC.
    #[serde(default)]
    pub auth_required: Vec<Spanned<String>>,
    /// DENY kiss-o'-death to denied networks (else silence).
    #[serde(default = "default_true")]
    pub deny_kod: bool,
    /// `crypto-nak` or `silence` on a bad MAC.
    #[serde(default)]
    pub bad_mac: BadMacResponse,
    /// Send the replies of one receive batch with one `sendmmsg` (under load
    /// a reply's transmit timestamp then precedes its departure by at most
    /// the batch's processing time).
    #[serde(default = "default_true")]
    pub send_batching: bool,
    /// Under load (a wake-up found 2 or more requests queued), wait this
    /// many microseconds before fetching the next batch, so that fewer,
    /// larger batches cost fewer wake-ups per request. 0 = off. Adds up to
    /// this much to a loaded server's response time (not to the offset or
    /// delay a client computes: the receive and transmit timestamps bracket
    /// the wait).
    #[serde(default = "default_coalesce_us")]
    pub coalesce_us: Spanned<u32>,
    /// `[server.rate-limit]`.
    #[serde(default)]
    pub rate_limit: RawRateLimit,
}

impl Default for RawServer {
    fn default() -> Self {
        RawServer {
            listen: default_listen(),
            workers: default_workers(),
            receive_buffer: default_receive_buffer(),
            allow: Vec::new(),
            deny: Vec::new(),
            auth_required: Vec::new(),
            deny_kod: true,
            bad_mac: BadMacResponse::default(),
            send_batching: true,
            coalesce_us: default_coalesce_us(),
            rate_limit: RawRateLimit::default(),
        }
    }
}

/// `[server.rate-limit]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawRateLimit {
    /// Rate limiting on or off.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Minimum average interval between one client's requests.
    #[serde(default = "default_rl_interval")]
    pub interval: Spanned<HumanDuration>,
    /// Requests allowed back to back.
    #[serde(default = "default_rl_burst")]
    pub burst: Spanned<u32>,
    /// Answer one in `leak` limited requests (0 = none).
    #[serde(default = "default_rl_leak")]
    pub leak: u32,
    /// Send RATE kiss-o'-death codes.
    #[serde(default = "default_true")]
    pub kod: bool,
    /// Minimum spacing of RATE KoDs to one client.
    #[serde(default = "default_rl_kod_interval")]
    pub kod_interval: HumanDuration,
    /// Memory for the client table (per worker).
    #[serde(default = "default_rl_table")]
    pub table_size: Spanned<ByteSize>,
}

impl Default for RawRateLimit {
    fn default() -> Self {
        RawRateLimit {
            enabled: true,
            interval: default_rl_interval(),
            burst: default_rl_burst(),
            leak: default_rl_leak(),
            kod: true,
            kod_interval: default_rl_kod_interval(),
            table_size: default_rl_table(),
        }
    }
}

/// `[keys]`: symmetric keys.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawKeys {
    /// Key file (chrony or ntpd format), relative to the config directory.
    #[serde(default)]
    pub file: Option<Spanned<PathBuf>>,
    /// Key file syntax.
    #[serde(default)]
    pub format: KeyFileFormat,
    /// Key ids accepted from clients.
    #[serde(default)]
    pub trusted: Vec<Spanned<u32>>,
}

/// `[local]`: serve the local clock when not synchronised to upstream.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawLocal {
    /// Local-clock service on or off.
    #[serde(default)]
    pub enabled: bool,
    /// Stratum announced (1–15).
    #[serde(default = "default_local_stratum")]
    pub stratum: Spanned<u8>,
}

impl Default for RawLocal {
    fn default() -> Self {
        RawLocal {
            enabled: false,
            stratum: default_local_stratum(),
        }
    }
}

fn default_listen() -> Vec<Spanned<String>> {
    vec![Spanned::new(0..0, "0.0.0.0:123".to_string())]
}
fn default_workers() -> Spanned<u32> {
    Spanned::new(0..0, 0)
}
fn default_coalesce_us() -> Spanned<u32> {
    Spanned::new(0..0, 0)
}
fn default_receive_buffer() -> ByteSize {
    ByteSize(4 << 20)
}
fn default_true() -> bool {
    true
}
fn default_rl_interval() -> Spanned<HumanDuration> {
    Spanned::new(0..0, HumanDuration(std::time::Duration::from_secs(1)))
}
fn default_rl_burst() -> Spanned<u32> {
    Spanned::new(0..0, 16)
}
fn default_rl_leak() -> u32 {
    4
}
fn default_rl_kod_interval() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(10))
}
fn default_rl_table() -> Spanned<ByteSize> {
    Spanned::new(0..0, ByteSize(1 << 20))
}
fn default_local_stratum() -> Spanned<u8> {
    Spanned::new(0..0, 10)
}
