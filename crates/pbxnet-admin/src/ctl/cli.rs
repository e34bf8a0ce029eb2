//! pbxnetctl's command line.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// The command line.
#[derive(Debug, Parser)]
#[command(
    name = "pbxnetctl",
    version,
    about = "The pbxnet site in a terminal: devices and their boot verdicts, leases, time, licence"
)]
pub struct Cli {
    /// admind's API.
    #[arg(
        long,
        env = "PBXNET_ADMIN_URL",
        default_value = "http://127.0.0.1:8640",
        global = true
    )]
    pub(super) url: String,
    /// File holding the API token (else `PBXNET_TOKEN`).
    #[arg(long, env = "PBXNET_TOKEN_FILE", value_name = "FILE", global = true)]
    pub(super) token_file: Option<PathBuf>,
    /// Configuration directory (site.toml, admin.toml) for the fallback to
    /// the daemons' sockets.
    #[arg(
        long,
        short = 'c',
        env = "PBXNET_CONFIG",
        value_name = "DIR|FILE",
        global = true
    )]
    pub(super) config: Option<PathBuf>,
    /// Print JSON (the API's answer) instead of text.
    #[arg(long, global = true)]
    pub(super) json: bool,
    /// Never fall back to the daemons' sockets.
    #[arg(long, global = true)]
    pub(super) no_fallback: bool,
    #[command(subcommand)]
    pub(super) command: Command,
}

/// What to show.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Devices by verdict, pools, time, licence.
    Site,
    /// The devices (every page), filtered.
    Devices {
        /// Only devices stuck after their lease.
        #[arg(long, conflicts_with = "verdict")]
        stuck: bool,
        /// Only this verdict (provisioned, booting, stuck-after-lease, file-error, no-time, no-lease).
        #[arg(long)]
        verdict: Option<String>,
        /// Only this DHCP class.
        #[arg(long)]
        class: Option<String>,
        /// Only this model.
        #[arg(long)]
        model: Option<String>,
        /// Only this firmware.
        #[arg(long)]
        firmware: Option<String>,
        /// Part of the MAC, address or hostname.
        #[arg(long, short = 's')]
        search: Option<String>,
    },
    /// One device: its record, verdict, missing steps and boots.
    Device {
        /// aa:bb:cc:dd:ee:ff, aa-bb-… or 12 hex digits.
        mac: String,
    },
    /// dhcpd's leases with each device's verdict.
    Leases {
        /// Part of the MAC, address or hostname.
        #[arg(long, short = 's')]
        search: Option<String>,
    },
    /// Time: tracking and sources.
    Ntp,
    /// The licence state.
    License,
}
