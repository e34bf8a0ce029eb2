//! The validated configuration: what the daemon runs on.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use pbxnet_config::{Diagnostic, Severity};

use super::http::{HttpConfig, HttpsConfig};
use crate::devices::Device;
use crate::generated::{Provisioning, Stellar, OS8_INS, OS_INS};
use crate::options::Limits;
use crate::server::Policy;
use crate::transfer::Timing;

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
    /// `[http]`: the HTTP/1.1 front end.
    pub http: HttpConfig,
    /// `[https]`: the HTTPS front end.
    pub https: HttpsConfig,
    /// Where `/metrics` listens (`[metrics]`); `None`: off.
    pub metrics: Option<SocketAddr>,
    /// Where the keys that name served folders are in `tftp.toml`, for the
    /// checks of the served tree (see [`TftpConfig::check_tree`]).
    pub(crate) anchors: Anchors,
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

/// Where the keys naming served folders sit in `tftp.toml`: a diagnostic
/// about the tree (found after validation, from the shell's snapshot) points
/// at the key whose folder it is about, as validation's own do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Anchors {
    /// `files.root`.
    pub(crate) root: Diagnostic,
    /// `devices.template-folder`.
    pub(crate) template_folder: Diagnostic,
    /// `uploads.folder`.
    pub(crate) upload_folder: Diagnostic,
}

impl Anchors {
    /// A diagnostic at `anchor` with this severity and message.
    pub(crate) fn at(anchor: &Diagnostic, severity: Severity, message: String) -> Diagnostic {
        let mut d = anchor.clone();
        d.severity = severity;
        d.message = message;
        d
    }
}
