//! The sans-IO rule for the protocol cores: outside `src/daemon/` and
//! `src/bin/`, and outside tests, a core crate reads no file, environment,
//! clock or randomness, opens no socket and uses no tokio. Each use is found
//! as written, in `use` trees and in code (macro bodies included), so an
//! alias (`use std::fs as f`) is still found at its `use`.

use quote::ToTokens;
use syn::Item;

use super::tokens::{token_paths, use_leaves, WrittenPath};
use super::tree::{is_test_only, item_attrs};

/// The crates whose library must stay sans-IO.
pub(crate) const CORE_CRATES: [&str; 5] = [
    "pbxnet-dhcp",
    "pbxnet-tftp",
    "pbxnet-ntp",
    "pbxnet-license",
    "pbxnet-inventory",
];

/// Directories of a core crate (relative to the crate) where IO belongs.
pub(crate) const IO_DIRS: [&str; 2] = ["src/daemon/", "src/bin/"];

/// One forbidden use: its line and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IoUse {
    pub(crate) line: usize,
    pub(crate) what: &'static str,
}

/// Every forbidden use in the non-test items of `syntax`.
pub(crate) fn io_uses(syntax: &syn::File) -> Vec<IoUse> {
    let mut paths = Vec::new();
    collect(&syntax.items, &mut paths);
    paths
        .iter()
        .filter_map(|p| forbidden(&p.segments).map(|what| IoUse { line: p.line, what }))
        .collect()
}

fn collect(items: &[Item], out: &mut Vec<WrittenPath>) {
    for item in items {
        if is_test_only(item_attrs(item)) {
            continue;
        }
        match item {
            Item::Use(u) => out.extend(use_leaves(&u.tree)),
            Item::Mod(syn::ItemMod {
                content: Some((_, inner)),
                ..
            }) => collect(inner, out),
            other => out.extend(token_paths(other.to_token_stream())),
        }
    }
}

/// What a written path reaches that a core must not, if anything.
pub(crate) fn forbidden(segments: &[String]) -> Option<&'static str> {
    let s: Vec<&str> = segments.iter().map(String::as_str).collect();
    let pair = |a: &str, b: &str| s.windows(2).any(|w| w[0] == a && w[1] == b);
    let any = |name: &str| s.contains(&name);
    if pair("std", "fs") {
        Some("std::fs")
    } else if pair("std", "env") {
        Some("std::env")
    } else if s.len() > 1 && s[..s.len() - 1].contains(&"File") {
        Some("File::")
    } else if any("read_dir") {
        Some("read_dir")
    } else if any("canonicalize") {
        Some("canonicalize")
    } else if pair("SystemTime", "now") {
        Some("SystemTime::now")
    } else if pair("Instant", "now") {
        Some("Instant::now")
    } else if any("thread_rng") || any("OsRng") || pair("rand", "random") {
        Some("randomness (thread_rng, OsRng, rand::random)")
    } else if any("tokio") {
        Some("tokio")
    } else if any("UdpSocket") || any("TcpListener") || any("TcpStream") {
        Some("socket")
    } else {
        None
    }
}
