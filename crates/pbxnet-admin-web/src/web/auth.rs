//! Login and logout. The password goes to the daemon's user check
//! ([`SiteData::authenticate`]) and nowhere else: a refusal is logged with
//! the user name only.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Form, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};

use super::state::{Viewer, Web};
use crate::cookie::{self, LOGIN_COOKIE, LOGIN_FORM_SECS, SESSION_COOKIE};
use crate::model::SiteData;
use crate::session::{check_login_token, Token};

#[derive(Serialize)]
struct LoginBody<'a> {
    token: &'a str,
    next: &'a str,
    error: Option<&'a str>,
    notice: Option<&'a str>,
}

/// Only a path on this daemon (not `//host`, not a URL) is a place to go
/// back to after login.
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n,
        _ => "/site",
    }
}

fn login_page<S: SiteData>(
    web: &Web<S>,
    status: StatusCode,
    next: &str,
    error: Option<&str>,
    notice: Option<&str>,
) -> Response {
    let token = {
        let mut rng = web.rng.lock().unwrap_or_else(|p| p.into_inner());
        Token::random(&mut *rng)
    };
    let set = cookie::set(LOGIN_COOKIE, token.as_str(), LOGIN_FORM_SECS, web.https);
    let body = LoginBody {
        token: token.as_str(),
        next,
        error,
        notice,
    };
    let page = web.render(status, "login.html", "login", None, body);
    (AppendHeaders([(header::SET_COOKIE, set)]), page).into_response()
}

pub(super) async fn login_form<S: SiteData>(
    State(web): State<Arc<Web<S>>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let notice = q.contains_key("out").then_some("You are logged out.");
    let expired = q
        .contains_key("next")
        .then_some("Please log in to see that page.");
    let next = safe_next(q.get("next").map(String::as_str)).to_string();
    login_page(&web, StatusCode::OK, &next, None, notice.or(expired))
}

#[derive(Deserialize)]
pub(super) struct LoginForm {
    csrf: String,
    #[serde(default)]
    next: String,
    user: String,
    password: String,
}

pub(super) async fn login<S: SiteData>(
    State(web): State<Arc<Web<S>>>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let next = safe_next(Some(&form.next)).to_string();
    let login_cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|h| cookie::read(h, LOGIN_COOKIE).map(str::to_string));
    if !check_login_token(login_cookie.as_deref(), &form.csrf) {
        tracing::warn!(user = %form.user, "web login refused: form token missing or wrong (stale form, or a cross-site post)");
        let msg = "This login form has expired. Please try again.";
        return login_page(&web, StatusCode::FORBIDDEN, &next, Some(msg), None);
    }
    let Some(role) = web.data.authenticate(&form.user, &form.password).await else {
        tracing::warn!(user = %form.user, "web login refused: unknown user or wrong password");
        let msg = "Unknown user or wrong password.";
        return login_page(&web, StatusCode::UNAUTHORIZED, &next, Some(msg), None);
    };
    let id = {
        let now = web.data.now();
        let mut rng = web.rng.lock().unwrap_or_else(|p| p.into_inner());
        let mut sessions = web.sessions.lock().unwrap_or_else(|p| p.into_inner());
        sessions.login(&form.user, role, now, &mut *rng)
    };
    tracing::info!(user = %form.user, role = role.as_str(), "web login");
    let max_age = web.sessions_config().absolute_ms / 1000;
    let set_session = cookie::set(SESSION_COOKIE, id.as_str(), max_age, web.https);
    let clear_login = cookie::clear(LOGIN_COOKIE, web.https);
    (
        AppendHeaders([
            (header::SET_COOKIE, set_session),
            (header::SET_COOKIE, clear_login),
        ]),
        Redirect::to(&next),
    )
        .into_response()
}

#[derive(Deserialize)]
pub(super) struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub(super) async fn logout<S: SiteData>(
    State(web): State<Arc<Web<S>>>,
    viewer: Viewer,
    Form(form): Form<CsrfForm>,
) -> Response {
    if !crate::session::tokens_equal(&viewer.csrf, &form.csrf) {
        return csrf_refused(&web, &viewer);
    }
    let ended = {
        let mut sessions = web.sessions.lock().unwrap_or_else(|p| p.into_inner());
        sessions.logout(&viewer.id)
    };
    if ended.is_some() {
        tracing::info!(user = %viewer.name, "web logout");
    }
    (
        AppendHeaders([(header::SET_COOKIE, cookie::clear(SESSION_COOKIE, web.https))]),
        Redirect::to("/login?out"),
    )
        .into_response()
}

/// A form whose CSRF token is not the session's: refused, logged.
pub(super) fn csrf_refused<S: SiteData>(web: &Web<S>, viewer: &Viewer) -> Response {
    tracing::warn!(user = %viewer.name, "web form refused: CSRF token missing or wrong");
    web.error(
        StatusCode::FORBIDDEN,
        Some(viewer),
        "Form refused",
        "This form did not come from this page (its security token is missing or stale). Reload the page and try again.",
    )
}

impl<S> Web<S> {
    fn sessions_config(&self) -> crate::session::SessionConfig {
        self.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .config()
    }
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn only_local_paths_are_places_to_return_to() {
        assert_eq!(safe_next(Some("/devices?q=70")), "/devices?q=70");
        assert_eq!(safe_next(Some("//evil.example/x")), "/site");
        assert_eq!(safe_next(Some("https://evil.example/")), "/site");
        assert_eq!(safe_next(Some("/\\evil.example")), "/site");
        assert_eq!(safe_next(None), "/site");
    }
}
