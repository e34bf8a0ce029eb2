//! `tftp.toml`: raw serde mirror and the validated [`TftpConfig`].
//!
//! Validation also walks the served tree (bounded: depth 4, 20,000 entries)
//! so that `pbxnet-tftpd check` and a reload report over-quota files and
//! broken `${…}` macros in served text files before a device boots; the
//! protocol core never touches the file system.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use pbxnet_config::{
    ByteSize, DaemonConfig, Diagnostic, Diagnostics, HumanDuration, Severity, Spanned, Template,
    ValidateCtx,
};
use serde::Deserialize;

use crate::devices::{self, Device};
use crate::generated::{Provisioning, Stellar, OS8_INS, OS_INS};
use crate::options::Limits;
use crate::server::{Policy, UploadPolicy};
use crate::transfer::Timing;
use crate::wire::{MAX_BLKSIZE, MIN_BLKSIZE};

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
    /// Employee passphrase.
    #[serde(default)]
    pub employee_passphrase: String,
    /// Guest SSID.
    #[serde(default = "default_guest_ssid")]
    pub guest_ssid: String,
    /// Guest passphrase.
    #[serde(default)]
    pub guest_passphrase: String,
    /// Voice SSID.
    #[serde(default = "default_voice_ssid")]
    pub voice_ssid: String,
    /// Voice passphrase.
    #[serde(default)]
    pub voice_passphrase: String,
    /// ISO 3166 country code.
    #[serde(default = "default_country")]
    pub country_code: Spanned<String>,
    /// Cluster virtual IP.
    #[serde(default = "default_virtual_ip")]
    pub virtual_ip: Spanned<String>,
    /// AP admin password.
    #[serde(default)]
    pub admin_password: String,
}

impl Default for RawStellar {
    fn default() -> Self {
        RawStellar {
            employee_ssid: default_employee_ssid(),
            employee_passphrase: String::new(),
            guest_ssid: default_guest_ssid(),
            guest_passphrase: String::new(),
            voice_ssid: default_voice_ssid(),
            voice_passphrase: String::new(),
            country_code: default_country(),
            virtual_ip: default_virtual_ip(),
            admin_password: String::new(),
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
}

impl Default for RawUploads {
    fn default() -> Self {
        RawUploads {
            enabled: false,
            folder: default_upload_folder(),
            max_size: default_upload_max(),
            overwrite: false,
        }
    }
}

fn default_upload_folder() -> Spanned<String> {
    Spanned::new(0..0, "uploads".into())
}
fn default_upload_max() -> ByteSize {
    ByteSize(1024 * 1024)
}

/// The validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TftpConfig {
    /// Listening address.
    pub listen: SocketAddr,
    /// Transfer source ports (inclusive), or `None` for kernel-chosen.
    pub port_range: Option<(u16, u16)>,
    /// Global concurrency cap.
    pub max_transfers: usize,
    /// Per-client concurrency cap.
    pub max_transfers_per_client: usize,
    /// Transfer worker threads (0: one per CPU).
    pub threads: usize,
    /// Negotiation limits (the shell lowers `max_blksize` to the path MTU).
    pub limits: Limits,
    /// Cap blksize at path MTU − 32.
    pub blksize_within_mtu: bool,
    /// Timers and pacing.
    pub timing: Timing,
    /// Served root.
    pub root: PathBuf,
    /// Request policy.
    pub policy: Policy,
    /// Per-file limit in `Omniswitch/`.
    pub omniswitch_quota: u64,
    /// Repository limit.
    pub repository_quota: u64,
    /// Folders counted in the repository quota.
    pub repository_folders: Vec<String>,
    /// Macro-expanded file patterns.
    pub macro_files: Vec<String>,
    /// Largest macro-expanded file.
    pub macro_max_size: u64,
    /// OmniSwitch file names.
    pub os_config_file: String,
    /// AOS 8 config file name.
    pub os8_config_file: String,
    /// Script file name.
    pub os_script_file: String,
    /// Stellar settings.
    pub stellar: Stellar,
    /// Root-relative folder of device templates.
    pub device_template_folder: String,
    /// Devices with per-device `<mac>.cfg` files.
    pub devices: Vec<Device>,
}

impl TftpConfig {
    /// The configured device with this MAC (12 lower-case hex digits).
    pub fn device(&self, mac: &str) -> Option<&Device> {
        self.devices.iter().find(|d| d.mac == mac)
    }

