//! `license.toml`: the validator's configuration.
//!
//! ```toml
//! # serial = "machine"             (default: from the machine's DMI identity)
//! # serial = "000068DA"            (labs only, with lab-serial = true)
//! software-major-version = 3
//! key-directory = "/etc/pbxnet/licenses"
//! public-key = "/etc/pbxnet/license-vendor.pub.pem"
//! # state-directory = "/var/lib/pbxnet/licd"   (default: <site state-directory>/licd)
//! # runtime-directory = "/run/pbxnet"         (default: the site's)
//! # state-copy-directory = "/var/lib/pbxnet-licd"
//! # tpm = "auto"                   # "off", or a TCTI such as "device:/dev/tpmrm0"
//! # previous-serials = ["0BADF00D"]  # CPUs this machine replaced
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
    /// `machine` (DMI identity), `machine-id`, or 8 hex digits (lab only).
    #[serde(default = "default_serial")]
    pub serial: Spanned<String>,
    /// Allows a serial written in this file (labs and tests only).
    #[serde(default)]
    pub lab_serial: bool,
    /// Where the DMI identity is read (`/sys/class/dmi/id`).
    #[serde(default = "default_dmi_directory")]
    pub dmi_directory: PathBuf,
    /// Serials of CPUs this machine replaced.
    #[serde(default)]
    pub previous_serials: Vec<Spanned<String>>,
    /// Second copy of the state (and the state secret), outside the state
    /// directory.
    #[serde(default = "default_state_copy_directory")]
    pub state_copy_directory: PathBuf,
    /// TPM 2.0 for the anchor: `auto`, `off`, or a TCTI string.
    #[serde(default = "default_tpm")]
    pub tpm: String,
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
    /// `[metrics]`: `/metrics` (Prometheus).
    #[serde(default)]
    pub metrics: pbxnet_config::RawMetrics,
}

fn default_serial() -> Spanned<String> {
    Spanned::new(0..0, "machine".into())
}
fn default_dmi_directory() -> PathBuf {
    PathBuf::from("/sys/class/dmi/id")
}
fn default_state_copy_directory() -> PathBuf {
    PathBuf::from("/var/lib/pbxnet-licd")
}
fn default_tpm() -> String {
    "auto".into()
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
            lab_serial: false,
            dmi_directory: default_dmi_directory(),
            previous_serials: Vec::new(),
            state_copy_directory: default_state_copy_directory(),
            tpm: default_tpm(),
            software_major_version: default_major(),
            key_directory: default_key_directory(),
            public_key: default_public_key(),
            state_directory: default_state_directory(),
            runtime_directory: default_state_directory(),
            hardware_limits: default_hardware_limits(),
            metrics: pbxnet_config::RawMetrics::default(),
        }
    }
}

/// Where the CPU serial comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SerialSource {
    /// The machine's DMI identity (product UUID, board serial), hashed by
    /// [`serial_from_machine`]; read by the shell.
    Machine,
    /// First 8 hex digits of `/etc/machine-id`, upper case (read by the
    /// shell): for machines without DMI.
    MachineId,
    /// Written in the config with `lab-serial = true`.
    Lab(Serial),
}

/// Whether the TPM anchor is used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TpmSetting {
    /// `/dev/tpmrm0` when it exists.
    Auto,
    /// Never.
    Off,
    /// This TCTI (`device:/dev/tpmrm0`, `swtpm:host=127.0.0.1,port=2321`).
    Tcti(String),
}

/// Validated `license.toml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenseConfig {
    /// CPU serial source.
    pub serial: SerialSource,
    /// Running software major version.
    pub software_major_version: u8,
    /// DMI identity directory (absolute).
    pub dmi_directory: PathBuf,
    /// Serials of replaced CPUs.
    pub previous_serials: Vec<Serial>,
    /// Second state copy directory (absolute).
    pub state_copy_directory: PathBuf,
    /// TPM use.
    pub tpm: TpmSetting,
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
    /// Where `/metrics` listens (`[metrics]`); `None`: off.
    pub metrics: Option<std::net::SocketAddr>,
}

impl LicenseConfig {
    /// The state file path.
    pub fn state_file(&self) -> PathBuf {
        self.state_directory.join("license-state")
    }

    /// The second copy of the state.
    pub fn state_copy_file(&self) -> PathBuf {
        self.state_copy_directory.join("license-state")
    }

    /// The state secret (the HMAC key's random part).
    pub fn state_secret_file(&self) -> PathBuf {
        self.state_copy_directory.join("state-secret")
    }

