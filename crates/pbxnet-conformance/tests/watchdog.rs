//! Every network daemon pings systemd's watchdog from its main loop when
//! `WATCHDOG_USEC` is set (licd's own tests cover it), and only then.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use pbxnet_testlab::{skip_unless_root, workspace_binary, Daemon, Lab};

fn binary(name: &str) -> PathBuf {
    let path = workspace_binary(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo build --workspace --bins` (cargo test --workspace builds it)",
        path.display()
    );
    path
}

/// The example site, with state and sockets in a scratch directory.
fn scratch_config() -> tempfile::TempDir {
    let dir = common::copy_etc();
    let state = dir.path().join("state");
    let run = dir.path().join("run");
    std::fs::write(
        dir.path().join("site.toml"),
        format!(
            "server-address = \"192.168.92.246\"\nstate-directory = \"{}\"\nruntime-directory = \"{}\"\n",
            state.display(),
            run.display()
        ),
    )
    .unwrap();
    dir
}

fn pings(daemon: &str) {
    let lab = Lab::new(0).unwrap();
    let config = scratch_config();
    let config_arg = config.path().to_str().unwrap();
    let mut with = Daemon::spawn_with_env(
        lab.server(),
        &binary(daemon),
        &["--config", config_arg, "run"],
        &[("WATCHDOG_USEC", "200000")],
    )
    .unwrap();
    with.wait_ready(Duration::from_secs(20)).unwrap();
    // Several pings, so it is the loop pinging and not a one-off at start.
    for _ in 0..3 {
        with.wait_notify("WATCHDOG=1", Duration::from_secs(2))
            .unwrap();
    }
    drop(with);

    let mut without = Daemon::spawn(
        lab.server(),
        &binary(daemon),
        &["--config", config_arg, "run"],
    )
    .unwrap();
    without.wait_ready(Duration::from_secs(20)).unwrap();
    let silent = without.wait_notify("WATCHDOG=1", Duration::from_millis(500));
    assert!(silent.is_err(), "{daemon} pinged without a watchdog");
}

#[test]
fn dhcpd_pings_the_watchdog() {
    skip_unless_root!();
    pings("pbxnet-dhcpd");
}

#[test]
fn tftpd_pings_the_watchdog() {
    skip_unless_root!();
    pings("pbxnet-tftpd");
}

#[test]
fn ntpd_pings_the_watchdog() {
    skip_unless_root!();
    pings("pbxnet-ntpd");
}
