//! `[server]` (listen addresses, workers, coalescing), `[server.rate-limit]`
//! and `[local]`.

use super::raw::{RawLocal, RawRateLimit, RawServer};
use crate::ratelimit::{RateLimitConfig, SLOT_BYTES};
use pbxnet_config::{Diagnostic, Diagnostics, Severity, ValidateCtx};
use std::net::SocketAddr;

/// Listen addresses, and the limits on `workers` and `coalesce-us`.
pub(super) fn listen(
    s: &RawServer,
    ctx: &ValidateCtx<'_>,
    diags: &mut Diagnostics,
) -> Vec<SocketAddr> {
    let src = ctx.source;
    let mut listen = Vec::new();
    for (i, l) in s.listen.iter().enumerate() {
        match l.get_ref().parse::<SocketAddr>() {
            Ok(a) => listen.push(a),
            Err(_) => {
                diags
                    .error(
                        src,
                        l.span(),
                        format!("server.listen[{i}]"),
                        format!("`{}` is not a socket address", l.get_ref()),
                    )
                    .set_hint("write an address and port such as 0.0.0.0:123 or [::]:123");
            }
        }
    }
    if listen.is_empty() {
        diags.push(Diagnostic::file(
            Severity::Error,
            &src.path,
            "server.listen is empty: the server would not listen anywhere",
        ));
    }
    if *s.coalesce_us.get_ref() > 1000 {
        diags.error(
            src,
            s.coalesce_us.span(),
            "server.coalesce-us",
            "at most 1000 µs: a longer wait only adds response time",
        );
    }
    if *s.workers.get_ref() > 64 {
        diags.error(
            src,
            s.workers.span(),
            "server.workers",
            "at most 64 workers per address",
        );
    }
    listen
}

/// `[server.rate-limit]`: `None` when disabled.
pub(super) fn rate_limit(
    rl: &RawRateLimit,
    ctx: &ValidateCtx<'_>,
    diags: &mut Diagnostics,
) -> Option<RateLimitConfig> {
    let src = ctx.source;
    let interval_ms = rl.interval.get_ref().get().as_millis() as u64;
    if rl.enabled && interval_ms == 0 {
        diags.error(
            src,
            rl.interval.span(),
            "server.rate-limit.interval",
            "the interval must be at least 1ms",
        );
    }
    if rl.enabled && *rl.burst.get_ref() == 0 {
        diags.error(
            src,
            rl.burst.span(),
            "server.rate-limit.burst",
            "burst must be at least 1",
        );
    }
    let slots = (rl.table_size.get_ref().0 as usize) / SLOT_BYTES;
    if rl.enabled && slots < 16 {
        diags.error(
            src,
            rl.table_size.span(),
            "server.rate-limit.table-size",
            format!(
                "the table needs room for at least 16 clients ({} bytes)",
                16 * SLOT_BYTES
            ),
        );
    }
    rl.enabled.then_some(RateLimitConfig {
        interval_ms,
        burst: *rl.burst.get_ref(),
        leak: rl.leak,
        kod: rl.kod,
        kod_interval_ms: rl.kod_interval.get().as_millis() as u64,
        // round down to a power of two so the memory limit holds
        slots: if slots >= 2 {
            1usize << (usize::BITS - 1 - slots.leading_zeros())
        } else {
            2
        },
    })
}

/// `[local]`: the stratum served from the local clock, when enabled.
pub(super) fn local_stratum(
    local: &RawLocal,
    ctx: &ValidateCtx<'_>,
    diags: &mut Diagnostics,
) -> Option<u8> {
    if !local.enabled {
        return None;
    }
    let st = *local.stratum.get_ref();
    if !(1..=15).contains(&st) {
        diags.error(
            ctx.source,
            local.stratum.span(),
            "local.stratum",
            "stratum must be between 1 and 15",
        );
    }
    Some(st)
}
