//! The serde mirror of `tftp.toml`: one struct per table, every field with
//! its named default, `deny_unknown_fields` everywhere (a typo is an error,
//! never a silent default).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use pbxnet_config::{ByteSize, HumanDuration, Spanned};
use serde::Deserialize;

use crate::wire::MAX_BLKSIZE;

use super::raw_http::{RawHttp, RawHttps};

/// The whole `tftp.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawTftpConfig {
    /// `[server]`.
    #[serde(default)]
    pub server: RawServer,
    /// `[transfer]`.
    #[serde(default)]
    pub transfer: RawTransfer,
    /// `[files]`.
    #[serde(default)]
    pub files: RawFiles,
    /// `[omniswitch]`.
    #[serde(default)]
    pub omniswitch: RawOmniswitch,
    /// `[stellar]`.
    #[serde(default)]
    pub stellar: RawStellar,
    /// `[uploads]`.
    #[serde(default)]
    pub uploads: RawUploads,
    /// `[devices]`.
    #[serde(default)]
    pub devices: RawDevices,
    /// `[http]`.
    #[serde(default)]
    pub http: RawHttp,
    /// `[https]`.
    #[serde(default)]
    pub https: RawHttps,
    /// `[metrics]`: `/metrics` (Prometheus).
    #[serde(default)]
    pub metrics: pbxnet_config::RawMetrics,
}

/// `[devices]`: per-device `<mac>.cfg` files rendered from templates.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawDevices {
    /// Root-relative folder holding `<model>.cfg` / `default.cfg` templates.
    #[serde(default = "default_template_folder")]
    pub template_folder: Spanned<String>,
    /// The devices, `[[devices.device]]`.
    #[serde(default)]
    pub device: Vec<RawDevice>,
}

impl Default for RawDevices {
    fn default() -> Self {
        RawDevices {
            template_folder: default_template_folder(),
            device: Vec::new(),
        }
    }
}

fn default_template_folder() -> Spanned<String> {
    Spanned::new(0..0, "ThirdParty_Devices/templates".into())
}

/// One `[[devices.device]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawDevice {
    /// MAC address.
    pub mac: Spanned<String>,
    /// Model (chooses `<model>.cfg` as template).
    #[serde(default)]
    pub model: Option<Spanned<String>>,
    /// Template variables.
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
}

/// `[server]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawServer {
    /// Listening address.
    #[serde(default = "default_listen")]
    pub listen: Spanned<String>,
    /// Optional source-port range for transfers, `"40000-40999"`.
    #[serde(default)]
    pub port_range: Option<Spanned<String>>,
    /// Global concurrency cap.
    #[serde(default = "default_max_transfers")]
    pub max_transfers: Spanned<u32>,
    /// Per-client concurrency cap.
    #[serde(default = "default_max_per_client")]
    pub max_transfers_per_client: Spanned<u32>,
    /// Transfer worker threads (0: one per CPU). Read at start-up only.
    #[serde(default = "default_threads")]
    pub threads: Spanned<u32>,
}

impl Default for RawServer {
    fn default() -> Self {
        RawServer {
            listen: default_listen(),
            port_range: None,
            max_transfers: default_max_transfers(),
            max_transfers_per_client: default_max_per_client(),
            threads: default_threads(),
        }
    }
}

fn default_threads() -> Spanned<u32> {
    Spanned::new(0..0, 0)
}

fn default_listen() -> Spanned<String> {
    Spanned::new(0..0, "0.0.0.0:69".to_string())
}
fn default_max_transfers() -> Spanned<u32> {
    Spanned::new(0..0, 512)
}
fn default_max_per_client() -> Spanned<u32> {
    Spanned::new(0..0, 4)
}

/// `[transfer]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawTransfer {
    /// Largest block size granted.
    #[serde(default = "default_max_blksize")]
    pub max_blksize: Spanned<u32>,
    /// Also cap the block size at the path MTU − 32 (no IP fragmentation).
    #[serde(default = "default_true")]
    pub blksize_within_mtu: bool,
    /// Largest window granted.
    #[serde(default = "default_max_windowsize")]
    pub max_windowsize: Spanned<u32>,
    /// Honour the client's `timeout` option.
    #[serde(default = "default_true")]
    pub allow_timeout_option: bool,
    /// RTO before the first sample.
    #[serde(default = "default_initial_rto")]
    pub initial_rto: HumanDuration,
    /// Lower bound of the adaptive RTO.
    #[serde(default = "default_min_rto")]
    pub min_rto: HumanDuration,
    /// Upper bound of the RTO.
    #[serde(default = "default_max_rto")]
    pub max_rto: HumanDuration,
    /// Timeouts in a row before giving up.
    #[serde(default = "default_max_retries")]
    pub max_retries: Spanned<u32>,
    /// Client receive-buffer use (per IP fragment, ~2304 bytes each) sent
    /// back to back before a pacing pause (0 = no pacing).
    #[serde(default = "default_pacing_burst")]
    pub pacing_burst: ByteSize,
    /// Pacing pause (microseconds allowed: `250us`).
    #[serde(default = "default_pacing_gap")]
    pub pacing_gap: FineDuration,
}

