//! Handlers answered from the daemons' control sockets: `/leases` (and
//! releasing one), `/ntp/*`, `/license`. A daemon that does not answer in
//! time is a 503 naming it.

use std::net::Ipv4Addr;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::Uri;
use axum::{Extension, Json};
use pbxnet_inventory::Daemon;
use serde_json::{json, Value};

use super::error::ApiError;
use super::inventory::{device_filter, DEFAULT_PAGE};
use super::params;
use super::state::{now_ms, AppState};
use super::views::{self, LeaseFilter, LeasePage};
use crate::auth::Principal;
use crate::sources::{self, SourceError};

fn to_api(e: SourceError) -> ApiError {
    match e {
        SourceError::Unreachable(d, why) => ApiError::unavailable(d, why),
        SourceError::Answer(d, why) => ApiError::bad_answer(d, why),
    }
}

pub(super) async fn leases(
    State(state): State<AppState>,
    uri: Uri,
) -> Result<Json<LeasePage>, ApiError> {
    let p = params::parse(
        &uri,
        &[
            "verdict", "class", "model", "firmware", "q", "state", "cursor", "limit",
        ],
    )?;
    let filter = LeaseFilter {
        device: device_filter(&p)?,
        state: p.get("state").cloned(),
    };
    let limit = params::limit(&p, DEFAULT_PAGE, pbxnet_inventory::MAX_PAGE)?;
    let after = match p.get("cursor") {
        None => None,
        Some(c) => Some(c.parse::<Ipv4Addr>().map_err(|_| {
            ApiError::bad_parameter(
                "cursor",
                format!("cursor `{c}` is not a lease cursor (an IPv4 address)"),
            )
        })?),
    };
    let cfg = state.config();
    let leases = sources::leases(&cfg).await.map_err(to_api)?;
    let inv = state.inventory.read().expect("inventory lock");
    Ok(Json(views::lease_page(
        &inv,
        leases,
        &filter,
        after,
        limit,
        now_ms(),
    )))
}

async fn release(state: &AppState, who: &Principal, target: &str) -> Result<Json<Value>, ApiError> {
    let cfg = state.config();
    match sources::release(&cfg, target).await {
        Ok(released) => {
            tracing::info!(who = %who.name, target, released = ?released, "lease released through the API");
            Ok(Json(json!({ "released": released })))
        }
        Err(SourceError::Answer(Daemon::Dhcpd, why)) if why.starts_with("no lease") => {
            Err(ApiError::not_found(why))
        }
        Err(e) => Err(to_api(e)),
    }
}

pub(super) async fn release_ip(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(ip): Path<String>,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    params::parse(&uri, &[])?;
    let ip: Ipv4Addr = ip
        .parse()
        .map_err(|_| ApiError::bad_parameter("ip", format!("`{ip}` is not an IPv4 address")))?;
    release(&state, &who, &ip.to_string()).await
}

pub(super) async fn release_body(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    uri: Uri,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    params::parse(&uri, &[])?;
    let body = body.map_err(|e| {
        let mut err = ApiError::new(e.status(), format!("request body: {}", e.body_text()));
        err.body.parameter = Some("body".into());
        err
    })?;
    release(&state, &who, &release_target(&body)?).await
}

/// The body of `POST /leases/release`: `{"ip": …}` or `{"mac": …}`,
/// each error naming the field at fault.
fn release_target(body: &[u8]) -> Result<String, ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_parameter("body", format!("request body is not JSON: {e}")))?;
    let Value::Object(fields) = value else {
        return Err(ApiError::bad_parameter(
            "body",
            "request body must be a JSON object: {\"ip\": …} or {\"mac\": …}",
        ));
    };
    if let Some(unknown) = fields.keys().find(|k| !["ip", "mac"].contains(&k.as_str())) {
        return Err(ApiError::bad_parameter(
            unknown,
            format!("unknown field `{unknown}` (known: ip, mac)"),
        ));
    }
    let text = |key: &str| -> Result<Option<&str>, ApiError> {
        match fields.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(ApiError::bad_parameter(
                key,
                format!("`{key}` must be a string, not {other}"),
            )),
        }
    };
    match (text("ip")?, text("mac")?) {
        (Some(ip), None) => ip
            .parse::<Ipv4Addr>()
            .map(|ip| ip.to_string())
            .map_err(|_| {
                ApiError::bad_parameter("ip", format!("`ip`: `{ip}` is not an IPv4 address"))
            }),
        (None, Some(mac)) => mac
            .parse::<pbxnet_inventory::Mac>()
            .map(|m| m.to_string())
            .map_err(|e| ApiError::bad_parameter("mac", format!("`mac`: {e}"))),
        _ => Err(ApiError::bad_parameter(
            "body",
            "give exactly one of `ip` and `mac`",
        )),
    }
}

fn no_params(uri: &Uri) -> Result<(), ApiError> {
    params::parse(uri, &[]).map(|_| ())
}

pub(super) async fn ntp_tracking(
    State(state): State<AppState>,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    no_params(&uri)?;
    let mut status = sources::ntp_status(&state.config()).await.map_err(to_api)?;
    // Tracking is the server side and the clock discipline; the sources
    // have their own resource.
    if let Some(client) = status.get_mut("client").and_then(Value::as_object_mut) {
        client.remove("sources");
    }
    Ok(Json(status))
}

pub(super) async fn ntp_sources(
    State(state): State<AppState>,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    no_params(&uri)?;
    let status = sources::ntp_status(&state.config()).await.map_err(to_api)?;
    let sources = status["client"]["sources"].clone();
    let sources = if sources.is_null() {
        json!([])
    } else {
        sources
    };
    Ok(Json(json!({ "sources": sources })))
}

pub(super) async fn ntp_clients(
    State(state): State<AppState>,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    no_params(&uri)?;
    sources::ntp_clients(&state.config())
        .await
        .map(Json)
        .map_err(to_api)
}

pub(super) async fn license(
    State(state): State<AppState>,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    no_params(&uri)?;
    sources::license(&state.config())
        .await
        .map(Json)
        .map_err(to_api)
}

#[cfg(test)]
mod tests {
    use super::release_target;

    #[test]
    fn a_release_body_names_the_field_at_fault() {
        assert_eq!(
            release_target(br#"{"ip":"192.168.92.20"}"#).unwrap(),
            "192.168.92.20"
        );
        assert_eq!(
            release_target(br#"{"mac":"00908F61A022"}"#).unwrap(),
            "00:90:8f:61:a0:22"
        );
        let field = |b: &[u8]| release_target(b).unwrap_err().body.parameter.unwrap();
        assert_eq!(field(br#"{"ipp":"x"}"#), "ipp");
        assert_eq!(field(br#"{"ip":"300.1.1.1"}"#), "ip");
        assert_eq!(field(br#"{"ip":5}"#), "ip");
        assert_eq!(field(br#"{"mac":"zz"}"#), "mac");
        assert_eq!(field(br#"{"ip":"1.2.3.4","mac":"00908f61a022"}"#), "body");
        assert_eq!(field(b"[1]"), "body");
        assert_eq!(field(b"{"), "body");
    }
}
