//! The devices page, pure: the query string read into a [`DevicesQuery`],
//! the inventory's filtered list sorted by any column and cut into pages of
//! [`PAGE_SIZE`]. Filtering is the inventory's own ([`DeviceFilter`], the
//! API's filter), so the page and `/api/v1/devices` always agree.

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};

use serde::Serialize;

use pbxnet_inventory::{DeviceFilter, DeviceSummary, Inventory, UnixMillis, Verdict, MAX_PAGE};

/// Devices per page.
pub const PAGE_SIZE: usize = 100;

/// A sortable column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    /// MAC (the inventory's order).
    Mac,
    /// Model.
    Model,
    /// Firmware.
    Firmware,
    /// Address (numerically).
    Ip,
    /// Class.
    Class,
    /// Verdict.
    Verdict,
    /// Last contact.
    LastContact,
}

impl SortKey {
    const ALL: [(SortKey, &'static str, &'static str); 7] = [
        (SortKey::Mac, "mac", "MAC"),
        (SortKey::Model, "model", "Model"),
        (SortKey::Firmware, "firmware", "Firmware"),
        (SortKey::Ip, "ip", "IP"),
        (SortKey::Class, "class", "Class → profile"),
        (SortKey::Verdict, "verdict", "Verdict"),
        (SortKey::LastContact, "last", "Last contact"),
    ];

    /// The query-string spelling (`last`).
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(k, _, _)| *k == self)
            .map_or("mac", |(_, n, _)| n)
    }

    fn parse(text: &str) -> Option<SortKey> {
        Self::ALL
            .iter()
            .find(|(_, n, _)| *n == text)
            .map(|(k, _, _)| *k)
    }
}

/// What the devices page was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevicesQuery {
    /// The inventory's filter.
    pub filter: DeviceFilter,
    /// Sort column.
    pub sort: SortKey,
    /// Descending.
    pub desc: bool,
    /// 1-based page.
    pub page: usize,
}

impl Default for DevicesQuery {
    fn default() -> Self {
        DevicesQuery {
            filter: DeviceFilter::default(),
            sort: SortKey::Mac,
            desc: false,
            page: 1,
        }
    }
}

/// A query parameter the page does not accept, named.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{param}: {message}")]
pub struct BadParam {
    /// The parameter.
    pub param: &'static str,
    /// What is wrong.
    pub message: String,
}

