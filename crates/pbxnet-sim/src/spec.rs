//! What a device is, as the fleet spec (JSON) and the demo describe it: its
//! family and model, its MAC and quirks, and the per-run limits. Shared by
//! the devices, the reports and the drivers.

use serde::{Deserialize, Serialize};

/// Device families.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// AudioCodes 400HD SIP phone.
    Audiocodes,
    /// Alcatel-Lucent Enterprise IP phone (NOE).
    AlePhone,
    /// Third-party SIP phone.
    SipPhone,
    /// Alcatel-Lucent OmniSwitch.
    Omniswitch,
    /// Alcatel-Lucent Stellar Wi-Fi access point.
    Stellar,
}

impl Kind {
    /// Short label for reports.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Audiocodes => "AudioCodes",
            Kind::AlePhone => "ALE phone",
            Kind::SipPhone => "SIP phone",
            Kind::Omniswitch => "OmniSwitch",
            Kind::Stellar => "Stellar AP",
        }
    }
}

/// One device to power on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceSpec {
    /// Report name.
    pub name: String,
    /// Family.
    pub kind: Kind,
    /// Model (`450HD`, `OS6450`, `OS6360`, `OAW-AP1221`, …).
    pub model: String,
    /// MAC address (`00:90:8f:…`).
    pub mac: String,
    /// AudioCodes: installed firmware version.
    #[serde(default)]
    pub firmware_version: Option<String>,
    /// AudioCodes: firmware that ignores option 160 (uses 66/67).
    #[serde(default)]
    pub ignores_160: bool,
    /// AudioCodes: Lync / Skype for Business mode (option 60
    /// `MS-UC-Client`, certificate provisioning from option 43).
    #[serde(default)]
    pub lync: bool,
    /// AudioCodes: recovery mode (DISCOVER every ~5 s asking only for
    /// 66/67, then the whole image over plain 512-byte TFTP).
    #[serde(default)]
    pub recovery: bool,
    /// Test knob: after aborting a firmware transfer, keep the port open
    /// this long and count DATA still arriving (0 = real phone behaviour).
    #[serde(default)]
    pub linger_after_abort_ms: u64,
    /// Delay after the fleet start before power-on, milliseconds.
    #[serde(default)]
    pub power_on_ms: u64,
}

/// Per-run knobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunLimits {
    /// Give up on a device after this long (seconds).
    pub deadline_s: u64,
    /// DHCP first retransmission timeout, ms.
    pub dhcp_initial_ms: u64,
    /// TFTP retransmission timeout, ms.
    pub tftp_timeout_ms: u64,
    /// TFTP retransmissions before giving up.
    pub tftp_retries: u32,
}

impl Default for RunLimits {
    fn default() -> Self {
        RunLimits {
            deadline_s: 60,
            dhcp_initial_ms: 2000,
            tftp_timeout_ms: 1000,
            tftp_retries: 5,
        }
    }
}

/// The AudioCodes family name in the firmware header.
pub(crate) const AUDIOCODES_FAMILY: &str = "400HD";
/// OmniSwitch files are limited to 0.5 MB (seed §4.3).
pub(crate) const OMNISWITCH_MAX: usize = 500_000;
