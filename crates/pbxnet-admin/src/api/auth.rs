//! The authentication layer: everything but `/healthz` needs a token or a
//! user (crate::auth decides); calls that change the site need the admin
//! role. Every refusal is counted and logged with the peer, the method, the
//! path and the reason: never the token or the password.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::state::AppState;
use crate::auth::{identify, verify_password, Claim, Principal, Refusal};

/// Paths open to anyone.
const OPEN: &[&str] = &["/healthz"];

pub(super) async fn require(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path().to_string();
    if OPEN.contains(&path.as_str()) {
        return next.run(req).await;
    }
    let method = req.method().as_str().to_string();
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.to_string())
        .unwrap_or_default();
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().map_err(|_| Refusal::Malformed));
    let principal = match header.transpose() {
        Err(r) => Err((r, None)),
        Ok(value) => authenticate(&state, value).await,
    };
    let principal = match principal {
        Ok(p) if p.role.allows(&method) => p,
        Ok(p) => {
            return refuse(
                &state,
                Refusal::Forbidden,
                Some(&p.name),
                &peer,
                &method,
                &path,
            )
        }
        Err((r, who)) => return refuse(&state, r, who.as_deref(), &peer, &method, &path),
    };
    req.extensions_mut().insert(principal);
    next.run(req).await
}

async fn authenticate(
    state: &AppState,
    header: Option<&str>,
) -> Result<Principal, (Refusal, Option<String>)> {
    let config = state.config();
    match identify(header, &config.credentials).map_err(|r| (r, None))? {
        Claim::Token(p) => Ok(p),
        Claim::Password { user, password } => {
            let (phc, name, role) = (user.phc.clone(), user.name.clone(), user.role);
            // Argon2 takes tens of milliseconds by design: off the serving thread.
            let ok = tokio::task::spawn_blocking(move || verify_password(&phc, &password))
                .await
                .unwrap_or(false);
            if ok {
                Ok(Principal { name, role })
            } else {
                Err((Refusal::BadPassword, Some(name)))
            }
        }
    }
}

fn refuse(
    state: &AppState,
    r: Refusal,
    who: Option<&str>,
    peer: &str,
    method: &str,
    path: &str,
) -> Response {
    state.counters.refused(r);
    tracing::warn!(peer, method, path, reason = ?r, who = who.unwrap_or("-"), "API call refused");
    let mut response = ApiError::new(
        axum::http::StatusCode::from_u16(r.status())
            .unwrap_or(axum::http::StatusCode::UNAUTHORIZED),
        r.message(),
    )
    .into_response();
    if r != Refusal::Forbidden {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"pbxnet\", Basic realm=\"pbxnet\""),
        );
    }
    response
}
