//! The provisioning chains: which files a device of each kind fetches after
//! its lease, in order, before it is provisioned.
//!
//! - OmniSwitch: `os_ins.alu` → `os_conf` → `os_script` (AOS 8:
//!   `os8_ins.alu` → `os8_conf`);
//! - Stellar: `hap_instruction.ini` → `hap_conf.ini`;
//! - AudioCodes: `<model>.img` (optional: a phone on current firmware reads
//!   only its header) → `<MAC>.cfg`;
//! - generic SIP phone: the file its ACK named (option 67 / `file`), or any
//!   `.cfg`/`.xml` when the ACK named none;
//! - ALE IP phone and unknown devices: no files.
//!
//! Files are matched by base name, case-insensitively: the site serves
//! `Secured_Config/hap_conf.ini` and `ThirdParty_Devices/400HD.img`.

use serde::{Deserialize, Serialize};

use crate::mac::Mac;
pub use crate::names::basename;
use crate::vendor::DeviceKind;

/// One step of a chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    /// A firmware image (optional in every chain).
    Image,
    /// An instruction file naming the next files.
    Instructions,
    /// The device's configuration.
    Config,
    /// An OmniSwitch script run after the configuration.
    Script,
}

impl Step {
    const ALL: [Step; 4] = [Step::Image, Step::Instructions, Step::Config, Step::Script];

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of steps (a bit mask: the inventory keeps one per boot).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct StepSet(u8);

impl StepSet {
    /// No step.
    pub const EMPTY: StepSet = StepSet(0);

    /// Adds a step.
    pub fn insert(&mut self, step: Step) {
        self.0 |= step.bit();
    }

    /// Removes a step.
    pub fn remove(&mut self, step: Step) {
        self.0 &= !step.bit();
    }

    /// Whether `step` is in the set.
    pub fn contains(self, step: Step) -> bool {
        self.0 & step.bit() != 0
    }

    /// Whether every step of `other` is in the set.
    pub fn covers(self, other: StepSet) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The steps, in chain order.
    pub fn steps(self) -> impl Iterator<Item = Step> {
        Step::ALL.into_iter().filter(move |s| self.contains(*s))
    }
}

impl FromIterator<Step> for StepSet {
    fn from_iter<I: IntoIterator<Item = Step>>(iter: I) -> Self {
        let mut set = StepSet::EMPTY;
        iter.into_iter().for_each(|s| set.insert(s));
        set
    }
}

impl Serialize for StepSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.steps())
    }
}

/// The file names of the chains, as the site's tftp.toml names them
/// (`[omniswitch]` `config-file`, `aos8-config-file`, `script-file`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainNames {
    /// OmniSwitch instruction files (AOS 6 and AOS 8 names).
    pub omniswitch_instructions: Vec<String>,
    /// OmniSwitch configuration files (AOS 6 and AOS 8 names).
    pub omniswitch_config: Vec<String>,
    /// OmniSwitch script; `None` when the site's instruction file names none.
    pub omniswitch_script: Option<String>,
    /// Stellar instruction file.
    pub stellar_instructions: String,
    /// Stellar configuration file.
    pub stellar_config: String,
}

impl Default for ChainNames {
    fn default() -> Self {
        ChainNames {
            omniswitch_instructions: vec!["os_ins.alu".into(), "os8_ins.alu".into()],
            omniswitch_config: vec!["os_conf".into(), "os8_conf".into()],
            omniswitch_script: Some("os_script".into()),
            stellar_instructions: "hap_instruction.ini".into(),
            stellar_config: "hap_conf.ini".into(),
        }
    }
}

impl ChainNames {
    /// The steps a device of `kind` must complete to be provisioned.
    pub fn required(&self, kind: DeviceKind) -> StepSet {
        match kind {
            DeviceKind::Omniswitch if self.omniswitch_script.is_some() => {
                [Step::Instructions, Step::Config, Step::Script]
                    .into_iter()
                    .collect()
            }
            DeviceKind::Omniswitch | DeviceKind::Stellar => {
                [Step::Instructions, Step::Config].into_iter().collect()
            }
            DeviceKind::Audiocodes | DeviceKind::SipPhone => [Step::Config].into_iter().collect(),
            DeviceKind::AlePhone | DeviceKind::Unknown => StepSet::EMPTY,
        }
    }

