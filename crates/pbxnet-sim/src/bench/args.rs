//! `pbxnet-sim bench-site`'s command line.

use std::path::PathBuf;

/// `pbxnet-sim bench-site` options.
#[derive(Debug, clap::Args)]
pub(crate) struct BenchArgs {
    /// The site configuration to start from.
    #[arg(long, default_value = "etc")]
    pub config: PathBuf,
    /// AudioCodes 400HD phones.
    #[arg(long, default_value_t = 200)]
    pub audiocodes: usize,
    /// ALE IP phones.
    #[arg(long, default_value_t = 50)]
    pub ale: usize,
    /// Generic SIP phones.
    #[arg(long, default_value_t = 50)]
    pub sip: usize,
    /// OmniSwitches.
    #[arg(long, default_value_t = 16)]
    pub switches: usize,
    /// Stellar APs.
    #[arg(long, default_value_t = 64)]
    pub aps: usize,
    /// Power-on window, ms.
    #[arg(long, default_value_t = 1000)]
    pub window_ms: u64,
    /// Firmware image size, KiB (phones due for an upgrade fetch it whole).
    #[arg(long, default_value_t = 2048)]
    pub firmware_kib: usize,
    /// Rounds (each runs both stacks, alternating which goes first).
    #[arg(long, default_value_t = 5)]
    pub rounds: usize,
    /// Firmware day: every AudioCodes phone ignores option 160 and runs old
    /// firmware, so each pulls the whole image.
    #[arg(long)]
    pub upgrade_all: bool,
    /// Append the result table to this markdown file.
    #[arg(long)]
    pub append_to: Option<PathBuf>,
}