    /// Inputs of the generated files for a server address.
    pub fn provisioning(&self, server_ip: Ipv4Addr) -> Provisioning {
        Provisioning {
            server_ip,
            os_config_file: self.os_config_file.clone(),
            os8_config_file: self.os8_config_file.clone(),
            os_script_file: self.os_script_file.clone(),
            stellar: self.stellar.clone(),
        }
    }

    /// True if `${server_ip}` is expanded in this root-relative file
    /// (device templates are rendered with their own variables instead).
    pub fn is_macro_file(&self, rel: &str) -> bool {
        let name = rel.rsplit('/').next().unwrap_or("");
        let in_templates = rel.to_ascii_lowercase().starts_with(&format!(
            "{}/",
            self.device_template_folder.to_ascii_lowercase()
        ));
        !in_templates && matches_patterns(&self.macro_files, name)
    }

    /// The per-file quota that applies to a root-relative path, if any.
    pub fn file_quota(&self, rel: &str) -> Option<u64> {
        let first = rel.split('/').next().unwrap_or("");
        let name = rel.rsplit('/').next().unwrap_or("");
        let omni = first.eq_ignore_ascii_case(crate::generated::OMNISWITCH_FOLDER)
            || [
                OS_INS,
                OS8_INS,
                &self.os_config_file,
                &self.os8_config_file,
                &self.os_script_file,
            ]
            .iter()
            .any(|n| n.eq_ignore_ascii_case(name));
        omni.then_some(self.omniswitch_quota)
    }
}

/// `*.ext` (suffix, any case) or an exact name (any case).
pub fn matches_patterns(patterns: &[String], name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    patterns.iter().any(|p| {
        let p = p.to_ascii_lowercase();
        match p.strip_prefix('*') {
            Some(suffix) => lower.ends_with(suffix),
            None => lower == p,
        }
    })
}

fn valid_plain_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
        && s != "."
        && s != ".."
}

fn parse_port_range(s: &str) -> Option<(u16, u16)> {
    let (a, b) = s.split_once('-')?;
    let a: u16 = a.trim().parse().ok()?;
    let b: u16 = b.trim().parse().ok()?;
    (a >= 1024 && a <= b).then_some((a, b))
}

impl DaemonConfig for TftpConfig {
    const FILE_NAME: &'static str = "tftp.toml";
    type Raw = RawTftpConfig;

