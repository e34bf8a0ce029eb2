//! Errors as JSON: `{"error": "...", "parameter": "limit"}` for bad input,
//! `{"error": "...", "daemon": "dhcpd"}` when a daemon does not answer.
//! Never an HTML page or an empty body.

use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use pbxnet_inventory::Daemon;
use serde::Serialize;

use crate::names::short_name;

/// An API error, with the status it maps to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// The JSON body.
    pub body: ErrorBody,
}

/// The JSON body of an error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorBody {
    /// What went wrong, for a person.
    pub error: String,
    /// The query parameter or body field at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameter: Option<String>,
    /// The daemon that did not answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub daemon: Option<&'static str>,
}

impl ApiError {
    /// A status with a message.
    pub fn new(status: StatusCode, error: impl Into<String>) -> ApiError {
        ApiError {
            status,
            body: ErrorBody {
                error: error.into(),
                parameter: None,
                daemon: None,
            },
        }
    }

    /// 400 about one parameter.
    pub fn bad_parameter(parameter: &str, error: impl Into<String>) -> ApiError {
        let mut e = ApiError::new(StatusCode::BAD_REQUEST, error);
        e.body.parameter = Some(parameter.to_string());
        e
    }

    /// 404.
    pub fn not_found(error: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, error)
    }

    /// 503: `daemon` gave no answer.
    pub fn unavailable(daemon: Daemon, why: impl std::fmt::Display) -> ApiError {
        let name = short_name(daemon);
        let mut e = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{name} is unreachable: {why}"),
        );
        e.body.daemon = Some(name);
        e
    }

    /// 502: `daemon` answered, but not what was asked.
    pub fn bad_answer(daemon: Daemon, why: impl std::fmt::Display) -> ApiError {
        let name = short_name(daemon);
        let mut e = ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!("{name} gave an unexpected answer: {why}"),
        );
        e.body.daemon = Some(name);
        e
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

/// Any path the API does not have.
pub(super) async fn not_found(uri: Uri) -> ApiError {
    ApiError::not_found(format!("no such resource: {}", uri.path()))
}

/// A path the API has, with another method.
pub(super) async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{method} is not allowed on {}", uri.path()),
    )
}
