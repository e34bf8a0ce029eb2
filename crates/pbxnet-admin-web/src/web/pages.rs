//! The read-only pages: site, devices, device, leases, time, files.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;

use pbxnet_inventory::{DeviceFilter, Envelope, Inventory, Mac, UnixMillis, Verdict};

use super::state::{Fetched, Viewer, Web};
use crate::device::{self, FileView};
use crate::devices::{self, DevicesQuery, PAGE_SIZE};
use crate::format::{self, spelled};
use crate::model::{ClientRow, LicenseView, PoolUsage, SiteData, SourceRow, Tracking};
use crate::plot;

#[derive(Serialize)]
struct Bar {
    verdict: &'static str,
    count: usize,
    pct: String,
}

#[derive(Serialize)]
struct SiteBlock {
    devices: usize,
    bars: Vec<Bar>,
    events: u64,
    lost: u64,
    unattributed: u64,
}

#[derive(Serialize)]
struct PoolRow {
    name: String,
    used: u64,
    total: u64,
    pct: String,
    high: bool,
}

/// Above this share of a pool in use, the bar turns to the warning colour.
const POOL_WARN_PCT: f64 = 90.0;

fn pool_row(p: PoolUsage) -> PoolRow {
    let pct = if p.total == 0 {
        0.0
    } else {
        p.used as f64 * 100.0 / p.total as f64
    };
    PoolRow {
        pct: format!("{pct:.1}"),
        high: pct > POOL_WARN_PCT,
        name: p.name,
        used: p.used,
        total: p.total,
    }
}

#[derive(Serialize)]
struct TimeBlock {
    synchronized: bool,
    stratum: u8,
    selected: Option<String>,
    offset: Option<String>,
    last_sync: Option<String>,
    leap: String,
}

fn time_block(t: Tracking) -> TimeBlock {
    TimeBlock {
        synchronized: t.synchronized,
        stratum: t.stratum,
        selected: t.selected,
        offset: t.offset_s.map(format::offset),
        last_sync: t.last_sync.map(format::time),
        leap: t.leap,
    }
}

/// An event as the live list shows it (also the SSE payload).
#[derive(Debug, Serialize)]
pub(crate) struct EventRow {
    iso: String,
    time: String,
    daemon: String,
    text: String,
}

pub(crate) fn event_row(e: &Envelope) -> EventRow {
    EventRow {
        iso: format::iso(e.at),
        time: format::clock(e.at),
        daemon: spelled(&e.daemon),
        text: format::event_text(e),
    }
}

/// Every device MAC, in order.
fn all_macs(inv: &Inventory, now: UnixMillis) -> Vec<Mac> {
    devices::matching(inv, &DeviceFilter::default(), now)
        .iter()
        .map(|d| d.mac)
        .collect()
}

fn site_block(inv: &Inventory, now: UnixMillis) -> SiteBlock {
    let s = inv.site(now);
    let bars = Verdict::ALL
        .iter()
        .map(|v| {
            let count = s.by_verdict.get(v).copied().unwrap_or(0);
            let pct = if s.devices == 0 {
                0.0
            } else {
                count as f64 * 100.0 / s.devices as f64
            };
            Bar {
                verdict: v.as_str(),
                count,
                pct: format!("{pct:.2}"),
            }
        })
        .collect();
    SiteBlock {
        devices: s.devices,
        bars,
        events: s.events,
        lost: inv.events_lost(),
        unattributed: s.unattributed,
    }
}

