//! The OpenAPI 3 description of the API (`openapi.json`, served at
//! `/api/v1/openapi.json`). A test holds it to [`super::routes`]: every
//! route described, every described operation routed.

use axum::http::header;
use axum::response::IntoResponse;

/// The description, as served.
pub const OPENAPI_JSON: &str = include_str!("openapi.json");

pub(super) async fn serve() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI_JSON)
}