    fn validate(
        raw: RawTftpConfig,
        ctx: &ValidateCtx<'_>,
        diags: &mut Diagnostics,
    ) -> Option<Self> {
        let src = ctx.source;
        let start_errors = diags.error_count();

        let listen = match raw.server.listen.get_ref().parse::<SocketAddr>() {
            Ok(a) => a,
            Err(_) => {
                diags
                    .error(
                        src,
                        raw.server.listen.span(),
                        "server.listen",
                        format!("`{}` is not a socket address", raw.server.listen.get_ref()),
                    )
                    .set_hint("expected address:port such as 0.0.0.0:69 or 192.168.92.246:69");
                "0.0.0.0:69".parse().ok()?
            }
        };
        let port_range = match &raw.server.port_range {
            None => None,
            Some(r) => match parse_port_range(r.get_ref()) {
                Some(pr) => Some(pr),
                None => {
                    diags
                        .error(src, r.span(), "server.port-range", format!("`{}` is not a port range", r.get_ref()))
                        .set_hint("expected FIRST-LAST with 1024 <= FIRST <= LAST <= 65535, such as 40000-40999");
                    None
                }
            },
        };
        let max_transfers = *raw.server.max_transfers.get_ref();
        if max_transfers == 0 || max_transfers > 10_000 {
            diags
                .error(
                    src,
                    raw.server.max_transfers.span(),
                    "server.max-transfers",
                    format!("{max_transfers} is out of range"),
                )
                .set_hint("expected 1 to 10000");
        }
        let per_client = *raw.server.max_transfers_per_client.get_ref();
        if per_client == 0 || per_client > max_transfers.max(1) {
            diags
                .error(
                    src,
                    raw.server.max_transfers_per_client.span(),
                    "server.max-transfers-per-client",
                    format!("{per_client} is out of range"),
                )
                .set_hint(format!(
                    "expected 1 to server.max-transfers ({max_transfers})"
                ));
        }
        if let Some((a, b)) = port_range {
            if u32::from(b - a) + 1 < max_transfers {
                diags
                    .warning(src, raw.server.port_range.as_ref().map(|r| r.span()).unwrap_or(0..0), "server.port-range", format!("{} ports for up to {max_transfers} transfers", b - a + 1))
                    .set_hint("transfers beyond the range's size are refused with \"server busy\"; widen the range or lower server.max-transfers");
            }
        }

        let threads = *raw.server.threads.get_ref();
        if threads > 64 {
            diags
                .error(
                    src,
                    raw.server.threads.span(),
                    "server.threads",
                    format!("{threads} is out of range"),
                )
                .set_hint("expected 0 (one per CPU) to 64");
        }
        let t = &raw.transfer;
        let blk = *t.max_blksize.get_ref();
        if blk < u32::from(MIN_BLKSIZE) || blk > u32::from(MAX_BLKSIZE) {
            diags
                .error(
                    src,
                    t.max_blksize.span(),
                    "transfer.max-blksize",
                    format!("{blk} is out of range"),
                )
                .set_hint("expected 8 to 65464 (RFC 2348)");
        }
        let win = *t.max_windowsize.get_ref();
        if win == 0 || win > 1024 {
            diags
                .error(src, t.max_windowsize.span(), "transfer.max-windowsize", format!("{win} is out of range"))
                .set_hint("expected 1 to 1024 (larger windows make block numbers ambiguous after roll-over)");
        }
        let retries = *t.max_retries.get_ref();
        if retries == 0 || retries > 20 {
            diags
                .error(
                    src,
                    t.max_retries.span(),
                    "transfer.max-retries",
                    format!("{retries} is out of range"),
                )
                .set_hint("expected 1 to 20");
        }
        if t.min_rto.get() > t.max_rto.get() || t.min_rto.get().is_zero() {
            diags.push(Diagnostic::file(
                Severity::Error,
                src.path.clone(),
                format!(
                    "transfer.min-rto ({}) must be > 0 and <= transfer.max-rto ({})",
                    t.min_rto, t.max_rto
                ),
            ));
        }

        let f = &raw.files;
        let root = ctx.resolve(f.root.get_ref());
        let name_len = *f.max_name_length.get_ref();
        if !(16..=1024).contains(&name_len) {
            diags
                .error(
                    src,
                    f.max_name_length.span(),
                    "files.max-name-length",
                    format!("{name_len} is out of range"),
                )
                .set_hint("expected 16 to 1024");
        }
        let mut search_folders = Vec::new();
        for (i, s) in f.search_folders.iter().enumerate() {
            if !valid_plain_name(s.get_ref()) {
                diags
                    .error(src, s.span(), format!("files.search-folders[{i}]"), format!("`{}` is not a plain folder name", s.get_ref()))
                    .set_hint("expected one root-level folder name such as Binary (letters, digits, _ - .)");
            } else if s
                .get_ref()
                .eq_ignore_ascii_case(crate::path::SECURED_FOLDER)
            {
                diags
                    .error(src, s.span(), format!("files.search-folders[{i}]"), "Secured_Config cannot be a search folder")
                    .set_hint("devices must name Secured_Config/<file> explicitly, and only when files.serve-secured-config = true");
            } else {
                search_folders.push(s.get_ref().clone());
            }
        }
        let mut macro_files = Vec::new();
        for (i, s) in f.macro_files.iter().enumerate() {
            let p = s.get_ref();
            let ok = match p.strip_prefix("*.") {
                Some(ext) => valid_plain_name(ext),
                None => valid_plain_name(p),
            };
            if ok {
                macro_files.push(p.clone());
            } else {
                diags
                    .error(
                        src,
                        s.span(),
                        format!("files.macro-files[{i}]"),
                        format!("`{p}` is not a pattern"),
                    )
                    .set_hint("expected `*.ext` or an exact file name such as os_conf");
            }
        }

        let o = &raw.omniswitch;
        for (key, v, ins) in [
            ("omniswitch.config-file", &o.config_file, OS_INS),
            ("omniswitch.aos8-config-file", &o.aos8_config_file, OS8_INS),
            ("omniswitch.script-file", &o.script_file, OS_INS),
        ] {
            let name = v.get_ref();
            if !valid_plain_name(name) {
                diags
                    .error(
                        src,
                        v.span(),
                        key,
                        format!("`{name}` is not a valid file name"),
                    )
                    .set_hint(
                        "no space, no special characters (seed §4.3): letters, digits, _ - .",
                    );
            } else if name.eq_ignore_ascii_case(OS_INS) || name.eq_ignore_ascii_case(OS8_INS) {
                diags
                    .error(src, v.span(), key, format!("`{name}` is the name of the instruction file"))
                    .set_hint(format!("the config file name must differ from the instruction file name ({ins}); the default is os_conf / os8_conf"));
            }
        }
        if o.config_file.get_ref() == o.script_file.get_ref() {
            diags
                .error(
                    src,
                    o.script_file.span(),
                    "omniswitch.script-file",
                    "script file and config file have the same name",
                )
                .set_hint("the default script file is os_script");
        }

        let s = &raw.stellar;
        let virtual_ip = match s.virtual_ip.get_ref().parse::<Ipv4Addr>() {
            Ok(a) => a,
            Err(_) => {
                diags
                    .error(
                        src,
                        s.virtual_ip.span(),
                        "stellar.virtual-ip",
                        format!("`{}` is not an IPv4 address", s.virtual_ip.get_ref()),
                    )
                    .set_hint("expected dotted decimal such as 192.168.92.134");
                Ipv4Addr::UNSPECIFIED
            }
        };
        let cc = s.country_code.get_ref();
        if cc.len() != 2 || !cc.bytes().all(|b| b.is_ascii_uppercase()) {
            diags
                .error(
                    src,
                    s.country_code.span(),
                    "stellar.country-code",
                    format!("`{cc}` is not an ISO 3166 country code"),
                )
                .set_hint("expected two upper-case letters such as FR");
        }
        for (key, v) in [
            ("stellar.employee-ssid", &s.employee_ssid),
            ("stellar.guest-ssid", &s.guest_ssid),
            ("stellar.voice-ssid", &s.voice_ssid),
            ("stellar.employee-passphrase", &s.employee_passphrase),
            ("stellar.guest-passphrase", &s.guest_passphrase),
            ("stellar.voice-passphrase", &s.voice_passphrase),
            ("stellar.admin-password", &s.admin_password),
        ] {
            if v.contains(['\n', '\r']) || v.len() > 63 {
                diags.push(Diagnostic::file(
                    Severity::Error,
                    src.path.clone(),
                    format!("{key}: at most 63 characters on one line"),
                ));
            }
        }

        let u = &raw.uploads;
        let uploads = if u.enabled {
            let folder = u.folder.get_ref();
            if !valid_plain_name(folder)
                || folder.eq_ignore_ascii_case(crate::path::SECURED_FOLDER)
                || search_folders
                    .iter()
                    .any(|s| s.eq_ignore_ascii_case(folder))
            {
                diags
                    .error(src, u.folder.span(), "uploads.folder", format!("`{folder}` cannot receive uploads"))
                    .set_hint("expected a dedicated root-level folder name such as uploads, not a served or secured folder");
            }
            Some(UploadPolicy {
                folder: folder.clone(),
                max_size: u.max_size.0,
                overwrite: u.overwrite,
            })
        } else {
            None
        };

        let dv = &raw.devices;
        let folder = dv.template_folder.get_ref();
        let folder_ok = !folder.is_empty()
            && folder.split('/').count() <= 2
            && folder.split('/').all(valid_plain_name)
            && !folder.to_ascii_lowercase().starts_with("secured_config");
        if !folder_ok {
            diags
                .error(src, dv.template_folder.span(), "devices.template-folder", format!("`{folder}` is not a root-relative folder"))
                .set_hint("expected one or two plain folder names such as ThirdParty_Devices/templates (not in Secured_Config)");
        }
        let mut device_list: Vec<Device> = Vec::new();
        for (i, d) in dv.device.iter().enumerate() {
            let mac = match d.mac.get_ref().parse::<pbxnet_config::MacAddr>() {
                Ok(m) => m.to_plain_hex().to_ascii_lowercase(),
                Err(e) => {
                    diags
                        .error(src, d.mac.span(), format!("devices.device[{i}].mac"), e)
                        .set_hint("expected a MAC address such as 00:90:8f:61:a0:22");
                    continue;
                }
            };
            if device_list.iter().any(|x| x.mac == mac) {
                diags
                    .error(
                        src,
                        d.mac.span(),
                        format!("devices.device[{i}].mac"),
                        format!("{} is listed twice", d.mac.get_ref()),
                    )
                    .set_hint("each device appears once; merge the two entries");
            }
            if let Some(m) = &d.model {
                if !valid_plain_name(m.get_ref()) {
                    diags
                        .error(
                            src,
                            m.span(),
                            format!("devices.device[{i}].model"),
                            format!("`{}` is not a model name", m.get_ref()),
                        )
                        .set_hint("expected letters, digits, _ - . such as 420HD");
                }
            }
            for name in d.vars.keys() {
                let ok = !name.is_empty()
                    && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                    && !["server_ip", "mac", "model"].contains(&name.as_str());
                if !ok {
                    diags.push(Diagnostic::file(
                        Severity::Error,
                        src.path.clone(),
                        format!("devices.device[{i}].vars: `{name}` is not a usable variable name (letters, digits, _; not server_ip, mac or model)"),
                    ));
                }
            }
            device_list.push(Device {
                mac,
                model: d.model.as_ref().map(|m| m.get_ref().clone()),
                vars: d.vars.clone(),
            });
        }

        if !f.serve_secured_config {
            // The generated hap_instruction.ini names Secured_Config/hap_conf.ini
            // (the seed's layout): Stellar APs cannot be provisioned unless the
            // installer lets that folder be served. Not an error: a site may
            // have no Stellar APs, or import an instruction file naming
            // another folder.
            diags.push(
                pbxnet_config::Diagnostic::file(
                    pbxnet_config::Severity::Warning,
                    &ctx.source.path,
                    "files.serve-secured-config = false: Stellar APs will fail to fetch Secured_Config/hap_conf.ini, which the generated hap_instruction.ini names",
                )
                .with_hint("set files.serve-secured-config = true when this site has Stellar APs (their passphrases then travel in clear over TFTP on the LAN), or import a hap_instruction.ini that names another folder"),
            );
        }

        let cfg = TftpConfig {
            listen,
            port_range,
            max_transfers: max_transfers as usize,
            max_transfers_per_client: per_client as usize,
            threads: *raw.server.threads.get_ref() as usize,
            limits: Limits {
                max_blksize: blk.clamp(u32::from(MIN_BLKSIZE), u32::from(MAX_BLKSIZE)) as u16,
                max_windowsize: win.clamp(1, 1024) as u16,
                allow_timeout: t.allow_timeout_option,
                allow_tsize: true,
            },
            blksize_within_mtu: t.blksize_within_mtu,
            timing: Timing {
                initial_rto: t.initial_rto.get(),
                min_rto: t.min_rto.get(),
                max_rto: t.max_rto.get(),
                max_retries: retries,
                pacing_burst: usize::try_from(t.pacing_burst.0).unwrap_or(usize::MAX),
                pacing_gap: t.pacing_gap.get(),
            },
            root,
            policy: Policy {
                max_name_len: name_len as usize,
                serve_secured: f.serve_secured_config,
                search_folders,
                uploads,
            },
            omniswitch_quota: f.omniswitch_quota.0,
            repository_quota: f.repository_quota.0,
            repository_folders: f.repository_folders.clone(),
            macro_files,
            macro_max_size: f.macro_max_size.0,
            os_config_file: o.config_file.get_ref().clone(),
            os8_config_file: o.aos8_config_file.get_ref().clone(),
            os_script_file: o.script_file.get_ref().clone(),
            stellar: Stellar {
                employee_ssid: s.employee_ssid.clone(),
                employee_passphrase: s.employee_passphrase.clone(),
                guest_ssid: s.guest_ssid.clone(),
                guest_passphrase: s.guest_passphrase.clone(),
                voice_ssid: s.voice_ssid.clone(),
                voice_passphrase: s.voice_passphrase.clone(),
                country_code: cc.clone(),
                virtual_ip,
                admin_password: s.admin_password.clone(),
            },
            device_template_folder: folder.clone(),
            devices: device_list,
        };
        check_tree(&cfg, &raw.files.root, ctx, diags);
        (diags.error_count() == start_errors).then_some(cfg)
    }
}

