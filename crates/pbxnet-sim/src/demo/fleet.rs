//! The demo fleet as data: a few of each kind, chosen to walk every
//! provisioning path of the example site.

use crate::fleet::{CURRENT_FIRMWARE, OLD_FIRMWARE};
use crate::spec::{DeviceSpec, Kind};

/// How a demo AudioCodes phone finds its files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Follows option 160.
    Option160,
    /// Firmware that ignores option 160: 66/67.
    Ignores160,
    /// Lync / Skype for Business mode: option 60 `MS-UC-Client`, option 43.
    Lync,
    /// Recovery mode: 66/67 only, the whole image in 512-byte blocks.
    Recovery,
}

/// One device of the demo fleet.
#[derive(Debug, Clone, Copy)]
struct DemoDevice {
    name: &'static str,
    kind: Kind,
    model: &'static str,
    mac: &'static str,
    /// AudioCodes: installed firmware and how it provisions.
    audiocodes: Option<(&'static str, Mode)>,
    power_on_ms: u64,
}

/// An AudioCodes 400HD phone.
const fn ac(
    name: &'static str,
    model: &'static str,
    mac: &'static str,
    firmware: &'static str,
    mode: Mode,
    power_on_ms: u64,
) -> DemoDevice {
    DemoDevice {
        name,
        kind: Kind::Audiocodes,
        model,
        mac,
        audiocodes: Some((firmware, mode)),
        power_on_ms,
    }
}

/// A device of another kind (no firmware, no quirks).
const fn other(
    name: &'static str,
    kind: Kind,
    model: &'static str,
    mac: &'static str,
    power_on_ms: u64,
) -> DemoDevice {
    DemoDevice {
        name,
        kind,
        model,
        mac,
        audiocodes: None,
        power_on_ms,
    }
}

/// The fleet, in power-on order (one row per device: rustfmt would spread
/// each over eight lines).
#[rustfmt::skip]
const DEMO_FLEET: [DemoDevice; 14] = [
    // Option 160 `;<MAC>.cfg`: its own config file from the example tree.
    ac("ac-01", "450HD", "00:90:8f:61:a0:22", CURRENT_FIRMWARE, Mode::Option160, 0),
    // Option 160, no per-MAC file: falls back to 420HD/420HD.cfg.
    ac("ac-02", "420HD", "00:90:8f:70:00:02", CURRENT_FIRMWARE, Mode::Option160, 40),
    // Firmware ignoring 160: 66/67, older firmware, whole image.
    ac("ac-03", "420HD", "00:90:8f:70:00:03", OLD_FIRMWARE, Mode::Ignores160, 80),
    // 66/67, same firmware: header only, then ERROR.
    ac("ac-04", "420HD", "00:90:8f:70:00:04", CURRENT_FIRMWARE, Mode::Ignores160, 120),
    // Lync / Skype for Business mode: option 60 MS-UC-Client, option 43.
    ac("ac-05", "450HD", "00:90:8f:70:00:05", CURRENT_FIRMWARE, Mode::Lync, 150),
    // Recovery mode: 66/67 only, the whole image in 512-byte blocks.
    ac("ac-06", "420HD", "00:90:8f:70:00:06", CURRENT_FIRMWARE, Mode::Recovery, 180),
    other("ale-01", Kind::AlePhone, "8068s", "00:80:9f:70:00:01", 160),
    // The example site's reserved reception phone (static 192.168.92.200).
    other("ale-02", Kind::AlePhone, "8068s", "00:80:9f:12:34:56", 200),
    other("sip-01", Kind::SipPhone, "T46", "00:04:13:70:00:01", 240),
    other("sip-02", Kind::SipPhone, "T46", "00:04:13:70:00:02", 280),
    other("sw-01", Kind::Omniswitch, "OS6450", "00:e0:b1:70:00:01", 320),
    other("sw-02", Kind::Omniswitch, "OS6360", "00:e0:b1:70:00:02", 360),
    other("ap-01", Kind::Stellar, "OAW-AP1221", "34:e7:0b:70:00:01", 400),
    other("ap-02", Kind::Stellar, "OAW-AP1231", "34:e7:0b:70:00:02", 440),
];

impl DemoDevice {
    fn spec(&self) -> DeviceSpec {
        let mode = self.audiocodes.map(|(_, mode)| mode);
        DeviceSpec {
            name: self.name.into(),
            kind: self.kind,
            model: self.model.into(),
            mac: self.mac.into(),
            firmware_version: self.audiocodes.map(|(fw, _)| fw.into()),
            ignores_160: mode == Some(Mode::Ignores160),
            lync: mode == Some(Mode::Lync),
            recovery: mode == Some(Mode::Recovery),
            linger_after_abort_ms: 0,
            power_on_ms: self.power_on_ms,
        }
    }
}

/// The demo fleet: a few of each kind, chosen to walk every provisioning
/// path of the example site.
pub fn demo_fleet() -> Vec<DeviceSpec> {
    DEMO_FLEET.iter().map(DemoDevice::spec).collect()
}
