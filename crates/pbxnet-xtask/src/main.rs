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
        /// Fail when a binary does not expose its clap Command yet.
        #[arg(long)]
        require_all: bool,
        /// Only the binaries the Debian package ships.
        #[arg(long)]
        packaged: bool,
    },
    /// Print every configuration key known to the schema, one per line
    /// (`file: table.key`).
    ConfigKeys,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Task::Man {
            dir,
            require_all,
            packaged,
        } => match pbxnet_xtask::man::write_all(&dir, packaged) {
            Ok((written, missing)) => {
                for w in &written {
                    println!("{}", w.display());
                }
                for (binary, provider) in &missing {
                    eprintln!(
                        "pbxnet-xtask: no man page for {binary}: its crate does not expose `{provider}() -> clap::Command` yet"
                    );
                }
                if require_all && !missing.is_empty() {
                    ExitCode::FAILURE
                } else {
                    ExitCode::SUCCESS
                }
            }
            Err(e) => {
                eprintln!(
                    "pbxnet-xtask: writing man pages into {}: {e}",
                    dir.display()
                );
                ExitCode::FAILURE
            }
        },
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
