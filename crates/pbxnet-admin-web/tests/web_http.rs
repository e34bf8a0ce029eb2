//! The web view over HTTP, in process (tower `oneshot`, no socket): the
//! login flow, the cookie attributes, CSRF refusals, roles, the pages'
//! contents, unreachable daemons, session expiry and logout.

mod support;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::{to_bytes, Body};
use axum::http::{header, Request, Response, StatusCode};
use axum::Router;
use tower::ServiceExt;

use pbxnet_admin_web::{router, SessionConfig, WebConfig};
use support::{site_events, TestSite};

fn app(site: &Arc<TestSite>, https: bool) -> Router {
    let cfg = WebConfig {
        https,
        sessions: SessionConfig::default(),
    };
    router(site.clone(), cfg).unwrap()
}

async fn send(app: &Router, req: Request<Body>) -> (Response<Body>, String) {
    let resp = app.clone().oneshot(req).await.unwrap();
    let (parts, body) = resp.into_parts();
    let text = String::from_utf8(to_bytes(body, 4 << 20).await.unwrap().to_vec()).unwrap();
    (Response::from_parts(parts, Body::empty()), text)
}

fn get(path: &str, cookie: &str) -> Request<Body> {
    Request::get(path)
        .header(header::COOKIE, cookie)
        .body(Body::empty())
        .unwrap()
}

fn post(path: &str, cookie: &str, form: &str) -> Request<Body> {
    Request::post(path)
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form.to_string()))
        .unwrap()
}

