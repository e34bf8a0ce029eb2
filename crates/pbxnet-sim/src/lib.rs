//! pbxnet-sim: a fleet of simulated site devices (AudioCodes 400HD, ALE and
//! generic SIP phones, OmniSwitches, Stellar APs) that power on in a
//! namespace lab and provision themselves from the site's DHCP, TFTP and
//! NTP servers, each reporting what it got and how long each step took.
//!
//! The protocol client sides (DHCP, TFTP, SNTP) are written here,
//! independently of the daemon crates, as sans-IO cores
//! ([`dhcp::DhcpClient`], [`tftp::TftpRead`], [`sntp`]); [`net::Stack`] is
//! the one I/O layer (an `AF_PACKET` socket shared by every device, each with
//! its own MAC and address). [`demo`] and [`bench`] drive whole labs.

#![forbid(unsafe_code)]

pub mod bench;
pub mod cli;
pub mod demo;
pub mod device;
pub mod dhcp;
pub mod fleet;
pub mod net;
pub mod provision;
pub mod report;
pub mod site;
pub mod sntp;
pub mod tftp;
pub mod wire;
