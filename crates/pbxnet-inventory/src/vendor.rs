//! Who made a device and what it is, from what it says about itself: the
//! OUI of its MAC, DHCP options 60 and 77, the file names it fetches and its
//! HTTP User-Agent. Nothing here is asked of the device (passive only).

use serde::Serialize;

use crate::mac::Mac;

/// The kinds of device whose boot the inventory can judge, each with its
/// own provisioning chain (see [`crate::chain`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeviceKind {
    /// ALE OmniSwitch (AOS 6 or AOS 8 auto-configuration).
    Omniswitch,
    /// ALE Stellar access point (zero-touch provisioning).
    Stellar,
    /// AudioCodes 400HD series phone.
    Audiocodes,
    /// ALE IP phone (NOE): no file chain, needs time.
    AlePhone,
    /// Third-party SIP phone fetching the config file named in option 67.
    SipPhone,
    /// Anything else: judged on its lease only.
    Unknown,
}

impl DeviceKind {
    /// Whether a device of this kind asks for time once provisioned (the
    /// `no time` verdict applies only to these). OmniSwitches take their
    /// time from their own configuration, not at boot.
    pub fn uses_ntp(self) -> bool {
        matches!(
            self,
            DeviceKind::Stellar
                | DeviceKind::Audiocodes
                | DeviceKind::AlePhone
                | DeviceKind::SipPhone
        )
    }
}

/// One embedded OUI entry.
struct OuiEntry {
    oui: [u8; 3],
    vendor: &'static str,
    kind: DeviceKind,
}

/// The OUIs of the fleet the seeds describe (and pbxnet-sim builds, see its
/// `fleet.rs`), and a few common SIP phone makers. Not a full IEEE registry:
/// an unknown OUI leaves the vendor empty, never wrong.
const OUIS: [OuiEntry; 9] = [
    OuiEntry {
        oui: [0x00, 0x90, 0x8f],
        vendor: "AudioCodes",
        kind: DeviceKind::Audiocodes,
    },
    OuiEntry {
        oui: [0x00, 0x80, 0x9f],
        vendor: "Alcatel-Lucent Enterprise",
        kind: DeviceKind::AlePhone,
    },
    OuiEntry {
        oui: [0x00, 0xe0, 0xb1],
        vendor: "Alcatel-Lucent Enterprise",
        kind: DeviceKind::Omniswitch,
    },
    // The simulator's Stellar range.
    OuiEntry {
        oui: [0x34, 0xe7, 0x0b],
        vendor: "Alcatel-Lucent Enterprise",
        kind: DeviceKind::Stellar,
    },
    OuiEntry {
        oui: [0x00, 0x04, 0x13],
        vendor: "snom",
        kind: DeviceKind::SipPhone,
    },
    OuiEntry {
        oui: [0x00, 0x15, 0x65],
        vendor: "Yealink",
        kind: DeviceKind::SipPhone,
    },
    OuiEntry {
        oui: [0x00, 0x04, 0xf2],
        vendor: "Polycom",
        kind: DeviceKind::SipPhone,
    },
    OuiEntry {
        oui: [0x00, 0x0b, 0x82],
        vendor: "Grandstream",
        kind: DeviceKind::SipPhone,
    },
    OuiEntry {
        oui: [0x00, 0x1a, 0xe8],
        vendor: "Unify",
        kind: DeviceKind::SipPhone,
    },
];

fn oui_entry(mac: Mac) -> Option<&'static OuiEntry> {
    OUIS.iter().find(|e| e.oui == mac.oui())
}

/// The vendor registered for the MAC's OUI, if the table has it.
pub fn vendor_of(mac: Mac) -> Option<&'static str> {
    oui_entry(mac).map(|e| e.vendor)
}

/// The kind, from option 60 first (the device's own words), then the OUI.
pub fn kind_of(mac: Mac, vendor_class: Option<&str>) -> DeviceKind {
    vendor_class
        .and_then(kind_from_vendor_class)
        .or_else(|| oui_entry(mac).map(|e| e.kind))
        .unwrap_or(DeviceKind::Unknown)
}

fn kind_from_vendor_class(vc: &str) -> Option<DeviceKind> {
    let lower = vc.to_ascii_lowercase();
    if lower.starts_with("alcatel-lucent.omniswitch") {
        Some(DeviceKind::Omniswitch)
    } else if lower.starts_with("oaw-ap") {
        Some(DeviceKind::Stellar)
    } else if lower.starts_with("alcatel.noe") {
        Some(DeviceKind::AlePhone)
    } else if vc == "MS-UC-Client" || is_audiocodes_model(vc) {
        Some(DeviceKind::Audiocodes)
    } else if lower.starts_with("sip") {
        Some(DeviceKind::SipPhone)
    } else {
        None
    }
}

/// `420HD`, `450HD`, `C450HD`, `405HDG`: the AudioCodes 400HD names.
fn is_audiocodes_model(text: &str) -> bool {
    let t = text.trim_start_matches('C');
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    digits == 3 && t[digits..].starts_with("HD")
}

