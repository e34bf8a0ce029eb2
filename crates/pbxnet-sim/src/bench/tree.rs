//! The served tree for either stack: the firmware image and model files the
//! fleet asks for, the pbxnet site patched for a /22, tftpd-hpa's own copy.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::{Context, Result};

use crate::fleet::CURRENT_FIRMWARE;
use crate::provision::make_firmware_image;
use crate::site::{self, ScratchSite};
use crate::spec::AUDIOCODES_FAMILY;

use super::args::Provisioning;
use super::peers::SUBNET;

/// The model config files, firmware and SIP config both stacks serve.
pub(super) fn prepare_tree(s: &ScratchSite, firmware_kib: usize) -> Result<()> {
    let root = s.tftp_root()?;
    let tp = root.join("ThirdParty_Devices");
    std::fs::create_dir_all(&tp)?;
    std::fs::write(
        tp.join("400HD.img"),
        make_firmware_image(AUDIOCODES_FAMILY, CURRENT_FIRMWARE, firmware_kib * 1024),
    )?;
    for model in ["450HD", "420HD", "440HD", "405HD"] {
        let dir = tp.join(model);
        std::fs::create_dir_all(&dir)?;
        let f = dir.join(format!("{model}.cfg"));
        if !f.exists() {
            std::fs::write(
                &f,
                "system/ntp/primary_server_address=${server_ip}\nsystem/ntp/gmt_offset=+01:00\nprovisioning/configuration/url=tftp://${server_ip}/\nvoip/line/0/enabled=1\n",
            )?;
        }
    }
    let sip = tp.join("sip-phone.cfg");
    if !sip.exists() {
        std::fs::write(
            &sip,
            "sip/registrar=${server_ip}\nsip/transport=udp\nnetwork/ntp/server=${server_ip}\n",
        )?;
    }
    let keys = s.config().join("ntp.keys");
    if keys.exists() {
        std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

/// The example site stretched to a /22 so that 380 devices fit, option 160
/// of the AudioCodes profiles over `provisioning`; every other setting as
/// in etc/. Over TFTP the APs get an instruction file without
/// `https_server` (the one the anchors serve), so both stacks do the same.
pub(super) fn patch_pbxnet(
    s: &ScratchSite,
    provisioning: Provisioning,
    upgrade_all: bool,
) -> Result<()> {
    if provisioning == Provisioning::Tftp {
        std::fs::write(
            s.tftp_root()?.join("hap_instruction.ini"),
            tftp_only_hap_instruction(),
        )?;
    }
    let option_160 = provisioning.option_160(upgrade_all);
    site::edit_toml(&s.config().join("dhcp.toml"), |doc| {
        for profile in doc["profile"]
            .as_array_of_tables_mut()
            .context("[[profile]]")?
            .iter_mut()
        {
            let name = profile.get("name").and_then(|n| n.as_str()).unwrap_or("");
            if !matches!(name, "audiocodes-400hd" | "audiocodes-400hd-http") {
                continue;
            }
            if let Some(options) = profile
                .get_mut("option")
                .and_then(|o| o.as_array_of_tables_mut())
            {
                for o in options.iter_mut() {
                    if o.get("code").and_then(|c| c.as_integer()) == Some(160) {
                        o["value"] = toml_edit::value(option_160.clone());
                    }
                }
            }
        }
        let subnets = doc["subnet"]
            .as_array_of_tables_mut()
            .context("[[subnet]]")?;
        subnets.get_mut(0).context("first subnet")?["network"] = toml_edit::value(SUBNET);
        for pool in doc["pool"]
            .as_array_of_tables_mut()
            .context("[[pool]]")?
            .iter_mut()
        {
            let range = match pool.get("name").and_then(|n| n.as_str()) {
                Some("switches") => "192.168.94.201..192.168.94.250",
                Some("phones") => "192.168.93.1..192.168.94.200",
                Some("stellar") => "192.168.95.1..192.168.95.100",
                Some("others") => "192.168.95.101..192.168.95.250",
                _ => continue,
            };
            pool["range"] = toml_edit::value(range);
        }
        Ok(())
    })?;
    site::edit_toml(&s.config().join("ntp.toml"), |doc| {
        let mut allow = toml_edit::Array::new();
        allow.push(SUBNET);
        allow.push("127.0.0.0/8");
        doc["server"]["allow"] = toml_edit::value(allow);
        Ok(())
    })?;
    site::edit_toml(&s.config().join("tftp.toml"), |doc| {
        doc["files"]["serve-secured-config"] = toml_edit::value(true);
        Ok(())
    })?;
    Ok(())
}

/// tftpd-hpa's tree: what pbxnet-tftpd serves, with `${server_ip}` expanded,
/// the generated instruction files written out, the search folders'
/// files also at the root, and `/tftpboot/` mapped onto the root.
pub(super) fn hpa_tree(s: &ScratchSite, root: &Path) -> Result<()> {
    let src = s.tftp_root()?;
    site::copy_tree(&src, root)?;
    for folder in ["ThirdParty_Devices", "Omniswitch", "Binary"] {
        let dir = src.join(folder);
        if dir.is_dir() {
            site::copy_tree(&dir, root)?;
        }
    }
    expand_tree(root)?;
    let ip = "192.168.92.246";
    for (name, aos, config) in [
        ("os_ins.alu", "AOS 6", "os_conf"),
        ("os8_ins.alu", "AOS 8", "os8_conf"),
    ] {
        std::fs::write(
            root.join(name),
            format!(
                "! Alcatel-Lucent OmniSwitch {aos} instruction file\n! Configuration file\nConfig filename:{config}\nConfig location:/Omniswitch\nConfig Server IP:{ip}\nConfig Server Protocol:TFTP\n! Script file\nScript filename:os_script\nScript location:/Omniswitch\nScript Server IP:{ip}\nScript Server Protocol:TFTP\n! TFTP server\nTFTP Server IP:{ip}\n"
            ),
        )?;
    }
    std::fs::write(
        root.join("hap_instruction.ini"),
        tftp_only_hap_instruction(),
    )?;
    std::fs::create_dir_all(root.join("Secured_Config"))?;
    std::fs::write(
        root.join("Secured_Config/hap_conf.ini"),
        "[wlan]\nemployee_ssid=Employee\nemployee_passphrase=change-me-employee\nguest_ssid=Guest\nguest_passphrase=change-me-guest\nvoice_ssid=Voice\nvoice_passphrase=change-me-voice\n[system]\ncountry_code=FR\ncluster_virtual_ip=192.168.92.134\nadmin_password=change-me-admin\n",
    )?;
    std::os::unix::fs::symlink(".", root.join("tftpboot"))?;
    Ok(())
}

/// hap_instruction.ini naming only the TFTP server (tftpd-hpa has no
/// HTTPS; an AP told `https_server` fetches its config over HTTPS).
fn tftp_only_hap_instruction() -> &'static str {
    "[instruction]\nconfig_file=hap_conf.ini\nconfig_path=/Secured_Config\nserver=192.168.92.246\n"
}

fn expand_tree(dir: &Path) -> Result<()> {
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        if e.file_type()?.is_dir() {
            expand_tree(&e.path())?;
        } else if let Ok(text) = std::fs::read_to_string(e.path()) {
            if text.contains("${server_ip}") {
                std::fs::write(e.path(), text.replace("${server_ip}", "192.168.92.246"))?;
            }
        }
    }
    Ok(())
}