    /// Which step of the chain of `kind` the file `path` is, if any.
    /// `boot_file` is what the device's last ACK named (generic SIP).
    pub fn step_of(
        &self,
        kind: DeviceKind,
        mac: Mac,
        boot_file: Option<&str>,
        path: &str,
    ) -> Option<Step> {
        let name = basename(path);
        let is = |want: &str| name.eq_ignore_ascii_case(want);
        match kind {
            DeviceKind::Omniswitch => {
                if self.omniswitch_instructions.iter().any(|n| is(n)) {
                    Some(Step::Instructions)
                } else if self.omniswitch_config.iter().any(|n| is(n)) {
                    Some(Step::Config)
                } else {
                    self.omniswitch_script
                        .as_deref()
                        .filter(|n| is(n))
                        .map(|_| Step::Script)
                }
            }
            DeviceKind::Stellar if is(&self.stellar_instructions) => Some(Step::Instructions),
            DeviceKind::Stellar if is(&self.stellar_config) => Some(Step::Config),
            DeviceKind::Audiocodes if audiocodes_config(name, mac) => Some(Step::Config),
            DeviceKind::Audiocodes if has_extension(name, "img") => Some(Step::Image),
            DeviceKind::SipPhone => sip_step(name, boot_file),
            _ => None,
        }
    }
}

/// An AudioCodes configuration file: the phone's own `<MAC>.cfg`, or a
/// global one per deployment such as `420HD.cfg` (seed 004, "Configuration
/// URL": "a unique configuration file, per phone … or a global
/// configuration file, per deployment"); a phone whose `<MAC>.cfg` is
/// missing falls back to it. Another phone's `<MAC>.cfg` is not this
/// phone's configuration.
fn audiocodes_config(name: &str, mac: Mac) -> bool {
    let Some(stem) = name
        .len()
        .checked_sub(4)
        .filter(|_| has_extension(name, "cfg"))
        .and_then(|n| name.get(..n))
    else {
        return false;
    };
    let names_a_mac = stem.len() == 12 && stem.bytes().all(|b| b.is_ascii_hexdigit());
    stem.eq_ignore_ascii_case(&mac.compact()) || (!names_a_mac && !stem.is_empty())
}

fn has_extension(name: &str, ext: &str) -> bool {
    name.rsplit_once('.')
        .is_some_and(|(_, e)| e.eq_ignore_ascii_case(ext))
}

fn sip_step(name: &str, boot_file: Option<&str>) -> Option<Step> {
    let matches = match boot_file.map(basename).filter(|b| !b.is_empty()) {
        Some(b) => name.eq_ignore_ascii_case(b),
        None => has_extension(name, "cfg") || has_extension(name, "xml"),
    };
    matches.then_some(Step::Config)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: Mac = Mac([0x00, 0x90, 0x8f, 0x61, 0xa0, 0x22]);

    #[test]
    fn names_of_each_chain() {
        let n = ChainNames::default();
        let sw = |p| n.step_of(DeviceKind::Omniswitch, MAC, None, p);
        assert_eq!(sw("os8_ins.alu"), Some(Step::Instructions));
        assert_eq!(sw("/os_conf"), Some(Step::Config));
        assert_eq!(sw("os_script"), Some(Step::Script));
        assert_eq!(sw("os_conf.bak"), None);
        let ap = |p| n.step_of(DeviceKind::Stellar, MAC, None, p);
        assert_eq!(ap("Secured_Config/hap_conf.ini"), Some(Step::Config));
        assert_eq!(ap("hap_instruction.ini"), Some(Step::Instructions));
        let ac = |p| n.step_of(DeviceKind::Audiocodes, MAC, None, p);
        assert_eq!(ac("/00908F61A022.cfg"), Some(Step::Config));
        assert_eq!(ac("00908f61a023.cfg"), None);
        assert_eq!(ac("/420HD.cfg"), Some(Step::Config));
        assert_eq!(ac(".cfg"), None);
        assert_eq!(ac("ThirdParty_Devices/400HD.img"), Some(Step::Image));
        let sip = n.step_of(
            DeviceKind::SipPhone,
            MAC,
            Some("/tftpboot/ThirdParty_Devices/sip-phone.cfg"),
            "ThirdParty_Devices/sip-phone.cfg",
        );
        assert_eq!(sip, Some(Step::Config));
        assert_eq!(
            n.step_of(DeviceKind::SipPhone, MAC, Some("a.cfg"), "b.cfg"),
            None
        );
    }

    #[test]
    fn required_steps_per_kind() {
        let n = ChainNames::default();
        assert_eq!(n.required(DeviceKind::Omniswitch).steps().count(), 3);
        let no_script = ChainNames {
            omniswitch_script: None,
            ..ChainNames::default()
        };
        assert!(!no_script
            .required(DeviceKind::Omniswitch)
            .contains(Step::Script));
        assert!(!n.required(DeviceKind::Audiocodes).contains(Step::Image));
        assert!(n.required(DeviceKind::AlePhone).is_empty());
        assert_eq!(basename("http://x/tpcfg/a.cfg?x=/y"), "a.cfg");
    }
}
