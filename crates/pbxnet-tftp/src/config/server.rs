//! `[server]`: listening address, transfer ports, concurrency caps, threads.

use std::net::SocketAddr;

use pbxnet_config::{Diagnostics, Source};

use super::raw::RawServer;

/// The validated `[server]` table.
pub(super) struct ServerSettings {
    pub(super) listen: SocketAddr,
    pub(super) port_range: Option<(u16, u16)>,
    pub(super) max_transfers: usize,
    pub(super) max_transfers_per_client: usize,
    pub(super) threads: usize,
}

pub(super) fn validate(raw: &RawServer, src: &Source, diags: &mut Diagnostics) -> ServerSettings {
    let listen = match raw.listen.get_ref().parse::<SocketAddr>() {
        Ok(a) => a,
        Err(_) => {
            diags
                .error(
                    src,
                    raw.listen.span(),
                    "server.listen",
                    format!("`{}` is not a socket address", raw.listen.get_ref()),
                )
                .set_hint("expected address:port such as 0.0.0.0:69 or 192.168.92.246:69");
            SocketAddr::from(([0, 0, 0, 0], 69))
        }
    };
    let port_range = validate_port_range(raw, src, diags);
    let max_transfers = *raw.max_transfers.get_ref();
    if max_transfers == 0 || max_transfers > 10_000 {
        diags
            .error(
                src,
                raw.max_transfers.span(),
                "server.max-transfers",
                format!("{max_transfers} is out of range"),
            )
            .set_hint("expected 1 to 10000");
    }
    let per_client = *raw.max_transfers_per_client.get_ref();
    if per_client == 0 || per_client > max_transfers.max(1) {
        diags
            .error(
                src,
                raw.max_transfers_per_client.span(),
                "server.max-transfers-per-client",
                format!("{per_client} is out of range"),
            )
            .set_hint(format!(
                "expected 1 to server.max-transfers ({max_transfers})"
            ));
    }
    if let Some((a, b)) = port_range {
        if u32::from(b - a) + 1 < max_transfers {
            diags
                .warning(src, raw.port_range.as_ref().map(|r| r.span()).unwrap_or(0..0), "server.port-range", format!("{} ports for up to {max_transfers} transfers", b - a + 1))
                .set_hint("transfers beyond the range's size are refused with \"server busy\"; widen the range or lower server.max-transfers");
        }
    }
    let threads = *raw.threads.get_ref();
    if threads > 64 {
        diags
            .error(
                src,
                raw.threads.span(),
                "server.threads",
                format!("{threads} is out of range"),
            )
            .set_hint("expected 0 (one per CPU) to 64");
    }
    ServerSettings {
        listen,
        port_range,
        max_transfers: max_transfers as usize,
        max_transfers_per_client: per_client as usize,
        threads: threads as usize,
    }
}

fn validate_port_range(
    raw: &RawServer,
    src: &Source,
    diags: &mut Diagnostics,
) -> Option<(u16, u16)> {
    let r = raw.port_range.as_ref()?;
    let parsed = parse_port_range(r.get_ref());
    if parsed.is_none() {
        diags
            .error(
                src,
                r.span(),
                "server.port-range",
                format!("`{}` is not a port range", r.get_ref()),
            )
            .set_hint(
                "expected FIRST-LAST with 1024 <= FIRST <= LAST <= 65535, such as 40000-40999",
            );
    }
    parsed
}

fn parse_port_range(s: &str) -> Option<(u16, u16)> {
    let (a, b) = s.split_once('-')?;
    let a: u16 = a.trim().parse().ok()?;
    let b: u16 = b.trim().parse().ok()?;
    (a >= 1024 && a <= b).then_some((a, b))
}
