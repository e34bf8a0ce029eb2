//! The web view in a real browser (Debian's chromium over chromedriver):
//! the pages served on loopback by the view's router over a site fed with
//! schema events (tests/support). Every page is checked for console errors,
//! requests to other hosts and accessibility basics, and photographed at
//! 1280×800 and 390×844 into target/web-screenshots/.

mod driver;
mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use fantoccini::{Client, Locator};
use pbxnet_admin_web::{router, SessionConfig, SiteData, WebConfig};
use pbxnet_inventory::{DeviceFilter, Verdict, MAX_PAGE};

use driver::Driver;
use support::{dhcp, site_events, TestSite, T0};

/// Serves the view for `site` on a loopback port; returns its origin.
async fn serve(site: Arc<TestSite>) -> String {
    let app = router(
        site,
        WebConfig {
            https: false,
            sessions: SessionConfig::default(),
        },
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// Waits until the browser's URL path is `path` (after a form post).
async fn wait_path(c: &Client, path: &str) {
    for _ in 0..200 {
        if c.current_url().await.unwrap().path() == path {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!(
        "never reached {path}: at {}",
        c.current_url().await.unwrap()
    );
}

/// The checks every page gets, then its screenshots.
async fn check_page(c: &Client, origin: &str, name: &str) {
    let a11y = driver::accessibility(c).await;
    assert!(a11y.is_empty(), "{name}: {a11y:#?}");
    driver::screenshots(c, name).await;
    let problems = driver::problems(c, origin).await;
    assert!(problems.is_empty(), "{name}: {problems:#?}");
}

async fn log_in(c: &Client, user: &str, password: &str) {
    c.find(Locator::Css("#user"))
        .await
        .unwrap()
        .send_keys(user)
        .await
        .unwrap();
    c.find(Locator::Css("#password"))
        .await
        .unwrap()
        .send_keys(password)
        .await
        .unwrap();
    c.find(Locator::Css("main button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// The verdict counts as the API computes them (the inventory's summary).
fn api_counts(site: &TestSite) -> Vec<(String, usize)> {
    let now = site.now();
    site.with_inventory(|inv| {
        let s = inv.site(now);
        Verdict::ALL
            .iter()
            .map(|v| (v.as_str().to_string(), s.by_verdict[v]))
            .collect()
    })
}

fn api_search(site: &TestSite, fragment: &str) -> Vec<String> {
    let now = site.now();
    let filter = DeviceFilter {
        search: Some(fragment.into()),
        ..DeviceFilter::default()
    };
    site.with_inventory(|inv| {
        let page = inv.devices(&filter, None, MAX_PAGE, now).unwrap();
        page.devices.iter().map(|d| d.mac.to_string()).collect()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_installer_walks_the_site_in_a_real_browser() {
    if let Err(why) = driver::available() {
        eprintln!("SKIPPED {}: {why}", module_path!());
        return;
    }
    let site = TestSite::new(&site_events());
    let origin = serve(site.clone()).await;
    let wd = Driver::start();
    let c = wd.browser().await;
    driver::viewport(&c, 1280, 800).await;

    // Not logged in: any page sends the browser to the login form.
    c.goto(&format!("{origin}/devices")).await.unwrap();
    wait_path(&c, "/login").await;
    check_page(&c, &origin, "login").await;
    log_in(&c, "anna", "correct horse").await;
    wait_path(&c, "/devices").await;

    // The site page's counts are the API's.
    c.goto(&format!("{origin}/site")).await.unwrap();
    for (verdict, n) in api_counts(&site) {
        let shown = c
            .find(Locator::Css(&format!("[data-verdict={verdict}]")))
            .await
            .unwrap();
        assert_eq!(shown.text().await.unwrap(), n.to_string(), "{verdict}");
    }
    // A live event arrives over SSE without a reload.
    let live = c.find(Locator::Css("#live-state.on")).await;
    assert!(live.is_ok(), "the event stream did not open");
    site.apply(dhcp(
        site.now(),
        "discover",
        "00:80:9f:00:00:77",
        "0.0.0.0",
        "alcatel.noe",
        "phone",
    ));
    c.wait()
        .at_most(Duration::from_secs(5))
        .for_element(Locator::XPath(
            "//ul[@id='events']/li[contains(., '00:80:9f:00:00:77')]",
        ))
        .await
        .expect("the live event on the page");
    check_page(&c, &origin, "site").await;

    // Search a MAC fragment: exactly the API's matches.
    c.goto(&format!("{origin}/devices")).await.unwrap();
    check_page(&c, &origin, "devices").await;
    c.find(Locator::Css("#f-q"))
        .await
        .unwrap()
        .send_keys("b1:00:00")
        .await
        .unwrap();
    c.find(Locator::Css("form.filters button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Css("#f-q[value='b1:00:00']"))
        .await
        .unwrap();
    let shown = driver::texts(&c, "#devices tbody td:first-child").await;
    assert_eq!(shown, api_search(&site, "b1:00:00"));
    assert_eq!(shown.len(), 2);

    // Open the stuck device and read why.
    c.find(Locator::LinkText("00:e0:b1:00:00:02"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_path(&c, "/devices/00e0b1000002").await;
    let why = c
        .find(Locator::Css("#why"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        why.contains("Stuck after lease") && why.contains("os_conf"),
        "{why}"
    );
    check_page(&c, &origin, "device").await;

    // Release its lease (confirmation page, checkbox) and see it gone.
    c.find(Locator::Css("a[href$='/release']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_path(&c, "/devices/00e0b1000002/release").await;
    check_page(&c, &origin, "release").await;
    c.find(Locator::Css("#confirm"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.find(Locator::Css("button.danger"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_path(&c, "/devices/00e0b1000002").await;
    let leases = site.leases().await.unwrap();
    assert!(
        leases.iter().all(|l| l.ip.to_string() != "192.168.92.11"),
        "{leases:?}"
    );
    let state = c
        .find(Locator::Css("#lease-state"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(state, "released");

    for page in ["leases", "ntp", "files"] {
        c.goto(&format!("{origin}/{page}")).await.unwrap();
        check_page(&c, &origin, page).await;
    }

    // Log out, and be refused.
    c.find(Locator::Css("header form button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_path(&c, "/login").await;
    c.goto(&format!("{origin}/site")).await.unwrap();
    wait_path(&c, "/login").await;
    let problems = driver::problems(&c, &origin).await;
    assert!(problems.is_empty(), "{problems:#?}");
    c.close().await.unwrap();
}

/// A fleet of `n` phones, leased a second apart, each with its config.
fn fleet(n: u32) -> Vec<pbxnet_inventory::Envelope> {
    let mut ev = Vec::new();
    for i in 0..n {
        let mac = format!(
            "00:90:8f:{:02x}:{:02x}:{:02x}",
            i >> 16,
            (i >> 8) & 0xff,
            i & 0xff
        );
        let ip = format!("10.{}.{}.{}", i / 62_500, i / 250 % 250, i % 250 + 1);
        let at = T0 - 3_600_000 + u64::from(i) * 700;
        ev.push(dhcp(at, "discover", &mac, &ip, "450HD", &format!("ph{i}")));
        ev.push(dhcp(at + 5, "ack", &mac, &ip, "450HD", &format!("ph{i}")));
        let cfg = format!("{}.cfg", mac.replace(':', ""));
        let outcome = if i % 50 == 0 { "not-found" } else { "ok" };
        ev.push(support::fetch(at + 300, &ip, &cfg, outcome));
    }
    ev
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_site_and_devices_pages_render_fast_and_light_with_5000_devices() {
    if let Err(why) = driver::available() {
        eprintln!("SKIPPED {}: {why}", module_path!());
        return;
    }
    let site = TestSite::new(&fleet(5000));
    let origin = serve(site.clone()).await;
    let wd = Driver::start();
    let c = wd.browser().await;
    driver::viewport(&c, 1280, 800).await;
    c.goto(&format!("{origin}/login")).await.unwrap();
    log_in(&c, "rita", "read only please").await;
    wait_path(&c, "/site").await;
    let mut report = Vec::new();
    for (name, path) in [
        ("site", "/site"),
        ("devices", "/devices"),
        ("devices-sorted", "/devices?sort=last&dir=desc&page=7"),
    ] {
        // The second load is the one measured (the first warms the connection).
        c.goto(&format!("{origin}{path}")).await.unwrap();
        c.goto(&format!("{origin}{path}")).await.unwrap();
        let t = driver::timing(&c).await;
        eprintln!("{name}: {t:?}");
        assert!(t.load_ms < 300.0, "{name} took {t:?}");
        assert!(t.weight_bytes < 200.0 * 1024.0, "{name} weighs {t:?}");
        report.push((name, t));
    }
    let rows = driver::texts(&c, "#devices tbody tr").await;
    assert_eq!(rows.len(), 100);
    let problems = driver::problems(&c, &origin).await;
    assert!(problems.is_empty(), "{problems:#?}");
    let out = driver::screenshot_dir().join("../web-perf.json");
    std::fs::write(out, serde_json::to_string_pretty(&report).unwrap()).unwrap();
    c.close().await.unwrap();
}
