//! What the validator is told about the system it runs on.

use std::collections::BTreeMap;

use ed25519_dalek::VerifyingKey;
use serde::Serialize;

use crate::kind::Serial;

/// What the validator needs to know about the system.
#[derive(Debug, Clone)]
pub struct ValidatorConfig {
    /// This CPU's serial.
    pub serial: Serial,
    /// Running software major version.
    pub major_version: u8,
    /// Vendor public key.
    pub public_key: VerifyingKey,
    /// Site hardware limits, by service id (caps "really activated").
    pub hardware_limits: BTreeMap<String, u32>,
    /// Where the serial comes from (a lab serial is shown loudly).
    pub serial_origin: SerialOrigin,
    /// Serials of CPUs this machine replaced (`previous-serials`): a key
    /// signed for one of them is genuine, and its grace grants what it says.
    pub previous_serials: Vec<Serial>,
}

/// Where the validator's serial comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SerialOrigin {
    /// Derived from the machine's identity (DMI product UUID, board serial).
    Machine,
    /// Written in `license.toml` with `lab-serial = true`: any site's key
    /// can be made to work, for labs only.
    Lab,
}
