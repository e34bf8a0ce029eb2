//! The web view of a running pbxnet-admind in a real browser (Debian's
//! chromium over chromedriver): admind as a process on loopback, fed with
//! schema events on the event sockets it subscribes to, dhcpd's control
//! socket answered by the test. The same walk as an installer's, checked
//! against the JSON API: log in, the site page's counts are /api/v1/site's,
//! a MAC fragment lists exactly /api/v1/devices?q=, the stuck switch says
//! why, its lease released through the page is gone from /api/v1/leases,
//! logout, refused. No console error, no request to another host.

#[path = "../../pbxnet-admin-web/tests/driver/mod.rs"]
mod driver;
mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use fantoccini::{Client, Locator};
use serde_json::{json, Value};
use support::*;

fn now_ms() -> u64 {
    pbxnet_admin::api::now_ms()
}

fn line(daemon: &str, at: u64, event: &str) -> String {
    format!(r#"{{"v":1,"daemon":"{daemon}","at":{at},"event":{event}}}"#)
}

/// A good phone and a switch stuck after its lease (os_ins.alu, no os_conf).
fn events(t: u64) -> Vec<String> {
    let mut ev = phone_boot("00:90:8f:61:a0:22", "192.168.92.20", t);
    let sw = "00:e0:b1:70:00:01";
    ev.push(line("dhcpd", t, &format!(r#"{{"type":"dhcp","message":"discover","mac":"{sw}","vendor_class":"alcatel-lucent.omniswitch.OS6860"}}"#)));
    ev.push(line("dhcpd", t + 10, &format!(r#"{{"type":"dhcp","message":"ack","mac":"{sw}","ip":"192.168.92.30","class":"omniswitch","profile":"switches","lease_expires":{}}}"#, t + 86_400_000)));
    ev.push(line("tftpd", t + 500, r#"{"type":"transfer","client_ip":"192.168.92.30","path":"os_ins.alu","protocol":"tftp","bytes":300,"outcome":"ok"}"#));
    ev
}

/// dhcpd's control socket: the two leases, pool use, release.
fn dhcpd(
    leases: Arc<Mutex<Vec<(&'static str, &'static str)>>>,
) -> impl Fn(&Value) -> Option<Value> {
    move |request| {
        let mut l = leases.lock().unwrap();
        Some(match request {
            Value::String(s) if s == "Leases" => json!({"Leases": l.iter().map(|(mac, ip)| json!({
                "mac": mac, "ip": ip, "state": "bound", "expires": 1_900_000_000u64, "class": "c",
                "profile": "p", "vendor_class": "", "hostname": ""})).collect::<Vec<_>>()}),
            Value::String(s) if s == "Status" => {
                json!({"Status": {"pools": [{"pool": "lan", "used": l.len(), "size": 2}]}})
            }
            Value::Object(o) if o.contains_key("Release") => {
                let ip = o["Release"].as_str().unwrap_or_default().to_string();
                let before = l.len();
                l.retain(|(_, i)| *i != ip);
                if l.len() < before {
                    json!({"Released": [ip]})
                } else {
                    json!({"Error": format!("no lease for {ip}")})
                }
            }
            _ => json!({"Error": "unknown request"}),
        })
    }
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_view_of_a_running_admind_agrees_with_its_api() {
    if let Err(why) = driver::available() {
        eprintln!("SKIPPED {}: {why}", module_path!());
        return;
    }
    let site = Site::new();
    let pubs: Vec<(&str, Publisher)> = ["dhcpd", "tftpd", "ntpd", "licd"]
        .into_iter()
        .map(|d| (d, Publisher::bind(&site.events_socket(d))))
        .collect();
    let leases = Arc::new(Mutex::new(vec![
        ("00:90:8f:61:a0:22", "192.168.92.20"),
        ("00:e0:b1:70:00:01", "192.168.92.30"),
    ]));
    let _dhcpd = FakeControl::serve(&site.control_socket("dhcpd"), dhcpd(leases.clone()));
    let _admind = Admind::start(&site, "web");
    for (_, p) in &pubs {
        p.wait_subscriber();
    }
    let lines = events(now_ms() - 600_000);
    for (i, l) in lines.iter().enumerate() {
        let v: Value = serde_json::from_str(l).unwrap();
        let p = &pubs.iter().find(|(d, _)| *d == v["daemon"]).unwrap().1;
        assert_eq!(p.send(l), 1);
        // The sockets are independent streams: keep the order across them.
        let want = (i + 1) as u64;
        site.wait_for("/api/v1/status", "applied", |s| {
            s["events_applied"].as_u64() >= Some(want)
        });
    }

    let origin = site.url("");
    let wd = driver::Driver::start();
    let c = wd.browser().await;
    driver::viewport(&c, 1280, 800).await;
    c.goto(&format!("{origin}/site")).await.unwrap();
    wait_path(&c, "/login").await;
    c.find(Locator::Css("#user"))
        .await
        .unwrap()
        .send_keys(USER)
        .await
        .unwrap();
    c.find(Locator::Css("#password"))
        .await
        .unwrap()
        .send_keys(PASSWORD)
        .await
        .unwrap();
    c.find(Locator::Css("main button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_path(&c, "/site").await;

    let api = site.get("/api/v1/site");
    for (verdict, n) in api["by_verdict"].as_object().unwrap() {
        let shown = c
            .find(Locator::Css(&format!("[data-verdict={verdict}]")))
            .await
            .unwrap();
        assert_eq!(shown.text().await.unwrap(), n.to_string(), "{verdict}");
    }
    assert_eq!(api["by_verdict"]["stuck-after-lease"], 1, "{api}");
    let pool = c
        .find(Locator::Css("section[aria-labelledby=h-pools] td.mono"))
        .await
        .unwrap();
    assert_eq!(pool.text().await.unwrap(), "lan");

    c.goto(&format!("{origin}/devices?q=8f%3A61"))
        .await
        .unwrap();
    let shown = driver::texts(&c, "#devices tbody td:first-child").await;
    let api = site.get("/api/v1/devices?q=8f:61");
    let want: Vec<String> = api["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["mac"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(shown, want);
    assert_eq!(shown, ["00:90:8f:61:a0:22"]);

    c.goto(&format!("{origin}/devices/00e0b1700001"))
        .await
        .unwrap();
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
    driver::screenshots(&c, "admind-device").await;

    c.find(Locator::Css("a[href$='/release']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_path(&c, "/devices/00e0b1700001/release").await;
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
    wait_path(&c, "/devices/00e0b1700001").await;
    let notice = c
        .find(Locator::Css(".notice"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(notice, "The lease of 192.168.92.30 was released.");
    let api = site.get("/api/v1/leases");
    let ips: Vec<&str> = api["leases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["ip"].as_str().unwrap())
        .collect();
    assert_eq!(ips, ["192.168.92.20"], "{api}");

    c.find(Locator::Css("header form button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_path(&c, "/login").await;
    c.goto(&format!("{origin}/devices")).await.unwrap();
    wait_path(&c, "/login").await;
    let problems = driver::problems(&c, &origin).await;
    assert!(problems.is_empty(), "{problems:#?}");
    c.close().await.unwrap();
}
