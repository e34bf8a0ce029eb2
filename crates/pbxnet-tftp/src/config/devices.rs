//! `[devices]`: the template folder and the `[[devices.device]]` list.

use pbxnet_config::{Diagnostic, Diagnostics, Severity, Source};

use super::names::valid_plain_name;
use super::raw::{RawDevice, RawDevices};
use crate::devices::Device;

/// The validated `[devices]` table.
pub(super) struct DeviceSettings {
    pub(super) template_folder: String,
    pub(super) devices: Vec<Device>,
}

pub(super) fn validate(dv: &RawDevices, src: &Source, diags: &mut Diagnostics) -> DeviceSettings {
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
    let mut devices: Vec<Device> = Vec::new();
    for (i, d) in dv.device.iter().enumerate() {
        if let Some(device) = validate_device(i, d, &devices, src, diags) {
            devices.push(device);
        }
    }
    DeviceSettings {
        template_folder: folder.clone(),
        devices,
    }
}

/// One `[[devices.device]]`; `None` when its MAC is unusable.
fn validate_device(
    i: usize,
    d: &RawDevice,
    earlier: &[Device],
    src: &Source,
    diags: &mut Diagnostics,
) -> Option<Device> {
    let mac = match d.mac.get_ref().parse::<pbxnet_config::MacAddr>() {
        Ok(m) => m.to_plain_hex().to_ascii_lowercase(),
        Err(e) => {
            diags
                .error(src, d.mac.span(), format!("devices.device[{i}].mac"), e)
                .set_hint("expected a MAC address such as 00:90:8f:61:a0:22");
            return None;
        }
    };
    if earlier.iter().any(|x| x.mac == mac) {
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
    Some(Device {
        mac,
        model: d.model.as_ref().map(|m| m.get_ref().clone()),
        vars: d.vars.clone(),
    })
}