impl Default for RawTransfer {
    fn default() -> Self {
        RawTransfer {
            max_blksize: default_max_blksize(),
            blksize_within_mtu: true,
            max_windowsize: default_max_windowsize(),
            allow_timeout_option: true,
            initial_rto: default_initial_rto(),
            min_rto: default_min_rto(),
            max_rto: default_max_rto(),
            max_retries: default_max_retries(),
            pacing_burst: default_pacing_burst(),
            pacing_gap: default_pacing_gap(),
        }
    }
}

fn default_true() -> bool {
    true
}
fn default_max_blksize() -> Spanned<u32> {
    Spanned::new(0..0, u32::from(MAX_BLKSIZE))
}
fn default_max_windowsize() -> Spanned<u32> {
    Spanned::new(0..0, 64)
}
fn default_initial_rto() -> HumanDuration {
    HumanDuration(Duration::from_secs(1))
}
fn default_min_rto() -> HumanDuration {
    HumanDuration(Duration::from_millis(200))
}
fn default_max_rto() -> HumanDuration {
    HumanDuration(Duration::from_secs(5))
}
fn default_max_retries() -> Spanned<u32> {
    Spanned::new(0..0, 5)
}
fn default_pacing_burst() -> ByteSize {
    ByteSize(160 * 1024)
}
fn default_pacing_gap() -> FineDuration {
    FineDuration(Duration::from_micros(DEFAULT_PACING_GAP_US))
}

/// Default pacing pause, in microseconds.
const DEFAULT_PACING_GAP_US: u64 = 400;

/// A duration that may be written in microseconds (`250us`, `250µs`) as
/// well as in [`HumanDuration`]'s units: pacing pauses are shorter than a
/// millisecond.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FineDuration(pub Duration);

impl FineDuration {
    /// The duration.
    pub fn get(&self) -> Duration {
        self.0
    }
}

impl std::str::FromStr for FineDuration {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        if let Some(n) = t.strip_suffix("us").or_else(|| t.strip_suffix("µs")) {
            return n
                .trim()
                .parse::<u64>()
                .map(|us| FineDuration(Duration::from_micros(us)))
                .map_err(|_| format!("invalid duration `{s}`: expected a whole number of microseconds such as 250us"));
        }
        t.parse::<HumanDuration>().map(|h| FineDuration(h.get()))
    }
}

impl<'de> Deserialize<'de> for FineDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// `[files]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawFiles {
    /// The served root (relative paths: to the config file's directory).
    #[serde(default = "default_root")]
    pub root: Spanned<PathBuf>,
    /// Folders searched after the root, in order.
    #[serde(default = "default_search_folders")]
    pub search_folders: Vec<Spanned<String>>,
    /// Serve `Secured_Config/` over TFTP.
    #[serde(default)]
    pub serve_secured_config: bool,
    /// Longest accepted file name.
    #[serde(default = "default_max_name_length")]
    pub max_name_length: Spanned<u32>,
    /// Size limit of each file in `Omniswitch/` (seed: 0.5 MB).
    #[serde(default = "default_omniswitch_quota")]
    pub omniswitch_quota: ByteSize,
    /// Size limit of the configuration repository (seed: 20 MB).
    #[serde(default = "default_repository_quota")]
    pub repository_quota: ByteSize,
    /// Folders counted in the repository quota.
    #[serde(default = "default_quota_folders")]
    pub repository_folders: Vec<String>,
    /// Files in which `${server_ip}` is expanded: `*.ext` or exact names.
    #[serde(default = "default_macro_files")]
    pub macro_files: Vec<Spanned<String>>,
    /// Largest file read whole for macro expansion.
    #[serde(default = "default_macro_max_size")]
    pub macro_max_size: ByteSize,
}

impl Default for RawFiles {
    fn default() -> Self {
        RawFiles {
            root: default_root(),
            search_folders: default_search_folders(),
            serve_secured_config: false,
            max_name_length: default_max_name_length(),
            omniswitch_quota: default_omniswitch_quota(),
            repository_quota: default_repository_quota(),
            repository_folders: default_quota_folders(),
            macro_files: default_macro_files(),
            macro_max_size: default_macro_max_size(),
        }
    }
}

fn default_root() -> Spanned<PathBuf> {
    Spanned::new(0..0, PathBuf::from("/var/lib/pbxnet/tftpboot"))
}
fn default_search_folders() -> Vec<Spanned<String>> {
    ["ThirdParty_Devices", "Omniswitch", "Binary"]
        .into_iter()
        .map(|s| Spanned::new(0..0, s.to_string()))
        .collect()
}
fn default_max_name_length() -> Spanned<u32> {
    Spanned::new(0..0, 255)
}
fn default_omniswitch_quota() -> ByteSize {
    ByteSize(500_000)
}
fn default_repository_quota() -> ByteSize {
    ByteSize(20_000_000)
}
fn default_quota_folders() -> Vec<String> {
    ["Omniswitch", "ThirdParty_Devices", "Secured_Config"]
        .into_iter()
        .map(String::from)
        .collect()
}
fn default_macro_files() -> Vec<Spanned<String>> {
    [
        "*.alu",
        "*.ini",
        "*.cfg",
        "*.txt",
        "*.xml",
        "os_conf",
        "os8_conf",
        "os_script",
    ]
    .into_iter()
    .map(|s| Spanned::new(0..0, s.to_string()))
    .collect()
}
fn default_macro_max_size() -> ByteSize {
    ByteSize(1024 * 1024)
}

