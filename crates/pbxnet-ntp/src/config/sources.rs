//! `[[source]]`: upstream servers (names are resolved by the shell).

use super::keys::ConfiguredKeys;
use super::raw::RawSource;
use pbxnet_config::{Diagnostics, ValidateCtx};
use std::net::SocketAddr;

/// One validated upstream source (names are resolved by the shell).
#[derive(Debug, Clone)]
pub struct SourceSpec {
    /// Host name or IP address.
    pub host: String,
    /// UDP port.
    pub port: u16,
    /// Key to authenticate with.
    pub key: Option<crate::mac::Key>,
    /// Poll exponents.
    pub minpoll: i8,
    /// Poll exponents.
    pub maxpoll: i8,
    /// Initial burst.
    pub burst: bool,
    /// Pool name.
    pub pool: bool,
}

/// Every source that could be read; the others are reported.
pub(super) fn sources(
    raw: &[RawSource],
    keys: &ConfiguredKeys,
    ctx: &ValidateCtx<'_>,
    diags: &mut Diagnostics,
) -> Vec<SourceSpec> {
    let src = ctx.source;
    let mut sources = Vec::new();
    for (i, rs) in raw.iter().enumerate() {
        let (host, port) = match parse_host_port(rs.address.get_ref()) {
            Ok(hp) => hp,
            Err(e) => {
                diags.error(src, rs.address.span(), format!("source[{i}].address"), e);
                continue;
            }
        };
        let key = rs.key.as_ref().and_then(|k| {
            let id = *k.get_ref();
            let found = keys.get(id).cloned();
            if found.is_none() && keys.absence_is_error() {
                diags
                    .error(
                        src,
                        k.span(),
                        format!("source[{i}].key"),
                        format!("key id {id} is not in the key file"),
                    )
                    .set_hint("add it to the key file named by keys.file");
            }
            found
        });
        check_polls(i, rs, ctx, diags);
        sources.push(SourceSpec {
            host,
            port,
            key,
            minpoll: *rs.minpoll.get_ref(),
            maxpoll: *rs.maxpoll.get_ref(),
            burst: rs.burst,
            pool: rs.pool,
        });
    }
    sources
}

fn check_polls(i: usize, rs: &RawSource, ctx: &ValidateCtx<'_>, diags: &mut Diagnostics) {
    for (name, v) in [("minpoll", &rs.minpoll), ("maxpoll", &rs.maxpoll)] {
        if !(-4..=17).contains(v.get_ref()) {
            diags.error(
                ctx.source,
                v.span(),
                format!("source[{i}].{name}"),
                "poll exponent must be between -4 (1/16 s) and 17 (36 h)",
            );
        }
    }
    if rs.minpoll.get_ref() > rs.maxpoll.get_ref() {
        diags.error(
            ctx.source,
            rs.maxpoll.span(),
            format!("source[{i}].maxpoll"),
            "maxpoll is below minpoll",
        );
    }
}

/// `host`, `host:port`, an IP address or a socket address (port 123 by
/// default).
fn parse_host_port(s: &str) -> Result<(String, u16), String> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok((a.ip().to_string(), a.port()));
    }
    if let Ok(ip) = s.parse::<std::net::IpAddr>() {
        return Ok((ip.to_string(), 123));
    }
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) => (
            h,
            p.parse::<u16>()
                .map_err(|_| format!("`{p}` is not a port"))?,
        ),
        None => (s, 123),
    };
    let ok = !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if ok {
        Ok((host.to_string(), port))
    } else {
        Err(format!("`{s}` is not an IP address or host name"))
    }
}
