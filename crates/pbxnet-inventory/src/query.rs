//! The queries the management API answers, pure: filtered, paginated
//! device lists in MAC order and the site summary, judged at a given time.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::ops::Bound;

use serde::Serialize;

use crate::event::{LicenseEvent, NtpSourceEvent, UnixMillis};
use crate::inventory::Inventory;
use crate::mac::Mac;
use crate::record::{Device, LeaseState};
use crate::vendor::DeviceKind;
use crate::verdict::{device_verdict, Verdict};

/// Largest page the API hands out.
pub const MAX_PAGE: usize = 1000;

/// Filters of `/devices`; every one given must match. Text filters ignore
/// ASCII case.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceFilter {
    /// Exact verdict.
    pub verdict: Option<Verdict>,
    /// Exact class name.
    pub class: Option<String>,
    /// Exact model.
    pub model: Option<String>,
    /// Exact firmware version.
    pub firmware: Option<String>,
    /// Part of the MAC (any separators or none), the address or the hostname.
    pub search: Option<String>,
}

/// A query the inventory cannot answer as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// The cursor is not one this inventory handed out.
    #[error("cursor: not a device cursor: {0:?}")]
    BadCursor(String),
    /// The page size is 0 or above [`MAX_PAGE`].
    #[error("limit: {0} is outside 1..={MAX_PAGE}")]
    BadLimit(usize),
}

/// One line of `/devices`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceSummary {
    /// The key.
    pub mac: Mac,
    /// Verdict at the time of the query.
    pub verdict: Verdict,
    /// Kind.
    pub kind: DeviceKind,
    /// OUI vendor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vendor: Option<&'static str>,
    /// Model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Firmware.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub firmware: Option<String>,
    /// Class.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    /// Address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<Ipv4Addr>,
    /// Lease state at the time of the query.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease: Option<LeaseState>,
    /// Hostname.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Last contact.
    pub last_contact: UnixMillis,
}

/// One page of devices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DevicePage {
    /// The devices, in MAC order.
    pub devices: Vec<DeviceSummary>,
    /// Cursor of the next page, absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// `/site`: counts by verdict and the site-wide state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SiteSummary {
    /// Devices known.
    pub devices: usize,
    /// Devices per verdict (every verdict present; the counts sum to `devices`).
    pub by_verdict: BTreeMap<Verdict, usize>,
    /// Transfers and NTP requests no lease accounted for.
    pub unattributed: u64,
    /// Events applied.
    pub events: u64,
    /// The NTP client's sources, by name.
    pub ntp_sources: BTreeMap<String, NtpSourceEvent>,
    /// The last licence event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub license: Option<LicenseEvent>,
}

impl DeviceFilter {
    fn matches(&self, d: &Device, verdict: Verdict) -> bool {
        let same = |want: &Option<String>, got: &Option<String>| match (want, got) {
            (None, _) => true,
            (Some(w), Some(g)) => w.eq_ignore_ascii_case(g),
            (Some(_), None) => false,
        };
        self.verdict.is_none_or(|v| v == verdict)
            && same(&self.class, &d.class)
            && same(&self.model, &d.model)
            && same(&self.firmware, &d.firmware)
            && self.search.as_deref().is_none_or(|s| search_matches(d, s))
    }
}

fn search_matches(d: &Device, search: &str) -> bool {
    let s = search.to_ascii_lowercase();
    let hex: String = s
        .chars()
        .filter(|c| !matches!(c, ':' | '-' | '.'))
        .collect();
    let mac_hit = !hex.is_empty()
        && hex.chars().all(|c| c.is_ascii_hexdigit())
        && d.mac.compact().contains(&hex);
    let ip_hit = d
        .lease
        .as_ref()
        .is_some_and(|l| l.ip.to_string().contains(&s));
    let host_hit = d
        .hostname
        .as_ref()
        .is_some_and(|h| h.to_ascii_lowercase().contains(&s));
    mac_hit || ip_hit || host_hit || d.mac.to_string().contains(&s)
}

fn summary(d: &Device, verdict: Verdict, now: UnixMillis) -> DeviceSummary {
    DeviceSummary {
        mac: d.mac,
        verdict,
        kind: d.kind,
        vendor: d.vendor,
        model: d.model.clone(),
        firmware: d.firmware.clone(),
        class: d.class.clone(),
        ip: d.lease.as_ref().map(|l| l.ip),
        lease: d.lease.as_ref().map(|l| l.state_at(now)),
        hostname: d.hostname.clone(),
        last_contact: d.last_contact,
    }
}

impl Inventory {
    /// The verdict on a device at `now`.
    pub fn verdict(&self, device: &Device, now: UnixMillis) -> Verdict {
        device_verdict(device, &self.cfg, now)
    }

    /// Devices matching `filter` after the cursor `after` (exclusive), at
    /// most `limit`, in MAC order. The cursor is the MAC's 12 hex digits,
    /// so a page boundary stays put while devices are added.
    pub fn devices(
        &self,
        filter: &DeviceFilter,
        after: Option<&str>,
        limit: usize,
        now: UnixMillis,
    ) -> Result<DevicePage, QueryError> {
        if limit == 0 || limit > MAX_PAGE {
            return Err(QueryError::BadLimit(limit));
        }
        let start = match after {
            Some(c) => {
                let mac = parse_cursor(c)?;
                Bound::Excluded(mac)
            }
            None => Bound::Unbounded,
        };
        let mut devices = Vec::new();
        let mut next = None;
        for mac in self.order.range((start, Bound::Unbounded)) {
            let Some(d) = self.devices.get(mac) else {
                continue;
            };
            let verdict = self.verdict(d, now);
            if !filter.matches(d, verdict) {
                continue;
            }
            if devices.len() == limit {
                next = devices.last().map(|s: &DeviceSummary| s.mac.compact());
                break;
            }
            devices.push(summary(d, verdict, now));
        }
        Ok(DevicePage { devices, next })
    }

    /// The site summary at `now`.
    pub fn site(&self, now: UnixMillis) -> SiteSummary {
        let mut by_verdict: BTreeMap<Verdict, usize> =
            Verdict::ALL.into_iter().map(|v| (v, 0)).collect();
        for d in self.devices.values() {
            *by_verdict.entry(self.verdict(d, now)).or_default() += 1;
        }
        SiteSummary {
            devices: self.devices.len(),
            by_verdict,
            unattributed: self.unattributed_count,
            events: self.events_applied,
            ntp_sources: self.ntp_sources.clone(),
            license: self.license.clone(),
        }
    }
}

fn parse_cursor(c: &str) -> Result<Mac, QueryError> {
    let bad = || QueryError::BadCursor(c.into());
    if c.len() != 12 {
        return Err(bad());
    }
    c.parse().map_err(|_| bad())
}
