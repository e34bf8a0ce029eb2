//! Finds which daemon crates expose their clap `Command` (the contract in
//! `src/man.rs`), so that the man page generator builds whatever the state of
//! the daemon crates, and picks up each `cli()` as soon as it appears.
//! Sets `cfg(pbxnet_cli = "<binary>")` for every binary whose function exists.

use std::path::Path;

/// (binary, crate directory, module file, function name in that module).
const CONTRACT: &[(&str, &str, &str, &str)] = &[
    ("pbxnet-dhcpd", "pbxnet-dhcp", "src/daemon/mod.rs", "cli"),
    ("pbxnet-tftpd", "pbxnet-tftp", "src/daemon/mod.rs", "cli"),
    ("pbxnet-ntpd", "pbxnet-ntp", "src/daemon/mod.rs", "cli"),
    (
        "pbxnet-licd",
        "pbxnet-license",
        "src/daemon/mod.rs",
        "licd_cli",
    ),
    (
        "pbxnet-keygen",
        "pbxnet-license",
        "src/daemon/mod.rs",
        "keygen_cli",
    ),
    ("pbxnet-sim", "pbxnet-sim", "src/cli.rs", "cli"),
];

fn exposes(module: &str, function: &str) -> bool {
    let defined = format!("pub fn {function}() -> ");
    module.lines().any(|line| {
        let line = line.trim_start();
        line.starts_with(&defined)
            || (line.starts_with("pub use ")
                && line
                    .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .any(|token| token == function))
    })
}

fn main() {
    let names: Vec<String> = CONTRACT
        .iter()
        .map(|(b, _, _, _)| format!("\"{b}\""))
        .collect();
    println!(
        "cargo::rustc-check-cfg=cfg(pbxnet_cli, values({}))",
        names.join(", ")
    );
    let crates = Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo")).join("..");
    for (binary, krate, file, function) in CONTRACT {
        let module = crates.join(krate).join(file);
        println!("cargo::rerun-if-changed={}", module.display());
        let text = std::fs::read_to_string(&module).unwrap_or_default();
        if exposes(&text, function) {
            println!("cargo::rustc-cfg=pbxnet_cli=\"{binary}\"");
        }
    }
}