fn set_cookies(r: &Response<Body>) -> Vec<String> {
    r.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

fn cookie_value(set: &[String], name: &str) -> Option<String> {
    set.iter()
        .find_map(|c| c.strip_prefix(&format!("{name}=")))
        .map(|rest| rest.split(';').next().unwrap().to_string())
}

fn hidden(html: &str, name: &str) -> String {
    let marker = format!(r#"name="{name}" value=""#);
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {html}"))
        + marker.len();
    html[start..].split('"').next().unwrap().to_string()
}

/// Logs in and returns the session cookie header and the CSRF token.
async fn login(app: &Router, user: &str, password: &str) -> (String, String) {
    let (r, html) = send(app, get("/login", "")).await;
    let login_token = cookie_value(&set_cookies(&r), "pbxnet_login").unwrap();
    let form = format!(
        "csrf={}&next=%2Fsite&user={user}&password={}",
        hidden(&html, "csrf"),
        password.replace(' ', "+")
    );
    let (r, _) = send(
        app,
        post("/login", &format!("pbxnet_login={login_token}"), &form),
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "login of {user}");
    let id = cookie_value(&set_cookies(&r), "pbxnet_session").unwrap();
    let cookie = format!("pbxnet_session={id}");
    let (_, page) = send(app, get("/site", &cookie)).await;
    (cookie, hidden(&page, "csrf"))
}

#[tokio::test]
async fn pages_need_a_session_and_send_the_browser_to_login() {
    let site = TestSite::new(&site_events());
    let app = app(&site, false);
    for path in [
        "/site",
        "/devices?q=70",
        "/devices/00e0b1000002",
        "/leases",
        "/ntp",
        "/files",
        "/live/events",
    ] {
        let (r, _) = send(&app, get(path, "")).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{path}");
        let to = r.headers()[header::LOCATION].to_str().unwrap();
        assert!(to.starts_with("/login?next=%2F"), "{path} → {to}");
    }
    let (r, _) = send(&app, get("/site", "pbxnet_session=00ff")).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // Assets are public (the login page needs them).
    let (r, css) = send(&app, get("/assets/app.css", "")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(css.contains(":root"));
}

#[tokio::test]
async fn login_sets_a_strict_httponly_cookie_secure_only_under_https() {
    let site = TestSite::new(&site_events());
    for https in [false, true] {
        let app = app(&site, https);
        let (r, html) = send(&app, get("/login", "")).await;
        let set = set_cookies(&r);
        assert!(set[0].contains("HttpOnly; SameSite=Strict"), "{set:?}");
        assert_eq!(set[0].contains("Secure"), https);
        let token = cookie_value(&set, "pbxnet_login").unwrap();
        let form = format!(
            "csrf={}&next=%2Fdevices&user=anna&password=correct+horse",
            hidden(&html, "csrf")
        );
        let (r, _) = send(
            &app,
            post("/login", &format!("pbxnet_login={token}"), &form),
        )
        .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(r.headers()[header::LOCATION], "/devices");
        let set = set_cookies(&r);
        let session = set
            .iter()
            .find(|c| c.starts_with("pbxnet_session="))
            .unwrap();
        assert!(
            session.contains("; Path=/; Max-Age=43200; HttpOnly; SameSite=Strict"),
            "{session}"
        );
        assert_eq!(session.ends_with("; Secure"), https, "{session}");
    }
}

#[tokio::test]
async fn a_login_without_its_form_token_or_with_a_wrong_password_is_refused() {
    let site = TestSite::new(&site_events());
    let app = app(&site, false);
    let (r, html) = send(&app, get("/login", "")).await;
    let token = cookie_value(&set_cookies(&r), "pbxnet_login").unwrap();
    let csrf = hidden(&html, "csrf");
    // A cross-site post has no login cookie.
    let form = format!("csrf={csrf}&user=anna&password=correct+horse");
    let (r, _) = send(&app, post("/login", "", &form)).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(cookie_value(&set_cookies(&r), "pbxnet_session").is_none());
    // Wrong password: 401, no session, the password not echoed.
    let form = format!("csrf={csrf}&user=anna&password=hunter2");
    let (r, page) = send(
        &app,
        post("/login", &format!("pbxnet_login={token}"), &form),
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(page.contains("Unknown user or wrong password."));
    assert!(!page.contains("hunter2"));
    assert!(cookie_value(&set_cookies(&r), "pbxnet_session").is_none());
}

#[tokio::test]
async fn the_site_page_shows_counts_pools_and_unreachable_daemons() {
    let site = TestSite::new(&site_events());
    let app = app(&site, false);
    let (cookie, _) = login(&app, "rita", "read only please").await;
    let (r, html) = send(&app, get("/site", &cookie)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .contains("script-src 'self'"));
    for (verdict, n) in [
        ("provisioned", 1),
        ("stuck-after-lease", 1),
        ("file-error", 1),
        ("no-time", 0),
    ] {
        assert!(
            html.contains(&format!(r#"data-verdict="{verdict}">{n}<"#)),
            "{verdict} {n}"
        );
    }
    assert!(html.contains(r#"<span id="device-total">3</span>"#));
    // 3 of 4 used is 75 %: no warning; 10 of 10 is.
    assert!(
        html.contains(r#"<span class="muted">75.0 %</span>"#),
        "{html}"
    );
    assert!(html.contains(r#"<span class="high-text">100.0 %</span>"#));
    assert!(html.contains("<strong>pbxnet-licd</strong> is not answering: connection refused"));
    assert!(html.contains("<dt>Selected source</dt><dd>192.168.92.1</dd>"));
    site.ntpd_up.store(false, Ordering::SeqCst);
    let (r, html) = send(&app, get("/site", &cookie)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(html.contains("<strong>pbxnet-ntpd</strong> is not answering"));
    let (_, html) = send(&app, get("/ntp", &cookie)).await;
    assert_eq!(
        html.matches("<strong>pbxnet-ntpd</strong> is not answering")
            .count(),
        3
    );
}

#[tokio::test]
async fn searching_a_mac_fragment_lists_exactly_the_matching_devices() {
    let site = TestSite::new(&site_events());
    let app = app(&site, false);
    let (cookie, _) = login(&app, "rita", "read only please").await;
    let (_, html) = send(&app, get("/devices?q=b1%3A00%3A00", &cookie)).await;
    assert!(html.contains("2 devices, 1–2 shown."), "{html}");
    assert!(html.contains(">00:e0:b1:00:00:02<") && html.contains(">00:e0:b1:00:00:03<"));
    assert!(!html.contains(">34:e7:0b:00:00:01<"));
    let (r, html) = send(&app, get("/devices?verdict=stuck", &cookie)).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(
        html.contains("verdict: no verdict &quot;stuck&quot;"),
        "{html}"
    );
}

#[tokio::test]
async fn a_stuck_device_says_why_and_a_reader_cannot_release_it() {
    let site = TestSite::new(&site_events());
    let app = app(&site, false);
    let (cookie, csrf) = login(&app, "rita", "read only please").await;
    let (_, html) = send(&app, get("/devices/00e0b1000002", &cookie)).await;
    assert!(
        html.contains("Stuck after lease: leased 192.168.92.11"),
        "{html}"
    );
    assert!(html.contains("never fetched its configuration (os_conf or os8_conf)"));
    assert!(html.contains("Releasing a lease needs the admin role."));
    let form = format!("csrf={csrf}&ip=192.168.92.11&confirm=yes");
    let (r, _) = send(&app, post("/devices/00e0b1000002/release", &cookie, &form)).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let (_, leases) = send(&app, get("/leases", &cookie)).await;
    assert!(leases.contains(">192.168.92.11<"));
}

#[tokio::test]
async fn an_admin_releases_a_lease_only_with_the_csrf_token_and_confirmation() {
    let site = TestSite::new(&site_events());
    let app = app(&site, false);
    let (cookie, csrf) = login(&app, "anna", "correct horse").await;
    let (r, html) = send(&app, get("/devices/00e0b1000002/release", &cookie)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(hidden(&html, "csrf"), csrf);
    let path = "/devices/00e0b1000002/release";
    for form in [
        "ip=192.168.92.11&confirm=yes".to_string(),
        format!("csrf={}&ip=192.168.92.11&confirm=yes", "0".repeat(64)),
    ] {
        let (r, _) = send(&app, post(path, &cookie, &form)).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{form}");
    }
    let (r, _) = send(
        &app,
        post(path, &cookie, &format!("csrf={csrf}&ip=192.168.92.11")),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CONFLICT, "unconfirmed");
    let (r, _) = send(
        &app,
        post(
            path,
            &cookie,
            &format!("csrf={csrf}&ip=192.168.92.12&confirm=yes"),
        ),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CONFLICT, "another device's address");
    let (_, leases) = send(&app, get("/leases", &cookie)).await;
    assert!(leases.contains(">192.168.92.11<"));
    let (r, _) = send(
        &app,
        post(
            path,
            &cookie,
            &format!("csrf={csrf}&ip=192.168.92.11&confirm=yes"),
        ),
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, leases) = send(&app, get("/leases", &cookie)).await;
    assert!(!leases.contains(">192.168.92.11<"), "{leases}");
    let (_, html) = send(
        &app,
        get("/devices/00e0b1000002?released=192.168.92.11", &cookie),
    )
    .await;
    assert!(
        html.contains(r#"<dd id="lease-state">released</dd>"#),
        "{html}"
    );
}

#[tokio::test]
async fn logout_ends_the_session_and_idle_sessions_expire() {
    let site = TestSite::new(&site_events());
    let app = app(&site, false);
    let (cookie, csrf) = login(&app, "anna", "correct horse").await;
    // Logout is a form like the others: no token, no logout.
    let (r, _) = send(&app, post("/logout", &cookie, "csrf=")).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let (r, _) = send(&app, post("/logout", &cookie, &format!("csrf={csrf}"))).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(set_cookies(&r)[0].starts_with("pbxnet_session=; Path=/; Max-Age=0;"));
    let (r, _) = send(&app, get("/site", &cookie)).await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "the old cookie is refused"
    );

    let (cookie, _) = login(&app, "anna", "correct horse").await;
    site.now.fetch_add(29 * 60_000, Ordering::SeqCst);
    let (r, _) = send(&app, get("/site", &cookie)).await;
    assert_eq!(r.status(), StatusCode::OK);
    site.now.fetch_add(30 * 60_000, Ordering::SeqCst);
    let (r, _) = send(&app, get("/site", &cookie)).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "idle for 30 min");
}

#[tokio::test]
async fn every_page_renders_for_a_signed_in_user() {
    let site = TestSite::new(&site_events());
    let app = app(&site, false);
    let (cookie, _) = login(&app, "anna", "correct horse").await;
    for (path, needle) in [
        ("/site", "<h1>Site</h1>"),
        ("/devices", "3 devices, 1–3 shown."),
        ("/devices?sort=last&dir=desc", "aria-sort=\"descending\""),
        ("/devices/34e70b000001", "Provisioned: chain complete"),
        ("/leases", "3 leases"),
        ("/ntp", "<h2 id=\"h-clients\">Clients</h2>"),
        ("/files", "os_conf"),
    ] {
        let (r, html) = send(&app, get(path, &cookie)).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert!(html.contains(needle), "{path}: {needle}\n{html}");
    }
    let (r, _) = send(&app, get("/devices/00e0b1999999", &cookie)).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}
