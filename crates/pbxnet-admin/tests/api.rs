//! pbxnet-admind as a real process, its API asked with curl: events from
//! sockets the test serves reach the inventory and the API; the event log
//! survives SIGTERM and kill -9; authentication, roles and bad input;
//! daemons that do not answer; the OpenAPI description against the routes.

mod support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::*;

#[test]
fn events_from_the_four_sockets_build_the_inventory_the_api_serves() {
    let site = Site::new();
    let mut publishers = Publishers::bind(&site);
    let admind = Admind::start(&site, "a");
    publishers.wait_subscribed();
    let t0 = now_ms() - 60_000;
    let mut lines = phone_boot("00:90:8f:61:a0:22", "192.168.92.20", t0);
    lines.extend(phone_boot("00:90:8f:61:a0:23", "192.168.92.21", t0));
    publishers.send_in_order(&site, &lines);
    // A switch that got its lease and nothing else, 10 minutes ago: stuck.
    let old = now_ms() - 600_000;
    publishers.send_in_order(
        &site,
        &[
            format!(r#"{{"v":1,"daemon":"dhcpd","at":{old},"event":{{"type":"dhcp","message":"discover","mac":"00:e0:b1:70:00:01","vendor_class":"alcatel-lucent.omniswitch.OS6360-P24"}}}}"#),
            format!(r#"{{"v":1,"daemon":"dhcpd","at":{},"event":{{"type":"dhcp","message":"ack","mac":"00:e0:b1:70:00:01","ip":"192.168.92.30","class":"omniswitch","lease_expires":{}}}}}"#, old + 5, now_ms() + 3_600_000),
        ],
    );
    // Refused lines (not JSON, schema version 2, another daemon's envelope)
    // and a gap marker.
    publishers.dhcpd.send("{not json");
    publishers
        .dhcpd
        .send(&lines[0].replace("\"v\":1", "\"v\":2"));
    publishers.dhcpd.send(&lines[2]);
    publishers
        .dhcpd
        .send(r#"{"v":1,"daemon":"dhcpd","at":5,"event":{"type":"lost","count":7}}"#);
    let status = site.wait_for("/api/v1/status", "lost marker counted", |s| {
        s["events_lost"] == 7
    });
    let dhcpd = &status["subscriptions"][0];
    assert_eq!(dhcpd["daemon"], "dhcpd");
    assert_eq!(dhcpd["refused"], 3, "{status:#}");
    assert_eq!(dhcpd["lost"], 7);
    assert_eq!(dhcpd["connected"], true);

    let s = site.get("/api/v1/site");
    assert_eq!(s["devices"], 3, "{s:#}");
    assert_eq!(s["by_verdict"]["provisioned"], 2, "{s:#}");
    assert_eq!(s["by_verdict"]["stuck-after-lease"], 1, "{s:#}");
    // The same counts for Prometheus, behind the same token, valid for promtool.
    let (code, metrics) = site.http_text("GET", "/metrics", Some(&bearer(READ_TOKEN)), None);
    assert_eq!(code, 200, "{metrics}");
    assert!(
        metrics.contains("pbxnet_inventory_devices{verdict=\"provisioned\"} 2\n")
            && metrics.contains("pbxnet_inventory_devices{verdict=\"stuck-after-lease\"} 1\n"),
        "{metrics}"
    );
    assert_eq!(site.http_text("GET", "/metrics", None, None).0, 401);
    if let Ok(mut promtool) = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    {
        use std::io::Write;
        promtool
            .stdin
            .take()
            .unwrap()
            .write_all(metrics.as_bytes())
            .unwrap();
        let out = promtool.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "promtool: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    } else {
        eprintln!("promtool not installed: /metrics format not checked");
    }
    assert_eq!(s["events_lost"], 7);
    // No control socket is served here: the site says which daemons are missing.
    let missing: Vec<&str> = s["unavailable"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["daemon"].as_str().unwrap())
        .collect();
    assert_eq!(missing, ["dhcpd", "ntpd", "licd"]);

    let all = site.get("/api/v1/devices");
    let macs: Vec<&str> = all["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["mac"].as_str().unwrap())
        .collect();
    assert_eq!(
        macs,
        [
            "00:90:8f:61:a0:22",
            "00:90:8f:61:a0:23",
            "00:e0:b1:70:00:01"
        ]
    );
    assert_eq!(all["devices"][0]["firmware"], "3.4.8.229");
    assert_eq!(all["devices"][0]["class"], "audiocodes-450hd");
    let stuck = site.get("/api/v1/devices?verdict=stuck-after-lease");
    assert_eq!(stuck["devices"].as_array().unwrap().len(), 1);
    assert_eq!(stuck["devices"][0]["mac"], "00:e0:b1:70:00:01");
    let found = site.get("/api/v1/devices?q=61-a0-23");
    assert_eq!(found["devices"].as_array().unwrap().len(), 1, "{found:#}");
    assert_eq!(
        site.get("/api/v1/devices?q=192.168.92.3")["devices"][0]["mac"],
        "00:e0:b1:70:00:01"
    );
    assert_eq!(
        site.get("/api/v1/devices?q=PHONE-00908F61A022")["devices"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        site.get("/api/v1/devices?class=OMNISWITCH")["devices"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        site.get("/api/v1/devices?firmware=3.4.8.229&verdict=provisioned")["devices"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // Cursor paging: one by one, every device once.
    let mut paged = Vec::new();
    let mut path = "/api/v1/devices?limit=1".to_string();
    loop {
        let page = site.get(&path);
        paged.push(page["devices"][0]["mac"].as_str().unwrap().to_string());
        match page["next"].as_str() {
            Some(n) => path = format!("/api/v1/devices?limit=1&cursor={n}"),
            None => break,
        }
    }
    assert_eq!(paged, macs);

    let one = site.get("/api/v1/devices/00908F61A022");
    assert_eq!(one["verdict"], "provisioned");
    assert_eq!(one["device"]["lease"]["ip"], "192.168.92.20");
    let boot = &one["device"]["boots"][0];
    assert_eq!(boot["files"][0]["path"], "/00908f61a022.cfg");
    assert!(boot["first_ntp"].is_u64(), "{one:#}");
    let switch = site.get("/api/v1/devices/00:e0:b1:70:00:01");
    assert_eq!(switch["verdict"], "stuck-after-lease");
    assert!(
        switch["missing"]
            .as_array()
            .unwrap()
            .contains(&json!("instructions")),
        "{switch:#}"
    );
    let (status, body) = site.http(
        "GET",
        "/api/v1/devices/00:00:00:00:00:99",
        Some(&bearer(READ_TOKEN)),
        None,
    );
    assert_eq!(
        (status, body["error"].as_str().unwrap()),
        (404, "no device 00:00:00:00:00:99 in the inventory")
    );

    let files = site.get("/api/v1/files?outcome=ok");
    assert_eq!(files["files"].as_array().unwrap().len(), 2, "{files:#}");
    assert_eq!(files["files"][0]["path"], "/00908f61a022.cfg");
    assert_eq!(files["files"][0]["protocols"]["http"], 1);
    admind.terminate();
}

#[test]
fn the_inventory_survives_sigterm_and_restart() {
    let site = Site::new();
    let mut publishers = Publishers::bind(&site);
    let admind = Admind::start(&site, "a");
    publishers.wait_subscribed();
    let t0 = now_ms() - 60_000;
    publishers.send_in_order(&site, &phone_boot("00:90:8f:61:a0:22", "192.168.92.20", t0));
    let before = site.get("/api/v1/devices/00:90:8f:61:a0:22");
    let log = admind.terminate();
    assert!(log.contains("stopped; event log closed"), "{log}");
    publishers.dhcpd.disconnect_all();
    let _admind = Admind::start(&site, "b");
    let after = site.get("/api/v1/devices/00:90:8f:61:a0:22");
    assert_eq!(before, after);
    let status = site.get("/api/v1/status");
    assert_eq!(status["store"]["replayed"], 4);
}

/// kill -9 while a publisher streams: every event the API had shown (so
/// committed) before the kill is in the inventory rebuilt at restart.
#[test]
fn kill_9_during_a_stream_loses_no_committed_event() {
    let site = Site::new();
    let publishers = Publishers::bind(&site);
    let admind = Admind::start(&site, "a");
    publishers.wait_subscribed();
    let dhcpd = std::sync::Arc::new(publishers.dhcpd);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let streamer = {
        let (dhcpd, stop) = (dhcpd.clone(), stop.clone());
        std::thread::spawn(move || {
            let t0 = now_ms();
            let mut sent = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && sent < 200_000 {
                let mac = format!(
                    "00:90:8f:{:02x}:{:02x}:{:02x}",
                    (sent >> 16) & 0xff,
                    (sent >> 8) & 0xff,
                    sent & 0xff
                );
                let line = format!(
                    r#"{{"v":1,"daemon":"dhcpd","at":{},"event":{{"type":"dhcp","message":"discover","mac":"{mac}"}}}}"#,
                    t0 + sent
                );
                if dhcpd.send(&line) == 0 {
                    break;
                }
                sent += 1;
            }
            sent
        })
    };
    // Let the stream run, then read what the API shows, and kill at once.
    let shown = site.wait_for("/api/v1/status", "events flowing", |s| {
        s["events_applied"].as_u64() > Some(5000)
    });
    let shown_events = shown["events_applied"].as_u64().unwrap();
    let shown_devices = site.get("/api/v1/site")["devices"].as_u64().unwrap();
    let log = admind.kill_9();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let sent = streamer.join().unwrap();
    assert!(
        sent > shown_events,
        "the stream was still running at the kill"
    );
    dhcpd.disconnect_all();
    let _admind = Admind::start(&site, "b");
    let status = site.get("/api/v1/status");
    let replayed = status["store"]["replayed"].as_u64().unwrap();
    let applied = status["events_applied"].as_u64().unwrap();
    assert!(
        replayed >= shown_events,
        "replayed {replayed} < shown {shown_events}; log before kill:\n{log}"
    );
    assert_eq!(applied, replayed, "every stored line is applied");
    let devices = site.get("/api/v1/site")["devices"].as_u64().unwrap();
    assert!(
        devices >= shown_devices,
        "{devices} devices after restart, {shown_devices} shown before"
    );
    // Each event was a new device: nothing in between is missing either.
    assert_eq!(devices, applied);
    let first = site.get("/api/v1/devices?limit=1");
    assert_eq!(first["devices"][0]["mac"], "00:90:8f:00:00:00");
}

#[test]
fn authentication_roles_and_refusals_are_counted() {
    let site = Site::new();
    let _admind = Admind::start(&site, "a");
    // /healthz is open; everything else needs credentials.
    let (status, body) = site.http("GET", "/healthz", None, None);
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
    let doc: Value = serde_json::from_str(pbxnet_admin::api::openapi::OPENAPI_JSON).unwrap();
    for (path, item) in doc["paths"].as_object().unwrap() {
        if path == "/healthz" {
            continue;
        }
        for method in item.as_object().unwrap().keys() {
            let concrete = path
                .replace("{mac}", "00:90:8f:61:a0:22")
                .replace("{ip}", "192.168.92.20");
            let (status, body) = site.http(&method.to_uppercase(), &concrete, None, None);
            assert_eq!(status, 401, "{method} {path} without credentials: {body}");
            assert!(body["error"]
                .as_str()
                .unwrap()
                .contains("authentication required"));
        }
    }
    // The read token reads and may not release; the admin token and the
    // user may (dhcpd is down here, so they get as far as 503).
    assert_eq!(
        site.http("GET", "/api/v1/site", Some(&bearer(READ_TOKEN)), None)
            .0,
        200
    );
    let (status, body) = site.http(
        "DELETE",
        "/api/v1/leases/192.168.92.20",
        Some(&bearer(READ_TOKEN)),
        None,
    );
    assert_eq!(status, 403, "{body}");
    assert!(body["error"].as_str().unwrap().contains("admin role"));
    let (status, body) = site.http(
        "DELETE",
        "/api/v1/leases/192.168.92.20",
        Some(&bearer(ADMIN_TOKEN)),
        None,
    );
    assert_eq!(
        (status, body["daemon"].as_str()),
        (503, Some("dhcpd")),
        "{body}"
    );
    assert_eq!(
        site.http("GET", "/api/v1/site", Some(&basic(USER, PASSWORD)), None)
            .0,
        200
    );
    let (status, _) = site.http("GET", "/api/v1/site", Some(&basic(USER, "wrong")), None);
    assert_eq!(status, 401);
    let (status, _) = site.http(
        "GET",
        "/api/v1/site",
        Some(&basic("mallory", PASSWORD)),
        None,
    );
    assert_eq!(status, 401);
    assert_eq!(
        site.http("GET", "/api/v1/site", Some("Digest abc"), None).0,
        401
    );

    // 1,000 requests with bad tokens, over 8 keep-alive connections: all
    // refused, the daemon still serves, and they are counted.
    let started = Instant::now();
    let workers: Vec<_> = (0..8)
        .map(|w| {
            let url = site.url("/api/v1/devices");
            std::thread::spawn(move || {
                let mut cmd = std::process::Command::new("curl");
                cmd.args(["-sS", "-o", "/dev/null", "-w", "%{http_code}\n"]);
                for i in 0..125 {
                    cmd.args([
                        "-H",
                        &format!("Authorization: Bearer bad-{w}-{i}"),
                        &url,
                        "--next",
                        "-sS",
                        "-o",
                        "/dev/null",
                        "-w",
                        "%{http_code}\n",
                    ]);
                }
                cmd.arg(site_url_healthz(&url));
                let out = cmd.output().unwrap();
                String::from_utf8(out.stdout).unwrap()
            })
        })
        .collect();
    let mut refused = 0;
    for w in workers {
        let codes = w.join().unwrap();
        let codes: Vec<&str> = codes.lines().collect();
        assert_eq!(codes.len(), 126);
        refused += codes[..125].iter().filter(|c| **c == "401").count();
        assert_eq!(codes[125], "200");
    }
    assert_eq!(refused, 1000);
    assert!(started.elapsed() < Duration::from_secs(60));
    let s = site.get("/api/v1/status");
    assert_eq!(s["api"]["bad_token"], 1000, "{s:#}");
    assert_eq!(s["api"]["bad_password"], 2);
    assert_eq!(s["api"]["forbidden"], 1);
    let (status, _) = site.http("GET", "/api/v1/site", Some(&bearer(READ_TOKEN)), None);
    assert_eq!(status, 200);
    // Refusals are logged with the reason, never the secret.
    let log = std::fs::read_to_string(&_admind.log).unwrap();
    assert!(log.contains("API call refused"), "{log}");
    assert!(!log.contains("bad-3-7"), "a token reached the log");
    assert!(!log.contains("wrong"), "a password reached the log");
}

fn site_url_healthz(url: &str) -> String {
    let base = url.split("/api/").next().unwrap();
    format!("{base}/healthz")
}

#[test]
fn bad_input_is_a_4xx_naming_the_parameter() {
    let site = Site::new();
    let _admind = Admind::start(&site, "a");
    let auth = bearer(ADMIN_TOKEN);
    let cases: &[(&str, &str, Option<&str>, u16, &str)] = &[
        ("GET", "/api/v1/devices?colour=red", None, 400, "colour"),
        ("GET", "/api/v1/devices?verdict=happy", None, 400, "verdict"),
        ("GET", "/api/v1/devices?limit=0", None, 400, "limit"),
        ("GET", "/api/v1/devices?limit=many", None, 400, "limit"),
        ("GET", "/api/v1/devices?cursor=zz", None, 400, "cursor"),
        ("GET", "/api/v1/devices?q=", None, 400, "q"),
        ("GET", "/api/v1/devices?q=a&q=b", None, 400, "q"),
        ("GET", "/api/v1/site?verbose=1", None, 400, "verbose"),
        ("GET", "/api/v1/files?outcome=great", None, 400, "outcome"),
        ("GET", "/api/v1/leases?cursor=x", None, 400, "cursor"),
        ("GET", "/api/v1/events?daemon=httpd", None, 400, "daemon"),
        ("GET", "/api/v1/devices/not-a-mac", None, 400, "mac"),
        ("DELETE", "/api/v1/leases/not-an-ip", None, 400, "ip"),
        (
            "POST",
            "/api/v1/leases/release",
            Some("{\"ip\": "),
            400,
            "body",
        ),
        (
            "POST",
            "/api/v1/leases/release",
            Some("{\"ipp\": \"192.168.92.20\"}"),
            400,
            "ipp",
        ),
        ("POST", "/api/v1/leases/release", Some("{}"), 400, "body"),
        ("POST", "/api/v1/leases/release", Some("[1,2]"), 400, "body"),
        (
            "POST",
            "/api/v1/leases/release",
            Some("{\"ip\": \"300.1.1.1\"}"),
            400,
            "ip",
        ),
        (
            "POST",
            "/api/v1/leases/release",
            Some("{\"mac\": 12}"),
            400,
            "mac",
        ),
    ];
    for (method, path, body, want, parameter) in cases {
        let (status, answer) = site.http(method, path, Some(&auth), *body);
        assert_eq!(status, *want, "{method} {path} {body:?}: {answer}");
        assert_eq!(answer["parameter"], *parameter, "{method} {path}: {answer}");
        assert!(
            answer["error"].as_str().unwrap().contains(parameter) || *parameter == "body",
            "{answer}"
        );
    }
    // A huge query string: refused before anything else, naming it.
    let huge = format!("/api/v1/devices?q={}", "a".repeat(10_000));
    let (status, answer) = site.http("GET", &huge, Some(&auth), None);
    assert_eq!(
        (status, answer["parameter"].as_str()),
        (414, Some("query")),
        "{answer}"
    );
    // Beyond 64 KiB the HTTP parser (hyper) refuses the request line itself,
    // with the same status and no body; the daemon serves on.
    let huger = format!("/api/v1/devices?q={}", "a".repeat(100_000));
    assert_eq!(site.http("GET", &huger, Some(&auth), None).0, 414);
    // A huge body.
    let big = format!("{{\"ip\": \"{}\"}}", "1".repeat(100_000));
    let (status, answer) = site.http("POST", "/api/v1/leases/release", Some(&auth), Some(&big));
    assert_eq!(
        (status, answer["parameter"].as_str()),
        (413, Some("body")),
        "{answer}"
    );
    // Unknown resources and methods are JSON too.
    let (status, answer) = site.http("GET", "/api/v1/nothing", Some(&auth), None);
    assert_eq!(
        (status, answer["error"].as_str()),
        (404, Some("no such resource: /api/v1/nothing"))
    );
    let (status, answer) = site.http("PUT", "/api/v1/site", Some(&auth), None);
    assert_eq!(status, 405, "{answer}");
    let s = site.get("/api/v1/status");
    assert!(
        s["api"]["bad_requests"].as_u64().unwrap() >= cases.len() as u64 + 3,
        "{s:#}"
    );
}

#[test]
fn daemons_that_do_not_answer_are_503_naming_them_within_the_timeout() {
    let site = Site::new();
    let _admind = Admind::start(&site, "a");
    // No sockets at all.
    for (path, daemon) in [
        ("/api/v1/leases", "dhcpd"),
        ("/api/v1/ntp/tracking", "ntpd"),
        ("/api/v1/ntp/sources", "ntpd"),
        ("/api/v1/ntp/clients", "ntpd"),
        ("/api/v1/license", "licd"),
    ] {
        let (status, body) = site.http("GET", path, Some(&bearer(READ_TOKEN)), None);
        assert_eq!(
            (status, body["daemon"].as_str()),
            (503, Some(daemon)),
            "{path}: {body}"
        );
        assert!(body["error"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{daemon} is unreachable")));
    }
    // Sockets that accept and never answer: 503 after the 300 ms timeout.
    let _dhcpd = FakeControl::serve(&site.control_socket("dhcpd"), |_| None);
    let _ntpd = FakeControl::serve(&site.control_socket("ntpd"), |_| None);
    let _licd = FakeControl::serve(&site.control_socket("licd"), |_| None);
    let started = Instant::now();
    let (status, body) = site.http("GET", "/api/v1/leases", Some(&bearer(READ_TOKEN)), None);
    assert_eq!(
        (status, body["daemon"].as_str()),
        (503, Some("dhcpd")),
        "{body}"
    );
    assert!(
        body["error"].as_str().unwrap().contains("within 300 ms"),
        "{body}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    // /site asks the three at once and still answers, naming them.
    let started = Instant::now();
    let s = site.get("/api/v1/site");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(s["unavailable"].as_array().unwrap().len(), 3, "{s:#}");
    let st = site.get("/api/v1/status");
    assert!(st["api"]["daemon_unavailable"].as_u64().unwrap() >= 6);
}

fn dhcpd_answer(request: &Value) -> Option<Value> {
    let lease = |mac: &str, ip: &str, class: &str, host: &str| {
        json!({"mac": mac, "ip": ip, "state": "bound", "expires": 1_900_000_000u64, "class": class,
               "profile": "p", "vendor_class": "", "hostname": host})
    };
    Some(match request {
        Value::String(s) if s == "Leases" => json!({"Leases": [
            lease("00:e0:b1:70:00:01", "192.168.92.30", "omniswitch", ""),
            lease("00:90:8f:61:a0:22", "192.168.92.20", "audiocodes-450hd", "phone-a022"),
            lease("00:90:8f:61:a0:23", "192.168.92.21", "audiocodes-450hd", "phone-a023"),
        ]}),
        Value::String(s) if s == "Status" => {
            json!({"Status": {"version": "0", "uptime": 1, "counters": {}, "pools": [{"pool": "lan", "used": 3, "size": 100}]}})
        }
        Value::Object(o) if o.contains_key("Release") => match o["Release"].as_str().unwrap() {
            "192.168.92.20" | "00:90:8f:61:a0:22" => json!({"Released": ["192.168.92.20"]}),
            other => json!({"Error": format!("no lease for {other}")}),
        },
        _ => json!({"Error": "unknown request"}),
    })
}

#[test]
fn leases_come_from_dhcpd_joined_with_the_inventory_and_release_needs_admin() {
    let site = Site::new();
    let mut publishers = Publishers::bind(&site);
    let dhcpd = FakeControl::serve(&site.control_socket("dhcpd"), dhcpd_answer);
    let _admind = Admind::start(&site, "a");
    publishers.wait_subscribed();
    publishers.send_in_order(
        &site,
        &phone_boot("00:90:8f:61:a0:22", "192.168.92.20", now_ms() - 60_000),
    );

    let all = site.get("/api/v1/leases");
    let ips: Vec<&str> = all["leases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["ip"].as_str().unwrap())
        .collect();
    assert_eq!(ips, ["192.168.92.20", "192.168.92.21", "192.168.92.30"]);
    assert_eq!(all["leases"][0]["verdict"], "provisioned");
    assert_eq!(all["leases"][0]["firmware"], "3.4.8.229");
    assert!(all["leases"][1].get("verdict").is_none());
    assert_eq!(
        site.get("/api/v1/leases?verdict=provisioned")["leases"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        site.get("/api/v1/leases?class=audiocodes-450hd")["leases"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        site.get("/api/v1/leases?q=a023")["leases"][0]["ip"],
        "192.168.92.21"
    );
    let page = site.get("/api/v1/leases?limit=2");
    assert_eq!(page["next"], "192.168.92.21");
    assert_eq!(
        site.get("/api/v1/leases?limit=2&cursor=192.168.92.21")["leases"][0]["ip"],
        "192.168.92.30"
    );
    let s = site.get("/api/v1/site");
    assert_eq!(s["pools"], json!([{"pool": "lan", "used": 3, "size": 100}]));

    let (status, body) = site.http(
        "DELETE",
        "/api/v1/leases/192.168.92.20",
        Some(&bearer(ADMIN_TOKEN)),
        None,
    );
    assert_eq!(
        (status, &body),
        (200, &json!({"released": ["192.168.92.20"]}))
    );
    let (status, body) = site.http(
        "DELETE",
        "/api/v1/leases/192.168.92.99",
        Some(&bearer(ADMIN_TOKEN)),
        None,
    );
    assert_eq!(status, 404, "{body}");
    let (status, body) = site.http(
        "POST",
        "/api/v1/leases/release",
        Some(&basic(USER, PASSWORD)),
        Some(r#"{"mac":"00-90-8F-61-A0-22"}"#),
    );
    assert_eq!(
        (status, &body),
        (200, &json!({"released": ["192.168.92.20"]}))
    );
    let (status, _) = site.http(
        "DELETE",
        "/api/v1/leases/192.168.92.20",
        Some(&bearer(READ_TOKEN)),
        None,
    );
    assert_eq!(status, 403);
    let requests = dhcpd.requests.lock().unwrap().clone();
    let releases: Vec<&Value> = requests
        .iter()
        .filter(|r| r.get("Release").is_some())
        .collect();
    // The read token's DELETE never reached dhcpd.
    assert_eq!(
        releases,
        [
            &json!({"Release": "192.168.92.20"}),
            &json!({"Release": "192.168.92.99"}),
            &json!({"Release": "00:90:8f:61:a0:22"})
        ]
    );
}

#[test]
fn ntp_and_license_pass_the_daemons_answers_through() {
    let site = Site::new();
    let _ntpd = FakeControl::serve(&site.control_socket("ntpd"), |r| {
        Some(match r["command"].as_str() {
            Some("status") => {
                json!({"status": {"synchronized": true, "stratum": 3, "refid": "C0A85C01", "leap": "normal",
                "client": {"clock_mode": "slew", "sources": [{"address": "192.168.92.1", "state": "selected"}]}}})
            }
            Some("clients") => {
                json!({"clients": {"table_slots_per_worker": 4096, "workers": 1, "clients": [{"address": "192.168.92.20", "requests": 4, "dropped": 0, "interval_s": 64.0, "last_s": 3.0}]}})
            }
            _ => json!(null),
        })
    });
    let _licd = FakeControl::serve(&site.control_socket("licd"), |_| {
        Some(json!({"system-mode": "normal", "keys": []}))
    });
    let _admind = Admind::start(&site, "a");
    let tracking = site.get("/api/v1/ntp/tracking");
    assert_eq!(tracking["stratum"], 3);
    assert!(tracking["client"].get("sources").is_none());
    assert_eq!(
        site.get("/api/v1/ntp/sources")["sources"][0]["state"],
        "selected"
    );
    assert_eq!(site.get("/api/v1/ntp/clients")["clients"][0]["requests"], 4);
    assert_eq!(site.get("/api/v1/license")["system-mode"], "normal");
    let s = site.get("/api/v1/site");
    assert_eq!(
        s["time"],
        json!({"synchronized": true, "stratum": 3, "refid": "C0A85C01", "leap": "normal"})
    );
    assert_eq!(s["license_mode"], "normal");
    assert_eq!(
        s["unavailable"].as_array().unwrap().len(),
        1,
        "only dhcpd is missing: {s:#}"
    );
}

/// Every operation the OpenAPI description lists answers on the running
/// daemon (not 404/405), and the served description is the one checked.
#[test]
fn every_described_operation_is_served() {
    let site = Site::new();
    let _admind = Admind::start(&site, "a");
    let served = site.get("/api/v1/openapi.json");
    let doc: Value = serde_json::from_str(pbxnet_admin::api::openapi::OPENAPI_JSON).unwrap();
    assert_eq!(served, doc);
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let concrete = path
                .replace("{mac}", "00:90:8f:61:a0:22")
                .replace("{ip}", "192.168.92.20");
            if path.ends_with("/events") {
                continue; // a stream: checked by the SSE test
            }
            let body = (method == "post").then_some("{\"ip\":\"192.168.92.20\"}");
            let (status, answer) = site.http(
                &method.to_uppercase(),
                &concrete,
                Some(&bearer(ADMIN_TOKEN)),
                body,
            );
            assert!(
                ![404, 405].contains(&status)
                    || answer["error"]
                        .as_str()
                        .is_some_and(|e| e.starts_with("no device")),
                "{method} {path}: {status} {answer}"
            );
        }
    }
}

#[test]
fn events_are_streamed_live_as_server_sent_events() {
    let site = Site::new();
    let mut publishers = Publishers::bind(&site);
    let _admind = Admind::start(&site, "a");
    publishers.wait_subscribed();
    let mut curl = std::process::Command::new("curl")
        .args([
            "-sS",
            "-N",
            "--max-time",
            "5",
            "-H",
            &format!("Authorization: {}", bearer(READ_TOKEN)),
            &site.url("/api/v1/events?daemon=dhcpd"),
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the stream is open (admind counts the request), then publish.
    site.wait_for("/api/v1/status", "SSE client connected", |s| {
        s["api"]["requests"].as_u64() >= Some(2)
    });
    std::thread::sleep(Duration::from_millis(200));
    publishers.send_in_order(
        &site,
        &phone_boot("00:90:8f:61:a0:22", "192.168.92.20", now_ms()),
    );
    let out = curl.wait_with_output_timeout();
    assert!(
        out.contains("event: dhcp\ndata: {\"v\":1,\"daemon\":\"dhcpd\""),
        "{out}"
    );
    assert_eq!(out.matches("event: dhcp").count(), 2, "{out}");
    assert!(
        !out.contains("event: transfer"),
        "filtered by daemon: {out}"
    );
}

trait WaitOutput {
    fn wait_with_output_timeout(&mut self) -> String;
}

impl WaitOutput for std::process::Child {
    fn wait_with_output_timeout(&mut self) -> String {
        use std::io::Read;
        let mut out = String::new();
        self.stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        let _ = self.wait();
        out
    }
}

#[test]
fn sighup_reloads_credentials_and_keeps_them_on_a_broken_file() {
    let site = Site::new();
    let mut admind = Admind::start(&site, "a");
    let newcomer = "fresh-token-0123456789abcdef0123456789abcd";
    assert_eq!(
        site.http("GET", "/api/v1/site", Some(&bearer(newcomer)), None)
            .0,
        401
    );
    site.write_config(&[("newcomer", newcomer, "read")]);
    admind.signal(nix::sys::signal::Signal::SIGHUP);
    admind.wait_ready();
    assert_eq!(
        site.http("GET", "/api/v1/site", Some(&bearer(newcomer)), None)
            .0,
        200
    );
    std::fs::write(site.p("admin.toml"), "listen = 8640\n").unwrap();
    admind.signal(nix::sys::signal::Signal::SIGHUP);
    admind.wait_ready();
    assert_eq!(
        site.http("GET", "/api/v1/site", Some(&bearer(newcomer)), None)
            .0,
        200
    );
    let log = admind.log_text();
    assert!(
        log.contains("admin.toml:1:10"),
        "the refused file is named with line and column: {log}"
    );
}

#[test]
fn check_names_file_line_and_column() {
    let site = Site::new();
    std::fs::write(
        site.p("admin.toml"),
        "listen = \"127.0.0.1:8640\"\n[[token]]\nname = \"x\"\nsha256 = \"abc\"\nrole = \"writer\"\n",
    )
    .unwrap();
    let out = std::process::Command::new(ADMIND)
        .args(["-c", site.p("admin.toml").to_str().unwrap(), "check"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("admin.toml:4:10"), "{text}");
    assert!(text.contains("not 64 hexadecimal digits"), "{text}");
    assert!(text.contains("admin.toml:5:8"), "{text}");
    assert!(text.contains("unknown role `writer`"), "{text}");
}
