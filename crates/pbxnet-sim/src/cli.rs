//! Command line.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use crate::fleet::{self, FleetSpec};

#[derive(Debug, Parser)]
#[command(
    name = "pbxnet-sim",
    version,
    about = "Simulated site devices, the pbxnet demo and the site boot-storm benchmark"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run a fleet described by a JSON spec in the current network namespace
    /// (what `demo` and `bench-site` start inside the client namespace).
    Fleet {
        /// Fleet spec (JSON, see docs/sim.md).
        #[arg(long)]
        spec: PathBuf,
        /// Write the JSON report here (default: print the table).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// The demo: isolated LAN, the four daemons on the example site, a small fleet, a report.
    Demo(crate::demo::DemoArgs),
    /// The site boot-storm benchmark: pbxnet vs Kea + tftpd-hpa + chronyd.
    BenchSite(crate::bench::BenchArgs),
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match cli.command {
        Cmd::Fleet { spec, out } => run_fleet(&spec, out.as_deref()),
        Cmd::Demo(a) => crate::demo::run(&a),
        Cmd::BenchSite(a) => crate::bench::run(&a),
    };
    match r {
        Ok(code) => code,
        Err(e) => {
            eprintln!("pbxnet-sim: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run_fleet(spec: &std::path::Path, out: Option<&std::path::Path>) -> Result<ExitCode> {
    let text =
        std::fs::read_to_string(spec).with_context(|| format!("reading {}", spec.display()))?;
    let spec: FleetSpec =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", spec.display()))?;
    let report = fleet::run(&spec).context("starting the fleet")?;
    match out {
        Some(p) => std::fs::write(p, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("writing {}", p.display()))?,
        None => {
            print!("{}", report.table());
        }
    }
    Ok(if report.failures() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The command line, for generated documentation (man pages).
pub fn cli() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}
