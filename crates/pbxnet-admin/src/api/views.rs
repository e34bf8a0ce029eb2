//! The views the API serves, built from the inventory and the daemons'
//! answers: plain serialisable structs, so a server-rendered page (issue
//! 18) renders the same data the JSON API returns.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use pbxnet_inventory::{
    missing_steps, Device, DeviceFilter, Inventory, Mac, Outcome, SiteSummary, Step, Verdict,
    MAX_PAGE,
};
use serde::Serialize;
use serde_json::Value;

use crate::sources::{DhcpLease, PoolUse, SourceError};

/// `/site`.
#[derive(Debug, Clone, Serialize)]
pub struct SiteView {
    /// When the verdicts were judged (Unix ms).
    pub now: u64,
    /// Devices, by verdict, events, sources and licence as events told.
    #[serde(flatten)]
    pub inventory: SiteSummary,
    /// Events the publishers reported lost (verdicts near a gap may be off).
    pub events_lost: u64,
    /// dhcpd's pools (absent when dhcpd did not answer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pools: Option<Vec<PoolUse>>,
    /// ntpd's view of time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<TimeView>,
    /// licd's mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub license_mode: Option<String>,
    /// The daemons that did not answer, and why.
    pub unavailable: Vec<Unavailable>,
}

/// A daemon that did not answer.
#[derive(Debug, Clone, Serialize)]
pub struct Unavailable {
    /// `dhcpd`, …
    pub daemon: &'static str,
    /// Why.
    pub error: String,
}

impl From<SourceError> for Unavailable {
    fn from(e: SourceError) -> Self {
        let daemon = match &e {
            SourceError::Unreachable(d, _) | SourceError::Answer(d, _) => *d,
        };
        Unavailable {
            daemon: crate::names::short_name(daemon),
            error: e.to_string(),
        }
    }
}

/// Time sync in a line (from ntpd's status).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TimeView {
    /// Synchronised.
    pub synchronized: bool,
    /// Stratum served.
    pub stratum: u64,
    /// Reference id.
    pub refid: String,
    /// Leap state.
    pub leap: String,
}

impl TimeView {
    /// From ntpd's status answer.
    pub fn from_status(v: &Value) -> TimeView {
        TimeView {
            synchronized: v["synchronized"].as_bool().unwrap_or(false),
            stratum: v["stratum"].as_u64().unwrap_or(16),
            refid: v["refid"].as_str().unwrap_or_default().to_string(),
            leap: v["leap"].as_str().unwrap_or_default().to_string(),
        }
    }
}

/// `/devices/{mac}`: the record, its verdict and what its chain lacks.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceDetail<'a> {
    /// Verdict now.
    pub verdict: Verdict,
    /// Chain steps the current boot has not fetched.
    pub missing: Vec<Step>,
    /// The record, with its boots (the history, newest last).
    pub device: &'a Device,
}

/// The detail of one device.
pub fn device_detail(inv: &Inventory, mac: Mac, now: u64) -> Option<DeviceDetail<'_>> {
    let device = inv.device(mac)?;
    let missing = device
        .current_boot()
        .map(|b| {
            missing_steps(b, device.kind, inv.config())
                .steps()
                .collect()
        })
        .unwrap_or_default();
    Some(DeviceDetail {
        verdict: inv.verdict(device, now),
        missing,
        device,
    })
}

/// One file of `/files`: what the site's devices fetched under that name.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct FileView {
    /// The path asked for.
    pub path: String,
    /// Fetches (in the kept boots).
    pub fetches: u64,
    /// By outcome (`ok`, `not-found`, …).
    pub outcomes: BTreeMap<String, u64>,
    /// By protocol (`tftp`, `http`, `https`).
    pub protocols: BTreeMap<String, u64>,
    /// Bytes sent.
    pub bytes: u64,
    /// Distinct devices.
    pub devices: usize,
    /// Last fetch (Unix ms).
    pub last: u64,
}

