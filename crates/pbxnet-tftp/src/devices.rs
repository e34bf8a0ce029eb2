//! Per-device files: a request for `<mac>.cfg` (any spelling phones use:
//! `00908f61a022.cfg`, `00908F61A022.cfg`, `00-90-8f-61-a0-22.cfg`,
//! `00:90:8f:61:a0:22.cfg`, `0090.8f61.a022.cfg`) of a device listed in
//! `[[devices.device]]` renders a template with that device's variables:
//! `<template-folder>/<model>.cfg` if it exists, else
//! `<template-folder>/default.cfg`.
//!
//! Template syntax: `${name}` where name is `server_ip`, `mac` (12 lower-case
//! hex digits), `model`, or one of the device's `vars`; `$${` is a literal
//! `${`. Any other `${…}` is an error, reported at load/reload time for
//! every device whose template uses it (never at a phone's boot).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// A device from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// 12 lower-case hex digits.
    pub mac: String,
    /// Model (template choice), e.g. `420HD`.
    pub model: Option<String>,
    /// Variables (names as written in the config).
    pub vars: BTreeMap<String, String>,
}

/// Why a device template does not render.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DeviceTemplateError {
    /// A name that is not defined for the device.
    #[error("unknown variable `${{{name}}}` at byte {offset}; defined here: {known}")]
    Unknown {
        /// Name inside the braces.
        name: String,
        /// Offset of the `$`.
        offset: usize,
        /// Comma-separated known names.
        known: String,
    },
    /// `${` without `}`.
    #[error("unterminated `${{` at byte {offset}")]
    Unterminated {
        /// Offset of the `$`.
        offset: usize,
    },
}

/// The MAC address in a `<mac>.cfg` request name (last path component), as
/// 12 lower-case hex digits.
pub fn mac_of_request(file_name: &str) -> Option<String> {
    let lower = file_name.to_ascii_lowercase();
    let stem = lower.strip_suffix(".cfg")?;
    let hex: String = stem
        .chars()
        .filter(|c| !matches!(c, '-' | ':' | '.'))
        .collect();
    if hex.len() != 12 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    // Separators only in the known positions: none, every 2, or every 4.
    let seps: Vec<usize> = stem
        .char_indices()
        .filter(|(_, c)| matches!(c, '-' | ':' | '.'))
        .map(|(i, _)| i)
        .collect();
    let ok = seps.is_empty() || seps == [2, 5, 8, 11, 14] || seps == [4, 9];
    ok.then_some(hex)
}

/// Render `template` for `device`.
pub fn render(
    template: &str,
    device: &Device,
    server_ip: Ipv4Addr,
) -> Result<String, DeviceTemplateError> {
    let lookup = |name: &str| -> Option<String> {
        match name {
            "server_ip" => Some(server_ip.to_string()),
            "mac" => Some(device.mac.clone()),
            "model" => device.model.clone(),
            other => device.vars.get(other).cloned(),
        }
    };
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    let mut offset = 0;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos..];
        if let Some(tail) = after.strip_prefix("$${") {
            out.push_str("${");
            offset += pos + 3;
            rest = tail;
        } else if let Some(tail) = after.strip_prefix("${") {
            let close = tail.find('}').ok_or(DeviceTemplateError::Unterminated {
                offset: offset + pos,
            })?;
            let name = tail[..close].trim();
            match lookup(name) {
                Some(v) => out.push_str(&v),
                None => {
                    let mut known = vec!["server_ip", "mac"];
                    if device.model.is_some() {
                        known.push("model");
                    }
                    known.extend(device.vars.keys().map(String::as_str));
                    return Err(DeviceTemplateError::Unknown {
                        name: name.to_string(),
                        offset: offset + pos,
                        known: known.join(", "),
                    });
                }
            }
            offset += pos + 2 + close + 1;
            rest = &tail[close + 1..];
        } else {
            out.push('$');
            offset += pos + 1;
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Template file names to try for a device, root-relative.
pub fn template_candidates(folder: &str, device: &Device) -> Vec<String> {
    let mut v = Vec::new();
    if let Some(m) = &device.model {
        v.push(format!("{folder}/{m}.cfg"));
    }
    v.push(format!("{folder}/default.cfg"));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev() -> Device {
        Device {
            mac: "00908f61a022".into(),
            model: Some("420HD".into()),
            vars: [("extension".to_string(), "201".to_string())].into(),
        }
    }

    #[test]
    fn recognises_the_mac_spellings_phones_use() {
        for n in [
            "00908f61a022.cfg",
            "00908F61A022.CFG",
            "00-90-8f-61-a0-22.cfg",
            "00:90:8F:61:A0:22.cfg",
            "0090.8f61.a022.cfg",
        ] {
            assert_eq!(mac_of_request(n).as_deref(), Some("00908f61a022"), "{n}");
        }
        for n in [
            "00908f61a02.cfg",
            "00908f61a022.img",
            "0-0908f61a022.cfg",
            "zz908f61a022.cfg",
            "420HD.cfg",
        ] {
            assert_eq!(mac_of_request(n), None, "{n}");
        }
    }

    #[test]
    fn renders_device_variables_and_reports_unknown_names() {
        let ip = Ipv4Addr::new(192, 168, 92, 246);
        let t = "mac=${mac}\nmodel=${model}\next=${extension}\nserver=${server_ip}\nlit=$${x}\n";
        assert_eq!(
            render(t, &dev(), ip).unwrap(),
            "mac=00908f61a022\nmodel=420HD\next=201\nserver=192.168.92.246\nlit=${x}\n"
        );
        let e = render("a ${display_name}", &dev(), ip).unwrap_err();
        assert!(
            matches!(e, DeviceTemplateError::Unknown { ref name, offset: 2, .. } if name == "display_name")
        );
        assert!(e.to_string().contains("extension"));
        assert!(matches!(
            render("${mac", &dev(), ip),
            Err(DeviceTemplateError::Unterminated { offset: 0 })
        ));
    }

    #[test]
    fn model_template_first_then_default() {
        assert_eq!(
            template_candidates("ThirdParty_Devices/templates", &dev()),
            [
                "ThirdParty_Devices/templates/420HD.cfg",
                "ThirdParty_Devices/templates/default.cfg"
            ]
        );
    }
}