pub(super) async fn site<S: SiteData>(State(web): State<Arc<Web<S>>>, viewer: Viewer) -> Response {
    #[derive(Serialize)]
    struct Body {
        site: SiteBlock,
        pools: Fetched<Vec<PoolRow>>,
        time: Fetched<TimeBlock>,
        license: Fetched<LicenseView>,
        plot: String,
        events: Vec<EventRow>,
    }
    let data = &web.data;
    let now = data.now();
    let (site, activity) = data.with_inventory(|inv| {
        let macs = all_macs(inv, now);
        (
            site_block(inv, now),
            plot::activity(inv, macs.into_iter(), now),
        )
    });
    let (pools, tracking, license) = tokio::join!(data.pools(), data.tracking(), data.license());
    let body = Body {
        site,
        pools: pools.map(|p| p.into_iter().map(pool_row).collect()).into(),
        time: tracking.map(time_block).into(),
        license: license.into(),
        plot: plot::render(&activity),
        events: data.recent_events(20).iter().map(event_row).collect(),
    };
    web.render(StatusCode::OK, "site.html", "site", Some(&viewer), body)
}

#[derive(Serialize)]
struct DeviceRow {
    mac: String,
    key: String,
    model: Option<String>,
    firmware: Option<String>,
    ip: Option<Ipv4Addr>,
    class: Option<String>,
    profile: Option<String>,
    verdict: &'static str,
    last: String,
    last_iso: String,
}

#[derive(Serialize)]
struct Select {
    name: &'static str,
    label: &'static str,
    value: String,
    options: Vec<String>,
}

#[derive(Serialize)]
struct Filters {
    q: String,
}

#[derive(Serialize)]
struct DevicesBody {
    error: Option<String>,
    filters: Filters,
    filtered: bool,
    selects: Vec<Select>,
    sort: &'static str,
    dir: &'static str,
    columns: Vec<devices::Column>,
    rows: Vec<DeviceRow>,
    total: usize,
    first: usize,
    last: usize,
    page: usize,
    pages: usize,
    prev_href: Option<String>,
    next_href: Option<String>,
}

fn devices_body(inv: &Inventory, query: &DevicesQuery, now: UnixMillis) -> DevicesBody {
    let all = devices::matching(inv, &DeviceFilter::default(), now);
    let [classes, models, firmwares] = devices::choices(&all);
    let f = &query.filter;
    let filtered = *f != DeviceFilter::default();
    let mut matched = if filtered {
        devices::matching(inv, f, now)
    } else {
        all
    };
    devices::sort(&mut matched, query.sort, query.desc);
    let total = matched.len();
    let pages = devices::page_count(total);
    let (page, slice) = devices::page_of(&matched, query.page);
    let rows = slice
        .iter()
        .map(|d| DeviceRow {
            mac: d.mac.to_string(),
            key: d.mac.compact(),
            model: d.model.clone(),
            firmware: d.firmware.clone(),
            ip: d.ip,
            class: d.class.clone(),
            profile: inv.device(d.mac).and_then(|r| r.profile.clone()),
            verdict: d.verdict.as_str(),
            last: format::time(d.last_contact),
            last_iso: format::iso(d.last_contact),
        })
        .collect();
    let select =
        |name, label, value: &Option<String>, options: std::collections::BTreeSet<String>| Select {
            name,
            label,
            value: value.clone().unwrap_or_default(),
            options: options.into_iter().collect(),
        };
    let verdicts = Verdict::ALL
        .iter()
        .map(|v| v.as_str().to_string())
        .collect();
    let verdict = f.verdict.map(|v| v.as_str().to_string());
    DevicesBody {
        error: None,
        filters: Filters {
            q: f.search.clone().unwrap_or_default(),
        },
        filtered,
        selects: vec![
            select("verdict", "Verdict", &verdict, verdicts),
            select("class", "Class", &f.class, classes),
            select("model", "Model", &f.model, models),
            select("firmware", "Firmware", &f.firmware, firmwares),
        ],
        sort: query.sort.name(),
        dir: if query.desc { "desc" } else { "asc" },
        columns: devices::columns(query),
        rows,
        total,
        first: if total == 0 {
            0
        } else {
            (page - 1) * PAGE_SIZE + 1
        },
        last: ((page - 1) * PAGE_SIZE + slice.len()),
        page,
        pages,
        prev_href: (page > 1).then(|| query.href(query.sort, query.desc, page - 1)),
        next_href: (page < pages).then(|| query.href(query.sort, query.desc, page + 1)),
    }
}

