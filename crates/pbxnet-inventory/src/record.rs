//! One device's record and its boots.

use std::collections::VecDeque;
use std::net::Ipv4Addr;

use serde::Serialize;

use crate::chain::{Step, StepSet};
use crate::event::{AuthResult, Outcome, Protocol, UnixMillis};
use crate::mac::Mac;
use crate::vendor::DeviceKind;

/// Where the device's lease stands, as the last DHCP event left it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LeaseState {
    /// Offered, not yet acknowledged.
    Offered,
    /// Acknowledged (compare `expires` with the time of the question).
    Bound,
    /// Refused by a NAK.
    Nakked,
    /// Declined by the device.
    Declined,
    /// Released by the device.
    Released,
    /// Its address was since acknowledged to another device.
    Reassigned,
    /// Bound, but past its expiry at the time of the question (never
    /// stored: the views compute it, the inventory reads no clock).
    Expired,
}

/// The device's address and lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lease {
    /// The address.
    pub ip: Ipv4Addr,
    /// Its state.
    pub state: LeaseState,
    /// When it entered that state.
    pub since: UnixMillis,
    /// Expiry of a bound lease.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<UnixMillis>,
}

impl Lease {
    /// The state at `now`: a bound lease past its expiry is expired.
    pub fn state_at(&self, now: UnixMillis) -> LeaseState {
        match (self.state, self.expires) {
            (LeaseState::Bound, Some(x)) if now >= x => LeaseState::Expired,
            (state, _) => state,
        }
    }
}

/// One file fetched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileFetch {
    /// When the transfer ended.
    pub at: UnixMillis,
    /// The path asked for.
    pub path: String,
    /// TFTP, HTTP or HTTPS.
    pub protocol: Protocol,
    /// Bytes sent.
    pub bytes: u64,
    /// How it ended.
    pub outcome: Outcome,
    /// The chain step it is, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<Step>,
}

/// The device's last NTP request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NtpSeen {
    /// When.
    pub at: UnixMillis,
    /// NTP version.
    pub version: u8,
    /// Key id, if the request carried a MAC.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<u32>,
    /// Authentication result.
    pub auth: AuthResult,
    /// Kiss code sent, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kod: Option<String>,
}

/// One boot: from a DISCOVER (or an ACK with no boot under way) to the next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Boot {
    /// Its first DHCP message.
    pub started: UnixMillis,
    /// Its first ACK.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leased: Option<UnixMillis>,
    /// The address acknowledged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<Ipv4Addr>,
    /// Chain steps fetched successfully.
    pub done: StepSet,
    /// Chain steps whose last fetch was not found or denied.
    pub failed: StepSet,
    /// When the last required step was done.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed: Option<UnixMillis>,
    /// The first NTP request after the lease.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_ntp: Option<UnixMillis>,
    /// Files fetched (the last [`crate::InventoryConfig::files_per_boot`]).
    pub files: VecDeque<FileFetch>,
    /// Files left out of `files` for the bound.
    pub files_dropped: u32,
}

impl Boot {
    pub(crate) fn new(started: UnixMillis) -> Self {
        Boot {
            started,
            leased: None,
            ip: None,
            done: StepSet::EMPTY,
            failed: StepSet::EMPTY,
            completed: None,
            first_ntp: None,
            files: VecDeque::new(),
            files_dropped: 0,
        }
    }

    /// Records a fetch and moves the chain: a success clears an earlier
    /// failure of the same step (the device retried), a not-found or denied
    /// marks the step failed. Other outcomes (errors, aborts) leave the
    /// step as it was: an aborted image read is an AudioCodes phone on
    /// current firmware, and an error is retried by the device.
    pub(crate) fn record_fetch(&mut self, fetch: FileFetch, keep: usize) {
        if let Some(step) = fetch.step {
            match fetch.outcome {
                Outcome::Ok => {
                    self.done.insert(step);
                    self.failed.remove(step);
                }
                Outcome::NotFound | Outcome::Denied => self.failed.insert(step),
                Outcome::Error | Outcome::Aborted => {}
            }
        }
        if keep == 0 {
            self.files_dropped = self.files_dropped.saturating_add(1);
            return;
        }
        if self.files.len() >= keep {
            self.files.pop_front();
            self.files_dropped = self.files_dropped.saturating_add(1);
        }
        self.files.push_back(fetch);
    }

    /// Marks the boot complete once `required` is covered after a lease.
    pub(crate) fn check_complete(&mut self, required: StepSet, at: UnixMillis) {
        if self.completed.is_none() && self.leased.is_some() && self.done.covers(required) {
            self.completed = Some(at);
        }
    }
}

/// One device, keyed by MAC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Device {
    /// The key.
    pub mac: Mac,
    /// Vendor of the OUI (embedded table).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vendor: Option<&'static str>,
    /// Kind, from option 60 or the OUI.
    pub kind: DeviceKind,
    /// Model: User-Agent, options 77/60, image name, in that precedence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Firmware: User-Agent, else the version in a fully fetched image's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub firmware: Option<String>,
    /// Option 12.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Option 60.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vendor_class: Option<String>,
    /// Option 77.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_class: Option<String>,
    /// Option 55.
    pub parameter_request: Vec<u8>,
    /// giaddr of its last relayed message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relay: Option<Ipv4Addr>,
    /// Class matched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    /// Profile applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// Option 67 / `file` of its last offer or ack.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub boot_file: Option<String>,
    /// Address and lease.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease: Option<Lease>,
    /// Last NTP request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_ntp: Option<NtpSeen>,
    /// First event.
    pub first_seen: UnixMillis,
    /// Last event the device caused.
    pub last_contact: UnixMillis,
    /// Boots, oldest first (the last [`crate::InventoryConfig::boots_kept`]).
    pub boots: VecDeque<Boot>,
}

impl Device {
    pub(crate) fn new(mac: Mac, at: UnixMillis) -> Self {
        Device {
            mac,
            vendor: crate::vendor::vendor_of(mac),
            kind: crate::vendor::kind_of(mac, None),
            model: None,
            firmware: None,
            hostname: None,
            vendor_class: None,
            user_class: None,
            parameter_request: Vec::new(),
            relay: None,
            class: None,
            profile: None,
            boot_file: None,
            lease: None,
            last_ntp: None,
            first_seen: at,
            last_contact: at,
            boots: VecDeque::new(),
        }
    }

    /// The boot under way (the last one).
    pub fn current_boot(&self) -> Option<&Boot> {
        self.boots.back()
    }

    pub(crate) fn start_boot(&mut self, at: UnixMillis, keep: usize) {
        while self.boots.len() >= keep.max(1) {
            self.boots.pop_front();
        }
        self.boots.push_back(Boot::new(at));
    }
}
