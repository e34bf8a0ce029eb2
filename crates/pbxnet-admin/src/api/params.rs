//! Query strings: a size limit before anything else, then each handler's
//! known parameters (an unknown or repeated one is a 400 naming it).

use std::collections::BTreeMap;

use axum::extract::{Request, State};
use axum::http::{StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::state::{AppState, MAX_QUERY};

/// Outermost layer: counts the request, refuses an oversized query string,
/// and counts the 4xx/503 answers.
pub(super) async fn guard_query(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    state.counters.request();
    let query_len = req.uri().query().map_or(0, str::len);
    let response = if query_len > MAX_QUERY {
        let mut e = ApiError::new(
            StatusCode::URI_TOO_LONG,
            format!("the query string has {query_len} bytes; the limit is {MAX_QUERY}"),
        );
        e.body.parameter = Some("query".into());
        e.into_response()
    } else {
        next.run(req).await
    };
    match response.status() {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {}
        StatusCode::SERVICE_UNAVAILABLE => state.counters.unavailable(),
        s if s.is_client_error() => state.counters.bad_request(),
        _ => {}
    }
    response
}

/// The query's parameters, each known to the handler and given once.
pub(super) fn parse(uri: &Uri, known: &[&str]) -> Result<BTreeMap<String, String>, ApiError> {
    let pairs: Vec<(String, String)> = match uri.query() {
        None => Vec::new(),
        Some(q) => {
            axum::extract::Query::<Vec<(String, String)>>::try_from_uri(uri)
                .map_err(|e| {
                    ApiError::bad_parameter(
                        "query",
                        format!("query string `{q}` not understood: {e}"),
                    )
                })?
                .0
        }
    };
    let mut out = BTreeMap::new();
    for (key, value) in pairs {
        if !known.contains(&key.as_str()) {
            let known = if known.is_empty() {
                "this resource takes no parameters".to_string()
            } else {
                format!("known: {}", known.join(", "))
            };
            return Err(ApiError::bad_parameter(
                &key,
                format!("unknown parameter `{key}` ({known})"),
            ));
        }
        if out.contains_key(&key) {
            return Err(ApiError::bad_parameter(
                &key,
                format!("parameter `{key}` is given twice"),
            ));
        }
        out.insert(key, value);
    }
    Ok(out)
}

/// `limit`: 1..=max, default `default`.
pub(super) fn limit(
    params: &BTreeMap<String, String>,
    default: usize,
    max: usize,
) -> Result<usize, ApiError> {
    match params.get("limit") {
        None => Ok(default),
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::bad_parameter(
                "limit",
                format!("limit `{text}` is not a number in 1..={max}"),
            )),
        },
    }
}
