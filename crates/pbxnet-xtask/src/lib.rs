//! Distribution tasks for pbxnet, kept out of the daemon crates (this crate
//! also carries the Debian package metadata, hence its description):
//!
//! - [`man`]: man pages rendered with clap_mangen from each binary's clap
//!   `Command` (the daemon crates expose it; see the contract there), and
//!   through [`config_man`] the section-5 pages of the configuration files,
//!   rendered from docs/config-reference.md ([`reference`]); [`pages`]
//!   writes them all into a directory;
//! - [`schema`]: every key of every configuration file, read from the serde
//!   derives of the raw config structs, so that docs/config-reference.md is
//!   checked against the schema and cannot drift;
//! - [`audit`]: the code-structure audit (file and function sizes, import
//!   cycles between files and crates, IO in the protocol cores);
//! - [`units`]: `systemd-analyze verify` and `security --offline=true` over
//!   the units in `systemd/`.
//!
//! The binary `pbxnet-xtask` drives them (`pbxnet-xtask man DIR`); the tests
//! in `tests/` check the units, the man pages and the configuration reference
//! on every `cargo test --workspace`.

pub mod audit;
pub mod config_man;
pub mod man;
pub mod pages;
pub mod reference;
pub mod schema;
pub mod units;

use std::path::PathBuf;

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.parent()
        .and_then(|p| p.parent())
        .map(PathBuf::from)
        .unwrap_or(here)
}
