//! `pbxnet-xtask`: distribution tasks (see the library documentation).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "pbxnet-xtask", about = "pbxnet distribution tasks")]
struct Cli {
    #[command(subcommand)]
    command: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Render the man pages (clap_mangen) into DIR.
    Man {
        /// Output directory.
        dir: PathBuf,
        /// Only the binaries the Debian package ships.
        #[arg(long)]
        packaged: bool,
    },
    /// Print every configuration key known to the schema, one per line
    /// (`file: table.key`).
    ConfigKeys,
    /// Audit the code's structure (issue 15): files over 600 lines, functions
    /// over 80 lines (tests excluded), import cycles between files of a crate
    /// and between crates, IO in the protocol cores. Prints one line per
    /// offender; exits 1 when there is any.
    Audit {
        /// Only this crate (e.g. pbxnet-sim).
        #[arg(long = "crate", value_name = "NAME")]
        krate: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Task::Man { dir, packaged } => match pbxnet_xtask::pages::write_all(&dir, packaged) {
            Ok(written) => {
                for w in &written {
                    println!("{}", w.display());
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!(
                    "pbxnet-xtask: writing man pages into {}: {e}",
                    dir.display()
                );
                ExitCode::FAILURE
            }
        },
        Task::Audit { krate } => {
            match pbxnet_xtask::audit::run(&pbxnet_xtask::workspace_root(), krate.as_deref()) {
                Ok(findings) => {
                    print!("{}", pbxnet_xtask::audit::render(&findings));
                    if findings.is_empty() {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::FAILURE
                    }
                }
                Err(e) => {
                    eprintln!("pbxnet-xtask audit: {e:#}");
                    ExitCode::from(2)
                }
            }
        }
        Task::ConfigKeys => {
            for file in pbxnet_xtask::schema::files() {
                for key in file.keys() {
                    println!("{}: {}", file.name, key.path);
                }
            }
            ExitCode::SUCCESS
        }
    }
}
