//! Boot verdicts: what the operator needs to know about a device's last
//! boot, judged at a time the caller gives.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::chain::{ChainNames, StepSet};
use crate::event::UnixMillis;
use crate::record::{Boot, Device};
use crate::vendor::DeviceKind;

/// The verdict on a device's last boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Within its time: no lease yet, or the chain (or the time request)
    /// still under way.
    Booting,
    /// The chain is complete (and, for kinds that use NTP, it asked for time).
    Provisioned,
    /// A lease but the chain not complete within `stuck_after_ms` of it.
    StuckAfterLease,
    /// A chain file was not found or denied (and not fetched since).
    FileError,
    /// Provisioned but no NTP request within `no_time_after_ms`.
    NoTime,
    /// DHCP messages but no lease within `no_lease_after_ms` of the first.
    NoLease,
}

impl Verdict {
    /// Every verdict, in the summary's order.
    pub const ALL: [Verdict; 6] = [
        Verdict::Provisioned,
        Verdict::Booting,
        Verdict::StuckAfterLease,
        Verdict::FileError,
        Verdict::NoTime,
        Verdict::NoLease,
    ];

    /// The API spelling (`stuck-after-lease`).
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Booting => "booting",
            Verdict::Provisioned => "provisioned",
            Verdict::StuckAfterLease => "stuck-after-lease",
            Verdict::FileError => "file-error",
            Verdict::NoTime => "no-time",
            Verdict::NoLease => "no-lease",
        }
    }

    /// Parses the API spelling.
    pub fn parse(text: &str) -> Option<Verdict> {
        Verdict::ALL.into_iter().find(|v| v.as_str() == text)
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The times the verdicts wait, and the inventory's bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryConfig {
    /// From the lease to `stuck after lease` when the chain is incomplete.
    pub stuck_after_ms: u64,
    /// From the chain's completion to `no time` without an NTP request.
    pub no_time_after_ms: u64,
    /// From the first DHCP message of a boot to `no lease` without an ACK.
    pub no_lease_after_ms: u64,
    /// Boots kept per device.
    pub boots_kept: usize,
    /// Files kept per boot.
    pub files_per_boot: usize,
    /// Unattributed events kept (all are counted).
    pub unattributed_kept: usize,
    /// The chains' file names.
    pub chains: ChainNames,
}

impl Default for InventoryConfig {
    /// 5 min to stuck (an OmniSwitch fetching a large configuration over a
    /// slow link), 2 min to no time (the phones ask within seconds), 1 min
    /// to no lease (clients retry DISCOVER every few seconds).
    fn default() -> Self {
        InventoryConfig {
            stuck_after_ms: 300_000,
            no_time_after_ms: 120_000,
            no_lease_after_ms: 60_000,
            boots_kept: 32,
            files_per_boot: 16,
            unattributed_kept: 64,
            chains: ChainNames::default(),
        }
    }
}

/// The verdict on one boot of a device of `kind`, at `now`. A file error
/// wins (it names the fault); a complete chain is provisioned unless time
/// is missing; otherwise the clocks since the lease or the first message
/// decide between booting and stuck.
pub fn boot_verdict(
    boot: &Boot,
    kind: DeviceKind,
    cfg: &InventoryConfig,
    now: UnixMillis,
) -> Verdict {
    if !boot.failed.is_empty() {
        return Verdict::FileError;
    }
    let waited = |since: UnixMillis, limit: u64| now.saturating_sub(since) >= limit;
    match (boot.leased, boot.completed) {
        (_, Some(done)) => {
            if !kind.uses_ntp() || boot.first_ntp.is_some() {
                Verdict::Provisioned
            } else if waited(done, cfg.no_time_after_ms) {
                Verdict::NoTime
            } else {
                Verdict::Booting
            }
        }
        (Some(leased), None) if waited(leased, cfg.stuck_after_ms) => Verdict::StuckAfterLease,
        (None, None) if waited(boot.started, cfg.no_lease_after_ms) => Verdict::NoLease,
        _ => Verdict::Booting,
    }
}

/// The verdict on a device: that of its last boot (a device known only
/// from transfers before its lease, with no boot, is booting).
pub fn device_verdict(device: &Device, cfg: &InventoryConfig, now: UnixMillis) -> Verdict {
    device
        .current_boot()
        .map_or(Verdict::Booting, |b| boot_verdict(b, device.kind, cfg, now))
}

/// The steps still missing from a boot's chain (for the record view).
pub fn missing_steps(boot: &Boot, kind: DeviceKind, cfg: &InventoryConfig) -> StepSet {
    cfg.chains
        .required(kind)
        .steps()
        .filter(|s| !boot.done.contains(*s))
        .collect()
}