fn non_empty(params: &HashMap<String, String>, key: &str) -> Option<String> {
    params
        .get(key)
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

impl DevicesQuery {
    /// Reads the page's query parameters; empty values mean "any".
    pub fn from_params(params: &HashMap<String, String>) -> Result<Self, BadParam> {
        let bad = |param, message: String| BadParam { param, message };
        let verdict = match non_empty(params, "verdict") {
            Some(v) => Some(
                Verdict::parse(&v).ok_or_else(|| bad("verdict", format!("no verdict {v:?}")))?,
            ),
            None => None,
        };
        let sort = match non_empty(params, "sort") {
            Some(s) => SortKey::parse(&s).ok_or_else(|| bad("sort", format!("no column {s:?}")))?,
            None => SortKey::Mac,
        };
        let desc = match non_empty(params, "dir").as_deref() {
            None | Some("asc") => false,
            Some("desc") => true,
            Some(d) => return Err(bad("dir", format!("{d:?} is not asc or desc"))),
        };
        let page = match non_empty(params, "page") {
            Some(p) => p
                .parse::<usize>()
                .ok()
                .filter(|p| *p >= 1)
                .ok_or_else(|| bad("page", format!("{p:?} is not a page number")))?,
            None => 1,
        };
        Ok(DevicesQuery {
            filter: DeviceFilter {
                verdict,
                class: non_empty(params, "class"),
                model: non_empty(params, "model"),
                firmware: non_empty(params, "firmware"),
                search: non_empty(params, "q"),
            },
            sort,
            desc,
            page,
        })
    }

    /// The query string of this query with another sort or page.
    pub fn href(&self, sort: SortKey, desc: bool, page: usize) -> String {
        let f = &self.filter;
        let mut pairs: Vec<(&str, String)> = Vec::new();
        let verdict = f.verdict.map(|v| v.as_str().to_string());
        for (k, v) in [
            ("q", &f.search),
            ("verdict", &verdict),
            ("class", &f.class),
            ("model", &f.model),
            ("firmware", &f.firmware),
        ] {
            if let Some(v) = v {
                pairs.push((k, v.clone()));
            }
        }
        pairs.push(("sort", sort.name().to_string()));
        pairs.push(("dir", if desc { "desc" } else { "asc" }.to_string()));
        if page > 1 {
            pairs.push(("page", page.to_string()));
        }
        let qs: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", urlencode(v)))
            .collect();
        format!("/devices?{}", qs.join("&"))
    }
}

/// Percent-encodes a query value (everything but unreserved characters).
pub fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Every device matching `filter`, in MAC order (the inventory's pages,
/// joined).
pub fn matching(inv: &Inventory, filter: &DeviceFilter, now: UnixMillis) -> Vec<DeviceSummary> {
    let mut all = Vec::new();
    let mut after: Option<String> = None;
    // The cursor is one the inventory handed out and the limit is in
    // range, so a query error cannot happen; it would end the list.
    while let Ok(page) = inv.devices(filter, after.as_deref(), MAX_PAGE, now) {
        all.extend(page.devices);
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    all
}

fn cmp_opt<T: Ord>(a: &Option<T>, b: &Option<T>) -> Ordering {
    // Known values first, then the devices that have none.
    match (a, b) {
        (Some(a), Some(b)) => a.cmp(b),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// Sorts in place by `key` (MAC breaks ties, so pages are stable).
pub fn sort(devices: &mut [DeviceSummary], key: SortKey, desc: bool) {
    devices.sort_by(|a, b| {
        let primary = match key {
            SortKey::Mac => Ordering::Equal,
            SortKey::Model => cmp_opt(&a.model, &b.model),
            SortKey::Firmware => cmp_opt(&a.firmware, &b.firmware),
            SortKey::Ip => cmp_opt(&a.ip, &b.ip),
            SortKey::Class => cmp_opt(&a.class, &b.class),
            SortKey::Verdict => a.verdict.cmp(&b.verdict),
            SortKey::LastContact => a.last_contact.cmp(&b.last_contact),
        };
        let ord = primary.then_with(|| a.mac.cmp(&b.mac));
        if desc {
            ord.reverse()
        } else {
            ord
        }
    });
}

/// A column header: its label, the link that sorts by it, and its
/// `aria-sort` when it is the sort column.
#[derive(Debug, Clone, Serialize)]
pub struct Column {
    label: &'static str,
    href: String,
    sort: Option<&'static str>,
    narrow_hidden: bool,
}

/// The headers of the devices table for `query`: the sort column links to
/// the other direction, every other to ascending.
pub fn columns(query: &DevicesQuery) -> Vec<Column> {
    SortKey::ALL
        .iter()
        .map(|(key, _, label)| {
            let current = *key == query.sort;
            let desc = current && !query.desc;
            Column {
                label,
                href: query.href(*key, desc, 1),
                sort: current.then_some(if query.desc {
                    "descending"
                } else {
                    "ascending"
                }),
                narrow_hidden: matches!(
                    key,
                    SortKey::Model | SortKey::Firmware | SortKey::Class | SortKey::LastContact
                ),
            }
        })
        .collect()
}

/// The distinct classes, models and firmware versions (the filter choices).
pub fn choices(all: &[DeviceSummary]) -> [BTreeSet<String>; 3] {
    let mut out: [BTreeSet<String>; 3] = Default::default();
    for d in all {
        for (set, v) in out.iter_mut().zip([&d.class, &d.model, &d.firmware]) {
            if let Some(v) = v {
                set.insert(v.clone());
            }
        }
    }
    out
}

/// The number of pages for `total` devices (at least one).
pub fn page_count(total: usize) -> usize {
    total.div_ceil(PAGE_SIZE).max(1)
}

/// The slice of `page` (1-based), clamped to the last page.
pub fn page_of(devices: &[DeviceSummary], page: usize) -> (usize, &[DeviceSummary]) {
    let page = page.clamp(1, page_count(devices.len()));
    let start = (page - 1) * PAGE_SIZE;
    let end = (start + PAGE_SIZE).min(devices.len());
    (page, &devices[start.min(end)..end])
}

#[cfg(test)]
#[path = "devices_tests.rs"]
mod tests;
