//! `license.toml`: the validator's configuration.
//!
//! ```toml
//! serial = "000068DA"              # or "machine-id"
//! software-major-version = 3
//! key-directory = "/etc/pbxnet/licenses"
//! public-key = "/etc/pbxnet/license-vendor.pub.pem"
//! # state-directory = "/var/lib/pbxnet/licd"   (default: <site state-directory>/licd)
//! # runtime-directory = "/run/pbxnet"         (default: the site's)
//! [hardware-limits]
//! voip-trunk-channels = 32
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;

use pbxnet_config::{did_you_mean, DaemonConfig, Diagnostics, Spanned, ValidateCtx};
use serde::Deserialize;

use crate::catalogue::{self, Role};
use crate::key::MAX_MAJOR_VERSION;
use crate::kind::{KeyKind, Serial};

/// `license.toml` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawLicenseConfig {
    /// 8 hex digits, or `machine-id`.
    #[serde(default = "default_serial")]
    pub serial: Spanned<String>,
    /// Running software major version (R3 → 3).
    #[serde(default = "default_major")]
    pub software_major_version: Spanned<u32>,
    /// Directory holding `<SERIAL>.msl` and `<SERIAL>.csl`.
    #[serde(default = "default_key_directory")]
    pub key_directory: PathBuf,
    /// Vendor public key (PEM, SubjectPublicKeyInfo).
    #[serde(default = "default_public_key")]
    pub public_key: PathBuf,
    /// State directory (default: `<site state-directory>/licd`).
    #[serde(default = "default_state_directory")]
    pub state_directory: Option<PathBuf>,
    /// Control socket directory (default: the site's runtime-directory).
    #[serde(default = "default_state_directory")]
    pub runtime_directory: Option<PathBuf>,
    /// Site hardware limits by service id.
    #[serde(default = "default_hardware_limits")]
    pub hardware_limits: BTreeMap<String, Spanned<u32>>,
}

fn default_serial() -> Spanned<String> {
    Spanned::new(0..0, "machine-id".into())
}
fn default_major() -> Spanned<u32> {
    Spanned::new(0..0, 3)
}
fn default_key_directory() -> PathBuf {
    PathBuf::from("/etc/pbxnet/licenses")
}
fn default_public_key() -> PathBuf {
    PathBuf::from("/etc/pbxnet/license-vendor.pub.pem")
}
fn default_state_directory() -> Option<PathBuf> {
    None
}
fn default_hardware_limits() -> BTreeMap<String, Spanned<u32>> {
    BTreeMap::new()
}

impl Default for RawLicenseConfig {
    fn default() -> Self {
        Self {
            serial: default_serial(),
            software_major_version: default_major(),
            key_directory: default_key_directory(),
            public_key: default_public_key(),
            state_directory: default_state_directory(),
            runtime_directory: default_state_directory(),
            hardware_limits: default_hardware_limits(),
        }
    }
}

/// Where the CPU serial comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SerialSource {
    /// Given in the config.
    Fixed(Serial),
    /// First 8 hex digits of `/etc/machine-id`, upper case (read by the shell).
    MachineId,
}

/// Validated `license.toml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenseConfig {
    /// CPU serial source.
    pub serial: SerialSource,
    /// Running software major version.
    pub software_major_version: u8,
    /// Key directory (absolute).
    pub key_directory: PathBuf,
    /// Public key file (absolute).
    pub public_key: PathBuf,
    /// State directory (absolute).
    pub state_directory: PathBuf,
    /// Control socket directory (absolute).
    pub runtime_directory: PathBuf,
    /// Hardware caps by service id.
    pub hardware_limits: BTreeMap<String, u32>,
}

impl LicenseConfig {
    /// The state file path.
    pub fn state_file(&self) -> PathBuf {
        self.state_directory.join("license-state")
    }
}

/// Derives a serial from `/etc/machine-id` content (first 8 hex digits).
pub fn serial_from_machine_id(content: &str) -> Option<Serial> {
    let hex: String = content.trim().chars().take(8).collect();
    hex.parse().ok()
}

impl DaemonConfig for LicenseConfig {
    const FILE_NAME: &'static str = "license.toml";
    type Raw = RawLicenseConfig;

