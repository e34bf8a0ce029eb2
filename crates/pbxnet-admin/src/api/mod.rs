//! The HTTP API (axum): routes, shared state, errors as JSON.
//!
//! Every route is listed once in [`routes`]; the router is built from that
//! list and a test checks it against the OpenAPI description
//! (`openapi.json`), so a route cannot exist undescribed or be described
//! and missing. The handlers return serialisable views that a
//! server-rendered page (issue 18) can reuse: `views.rs` builds them, the
//! handlers only parse parameters and wrap the views in JSON.

mod auth;
mod daemons;
mod error;
mod events;
mod inventory;
pub mod openapi;
mod params;
pub mod state;
pub mod views;

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post, MethodRouter};
use axum::Router;

pub use error::ApiError;
pub use state::{now_ms, ApiCounters, ApiStatus, AppState, Shared, MAX_BODY, MAX_QUERY};

/// One route: its path (axum and OpenAPI spelling, `{mac}`), the methods
/// it answers, and its handlers.
#[derive(Debug)]
pub struct Route {
    /// Path.
    pub path: &'static str,
    /// Methods, upper case.
    pub methods: &'static [&'static str],
    /// Whether it streams (no request timeout).
    pub streaming: bool,
    handler: MethodRouter<AppState>,
}

/// Every route of the API.
pub fn routes() -> Vec<Route> {
    let r = |path, methods, handler| Route {
        path,
        methods,
        streaming: false,
        handler,
    };
    vec![
        r("/healthz", &["GET"], get(inventory::healthz)),
        r("/api/v1/openapi.json", &["GET"], get(openapi::serve)),
        r("/api/v1/site", &["GET"], get(inventory::site)),
        r("/api/v1/devices", &["GET"], get(inventory::devices)),
        r("/api/v1/devices/{mac}", &["GET"], get(inventory::device)),
        r("/api/v1/files", &["GET"], get(inventory::files)),
        r("/api/v1/leases", &["GET"], get(daemons::leases)),
        r(
            "/api/v1/leases/{ip}",
            &["DELETE"],
            delete(daemons::release_ip),
        ),
        r(
            "/api/v1/leases/release",
            &["POST"],
            post(daemons::release_body),
        ),
        r("/api/v1/ntp/tracking", &["GET"], get(daemons::ntp_tracking)),
        r("/api/v1/ntp/sources", &["GET"], get(daemons::ntp_sources)),
        r("/api/v1/ntp/clients", &["GET"], get(daemons::ntp_clients)),
        r("/api/v1/license", &["GET"], get(daemons::license)),
        r("/api/v1/status", &["GET"], get(inventory::status)),
        r("/metrics", &["GET"], get(inventory::metrics)),
        Route {
            path: "/api/v1/events",
            methods: &["GET"],
            streaming: true,
            handler: get(events::stream),
        },
    ]
}

/// The whole application: routes, authentication, limits, JSON errors.
pub fn router(state: AppState) -> Router {
    let mut timed = Router::new();
    let mut streaming = Router::new();
    for route in routes() {
        if route.streaming {
            streaming = streaming.route(route.path, route.handler);
        } else {
            timed = timed.route(route.path, route.handler);
        }
    }
    let timed = timed.layer(tower_http::timeout::TimeoutLayer::with_status_code(
        axum::http::StatusCode::GATEWAY_TIMEOUT,
        Duration::from_secs(30),
    ));
    timed
        .merge(streaming)
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            params::guard_query,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

/// Serves the API on `listener` until the runtime ends.
pub fn spawn(listener: tokio::net::TcpListener, state: AppState) -> tokio::task::JoinHandle<()> {
    // The web view's pages sit beside the API on the same listener; they
    // have their own login (session cookies), the API keeps its tokens.
    let site = std::sync::Arc::new(crate::web::AdminSite::new(state.clone()));
    let app = match pbxnet_admin_web::router(site, pbxnet_admin_web::WebConfig::default()) {
        Ok(web) => router(state).merge(web),
        Err(e) => {
            tracing::error!(error = %e, "web view not served: a page template does not parse");
            router(state)
        }
    };
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "API server stopped");
        }
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::openapi::OPENAPI_JSON;

    #[test]
    fn every_route_is_described_and_every_described_operation_is_routed() {
        let doc: serde_json::Value =
            serde_json::from_str(OPENAPI_JSON).expect("openapi.json is JSON");
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
        let mut described = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for method in item.as_object().unwrap().keys() {
                if ["get", "post", "put", "patch", "delete", "head"].contains(&method.as_str()) {
                    described.insert((path.clone(), method.to_ascii_uppercase()));
                }
            }
        }
        let routed: BTreeSet<(String, String)> = super::routes()
            .iter()
            .flat_map(|r| {
                r.methods
                    .iter()
                    .map(|m| (r.path.to_string(), m.to_string()))
            })
            .collect();
        let undescribed: Vec<_> = routed.difference(&described).collect();
        let missing: Vec<_> = described.difference(&routed).collect();
        assert!(
            undescribed.is_empty(),
            "routes without a description: {undescribed:?}"
        );
        assert!(missing.is_empty(), "described but not routed: {missing:?}");
        // Every operation says what it answers and (but /healthz) how to authenticate.
        for (path, method) in &described {
            let op = &doc["paths"][path][method.to_ascii_lowercase()];
            assert!(op["responses"].is_object(), "{method} {path}: no responses");
            assert!(op["summary"].is_string(), "{method} {path}: no summary");
        }
        assert_eq!(
            doc["paths"]["/healthz"]["get"]["security"],
            serde_json::json!([])
        );
    }
}
