//! What every page handler shares: the view's state, the signed-in user
//! (an extractor), rendering and error pages.

use std::sync::{Arc, Mutex};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use minijinja::Environment;
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::Serialize;

use crate::cookie::{self, SESSION_COOKIE};
use crate::devices::urlencode;
use crate::model::{SiteData, Unreachable};
use crate::session::{Role, SessionConfig, Sessions};
use crate::templates;

/// How the web view is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WebConfig {
    /// The daemon serves HTTPS: cookies get `Secure`.
    pub https: bool,
    /// Session lifetimes.
    pub sessions: SessionConfig,
}

/// The web view's state: the daemon's data, the templates, the sessions.
pub(crate) struct Web<S> {
    pub(crate) data: Arc<S>,
    env: Environment<'static>,
    pub(crate) sessions: Mutex<Sessions>,
    /// The CSPRNG of session ids and CSRF tokens (seeded from the OS).
    pub(crate) rng: Mutex<StdRng>,
    pub(crate) https: bool,
}

impl<S> Web<S> {
    pub(super) fn new(data: Arc<S>, cfg: WebConfig) -> Result<Self, minijinja::Error> {
        Ok(Web {
            data,
            env: templates::environment()?,
            sessions: Mutex::new(Sessions::new(cfg.sessions)),
            rng: Mutex::new(StdRng::from_entropy()),
            https: cfg.https,
        })
    }
}

/// The signed-in user of a request (the extractor of every page).
#[derive(Debug, Clone)]
pub(crate) struct Viewer {
    pub(crate) name: String,
    pub(crate) role: Role,
    pub(crate) csrf: String,
    /// The cookie id (logout needs it).
    pub(crate) id: String,
}

/// The user block every page's header shows.
#[derive(Debug, Serialize)]
pub(crate) struct UserCtx {
    name: String,
    role: &'static str,
    csrf: String,
}

impl Viewer {
    pub(crate) fn ctx(&self) -> UserCtx {
        UserCtx {
            name: self.name.clone(),
            role: self.role.as_str(),
            csrf: self.csrf.clone(),
        }
    }
}

impl<S: SiteData> FromRequestParts<Arc<Web<S>>> for Viewer {
    type Rejection = Response;

    /// No valid session: to the login page, coming back here afterwards.
    async fn from_request_parts(parts: &mut Parts, web: &Arc<Web<S>>) -> Result<Self, Response> {
        let id = session_id(&parts.headers);
        let now = web.data.now();
        let found = id.as_deref().map(|id| {
            let mut sessions = web.sessions.lock().unwrap_or_else(|p| p.into_inner());
            sessions
                .get(id, now)
                .map(|s| (s.user.clone(), s.role, s.csrf.as_str().to_string()))
        });
        match (id, found) {
            (Some(id), Some(Ok((name, role, csrf)))) => Ok(Viewer {
                name,
                role,
                csrf,
                id,
            }),
            (_, refused) => {
                if let Some(Err(why)) = refused {
                    tracing::info!(reason = %why, "web session refused");
                }
                let next = parts.uri.path_and_query().map_or("/site", |p| p.as_str());
                Err(Redirect::to(&format!("/login?next={}", urlencode(next))).into_response())
            }
        }
    }
}

pub(crate) fn session_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|h| cookie::read(h, SESSION_COOKIE).map(str::to_string))
        .filter(|v| !v.is_empty())
}

/// A page's context: the user, the navigation's current page, the body.
#[derive(Serialize)]
pub(crate) struct PageCtx<T: Serialize> {
    user: Option<UserCtx>,
    page: &'static str,
    #[serde(flatten)]
    body: T,
}

/// A daemon-backed block: its value, or why it is missing.
#[derive(Debug, Serialize)]
pub(crate) struct Fetched<T: Serialize> {
    ok: Option<T>,
    err: Option<Unreachable>,
}

impl<T: Serialize> From<Result<T, Unreachable>> for Fetched<T> {
    fn from(r: Result<T, Unreachable>) -> Self {
        match r {
            Ok(v) => Fetched {
                ok: Some(v),
                err: None,
            },
            Err(e) => Fetched {
                ok: None,
                err: Some(e),
            },
        }
    }
}

impl<S> Web<S> {
    /// Renders `template` with `body`; a template error is logged and
    /// answered 500 in words.
    pub(crate) fn render<T: Serialize>(
        &self,
        status: StatusCode,
        template: &str,
        page: &'static str,
        user: Option<&Viewer>,
        body: T,
    ) -> Response {
        let ctx = PageCtx {
            user: user.map(Viewer::ctx),
            page,
            body,
        };
        let rendered = self
            .env
            .get_template(template)
            .and_then(|t| t.render(minijinja::Value::from_serialize(&ctx)));
        match rendered {
            Ok(html) => (status, Html(html)).into_response(),
            Err(e) => {
                tracing::error!(template, error = %e, "web page failed to render");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "this page failed to render; the daemon log says why",
                )
                    .into_response()
            }
        }
    }

    /// An error page a person understands.
    pub(crate) fn error(
        &self,
        status: StatusCode,
        user: Option<&Viewer>,
        title: &str,
        message: &str,
    ) -> Response {
        #[derive(Serialize)]
        struct Body<'a> {
            title: &'a str,
            message: &'a str,
        }
        self.render(status, "error.html", "", user, Body { title, message })
    }
}
