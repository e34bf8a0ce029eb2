//! The machine's identity and the serial derived from it (shell side: the
//! files are read here, the hashing is [`crate::serial_from_machine`]).
//!
//! `/sys/class/dmi/id/product_uuid` and `board_serial` are readable by root
//! only. Under systemd the unit hands them to the daemon as credentials
//! (`LoadCredential=dmi.product_uuid:…`), which are read first; otherwise
//! they are read from `dmi-directory`.

use std::fs;
use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::config::{serial_from_machine_id, LicenseConfig, MachineIdentity, SerialSource};
use crate::{serial_from_machine, Serial, SerialOrigin};

fn read_trimmed(path: &Path) -> Option<String> {
    fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Reads the DMI identity: the systemd credentials when present, else the
/// files of `dmi_directory`.
pub(crate) fn read_identity(dmi_directory: &Path) -> MachineIdentity {
    let creds = std::env::var_os("CREDENTIALS_DIRECTORY").map(std::path::PathBuf::from);
    let read = |name: &str| {
        creds
            .as_ref()
            .and_then(|c| read_trimmed(&c.join(format!("dmi.{name}"))))
            .or_else(|| read_trimmed(&dmi_directory.join(name)))
    };
    MachineIdentity {
        product_uuid: read("product_uuid"),
        board_serial: read("board_serial"),
    }
}

/// The serial this validator is bound to, and where it comes from.
pub(crate) fn resolve_serial(
    cfg: &LicenseConfig,
    identity: &MachineIdentity,
) -> Result<(Serial, SerialOrigin)> {
    match cfg.serial {
        SerialSource::Lab(s) => Ok((s, SerialOrigin::Lab)),
        SerialSource::Machine => match serial_from_machine(identity) {
            Some(s) => Ok((s, SerialOrigin::Machine)),
            None => bail!(
                "no machine identity: {}/product_uuid and board_serial are unreadable or empty \
                 (run as root, or under the systemd unit that passes them); on hardware without \
                 DMI set serial = \"machine-id\"",
                cfg.dmi_directory.display()
            ),
        },
        SerialSource::MachineId => {
            let text = fs::read_to_string("/etc/machine-id")
                .context("reading /etc/machine-id for serial = \"machine-id\"")?;
            let s = serial_from_machine_id(&text)
                .context("/etc/machine-id does not start with 8 hexadecimal digits")?;
            Ok((s, SerialOrigin::Machine))
        }
    }
}
