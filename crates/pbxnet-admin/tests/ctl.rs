//! pbxnetctl against a running pbxnet-admind (its API, with a token), and
//! with admind stopped (the daemons' sockets and admind's event log).

mod support;

use std::process::Command;

use serde_json::{json, Value};
use support::*;

const CTL: &str = env!("CARGO_BIN_EXE_pbxnetctl");

fn ctl(site: &Site, token: Option<&str>, args: &[&str]) -> (i32, String, String) {
    let mut cmd = Command::new(CTL);
    cmd.args([
        "--url",
        &site.url(""),
        "-c",
        site.p("admin.toml").to_str().unwrap(),
    ])
    .args(args)
    .env_remove("PBXNET_TOKEN")
    .env_remove("PBXNET_TOKEN_FILE")
    .env_remove("PBXNET_ADMIN_URL")
    .env_remove("PBXNET_CONFIG");
    if let Some(t) = token {
        cmd.env("PBXNET_TOKEN", t);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ctl_json(site: &Site, token: Option<&str>, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let (code, out, err) = ctl(site, token, &all);
    assert_eq!(code, 0, "pbxnetctl {args:?}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn dhcpd_answer(request: &Value) -> Option<Value> {
    Some(match request {
        Value::String(s) if s == "Leases" => json!({"Leases": [
            {"mac": "00:90:8f:61:a0:22", "ip": "192.168.92.20", "state": "bound", "expires": 1_900_000_000u64,
             "class": "audiocodes-450hd", "profile": "p", "vendor_class": "450HD", "hostname": "phone-a022"}]}),
        Value::String(s) if s == "Status" => {
            json!({"Status": {"pools": [{"pool": "lan", "used": 1, "size": 50}]}})
        }
        _ => json!({"Error": "unknown request"}),
    })
}

#[test]
fn pbxnetctl_shows_the_site_through_the_api_and_without_admind() {
    let site = Site::new();
    let mut publishers = Publishers::bind(&site);
    let _dhcpd = FakeControl::serve(&site.control_socket("dhcpd"), dhcpd_answer);
    let _licd = FakeControl::serve(&site.control_socket("licd"), |_| {
        Some(json!({"system-mode": "grace", "keys": []}))
    });
    let admind = Admind::start(&site, "a");
    publishers.wait_subscribed();
    let t0 = now_ms() - 60_000;
    publishers.send_in_order(&site, &phone_boot("00:90:8f:61:a0:22", "192.168.92.20", t0));
    let old = now_ms() - 600_000;
    publishers.send_in_order(
        &site,
        &[format!(r#"{{"v":1,"daemon":"dhcpd","at":{old},"event":{{"type":"dhcp","message":"ack","mac":"00:e0:b1:70:00:01","ip":"192.168.92.30","class":"omniswitch"}}}}"#)],
    );

    // Through the API: the same JSON the API gives.
    let devices = ctl_json(&site, Some(READ_TOKEN), &["devices"]);
    assert_eq!(devices["devices"], site.get("/api/v1/devices")["devices"]);
    let stuck = ctl_json(&site, Some(READ_TOKEN), &["devices", "--stuck"]);
    assert_eq!(stuck["devices"].as_array().unwrap().len(), 1);
    assert_eq!(stuck["devices"][0]["mac"], "00:e0:b1:70:00:01");
    let one = ctl_json(&site, Some(READ_TOKEN), &["device", "00-90-8F-61-A0-22"]);
    assert_eq!(one["verdict"], "provisioned");
    let leases = ctl_json(&site, Some(READ_TOKEN), &["leases"]);
    assert_eq!(leases["leases"][0]["verdict"], "provisioned");
    assert_eq!(
        ctl_json(&site, Some(READ_TOKEN), &["license"])["system-mode"],
        "grace"
    );
    let (code, text, _) = ctl(&site, Some(READ_TOKEN), &["site"]);
    assert_eq!(code, 0);
    assert!(text.contains("devices: 2"), "{text}");
    assert!(text.contains("pool lan: 1/50 (2 %)"), "{text}");
    assert!(text.contains("unavailable: ntpd is unreachable"), "{text}");
    let (_, text, _) = ctl(&site, Some(READ_TOKEN), &["devices"]);
    assert!(text.lines().next().unwrap().starts_with("MAC"), "{text}");
    assert!(text.contains("00:90:8f:61:a0:22  provisioned"), "{text}");
    assert!(text.contains("2 devices"), "{text}");
    // Without a token: refused, with the hint, exit 77; ntpd down: 503 → 69.
    let (code, _, err) = ctl(&site, None, &["devices"]);
    assert_eq!(code, 77, "{err}");
    assert!(err.contains("401") && err.contains("PBXNET_TOKEN"), "{err}");
    let (code, _, err) = ctl(&site, Some(READ_TOKEN), &["ntp"]);
    assert_eq!(code, 69, "{err}");
    assert!(err.contains("ntpd is unreachable"), "{err}");

    // admind stopped: the same answers from the log and the sockets.
    admind.terminate();
    let (code, out, err) = ctl(&site, None, &["devices", "--json"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("admind does not answer"), "{err}");
    let fallback: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(fallback["devices"], devices["devices"]);
    let stuck_local = ctl_json(&site, None, &["devices", "--stuck"]);
    assert_eq!(stuck_local["devices"], stuck["devices"]);
    let one_local = ctl_json(&site, None, &["device", "00908f61a022"]);
    assert_eq!(one_local, one);
    assert_eq!(
        ctl_json(&site, None, &["leases"])["leases"][0]["verdict"],
        "provisioned"
    );
    assert_eq!(ctl_json(&site, None, &["license"])["system-mode"], "grace");
    let s = ctl_json(&site, None, &["site"]);
    assert_eq!(s["devices"], 2);
    assert_eq!(s["license_mode"], "grace");
    let (code, _, _) = ctl(&site, None, &["--no-fallback", "site"]);
    assert_eq!(code, 69);
}