/// `[omniswitch]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawOmniswitch {
    /// AOS 6 config file named in `os_ins.alu`.
    #[serde(default = "default_os_conf")]
    pub config_file: Spanned<String>,
    /// AOS 8 config file named in `os8_ins.alu`.
    #[serde(default = "default_os8_conf")]
    pub aos8_config_file: Spanned<String>,
    /// Script file named in both.
    #[serde(default = "default_os_script")]
    pub script_file: Spanned<String>,
}

impl Default for RawOmniswitch {
    fn default() -> Self {
        RawOmniswitch {
            config_file: default_os_conf(),
            aos8_config_file: default_os8_conf(),
            script_file: default_os_script(),
        }
    }
}

fn default_os_conf() -> Spanned<String> {
    Spanned::new(0..0, "os_conf".into())
}
fn default_os8_conf() -> Spanned<String> {
    Spanned::new(0..0, "os8_conf".into())
}
fn default_os_script() -> Spanned<String> {
    Spanned::new(0..0, "os_script".into())
}

/// `[stellar]`: values of the generated `hap_conf.ini`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawStellar {
    /// Employee SSID.
    #[serde(default = "default_employee_ssid")]
    pub employee_ssid: String,
    /// Employee WPA2 passphrase (8 to 63 printable ASCII characters); unset:
    /// `hap_conf.ini` is not generated.
    #[serde(default)]
    pub employee_passphrase: Option<Spanned<String>>,
    /// Guest SSID.
    #[serde(default = "default_guest_ssid")]
    pub guest_ssid: String,
    /// Guest WPA2 passphrase (as the employee one).
    #[serde(default)]
    pub guest_passphrase: Option<Spanned<String>>,
    /// Voice SSID.
    #[serde(default = "default_voice_ssid")]
    pub voice_ssid: String,
    /// Voice WPA2 passphrase (as the employee one).
    #[serde(default)]
    pub voice_passphrase: Option<Spanned<String>>,
    /// ISO 3166 country code.
    #[serde(default = "default_country")]
    pub country_code: Spanned<String>,
    /// Cluster virtual IP.
    #[serde(default = "default_virtual_ip")]
    pub virtual_ip: Spanned<String>,
    /// AP admin password (8 to 63 printable ASCII characters).
    #[serde(default)]
    pub admin_password: Option<Spanned<String>>,
}

impl Default for RawStellar {
    fn default() -> Self {
        RawStellar {
            employee_ssid: default_employee_ssid(),
            employee_passphrase: None,
            guest_ssid: default_guest_ssid(),
            guest_passphrase: None,
            voice_ssid: default_voice_ssid(),
            voice_passphrase: None,
            country_code: default_country(),
            virtual_ip: default_virtual_ip(),
            admin_password: None,
        }
    }
}

fn default_employee_ssid() -> String {
    "Employee".into()
}
fn default_guest_ssid() -> String {
    "Guest".into()
}
fn default_voice_ssid() -> String {
    "Voice".into()
}
fn default_country() -> Spanned<String> {
    Spanned::new(0..0, "FR".into())
}
fn default_virtual_ip() -> Spanned<String> {
    Spanned::new(0..0, "192.168.92.134".into())
}

/// `[uploads]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawUploads {
    /// Accept WRQ at all.
    #[serde(default)]
    pub enabled: bool,
    /// Root-relative folder receiving uploads.
    #[serde(default = "default_upload_folder")]
    pub folder: Spanned<String>,
    /// Largest upload.
    #[serde(default = "default_upload_max")]
    pub max_size: ByteSize,
    /// Replace existing files.
    #[serde(default)]
    pub overwrite: bool,
    /// Total size of the upload folder: an upload that would take it over
    /// is refused ("disk full"), so that no LAN host can fill the disk.
    #[serde(default = "default_upload_folder_quota")]
    pub folder_quota: ByteSize,
}

impl Default for RawUploads {
    fn default() -> Self {
        RawUploads {
            enabled: false,
            folder: default_upload_folder(),
            max_size: default_upload_max(),
            overwrite: false,
            folder_quota: default_upload_folder_quota(),
        }
    }
}

fn default_upload_folder() -> Spanned<String> {
    Spanned::new(0..0, "uploads".into())
}
fn default_upload_max() -> ByteSize {
    ByteSize(1024 * 1024)
}
fn default_upload_folder_quota() -> ByteSize {
    ByteSize(64 * 1024 * 1024)
}
