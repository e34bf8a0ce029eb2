//! Handlers answered from the inventory (and, for `/site`, the daemons'
//! pool, time and licence state): `/healthz`, `/site`, `/devices`,
//! `/devices/{mac}`, `/files`, `/status`.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::Uri;
use axum::Json;
use pbxnet_inventory::{DeviceFilter, DevicePage, Mac, Outcome, Verdict, MAX_PAGE};
use serde_json::{json, Value};

use super::error::ApiError;
use super::params;
use super::state::{now_ms, AppState};
use super::views::{self, SiteView, TimeView, Unavailable};
use crate::sources;

/// Default page size of the lists.
pub(super) const DEFAULT_PAGE: usize = 100;

pub(super) async fn healthz(State(state): State<AppState>) -> Json<Value> {
    let store = state.store.status();
    Json(json!({
        "status": if store.errors == 0 { "ok" } else { "degraded" },
        "store_errors": store.errors,
    }))
}

pub(super) async fn site(
    State(state): State<AppState>,
    uri: Uri,
) -> Result<Json<SiteView>, ApiError> {
    params::parse(&uri, &[])?;
    let cfg = state.config();
    let (pools, ntp, licence) = tokio::join!(
        sources::pools(&cfg),
        sources::ntp_status(&cfg),
        sources::license(&cfg)
    );
    let mut unavailable: Vec<Unavailable> = Vec::new();
    let pools = pools.map_err(|e| unavailable.push(e.into())).ok();
    let time = ntp
        .map_err(|e| unavailable.push(e.into()))
        .ok()
        .map(|v| TimeView::from_status(&v));
    let license_mode = licence
        .map_err(|e| unavailable.push(e.into()))
        .ok()
        .and_then(|v| v["system-mode"].as_str().map(str::to_string));
    let now = now_ms();
    let inv = state.inventory.read().expect("inventory lock");
    Ok(Json(SiteView {
        now,
        inventory: inv.site(now),
        events_lost: inv.events_lost(),
        pools,
        time,
        license_mode,
        unavailable,
    }))
}

/// The device filters shared by `/devices` and `/leases`.
pub(super) fn device_filter(p: &BTreeMap<String, String>) -> Result<DeviceFilter, ApiError> {
    let verdict = match p.get("verdict") {
        None => None,
        Some(v) => Some(Verdict::parse(v).ok_or_else(|| {
            let known: Vec<&str> = Verdict::ALL.iter().map(|v| v.as_str()).collect();
            ApiError::bad_parameter(
                "verdict",
                format!("unknown verdict `{v}` (known: {})", known.join(", ")),
            )
        })?),
    };
    let text = |key: &str| -> Result<Option<String>, ApiError> {
        match p.get(key) {
            Some(v) if v.trim().is_empty() => {
                Err(ApiError::bad_parameter(key, format!("`{key}` is empty")))
            }
            Some(v) => Ok(Some(v.clone())),
            None => Ok(None),
        }
    };
    Ok(DeviceFilter {
        verdict,
        class: text("class")?,
        model: text("model")?,
        firmware: text("firmware")?,
        search: text("q")?,
    })
}

pub(super) async fn devices(
    State(state): State<AppState>,
    uri: Uri,
) -> Result<Json<DevicePage>, ApiError> {
    let p = params::parse(
        &uri,
        &[
            "verdict", "class", "model", "firmware", "q", "cursor", "limit",
        ],
    )?;
    let filter = device_filter(&p)?;
    let limit = params::limit(&p, DEFAULT_PAGE, MAX_PAGE)?;
    let inv = state.inventory.read().expect("inventory lock");
    inv.devices(
        &filter,
        p.get("cursor").map(String::as_str),
        limit,
        now_ms(),
    )
    .map(Json)
    .map_err(|e| ApiError::bad_parameter("cursor", e.to_string()))
}

pub(super) async fn device(
    State(state): State<AppState>,
    Path(mac): Path<String>,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    params::parse(&uri, &[])?;
    let key: Mac = mac.parse().map_err(|e: pbxnet_inventory::MacParseError| {
        ApiError::bad_parameter("mac", e.to_string())
    })?;
    let inv = state.inventory.read().expect("inventory lock");
    let detail = views::device_detail(&inv, key, now_ms())
        .ok_or_else(|| ApiError::not_found(format!("no device {key} in the inventory")))?;
    serde_json::to_value(detail)
        .map(Json)
        .map_err(|e| ApiError::new(axum::http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

pub(super) async fn files(
    State(state): State<AppState>,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    let p = params::parse(&uri, &["q", "outcome"])?;
    let outcome = match p.get("outcome") {
        None => None,
        Some(o) => Some(
            serde_json::from_value::<Outcome>(Value::from(o.as_str())).map_err(|_| {
                ApiError::bad_parameter(
                    "outcome",
                    format!("unknown outcome `{o}` (known: ok, not-found, denied, error, aborted)"),
                )
            })?,
        ),
    };
    let inv = state.inventory.read().expect("inventory lock");
    let files = views::files(&inv, now_ms(), p.get("q").map(String::as_str), outcome);
    Ok(Json(json!({ "files": files })))
}

pub(super) async fn status(
    State(state): State<AppState>,
    uri: Uri,
) -> Result<Json<crate::status::StatusView>, ApiError> {
    params::parse(&uri, &[])?;
    Ok(Json(crate::status::status_view(&state)))
}

/// `/metrics`: the inventory for Prometheus (devices by verdict, events
/// applied and lost, unattributed). Behind the same authentication as the
/// rest (Prometheus sends a bearer token: `authorization.credentials_file`);
/// the daemons' own `/metrics` carry the packet counters.
pub(super) async fn metrics(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    uri: Uri,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    use pbxnet_runtime::metrics::{
        wants_openmetrics, Snapshot, OPENMETRICS_CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE,
    };
    params::parse(&uri, &[])?;
    let (site, lost) = {
        let inv = state.inventory.read().expect("inventory lock");
        (inv.site(now_ms()), inv.events_lost())
    };
    let mut s = Snapshot::new();
    s.info(
        "pbxnet_build",
        "Which daemon and version serves these metrics.",
        &[("daemon", "admind"), ("version", env!("CARGO_PKG_VERSION"))],
    );
    for (verdict, n) in &site.by_verdict {
        s.gauge(
            "pbxnet_inventory_devices",
            "Devices in the inventory by the verdict of their last boot.",
            &[("verdict", verdict.as_str())],
            *n as i64,
        );
    }
    s.counter(
        "pbxnet_inventory_events_applied",
        "Events applied to the inventory (since the event log's oldest kept row).",
        &[],
        site.events,
    );
    s.counter(
        "pbxnet_inventory_events_lost",
        "Events the daemons reported as not delivered to pbxnet-admind (gaps).",
        &[],
        lost,
    );
    s.counter(
        "pbxnet_inventory_unattributed",
        "Transfers and NTP requests from an address no lease covered at the time.",
        &[],
        site.unattributed,
    );
    let openmetrics = wants_openmetrics(
        headers
            .get(axum::http::header::ACCEPT)
            .and_then(|v| v.to_str().ok()),
    );
    let content_type = if openmetrics {
        OPENMETRICS_CONTENT_TYPE
    } else {
        PROMETHEUS_CONTENT_TYPE
    };
    Ok((
        [(axum::http::header::CONTENT_TYPE, content_type)],
        s.render(openmetrics),
    )
        .into_response())
}
