//! A fleet: which devices, when they power on, and running them all in one
//! namespace over one [`Stack`].

use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::device::run_device;
use crate::net::{NetError, Stack};
use crate::report::FleetReport;
use crate::spec::{DeviceSpec, Kind, RunLimits};
use crate::wire::mac_to_string;

/// Everything a fleet process needs (written as JSON by the driver).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FleetSpec {
    /// Interface in the client namespace.
    pub iface: String,
    /// Devices.
    pub devices: Vec<DeviceSpec>,
    /// Limits.
    pub limits: RunLimits,
    /// Seed of every device's randomness (xid, ports, jitter).
    pub seed: u64,
}

/// How many of each kind, and over how long they power on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Mix {
    /// AudioCodes 400HD phones.
    pub audiocodes: usize,
    /// ALE IP phones.
    pub ale: usize,
    /// Generic SIP phones.
    pub sip: usize,
    /// OmniSwitches.
    pub switches: usize,
    /// Stellar APs.
    pub aps: usize,
    /// Power-on spread, ms (devices evenly spaced over it).
    pub window_ms: u64,
}

const AUDIOCODES_MODELS: [&str; 4] = ["450HD", "420HD", "440HD", "405HD"];

/// The AudioCodes firmware version the fleet's phones "have" unless they
/// are due for an upgrade; the demo and the benchmark serve this version,
/// so most phones abort after the header.
pub(crate) const CURRENT_FIRMWARE: &str = "3.4.8";
/// What a phone due for an upgrade runs.
pub(crate) const OLD_FIRMWARE: &str = "3.4.2";

/// Each vendor's MAC prefix.
const AUDIOCODES_OUI: [u8; 3] = [0x00, 0x90, 0x8f];
const ALE_OUI: [u8; 3] = [0x00, 0x80, 0x9f];
const SIP_OUI: [u8; 3] = [0x00, 0x04, 0x13];
const OMNISWITCH_OUI: [u8; 3] = [0x00, 0xe0, 0xb1];
const STELLAR_OUI: [u8; 3] = [0x34, 0xe7, 0x0b];

/// Builds a fleet: MACs from each vendor's range (AudioCodes 00:90:8f,
/// ALE phones 00:80:9f, SIP phones 00:04:13, OmniSwitches 00:e0:b1, Stellar
/// 34:e7:0b), a mix of models, one AudioCodes phone in three running
/// firmware older than the server's, one in four ignoring option 160.
pub(crate) fn build(mix: Mix) -> Vec<DeviceSpec> {
    let mut v: Vec<DeviceSpec> = audiocodes_phones(mix.audiocodes)
        .chain(devices(Kind::AlePhone, mix.ale, ALE_OUI, |_| "8068s"))
        .chain(devices(Kind::SipPhone, mix.sip, SIP_OUI, |_| "T46"))
        .chain(devices(
            Kind::Omniswitch,
            mix.switches,
            OMNISWITCH_OUI,
            |i| if i % 2 == 0 { "OS6450" } else { "OS6360" },
        ))
        .chain(devices(Kind::Stellar, mix.aps, STELLAR_OUI, |_| {
            "OAW-AP1221"
        }))
        .collect();
    spread_power_on(&mut v, mix.window_ms);
    v
}

/// `n` AudioCodes phones: models in turn, one in three on older firmware,
/// one in four ignoring option 160.
fn audiocodes_phones(n: usize) -> impl Iterator<Item = DeviceSpec> {
    (0..n).map(|i| {
        // The first one is the example site's phone with its own config file.
        let mac = if i == 0 {
            [0x00, 0x90, 0x8f, 0x61, 0xa0, 0x22]
        } else {
            vendor_mac(AUDIOCODES_OUI, i)
        };
        let model = AUDIOCODES_MODELS[i % AUDIOCODES_MODELS.len()];
        let fw = if i % 3 == 2 {
            OLD_FIRMWARE
        } else {
            CURRENT_FIRMWARE
        };
        DeviceSpec {
            firmware_version: Some(fw.into()),
            ignores_160: i % 4 == 3,
            ..device(Kind::Audiocodes, i, model, mac)
        }
    })
}

