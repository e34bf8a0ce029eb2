//! Namespace test lab: an isolated LAN for integration tests with real peers.
//!
//! [`Lab::new`] builds a hub namespace holding a bridge, a server namespace
//! and N client namespaces, each joined to the bridge by a veth pair whose
//! inside end is `eth0`. The LAN is 192.168.92.0/24 with the server at
//! 192.168.92.246; clients have no address unless asked (DHCP clients get
//! theirs from the server under test). Nothing is configured on the host side,
//! there is no default route, and IPv6 is off inside the lab to keep the wire
//! quiet. Names are unique per process and lab, so tests run in parallel.
//!
//! Everything is torn down on drop (also when a test panics): the processes
//! left in the namespaces are killed, then the namespaces deleted. Labs left
//! behind by a killed test run are removed by the next [`Lab::new`].
//!
//! Processes run through [`Netns::command`] lose `CAP_SYS_TIME` from their
//! bounding set (`setpriv --bounding-set -sys_time`), so no bug in a daemon or
//! a peer can step or slew the machine's clock.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod daemon;
mod events;
mod lab;
pub mod scrape;

pub use daemon::Daemon;
pub use events::EventTap;
pub use lab::{can_run_lab, Lab, LabBuilder, Netns, LAB_PREFIX, SERVER_IP, SUBNET_PREFIX_LEN};

/// Returns early from a test (printing why) when the lab cannot run here:
/// not root, or no `ip` command. CI runs as root, so there the tests run.
#[macro_export]
macro_rules! skip_unless_root {
    () => {
        if let Err(why) = $crate::can_run_lab() {
            eprintln!("SKIPPED {}: {}", module_path!(), why);
            return;
        }
    };
}

/// Path of a workspace binary for tests of *other* crates, which cannot use
/// `env!("CARGO_BIN_EXE_…")`: the target directory's profile folder next to
/// the running test executable.
pub fn workspace_binary(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test-binary>
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target profile dir");
    profile_dir.join(name)
}