/// Walk the served tree: quotas and macros. Problems in files are reported
/// against `files.root`.
fn check_tree(
    cfg: &TftpConfig,
    root_key: &Spanned<PathBuf>,
    ctx: &ValidateCtx<'_>,
    diags: &mut Diagnostics,
) {
    let src = ctx.source;
    let meta = match std::fs::metadata(&cfg.root) {
        Ok(m) => m,
        Err(e) => {
            diags
                .warning(src, root_key.span(), "files.root", format!("{}: {e}", cfg.root.display()))
                .set_hint("only the generated files (os_ins.alu, os8_ins.alu, hap_instruction.ini) will be served until the folder exists");
            return;
        }
    };
    if !meta.is_dir() {
        diags
            .error(src, root_key.span(), "files.root", format!("{} is not a directory", cfg.root.display()))
            .set_hint("expected the folder holding Omniswitch/, ThirdParty_Devices/, Secured_Config/, Binary/");
        return;
    }
    let mut files = Vec::new();
    walk(&cfg.root, String::new(), 0, &mut files);
    let mut repo_total = 0u64;
    for (rel, len) in &files {
        let first = rel.split('/').next().unwrap_or("");
        if cfg
            .repository_folders
            .iter()
            .any(|f| f.eq_ignore_ascii_case(first))
        {
            repo_total += len;
        }
        if let Some(q) = cfg.file_quota(rel) {
            if *len > q {
                diags
                    .error(src, root_key.span(), "files.root", format!("{rel}: {len} bytes exceeds the OmniSwitch file quota of {q} bytes"))
                    .set_hint("OmniSwitch files are limited to 0.5 MB (files.omniswitch-quota); such a file is refused, never served half");
            }
        }
        if cfg.is_macro_file(rel) && *len <= cfg.macro_max_size {
            if let Ok(bytes) = std::fs::read(cfg.root.join(rel)) {
                if let Ok(text) = std::str::from_utf8(&bytes) {
                    if let Err(e) = Template::parse(text) {
                        diags
                            .error(src, root_key.span(), "files.root", format!("{rel}: {e}"))
                            .set_hint("fix the file: ${server_ip} is the only macro, $${ writes a literal ${");
                    }
                }
            }
        }
    }
    for d in &cfg.devices {
        let found = devices::template_candidates(&cfg.device_template_folder, d)
            .into_iter()
            .find(|c| cfg.root.join(c).is_file());
        match found {
            None => {
                diags
                    .warning(
                        src,
                        root_key.span(),
                        "devices",
                        format!(
                            "no template for device {} ({}/{}.cfg or default.cfg)",
                            d.mac,
                            cfg.device_template_folder,
                            d.model.as_deref().unwrap_or("<model>")
                        ),
                    )
                    .set_hint("its <mac>.cfg will be \"file not found\" until a template exists");
            }
            Some(rel) => {
                let text = std::fs::read_to_string(cfg.root.join(&rel)).unwrap_or_default();
                if let Err(e) = devices::render(&text, d, ctx.site.server_address) {
                    diags
                        .error(
                            src,
                            root_key.span(),
                            "devices",
                            format!("{rel} for device {}: {e}", d.mac),
                        )
                        .set_hint("define the variable in the device's vars, or fix the template");
                }
            }
        }
    }
    if repo_total > cfg.repository_quota {
        diags
            .warning(
                src,
                root_key.span(),
                "files.root",
                format!(
                    "the repository ({}) holds {repo_total} bytes, over the quota of {} bytes",
                    cfg.repository_folders.join(", "),
                    cfg.repository_quota
                ),
            )
            .set_hint(
                "the seed limits the configuration repository to 20 MB (files.repository-quota)",
            );
    }
}