pub(super) async fn devices<S: SiteData>(
    State(web): State<Arc<Web<S>>>,
    viewer: Viewer,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let now = web.data.now();
    let (query, error) = match DevicesQuery::from_params(&params) {
        Ok(q) => (q, None),
        Err(e) => (DevicesQuery::default(), Some(e.to_string())),
    };
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let mut body = web
        .data
        .with_inventory(|inv| devices_body(inv, &query, now));
    body.error = error;
    web.render(status, "devices.html", "devices", Some(&viewer), body)
}

pub(super) async fn device<S: SiteData>(
    State(web): State<Arc<Web<S>>>,
    viewer: Viewer,
    Path(key): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    #[derive(Serialize)]
    struct Body {
        d: device::DeviceView,
        may_mutate: bool,
        notice: Option<String>,
    }
    let now = web.data.now();
    let Ok(mac) = key.parse::<Mac>() else {
        let msg = format!("{key:?} is not a MAC address.");
        return web.error(
            StatusCode::BAD_REQUEST,
            Some(&viewer),
            "No such device",
            &msg,
        );
    };
    let view = web.data.with_inventory(|inv| {
        inv.device(mac)
            .map(|d| device::view(d, inv.verdict(d, now), inv.config(), now))
    });
    let Some(d) = view else {
        let msg = format!(
            "The inventory has no device {mac}: it has sent nothing since the inventory began."
        );
        return web.error(StatusCode::NOT_FOUND, Some(&viewer), "No such device", &msg);
    };
    let notice = q
        .get("released")
        .map(|ip| format!("The lease of {ip} was released."));
    let body = Body {
        d,
        may_mutate: viewer.role.may_mutate(),
        notice,
    };
    web.render(
        StatusCode::OK,
        "device.html",
        "devices",
        Some(&viewer),
        body,
    )
}

#[derive(Serialize)]
struct LeaseLine {
    ip: Ipv4Addr,
    mac: String,
    key: String,
    hostname: Option<String>,
    state: String,
    expires: Option<String>,
    class: Option<String>,
}

/// Leases shown at most on the page (the search narrows them).
const LEASES_SHOWN: usize = 500;