/// The files the devices fetched (their kept boots), by path, filtered by
/// part of the path (`q`) and an outcome.
pub fn files(
    inv: &Inventory,
    now: u64,
    q: Option<&str>,
    outcome: Option<Outcome>,
) -> Vec<FileView> {
    let q = q.map(str::to_ascii_lowercase);
    let mut by_path: BTreeMap<String, (FileView, BTreeSet<Mac>)> = BTreeMap::new();
    for_each_device(inv, now, |d| {
        for boot in &d.boots {
            for f in &boot.files {
                if q.as_ref()
                    .is_some_and(|q| !f.path.to_ascii_lowercase().contains(q))
                {
                    continue;
                }
                if outcome.is_some_and(|o| o != f.outcome) {
                    continue;
                }
                let (view, macs) = by_path.entry(f.path.clone()).or_default();
                view.fetches += 1;
                *view.outcomes.entry(wire_name(&f.outcome)).or_default() += 1;
                *view.protocols.entry(wire_name(&f.protocol)).or_default() += 1;
                view.bytes += f.bytes;
                view.last = view.last.max(f.at);
                macs.insert(d.mac);
            }
        }
    });
    by_path
        .into_iter()
        .map(|(path, (mut v, macs))| {
            v.path = path;
            v.devices = macs.len();
            v
        })
        .collect()
}

/// The schema's spelling of an enum value (`not-found`).
pub fn wire_name<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Calls `f` on every device, in MAC order.
pub fn for_each_device(inv: &Inventory, now: u64, mut f: impl FnMut(&Device)) {
    let all = DeviceFilter::default();
    let mut after: Option<String> = None;
    loop {
        let Ok(page) = inv.devices(&all, after.as_deref(), MAX_PAGE, now) else {
            return;
        };
        for s in &page.devices {
            if let Some(d) = inv.device(s.mac) {
                f(d);
            }
        }
        match page.next {
            Some(n) => after = Some(n),
            None => return,
        }
    }
}

/// One line of `/leases`: dhcpd's lease joined with the inventory's record.
#[derive(Debug, Clone, Serialize)]
pub struct LeaseRow {
    /// dhcpd's view.
    #[serde(flatten)]
    pub lease: DhcpLease,
    /// The device's verdict (absent when the inventory has no record).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    /// Model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Firmware.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub firmware: Option<String>,
}

/// The filters `/leases` shares with `/devices`.
#[derive(Debug, Clone, Default)]
pub struct LeaseFilter {
    /// The device filters (verdict, class, model, firmware, q).
    pub device: DeviceFilter,
    /// Lease state.
    pub state: Option<String>,
}

/// A page of leases in address order.
#[derive(Debug, Clone, Serialize)]
pub struct LeasePage {
    /// The leases.
    pub leases: Vec<LeaseRow>,
    /// Cursor of the next page (the last address), absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<Ipv4Addr>,
}

/// Joins, filters and pages dhcpd's leases.
pub fn lease_page(
    inv: &Inventory,
    mut leases: Vec<DhcpLease>,
    filter: &LeaseFilter,
    after: Option<Ipv4Addr>,
    limit: usize,
    now: u64,
) -> LeasePage {
    leases.sort_by_key(|l| l.ip);
    let f = &filter.device;
    let same = |want: &Option<String>, got: Option<&str>| {
        want.as_ref()
            .is_none_or(|w| got.is_some_and(|g| g.eq_ignore_ascii_case(w)))
    };
    let mut rows = Vec::new();
    let mut next = None;
    for lease in leases
        .into_iter()
        .filter(|l| after.is_none_or(|a| l.ip > a))
    {
        let device = lease.mac.parse::<Mac>().ok().and_then(|m| inv.device(m));
        let verdict = device.map(|d| inv.verdict(d, now));
        let model = device.and_then(|d| d.model.clone());
        let firmware = device.and_then(|d| d.firmware.clone());
        let matches = f.verdict.is_none_or(|v| verdict == Some(v))
            && same(&f.class, Some(&lease.class))
            && same(&f.model, model.as_deref())
            && same(&f.firmware, firmware.as_deref())
            && same(&filter.state, Some(&lease.state))
            && f.search.as_deref().is_none_or(|q| lease_search(&lease, q));
        if !matches {
            continue;
        }
        if rows.len() == limit {
            next = rows.last().map(|r: &LeaseRow| r.lease.ip);
            break;
        }
        rows.push(LeaseRow {
            lease,
            verdict,
            model,
            firmware,
        });
    }
    LeasePage { leases: rows, next }
}

fn lease_search(l: &DhcpLease, q: &str) -> bool {
    let q = q.to_ascii_lowercase();
    let hex: String = q
        .chars()
        .filter(|c| !matches!(c, ':' | '-' | '.'))
        .collect();
    let mac_hex: String = l
        .mac
        .to_ascii_lowercase()
        .chars()
        .filter(|c| c.is_ascii_hexdigit())
        .collect();
    (!hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit()) && mac_hex.contains(&hex))
        || l.mac.to_ascii_lowercase().contains(&q)
        || l.ip.to_string().contains(&q)
        || l.hostname.to_ascii_lowercase().contains(&q)
}
