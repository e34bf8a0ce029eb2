//! What an installer would do to the copy of the site before the devices
//! power on: fix the key file's mode, add the firmware image, and the
//! caller's extra files.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::fleet::CURRENT_FIRMWARE;
use crate::provision::make_firmware_image;
use crate::site::ScratchSite;

/// Stages the copy ([`stage_files`]), then writes `extra_files` (paths
/// relative to the TFTP root); gives the installer steps applied.
pub(super) fn stage_copy(
    s: &ScratchSite,
    extra_files: &[(PathBuf, Vec<u8>)],
) -> Result<Vec<String>> {
    let staged = stage_files(s)?;
    let root = s.tftp_root()?;
    for (rel, bytes) in extra_files {
        let p = root.join(rel);
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&p, bytes)?;
    }
    Ok(staged)
}

/// Files an installer would add to the repository for this fleet, written
/// into the copy only: the AudioCodes firmware image option 67 names (vendor
/// firmware is not shipped with pbxnet).
fn stage_files(s: &ScratchSite) -> Result<Vec<String>> {
    let root = s.tftp_root()?;
    let mut done = Vec::new();
    // Key files should not be readable by others (pbxnet-ntpd warns);
    // git does not keep mode 600, so the copy is fixed as an installer would.
    let keys = s.config().join("ntp.keys");
    if keys.exists() {
        std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o600))?;
        done.push("chmod 600 ntp.keys in the copy (git checkouts make it 644; a key file should be readable by the daemon only)".into());
    }
    let fw = root.join("ThirdParty_Devices/400HD.img");
    if !fw.exists() {
        std::fs::create_dir_all(fw.parent().context("folder")?)?;
        std::fs::write(
            &fw,
            make_firmware_image(crate::spec::AUDIOCODES_FAMILY, CURRENT_FIRMWARE, 256 * 1024),
        )?;
        done.push(format!("firmware ThirdParty_Devices/400HD.img (version {CURRENT_FIRMWARE}, 256 KiB) added to the copy"));
    }
    Ok(done)
}