    /// The lock file that keeps a second daemon off the state directory.
    pub fn lock_file(&self) -> PathBuf {
        self.state_directory.join("licd.lock")
    }
}

/// The machine's identity as the shell read it (DMI, `/sys/class/dmi/id`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MachineIdentity {
    /// `product_uuid`.
    pub product_uuid: Option<String>,
    /// `board_serial`.
    pub board_serial: Option<String>,
}

/// Firmware placeholders that identify no machine.
fn meaningful(value: &Option<String>) -> Option<&str> {
    const PLACEHOLDERS: [&str; 8] = [
        "",
        "0",
        "none",
        "not specified",
        "default string",
        "to be filled by o.e.m.",
        "not applicable",
        "03000200-0400-0500-0006-000700080009",
    ];
    let v = value.as_deref()?.trim();
    (!PLACEHOLDERS.contains(&v.to_ascii_lowercase().as_str())).then_some(v)
}

/// This machine's serial: SHA-256 of the DMI product UUID and board serial,
/// first 4 bytes, written as the key file's 8 hex digits. `None` when the
/// firmware gives neither.
pub fn serial_from_machine(id: &MachineIdentity) -> Option<Serial> {
    use sha2::{Digest, Sha256};
    let uuid = meaningful(&id.product_uuid).map(str::to_ascii_lowercase);
    let board = meaningful(&id.board_serial);
    if uuid.is_none() && board.is_none() {
        return None;
    }
    let mut h = Sha256::new();
    h.update(b"pbxnet machine serial\x00");
    h.update(uuid.unwrap_or_default());
    h.update(b"\x00");
    h.update(board.unwrap_or_default());
    let d = h.finalize();
    Some(Serial(u32::from_be_bytes([d[0], d[1], d[2], d[3]])))
}

/// Derives a serial from `/etc/machine-id` content (first 8 hex digits).
pub fn serial_from_machine_id(content: &str) -> Option<Serial> {
    let hex: String = content.trim().chars().take(8).collect();
    hex.parse().ok()
}

impl DaemonConfig for LicenseConfig {
    // licd serves no network: no interface checks, no netlink socket (its
    // unit allows AF_UNIX only).
    const READS_HOST_INTERFACES: bool = false;
    const FILE_NAME: &'static str = "license.toml";
    type Raw = RawLicenseConfig;

    fn validate(
        raw: RawLicenseConfig,
        ctx: &ValidateCtx<'_>,
        diags: &mut Diagnostics,
    ) -> Option<Self> {
        let src = ctx.source;
        let serial = validate_serial(&raw, src, diags);
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
        let limits = validate_hardware_limits(&raw.hardware_limits, src, diags);
        let previous_serials = validate_previous_serials(&raw.previous_serials, src, diags);
        let state_directory = match &raw.state_directory {
            Some(d) => ctx.resolve(d),
            None => ctx.site.state_directory.join("licd"),
        };
        let state_copy_directory = ctx.resolve(&raw.state_copy_directory);
        if state_copy_directory == state_directory {
            diags
                .error(
                    src,
                    0..0,
                    "state-copy-directory",
                    "is the state directory: the copy must be elsewhere".to_string(),
                )
                .set_hint("the copy detects a deleted state directory: use another directory, e.g. /var/lib/pbxnet-licd");
        }
        let metrics = raw
            .metrics
            .validate(pbxnet_config::LICD_METRICS_PORT, ctx, diags);
        let tpm = match raw.tpm.as_str() {
            "auto" => TpmSetting::Auto,
            "off" => TpmSetting::Off,
            tcti => TpmSetting::Tcti(tcti.to_string()),
        };
        Some(LicenseConfig {
            serial: serial?,
            software_major_version: major.min(u32::from(MAX_MAJOR_VERSION)) as u8,
            dmi_directory: ctx.resolve(&raw.dmi_directory),
            previous_serials,
            state_copy_directory,
            tpm,
            key_directory: ctx.resolve(&raw.key_directory),
            public_key: ctx.resolve(&raw.public_key),
            state_directory,
            runtime_directory: match &raw.runtime_directory {
                Some(d) => ctx.resolve(d),
                None => ctx.site.runtime_directory.clone(),
            },
            hardware_limits: limits,
            metrics,
        })
    }
}