    fn validate(
        raw: RawLicenseConfig,
        ctx: &ValidateCtx<'_>,
        diags: &mut Diagnostics,
    ) -> Option<Self> {
        let src = ctx.source;
        let serial = match raw.serial.get_ref().as_str() {
            "machine-id" => Some(SerialSource::MachineId),
            text => match text.parse::<Serial>() {
                Ok(s) => Some(SerialSource::Fixed(s)),
                Err(e) => {
                    diags.error(src, raw.serial.span(), "serial", e.to_string()).set_hint(
                        "write the CPU hardware number as 8 hexadecimal digits (\"000068DA\"), or \"machine-id\"",
                    );
                    None
                }
            },
        };
        let major = *raw.software_major_version.get_ref();
        if major > u32::from(MAX_MAJOR_VERSION) {
            diags
                .error(
                    src,
                    raw.software_major_version.span(),
                    "software-major-version",
                    format!("{major} is above {MAX_MAJOR_VERSION}"),
                )
                .set_hint("the major version of the running software: R3 → 3 (keys carry 0..=10)");
        }
        let ids: Vec<String> = catalogue::MAIN
            .iter()
            .filter(|s| s.role != Role::Ignored)
            .map(|s| s.id.to_string())
            .collect();
        let mut limits = BTreeMap::new();
        for (name, value) in &raw.hardware_limits {
            let key = format!("hardware-limits.{name}");
            match catalogue::find(KeyKind::Main, name) {
                Some((_, s)) if s.role != Role::Ignored && s.role != Role::Inactive => {
                    if *value.get_ref() > s.max_value() {
                        diags
                            .warning(
                                src,
                                value.span(),
                                key,
                                format!(
                                    "{} is above the key maximum {}: the limit never applies",
                                    value.get_ref(),
                                    s.max_value()
                                ),
                            )
                            .set_hint("remove it or set the real hardware capacity");
                    }
                    limits.insert(name.clone(), *value.get_ref());
                }
                _ => {
                    let hint = match did_you_mean(name, &ids) {
                        Some(m) => format!("did you mean `{m}`?"),
                        None => "the keys of [hardware-limits] are Main-key service ids (docs/pbxnet-licd.md)"
                            .into(),
                    };
                    diags
                        .error(src, value.span(), key, format!("unknown key `{name}`"))
                        .set_hint(hint);
                }
            }
        }
        let state_directory = match raw.state_directory {
            Some(d) => ctx.resolve(&d),
            None => ctx.site.state_directory.join("licd"),
        };
        Some(LicenseConfig {
            serial: serial?,
            software_major_version: major.min(u32::from(MAX_MAJOR_VERSION)) as u8,
            key_directory: ctx.resolve(&raw.key_directory),
            public_key: ctx.resolve(&raw.public_key),
            state_directory,
            runtime_directory: match raw.runtime_directory {
                Some(d) => ctx.resolve(&d),
                None => ctx.site.runtime_directory.clone(),
            },
            hardware_limits: limits,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pbxnet_config::{parse_toml, Site, Source};
    use std::path::Path;

    fn validate(text: &str) -> Result<LicenseConfig, Vec<String>> {
        let source = Source::new("license.toml", text);
        let raw: RawLicenseConfig =
            parse_toml(&source).map_err(|d| d.iter().map(|d| d.to_string()).collect::<Vec<_>>())?;
        let site = Site::default();
        let ctx = ValidateCtx {
            site: &site,
            source: &source,
            config_dir: Path::new("/etc/pbxnet"),
            host: None,
        };
        let mut diags = Diagnostics::new();
        let cfg = LicenseConfig::validate(raw, &ctx, &mut diags);
        if diags.has_errors() {
            return Err(diags.iter().map(|d| d.to_string()).collect());
        }
        Ok(cfg.unwrap())
    }

    #[test]
    fn accepts_a_full_config() {
        let cfg = validate(
            "serial = \"000068da\"\nsoftware-major-version = 4\nkey-directory = \"keys\"\npublic-key = \"vendor.pem\"\n\
             state-directory = \"/tmp/st\"\n[hardware-limits]\nvoip-trunk-channels = 32\n",
        )
        .unwrap();
        assert_eq!(cfg.serial, SerialSource::Fixed(Serial(0x68DA)));
        assert_eq!(cfg.software_major_version, 4);
        assert_eq!(cfg.key_directory, Path::new("/etc/pbxnet/keys"));
        assert_eq!(cfg.state_file(), Path::new("/tmp/st/license-state"));
        assert_eq!(cfg.hardware_limits.get("voip-trunk-channels"), Some(&32));
    }

    #[test]
    fn defaults_use_machine_id_and_site_state_dir() {
        let cfg = validate("").unwrap();
        assert_eq!(cfg.serial, SerialSource::MachineId);
        assert_eq!(cfg.state_directory, Path::new("/var/lib/pbxnet/licd"));
    }

    #[test]
    fn reports_every_error() {
        let errs = validate("serial = \"68DA\"\nsoftware-major-version = 12\n[hardware-limits]\nvoip-trunk-chanels = 3\n").unwrap_err();
        assert_eq!(errs.len(), 3, "{errs:#?}");
        assert!(
            errs.iter()
                .any(|e| e.contains("did you mean `voip-trunk-channels`")),
            "{errs:#?}"
        );
        let errs = validate("seriall = \"000068DA\"\n").unwrap_err();
        assert!(errs[0].contains("seriall"), "{errs:#?}");
    }

    #[test]
    fn machine_id_serial() {
        assert_eq!(
            serial_from_machine_id("0a1b2c3d4e5f00112233445566778899\n"),
            Some(Serial(0x0A1B_2C3D))
        );
        assert_eq!(serial_from_machine_id("xyz"), None);
    }
}
