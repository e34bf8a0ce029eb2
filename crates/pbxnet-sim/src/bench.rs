//! The site boot-storm benchmark.

use std::process::ExitCode;

/// `pbxnet-sim bench-site` options.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Phones.
    #[arg(long, default_value_t = 300)]
    pub phones: usize,
}

/// Runs the benchmark.
pub fn run(_a: &BenchArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not yet")
}
