//! The one action of the web view: releasing a device's lease (confirmed
//! on its own page, admin role, CSRF-checked, logged with the user).

use std::net::Ipv4Addr;
use std::sync::Arc;

use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};

use pbxnet_inventory::{LeaseState, Mac};

use super::auth::csrf_refused;
use super::state::{Viewer, Web};
use crate::model::SiteData;
use crate::session::tokens_equal;

/// The device's releasable lease, or the page that says why there is none.
fn releasable<S: SiteData>(
    web: &Web<S>,
    viewer: &Viewer,
    key: &str,
) -> Result<(Mac, Ipv4Addr), Response> {
    if !viewer.role.may_mutate() {
        tracing::warn!(user = %viewer.name, "web action refused: release needs the admin role");
        return Err(web.error(
            StatusCode::FORBIDDEN,
            Some(viewer),
            "Not allowed",
            "Releasing a lease changes the site: it needs the admin role.",
        ));
    }
    let Ok(mac) = key.parse::<Mac>() else {
        let msg = format!("{key:?} is not a MAC address.");
        return Err(web.error(
            StatusCode::BAD_REQUEST,
            Some(viewer),
            "No such device",
            &msg,
        ));
    };
    let now = web.data.now();
    let lease = web.data.with_inventory(|inv| {
        inv.device(mac)
            .and_then(|d| d.lease.as_ref())
            .filter(|l| matches!(l.state_at(now), LeaseState::Bound | LeaseState::Offered))
            .map(|l| l.ip)
    });
    lease.map(|ip| (mac, ip)).ok_or_else(|| {
        let msg = format!("{mac} holds no lease to release.");
        web.error(StatusCode::CONFLICT, Some(viewer), "No lease", &msg)
    })
}

pub(super) async fn confirm<S: SiteData>(
    State(web): State<Arc<Web<S>>>,
    viewer: Viewer,
    Path(key): Path<String>,
) -> Response {
    #[derive(Serialize)]
    struct Body {
        mac: String,
        key: String,
        ip: Ipv4Addr,
    }
    match releasable(&web, &viewer, &key) {
        Ok((mac, ip)) => {
            let body = Body {
                mac: mac.to_string(),
                key: mac.compact(),
                ip,
            };
            web.render(
                StatusCode::OK,
                "release.html",
                "devices",
                Some(&viewer),
                body,
            )
        }
        Err(page) => page,
    }
}

#[derive(Deserialize)]
pub(super) struct ReleaseForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    ip: String,
    #[serde(default)]
    confirm: String,
}

pub(super) async fn release<S: SiteData>(
    State(web): State<Arc<Web<S>>>,
    viewer: Viewer,
    Path(key): Path<String>,
    Form(form): Form<ReleaseForm>,
) -> Response {
    if !tokens_equal(&viewer.csrf, &form.csrf) {
        return csrf_refused(&web, &viewer);
    }
    let (mac, ip) = match releasable(&web, &viewer, &key) {
        Ok(found) => found,
        Err(page) => return page,
    };
    // The address confirmed must still be the device's: a lease that moved
    // since the confirmation page is not released blind.
    if form.confirm != "yes" || form.ip != ip.to_string() {
        let msg = format!(
            "The release of {} was not confirmed for {mac}'s current lease {ip}.",
            form.ip
        );
        return web.error(StatusCode::CONFLICT, Some(&viewer), "Not released", &msg);
    }
    match web.data.release_lease(ip, &viewer.name).await {
        Ok(()) => {
            tracing::info!(user = %viewer.name, %mac, %ip, "web: lease released");
            Redirect::to(&format!("/devices/{}?released={ip}", mac.compact())).into_response()
        }
        Err(e) => {
            tracing::warn!(user = %viewer.name, %mac, %ip, error = %e, "web: lease release failed");
            let msg = format!("The lease of {ip} was not released: {e}.");
            web.error(StatusCode::BAD_GATEWAY, Some(&viewer), "Not released", &msg)
        }
    }
}
