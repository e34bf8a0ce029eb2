//! A real browser for the tests: Debian's chromium, headless, driven over
//! WebDriver (chromedriver, started on a free loopback port) with
//! fantoccini. Besides clicking, it checks what a person cannot see:
//! console errors and every request the page made (chromedriver's browser
//! and performance logs), accessibility basics in the DOM, navigation
//! timing and page weight, and it takes the screenshots.

#![allow(dead_code, unreachable_pub)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::wd::{Capabilities, WebDriverCompatibleCommand};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// The screen sizes of the screenshots: a laptop and a phone.
pub const SIZES: [(&str, u32, u32); 2] = [("1280x800", 1280, 800), ("390x844", 390, 844)];

/// Whether the browser is installed (tests/install-deps.sh installs it).
pub fn available() -> Result<(), String> {
    for p in [CHROMEDRIVER, CHROMIUM] {
        if !Path::new(p).exists() {
            return Err(format!(
                "{p} missing (apt-get install chromium chromium-driver)"
            ));
        }
    }
    Ok(())
}

/// chromedriver, killed on drop.
pub struct Driver {
    child: Child,
    pub url: String,
}

impl Driver {
    pub fn start() -> Driver {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver");
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let deadline = Instant::now() + Duration::from_secs(20);
        // Ready when it accepts connections (it prints nothing reliable).
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen on {addr}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Driver {
            child,
            url: format!("http://{addr}"),
        }
    }

    /// A new headless browser session, logging the console and the network.
    pub async fn browser(&self) -> Client {
        let caps: Capabilities = serde_json::from_value(json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--no-first-run", "--disable-background-networking", "--disable-sync",
                    "--disable-component-update", "--disable-default-apps", "--hide-scrollbars",
                    "--window-size=1280,800", "--force-device-scale-factor=1"
                ]
            },
            "goog:loggingPrefs": { "browser": "ALL", "performance": "ALL" }
        }))
        .unwrap();
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("WebDriver session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// chromedriver's log endpoint (`POST /session/{id}/se/log`), not in the
/// W3C protocol fantoccini speaks.
#[derive(Debug)]
struct GetLog(&'static str);

impl WebDriverCompatibleCommand for GetLog {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({ "type": self.0 }).to_string()),
        )
    }
}

/// A Chrome DevTools command through chromedriver
/// (`POST /session/{id}/goog/cdp/execute`).
#[derive(Debug)]
struct Cdp(&'static str, Value);

impl WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!(
            "session/{}/goog/cdp/execute",
            session.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({ "cmd": self.0, "params": self.1 }).to_string()),
        )
    }
}

/// Sets the page's viewport to exactly `width`×`height` CSS pixels (a
/// phone's when narrow: mobile emulation, so the page lays out as on one).
pub async fn viewport(c: &Client, width: u32, height: u32) {
    let params = json!({
        "width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600
    });
    c.issue_cmd(Cdp("Emulation.setDeviceMetricsOverride", params))
        .await
        .expect("viewport");
}

/// What went wrong on the pages since the last call: console errors and
/// requests to any host but `origin` (drains the logs).
pub async fn problems(c: &Client, origin: &str) -> Vec<String> {
    let mut out = Vec::new();
    let console = c.issue_cmd(GetLog("browser")).await.expect("browser log");
    for entry in console.as_array().into_iter().flatten() {
        if entry["level"] == "SEVERE" {
            out.push(format!("console: {}", entry["message"]));
        }
    }
    let perf = c
        .issue_cmd(GetLog("performance"))
        .await
        .expect("performance log");
    for entry in perf.as_array().into_iter().flatten() {
        let Some(text) = entry["message"].as_str() else {
            continue;
        };
        let Ok(msg) = serde_json::from_str::<Value>(text) else {
            continue;
        };
        if msg["message"]["method"] != "Network.requestWillBeSent" {
            continue;
        }
        let url = msg["message"]["params"]["request"]["url"]
            .as_str()
            .unwrap_or("");
        if !(url.starts_with(origin) || url.starts_with("data:")) {
            out.push(format!("request to another host: {url}"));
        }
    }
    out
}

/// Accessibility basics of the current page: every form field labelled,
/// headings in order (one h1 first, no level skipped going down), every
/// table with header cells.
pub async fn accessibility(c: &Client) -> Vec<String> {
    let script = r#"
const out = [];
for (const f of document.querySelectorAll('input, select, textarea')) {
  if (['hidden', 'submit', 'button'].includes(f.type)) continue;
  const named = (f.labels && f.labels.length) || f.getAttribute('aria-label') || f.getAttribute('aria-labelledby');
  if (!named) out.push('unlabelled field: ' + (f.name || f.id || f.outerHTML.slice(0, 60)));
}
let last = 0;
for (const h of document.querySelectorAll('h1, h2, h3, h4, h5, h6')) {
  const level = +h.tagName[1];
  if (last === 0 && level !== 1) out.push('first heading is ' + h.tagName);
  if (last && level > last + 1) out.push('heading ' + h.tagName + ' after h' + last + ': ' + h.textContent.trim());
  last = level;
}
if (last === 0) out.push('no heading');
for (const t of document.querySelectorAll('table')) {
  if (!t.querySelector('th')) out.push('table without header cells: ' + (t.id || t.outerHTML.slice(0, 60)));
}
return out;"#;
    let v = c.execute(script, vec![]).await.expect("a11y script");
    v.as_array()
        .into_iter()
        .flatten()
        .map(|s| s.as_str().unwrap_or_default().to_string())
        .collect()
}

/// The navigation timing of the current page (ms from navigation start)
/// and its weight (bytes of the document and every resource, decoded).
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Timing {
    pub response_end_ms: f64,
    pub dom_content_loaded_ms: f64,
    pub load_ms: f64,
    pub weight_bytes: f64,
}

pub async fn timing(c: &Client) -> Timing {
    let script = r#"
const n = performance.getEntriesByType('navigation')[0];
let weight = n.decodedBodySize;
for (const r of performance.getEntriesByType('resource')) weight += r.decodedBodySize;
return [n.responseEnd - n.startTime, n.domContentLoadedEventEnd - n.startTime, n.loadEventEnd - n.startTime, weight];"#;
    // loadEventEnd is 0 until the load event has finished.
    for _ in 0..100 {
        let v = c.execute(script, vec![]).await.expect("timing script");
        let n: Vec<f64> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap_or(0.0))
            .collect();
        if n[2] > 0.0 {
            return Timing {
                response_end_ms: n[0],
                dom_content_loaded_ms: n[1],
                load_ms: n[2],
                weight_bytes: n[3],
            };
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the page never finished loading");
}

/// The screenshot directory (`target/web-screenshots/`).
pub fn screenshot_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/web-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Screenshots of the current page at both sizes, `<name>-<size>.png`
/// (the viewport is left at the laptop size).
pub async fn screenshots(c: &Client, name: &str) {
    for (label, w, h) in SIZES {
        viewport(c, w, h).await;
        let png = c.screenshot().await.unwrap();
        std::fs::write(screenshot_dir().join(format!("{name}-{label}.png")), png).unwrap();
    }
    viewport(c, 1280, 800).await;
}

/// Texts of the elements matching `css`.
pub async fn texts(c: &Client, css: &str) -> Vec<String> {
    let mut out = Vec::new();
    for e in c.find_all(Locator::Css(css)).await.unwrap() {
        out.push(e.text().await.unwrap());
    }
    out
}