/// `n` devices of a kind without quirks, the `i`-th of model `model(i)`.
fn devices(
    kind: Kind,
    n: usize,
    oui: [u8; 3],
    model: fn(usize) -> &'static str,
) -> impl Iterator<Item = DeviceSpec> {
    (0..n).map(move |i| device(kind, i, model(i), vendor_mac(oui, i)))
}

/// The `i`-th address of a vendor's range: `<oui>:70:<i>`.
fn vendor_mac(oui: [u8; 3], i: usize) -> [u8; 6] {
    [oui[0], oui[1], oui[2], 0x70, (i >> 8) as u8, i as u8]
}

/// The `i`-th device of a kind (`ac-01`, `sw-02` …), powering on at the
/// fleet's start.
fn device(kind: Kind, i: usize, model: &str, mac: [u8; 6]) -> DeviceSpec {
    let prefix = match kind {
        Kind::Audiocodes => "ac",
        Kind::AlePhone => "ale",
        Kind::SipPhone => "sip",
        Kind::Omniswitch => "sw",
        Kind::Stellar => "ap",
    };
    DeviceSpec {
        name: format!("{prefix}-{:02}", i + 1),
        kind,
        model: model.into(),
        mac: mac_to_string(&mac),
        firmware_version: None,
        ignores_160: false,
        lync: false,
        recovery: false,
        linger_after_abort_ms: 0,
        power_on_ms: 0,
    }
}

/// Interleaves kinds over the power-on window (a site powering on).
fn spread_power_on(v: &mut [DeviceSpec], window_ms: u64) {
    let n = v.len().max(1) as u64;
    let mut order: Vec<usize> = (0..v.len()).collect();
    order.sort_by_key(|&i| (i * 7919) % v.len().max(1));
    for (slot, &i) in order.iter().enumerate() {
        v[i].power_on_ms = window_ms * slot as u64 / n;
    }
}

/// Runs every device (one thread each) and collects the reports.
pub(crate) fn run(spec: &FleetSpec) -> Result<FleetReport, NetError> {
    let stack = Stack::open(&spec.iface)?;
    let start = Instant::now();
    let reports = std::thread::scope(|s| {
        let handles: Vec<_> = spec
            .devices
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let stack = &stack;
                let seed = spec
                    .seed
                    .wrapping_mul(0x9e37_79b9_7f4a_7c15)
                    .wrapping_add(i as u64);
                std::thread::Builder::new()
                    .stack_size(256 << 10)
                    .spawn_scoped(s, move || run_device(stack, d, spec.limits, seed, start))
                    .expect("spawn device thread")
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("device thread"))
            .collect::<Vec<_>>()
    });
    let wall_ms = start.elapsed().as_secs_f64() * 1000.0;
    let last_provisioned_ms = reports
        .iter()
        .filter(|r| r.ok)
        .map(|r| r.power_on_ms + r.total_ms)
        .fold(0.0, f64::max);
    let stats = stack.stats();
    let report = FleetReport {
        wall_ms,
        last_provisioned_ms,
        frames: stats.frames.load(std::sync::atomic::Ordering::Relaxed),
        arp_replies: stats.arp_replies.load(std::sync::atomic::Ordering::Relaxed),
        devices: reports,
    };
    stack.shutdown();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fleet_macs_are_unique_and_vendor_ranged() {
        let v = build(Mix {
            audiocodes: 300,
            ale: 20,
            sip: 20,
            switches: 16,
            aps: 64,
            window_ms: 1000,
        });
        assert_eq!(v.len(), 420);
        let mut macs: Vec<_> = v.iter().map(|d| d.mac.clone()).collect();
        macs.sort();
        macs.dedup();
        assert_eq!(macs.len(), 420);
        assert!(v
            .iter()
            .filter(|d| d.kind == Kind::Audiocodes)
            .all(|d| d.mac.starts_with("00:90:8f")));
        assert!(v
            .iter()
            .filter(|d| d.kind == Kind::Omniswitch)
            .all(|d| d.mac.starts_with("00:e0:b1")));
        assert!(v.iter().all(|d| d.power_on_ms < 1000));
        assert_eq!(v[0].mac, "00:90:8f:61:a0:22");
    }
}