fn validate_serial(
    raw: &RawLicenseConfig,
    src: &pbxnet_config::Source,
    diags: &mut Diagnostics,
) -> Option<SerialSource> {
    match raw.serial.get_ref().as_str() {
        "machine" => Some(SerialSource::Machine),
        "machine-id" => Some(SerialSource::MachineId),
        text => match text.parse::<Serial>() {
            Ok(s) if raw.lab_serial => Some(SerialSource::Lab(s)),
            Ok(_) => {
                diags
                    .error(
                        src,
                        raw.serial.span(),
                        "serial",
                        "a serial written here is for labs only: on a PBX the serial is the machine's".to_string(),
                    )
                    .set_hint("remove `serial` (default \"machine\"; `pbxnet-licd serial` prints it), or set `lab-serial = true` in a lab");
                None
            }
            Err(e) => {
                diags.error(src, raw.serial.span(), "serial", e.to_string()).set_hint(
                    "\"machine\" (default), \"machine-id\", or 8 hexadecimal digits (\"000068DA\") with lab-serial = true",
                );
                None
            }
        },
    }
}

fn validate_previous_serials(
    raw: &[Spanned<String>],
    src: &pbxnet_config::Source,
    diags: &mut Diagnostics,
) -> Vec<Serial> {
    let mut out = Vec::new();
    for text in raw {
        match text.get_ref().parse::<Serial>() {
            Ok(s) => out.push(s),
            Err(e) => {
                diags
                    .error(src, text.span(), "previous-serials", e.to_string())
                    .set_hint("the 8 hexadecimal digits of a CPU this machine replaced");
            }
        }
    }
    out
}

fn validate_hardware_limits(
    raw: &BTreeMap<String, Spanned<u32>>,
    src: &pbxnet_config::Source,
    diags: &mut Diagnostics,
) -> BTreeMap<String, u32> {
    let ids: Vec<String> = catalogue::MAIN
        .iter()
        .filter(|s| s.role != Role::Ignored)
        .map(|s| s.id.to_string())
        .collect();
    let mut limits = BTreeMap::new();
    for (name, value) in raw {
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
    limits
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
            "serial = \"000068da\"\nlab-serial = true\nsoftware-major-version = 4\nkey-directory = \"keys\"\npublic-key = \"vendor.pem\"\n\
             state-directory = \"/tmp/st\"\n[hardware-limits]\nvoip-trunk-channels = 32\n",
        )
        .unwrap();
        assert_eq!(cfg.serial, SerialSource::Lab(Serial(0x68DA)));
        assert_eq!(cfg.software_major_version, 4);
        assert_eq!(cfg.key_directory, Path::new("/etc/pbxnet/keys"));
        assert_eq!(cfg.state_file(), Path::new("/tmp/st/license-state"));
        assert_eq!(cfg.hardware_limits.get("voip-trunk-channels"), Some(&32));
    }

    #[test]
    fn defaults_use_machine_id_and_site_state_dir() {
        let cfg = validate("").unwrap();
        assert_eq!(cfg.serial, SerialSource::Machine);
        assert_eq!(
            cfg.state_copy_file(),
            Path::new("/var/lib/pbxnet-licd/license-state")
        );
        assert_eq!(cfg.tpm, TpmSetting::Auto);
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
    fn a_configured_serial_needs_the_lab_switch() {
        let errs = validate("serial = \"0BADF00D\"\n").unwrap_err();
        assert_eq!(errs.len(), 1, "{errs:#?}");
        assert!(errs[0].contains("license.toml:1:10"), "{errs:#?}");
        assert!(errs[0].contains("for labs only"), "{errs:#?}");
        assert!(errs[0].contains("lab-serial = true"), "{errs:#?}");
        let cfg = validate("serial = \"0BADF00D\"\nlab-serial = true\n").unwrap();
        assert_eq!(cfg.serial, SerialSource::Lab(Serial(0x0BAD_F00D)));
    }

    #[test]
    fn machine_serial_is_a_hash_of_the_dmi_identity() {
        let id = MachineIdentity {
            product_uuid: Some("4C4C4544-0042-3510-8051-B7C04F4E4D32\n".into()),
            board_serial: Some(".7B5QNM2.CN1296".into()),
        };
        let s = serial_from_machine(&id).unwrap();
        assert_eq!(s.to_string().len(), 8);
        // The UUID's case does not matter; the board serial does.
        let lower = MachineIdentity {
            product_uuid: Some("4c4c4544-0042-3510-8051-b7c04f4e4d32".into()),
            ..id.clone()
        };
        assert_eq!(serial_from_machine(&lower), Some(s));
        let other = MachineIdentity {
            board_serial: Some("OTHER".into()),
            ..id
        };
        assert_ne!(serial_from_machine(&other), Some(s));
        let blank = MachineIdentity {
            product_uuid: Some("03000200-0400-0500-0006-000700080009".into()),
            board_serial: Some("Default string".into()),
        };
        assert_eq!(serial_from_machine(&blank), None);
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
