//! The lab itself: connectivity, isolation, capability bounding, teardown.

use std::process::Command;

use pbxnet_testlab::{skip_unless_root, Lab, SERVER_IP};

fn netns_names() -> String {
    String::from_utf8(
        Command::new("ip")
            .args(["netns", "list"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
}

#[test]
fn clients_reach_the_server_and_nothing_else() {
    skip_unless_root!();
    let lab = Lab::builder()
        .client_with_address("192.168.92.200".parse().unwrap())
        .client_with_mac("00:90:8f:61:a0:22")
        .build()
        .unwrap();
    let ping = lab
        .client(0)
        .run("ping", &["-c", "1", "-W", "2", &SERVER_IP.to_string()]);
    assert!(ping.is_ok(), "{ping:?}");
    // No default route: an outside address is unreachable, not sent.
    let routes = lab
        .client(0)
        .run("ip", &["route", "show", "default"])
        .unwrap();
    assert!(
        routes.stdout.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&routes.stdout)
    );
    let link = lab.client(1).run("ip", &["link", "show", "eth0"]).unwrap();
    assert!(String::from_utf8_lossy(&link.stdout).contains("00:90:8f:61:a0:22"));
}

#[test]
fn processes_in_the_lab_cannot_set_the_clock() {
    skip_unless_root!();
    let lab = Lab::new(1).unwrap();
    let out = lab
        .client(0)
        .run("grep", &["CapBnd", "/proc/self/status"])
        .unwrap();
    let line = String::from_utf8_lossy(&out.stdout);
    let mask = u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap();
    const CAP_SYS_TIME: u32 = 25;
    assert_eq!(
        mask & (1 << CAP_SYS_TIME),
        0,
        "CAP_SYS_TIME still in the bounding set: {line}"
    );
    let date = lab.client(0).run("date", &["-s", "@0"]);
    assert!(date.is_err(), "setting the clock must fail inside the lab");
}

#[test]
fn dropping_the_lab_removes_its_namespaces_even_on_panic() {
    skip_unless_root!();
    let name = std::panic::catch_unwind(|| {
        let lab = Lab::new(1).unwrap();
        let name = lab.server().name().to_string();
        assert!(netns_names().contains(&name));
        std::panic::panic_any(name);
    })
    .unwrap_err();
    let name = name.downcast_ref::<String>().unwrap();
    assert!(!netns_names().contains(name.as_str()), "{name} left behind");
}
