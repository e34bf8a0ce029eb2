//! pbxnet-sim: a fleet of simulated site devices (AudioCodes 400HD, ALE and
//! generic SIP phones, OmniSwitches, Stellar APs) that power on in a
//! namespace lab and provision themselves from the site's DHCP, TFTP and
//! NTP servers, each reporting what it got and how long each step took.
//!
//! The protocol client sides (DHCP, TFTP, SNTP, HTTP/1.1) are written here,
//! independently of the daemon crates, as sans-IO cores
//! (`dhcp::DhcpClient`, `tftp::TftpRead`, `sntp`); `net::Stack` is the one
//! I/O layer (an `AF_PACKET` socket shared by every device, each with its
//! own MAC and address); for HTTP(S) a device borrows the kernel's TCP
//! through a macvlan interface with its MAC and address (`kernel_tcp`),
//! TLS by rustls (`tls`). `demo` and `bench` drive whole labs.
//!
//! The crate's surface is what the `pbxnet-sim` binary, the end-to-end test
//! (`tests/site.rs`) and the man pages need: the command line ([`cli`],
//! [`main`]), a site run ([`run_site`] with [`SiteOptions`], the demo fleet
//! [`demo_fleet`]), device descriptions ([`DeviceSpec`], [`Kind`],
//! [`RunLimits`]) and the reports. Everything else is private.

#![forbid(unsafe_code)]
#![warn(unreachable_pub)]

mod bench;
mod cli;
mod demo;
mod device;
mod dhcp;
mod fleet;
mod http;
mod kernel_tcp;
mod net;
mod provision;
mod report;
mod site;
mod sntp;
mod spec;
#[cfg(test)]
mod test_server;
mod tftp;
mod tls;
mod wire;

pub use cli::{cli, main};
pub use demo::{demo_fleet, run_site, DaemonStart, SiteOptions, SiteRun};
pub use report::{DeviceReport, FileReport, FleetReport, StepReport};
pub use spec::{DeviceSpec, Kind, RunLimits};