fn walk(dir: &Path, prefix: String, depth: usize, out: &mut Vec<(String, u64)>) {
    if depth >= crate::path::MAX_DEPTH || out.len() >= 20_000 {
        return;
    }
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let rel = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() {
            walk(&e.path(), rel, depth + 1, out);
        } else if ft.is_file() {
            if let Ok(m) = e.metadata() {
                out.push((rel, m.len()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pbxnet_config::{Site, Source};

    fn warnings(text: &str, dir: &Path) -> Vec<String> {
        let source = Source::new(dir.join("tftp.toml"), text);
        let raw: RawTftpConfig = pbxnet_config::parse_toml(&source).unwrap();
        let site = Site::default();
        let ctx = ValidateCtx {
            site: &site,
            source: &source,
            config_dir: dir,
            host: None,
        };
        let mut d = Diagnostics::new();
        TftpConfig::validate(raw, &ctx, &mut d).unwrap();
        d.iter()
            .filter(|d| !d.is_error())
            .map(|d| d.message.clone())
            .collect()
    }

    #[test]
    fn warns_that_stellar_aps_need_secured_config_served() {
        let dir = tempfile::tempdir().unwrap();
        let off = warnings("", dir.path());
        assert!(
            off.iter()
                .any(|w| w.contains("Secured_Config/hap_conf.ini")),
            "{off:?}"
        );
        let on = warnings("[files]\nserve-secured-config = true\n", dir.path());
        assert!(!on.iter().any(|w| w.contains("hap_conf.ini")), "{on:?}");
    }

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
        let cfg = TftpConfig::validate(raw, &ctx, &mut d);
        if d.has_errors() {
            Err(d.into_sorted())
        } else {
            Ok(cfg.unwrap())
        }
    }

    #[test]
    fn shipped_example_parses_and_validates() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../etc");
        let text = std::fs::read_to_string(dir.join("tftp.toml")).unwrap();
        let cfg = validate(&text, &dir).unwrap_or_else(|d| panic!("{d:#?}"));
        assert_eq!(cfg.listen.port(), 69);
        assert_eq!(cfg.os_config_file, "os_conf");
        assert_eq!(cfg.devices.len(), 2);
    }

    #[test]
    fn empty_file_gives_seed_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = validate("", dir.path()).unwrap();
        assert_eq!(cfg.omniswitch_quota, 500_000);
        assert_eq!(cfg.repository_quota, 20_000_000);
        assert!(!cfg.policy.serve_secured);
        assert!(cfg.policy.uploads.is_none());
        assert_eq!(cfg.stellar.virtual_ip, Ipv4Addr::new(192, 168, 92, 134));
    }

    #[test]
    fn rejects_unknown_keys_in_every_table() {
        let dir = tempfile::tempdir().unwrap();
        for table in [
            "server",
            "transfer",
            "files",
            "omniswitch",
            "stellar",
            "uploads",
        ] {
            let text = format!("[{table}]\nbogus-key = 1\n");
            let errs = validate(&text, dir.path()).unwrap_err();
            assert!(
                errs.iter().any(|d| d.message.contains("bogus-key")),
                "{table}: {errs:?}"
            );
        }
        assert!(validate("bogus = 1\n", dir.path()).is_err());
    }

    /// `transfer.lockstep-threads` was removed (a thread per lock-step
    /// read measured no faster than the workers, docs/decisions.md): a
    /// config that still sets it is told so instead of silently running
    /// something else.
    #[test]
    fn lockstep_threads_key_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let errs = validate("[transfer]\nlockstep-threads = true\n", dir.path()).unwrap_err();
        assert!(
            errs.iter().any(|d| d.message.contains("lockstep-threads")),
            "{errs:?}"
        );
    }

    #[test]
    fn reports_every_semantic_error_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let text = "[server]\nlisten = \"nowhere\"\nport-range = \"9-1\"\n\
                    [transfer]\nmax-blksize = 4\nmax-windowsize = 0\n\
                    [omniswitch]\nconfig-file = \"os_ins.alu\"\nscript-file = \"my script\"\n\
                    [stellar]\ncountry-code = \"france\"\nvirtual-ip = \"1.2.3\"\n";
        let errs = validate(text, dir.path()).unwrap_err();
        for key in [
            "server.listen",
            "server.port-range",
            "transfer.max-blksize",
            "transfer.max-windowsize",
            "omniswitch.config-file",
            "omniswitch.script-file",
            "stellar.country-code",
            "stellar.virtual-ip",
        ] {
            assert!(
                errs.iter().any(|d| d.key == key),
                "missing {key}: {errs:#?}"
            );
        }
        let line = errs
            .iter()
            .find(|d| d.key == "omniswitch.config-file")
            .unwrap();
        assert_eq!(line.line, 8);
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

    #[test]
    fn pattern_matching_is_case_insensitive() {
        let pats: Vec<String> = vec!["*.alu".into(), "os_conf".into()];
        assert!(matches_patterns(&pats, "OS_INS.ALU"));
        assert!(matches_patterns(&pats, "os_conf"));
        assert!(!matches_patterns(&pats, "os_conf.bak"));
    }
}