/// The model named by DHCP options 77 and 60, if either names one.
pub fn model_from_dhcp(vendor_class: Option<&str>, user_class: Option<&str>) -> Option<String> {
    if let Some(uc) = user_class.filter(|u| is_audiocodes_model(u)) {
        return Some(uc.to_string());
    }
    let vc = vendor_class?;
    let lower = vc.to_ascii_lowercase();
    if let Some(rest) = lower.strip_prefix("alcatel-lucent.omniswitch.") {
        return Some(vc[vc.len() - rest.len()..].to_string()).filter(|m| !m.is_empty());
    }
    if lower.starts_with("oaw-ap") || is_audiocodes_model(vc) {
        return Some(vc.to_string());
    }
    vc.strip_prefix("SIP-")
        .filter(|m| !m.is_empty())
        .map(str::to_string)
}

/// Model and firmware from an image name: `450HD.img` → (450HD, none),
/// `420HD_2.0.9.img` → (420HD, 2.0.9). Only AudioCodes model names count.
pub fn from_image_name(path: &str) -> Option<(String, Option<String>)> {
    let name = crate::names::basename(path);
    let stem = name
        .strip_suffix(".img")
        .or_else(|| name.strip_suffix(".IMG"))?;
    let (model, version) = match stem.split_once('_') {
        Some((m, v)) => (m, Some(v.to_string()).filter(|v| !v.is_empty())),
        None => (stem, None),
    };
    is_audiocodes_model(model).then(|| (model.to_string(), version))
}

/// Firmware and model from an AudioCodes User-Agent,
/// `AUDC-IPPhone/<version> (<model>[-Rev…][; …])`.
pub fn from_user_agent(ua: &str) -> Option<(String, Option<String>)> {
    let rest = ua.strip_prefix("AUDC-IPPhone/")?;
    let (version, tail) = rest.split_once(' ').unwrap_or((rest, ""));
    if version.is_empty() {
        return None;
    }
    let model = tail
        .trim()
        .strip_prefix('(')
        .and_then(|t| t.split([';', ')', ' ']).next())
        .map(|m| m.split("-Rev").next().unwrap_or(m))
        .filter(|m| !m.is_empty())
        .map(str::to_string);
    Some((version.to_string(), model))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mac(s: &str) -> Mac {
        s.parse().unwrap()
    }

    #[test]
    fn kinds_of_the_simulated_fleet() {
        let cases = [
            ("00:90:8f:70:00:01", Some("450HD"), DeviceKind::Audiocodes),
            (
                "00:90:8f:70:00:02",
                Some("MS-UC-Client"),
                DeviceKind::Audiocodes,
            ),
            (
                "00:80:9f:70:00:01",
                Some("alcatel.noe.0"),
                DeviceKind::AlePhone,
            ),
            ("00:04:13:70:00:01", Some("SIP-T46"), DeviceKind::SipPhone),
            (
                "00:e0:b1:70:00:01",
                Some("alcatel-lucent.omniswitch.OS6450"),
                DeviceKind::Omniswitch,
            ),
            ("34:e7:0b:70:00:01", Some("OAW-AP1221"), DeviceKind::Stellar),
            ("00:e0:b1:70:00:02", None, DeviceKind::Omniswitch),
            ("02:00:00:00:00:01", Some("MSFT 5.0"), DeviceKind::Unknown),
        ];
        for (m, vc, want) in cases {
            assert_eq!(kind_of(mac(m), vc), want, "{m} {vc:?}");
        }
        assert_eq!(vendor_of(mac("00:90:8f:61:a0:22")), Some("AudioCodes"));
        assert_eq!(vendor_of(mac("02:00:00:00:00:01")), None);
    }

    #[test]
    fn models_from_options_60_and_77() {
        assert_eq!(
            model_from_dhcp(Some("MS-UC-Client"), Some("440HD")).as_deref(),
            Some("440HD")
        );
        assert_eq!(
            model_from_dhcp(Some("alcatel-lucent.omniswitch.OS6360"), None).as_deref(),
            Some("OS6360")
        );
        assert_eq!(
            model_from_dhcp(Some("OAW-AP1221"), None).as_deref(),
            Some("OAW-AP1221")
        );
        assert_eq!(
            model_from_dhcp(Some("SIP-T46"), None).as_deref(),
            Some("T46")
        );
        assert_eq!(model_from_dhcp(Some("alcatel.noe.0"), None), None);
    }

    #[test]
    fn images_and_user_agents() {
        assert_eq!(
            from_image_name("ThirdParty_Devices/420HD_2.0.9.img"),
            Some(("420HD".into(), Some("2.0.9".into())))
        );
        assert_eq!(from_image_name("450HD.img"), Some(("450HD".into(), None)));
        assert_eq!(from_image_name("firmware.img"), None);
        assert_eq!(
            from_user_agent("AUDC-IPPhone/3.4.8.229 (440HD-Rev2; 00908F4BD6F0)"),
            Some(("3.4.8.229".into(), Some("440HD".into())))
        );
        assert_eq!(from_user_agent("curl/7.88.1"), None);
    }
}