pub(super) async fn leases<S: SiteData>(
    State(web): State<Arc<Web<S>>>,
    viewer: Viewer,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    #[derive(Serialize)]
    struct Body {
        leases: Fetched<()>,
        q: String,
        total: usize,
        rows: Vec<LeaseLine>,
    }
    let q = params
        .get("q")
        .map(|s| s.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let (leases, rows, total) = match web.data.leases().await {
        Ok(mut all) => {
            all.retain(|l| {
                q.is_empty()
                    || l.ip.to_string().contains(&q)
                    || l.mac.to_string().contains(&q)
                    || l.mac.compact().contains(&q.replace([':', '-'], ""))
                    || l.hostname
                        .as_deref()
                        .is_some_and(|h| h.to_ascii_lowercase().contains(&q))
            });
            all.sort_by_key(|l| l.ip);
            let total = all.len();
            let rows = all
                .into_iter()
                .take(LEASES_SHOWN)
                .map(|l| LeaseLine {
                    ip: l.ip,
                    mac: l.mac.to_string(),
                    key: l.mac.compact(),
                    hostname: l.hostname,
                    state: l.state,
                    expires: l.expires.map(format::time),
                    class: l.class,
                })
                .collect();
            (Ok(()), rows, total)
        }
        Err(e) => (Err(e), Vec::new(), 0),
    };
    let body = Body {
        leases: leases.into(),
        q,
        total,
        rows,
    };
    web.render(StatusCode::OK, "leases.html", "leases", Some(&viewer), body)
}

#[derive(Serialize)]
struct SourceLine {
    name: String,
    state: String,
    stratum: Option<u8>,
    offset: Option<String>,
    delay: Option<String>,
}

#[derive(Serialize)]
struct ClientLine {
    ip: Ipv4Addr,
    mac: Option<String>,
    key: Option<String>,
    requests: u64,
    dropped: u64,
    last: String,
}

fn source_line(s: SourceRow) -> SourceLine {
    SourceLine {
        name: s.name,
        state: s.state,
        stratum: s.stratum,
        offset: s.offset_s.map(format::offset),
        delay: s
            .delay_s
            .map(|d| format::offset(d).trim_start_matches('+').to_string()),
    }
}

fn client_lines(clients: Vec<ClientRow>, holders: &BTreeMap<Ipv4Addr, Mac>) -> Vec<ClientLine> {
    clients
        .into_iter()
        .map(|c| {
            let mac = c.mac.or_else(|| holders.get(&c.ip).copied());
            ClientLine {
                ip: c.ip,
                mac: mac.map(|m| m.to_string()),
                key: mac.map(|m| m.compact()),
                requests: c.requests,
                dropped: c.dropped,
                last: format::ago(c.last_s),
            }
        })
        .collect()
}

pub(super) async fn ntp<S: SiteData>(State(web): State<Arc<Web<S>>>, viewer: Viewer) -> Response {
    #[derive(Serialize)]
    struct Body {
        tracking: Fetched<TimeBlock>,
        sources: Fetched<Vec<SourceLine>>,
        clients: Fetched<Vec<ClientLine>>,
    }
    let data = &web.data;
    let now = data.now();
    let (tracking, sources, clients) =
        tokio::join!(data.tracking(), data.sources(), data.clients());
    let holders: BTreeMap<Ipv4Addr, Mac> = data.with_inventory(|inv| {
        devices::matching(inv, &DeviceFilter::default(), now)
            .iter()
            .filter_map(|d| d.ip.map(|ip| (ip, d.mac)))
            .collect()
    });
    let body = Body {
        tracking: tracking.map(time_block).into(),
        sources: sources
            .map(|s| s.into_iter().map(source_line).collect())
            .into(),
        clients: clients.map(|c| client_lines(c, &holders)).into(),
    };
    web.render(StatusCode::OK, "ntp.html", "ntp", Some(&viewer), body)
}

/// Transfers shown on the files page.
const FILES_SHOWN: usize = 200;

pub(super) async fn files<S: SiteData>(State(web): State<Arc<Web<S>>>, viewer: Viewer) -> Response {
    #[derive(Serialize)]
    struct Row {
        mac: String,
        key: String,
        #[serde(flatten)]
        file: FileView,
    }
    #[derive(Serialize)]
    struct Unattr {
        time: String,
        daemon: String,
        ip: Ipv4Addr,
        path: Option<String>,
    }
    #[derive(Serialize)]
    struct Body {
        rows: Vec<Row>,
        unattributed: Vec<Unattr>,
        unattributed_total: u64,
    }
    let now = web.data.now();
    let body = web.data.with_inventory(|inv| {
        let mut fetches = Vec::new();
        for mac in all_macs(inv, now) {
            let Some(boot) = inv.device(mac).and_then(|d| d.current_boot()) else {
                continue;
            };
            fetches.extend(boot.files.iter().map(|f| (f.at, mac, f)));
        }
        fetches.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let rows = fetches
            .into_iter()
            .take(FILES_SHOWN)
            .map(|(_, mac, f)| Row {
                mac: mac.to_string(),
                key: mac.compact(),
                file: FileView::of(f),
            })
            .collect();
        let mut kept: Vec<_> = inv.unattributed().collect();
        kept.reverse();
        let unattributed = kept
            .into_iter()
            .map(|u| Unattr {
                time: format::time(u.at),
                daemon: spelled(&u.daemon),
                ip: u.ip,
                path: u.path.clone(),
            })
            .collect();
        Body {
            rows,
            unattributed,
            unattributed_total: inv.unattributed_count(),
        }
    });
    web.render(StatusCode::OK, "files.html", "files", Some(&viewer), body)
}
