//! The HTTP shell of the web view (axum): routes, the session extractor,
//! rendering, security headers. Everything it decides is in the pure
//! modules; here are only cookies in, pages out.

mod auth;
mod live;
mod pages;
mod release;
mod state;

use std::sync::Arc;

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::model::SiteData;
use crate::templates;
use state::Web;

pub use state::WebConfig;

/// The web view's routes, to merge into the management daemon's router.
/// Fails only if a compiled-in template does not parse (caught by the
/// unit tests long before a daemon starts).
pub fn router<S: SiteData>(data: Arc<S>, cfg: WebConfig) -> Result<Router, minijinja::Error> {
    let web = Arc::new(Web::new(data, cfg)?);
    Ok(Router::new()
        .route("/", get(|| async { Redirect::to("/site") }))
        .route("/login", get(auth::login_form::<S>).post(auth::login::<S>))
        .route("/logout", post(auth::logout::<S>))
        .route("/site", get(pages::site::<S>))
        .route("/devices", get(pages::devices::<S>))
        .route("/devices/{key}", get(pages::device::<S>))
        .route(
            "/devices/{key}/release",
            get(release::confirm::<S>).post(release::release::<S>),
        )
        .route("/leases", get(pages::leases::<S>))
        .route("/ntp", get(pages::ntp::<S>))
        .route("/files", get(pages::files::<S>))
        .route("/live/events", get(live::events::<S>))
        .route("/assets/{name}", get(asset))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(web))
}

/// Headers on every response of the view: scripts only from the daemon
/// (`script-src 'self'`: an injected `<script>` would not run), no framing,
/// no referrer, no MIME sniffing, pages never cached (they hold a CSRF
/// token and site data).
async fn security_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    let csp = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
               img-src 'self' data:; connect-src 'self'; form-action 'self'; \
               frame-ancestors 'none'; base-uri 'none'";
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(csp),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    r
}

async fn asset(Path(name): Path<String>) -> Response {
    match templates::asset(&name) {
        Some(a) => (
            [
                (header::CONTENT_TYPE, a.content_type),
                (header::CACHE_CONTROL, "max-age=3600"),
            ],
            a.body,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
