//! `[transfer]`: negotiation limits, retransmission timers, pacing.

use pbxnet_config::{Diagnostic, Diagnostics, Severity, Source};

use super::raw::RawTransfer;
use crate::options::Limits;
use crate::transfer::Timing;
use crate::wire::{MAX_BLKSIZE, MIN_BLKSIZE};

/// The validated `[transfer]` table.
pub(super) struct TransferSettings {
    pub(super) limits: Limits,
    pub(super) blksize_within_mtu: bool,
    pub(super) timing: Timing,
}

pub(super) fn validate(t: &RawTransfer, src: &Source, diags: &mut Diagnostics) -> TransferSettings {
    let blk = *t.max_blksize.get_ref();
    if blk < u32::from(MIN_BLKSIZE) || blk > u32::from(MAX_BLKSIZE) {
        diags
            .error(
                src,
                t.max_blksize.span(),
                "transfer.max-blksize",
                format!("{blk} is out of range"),
            )
            .set_hint("expected 8 to 65464 (RFC 2348)");
    }
    let win = *t.max_windowsize.get_ref();
    if win == 0 || win > 1024 {
        diags
            .error(
                src,
                t.max_windowsize.span(),
                "transfer.max-windowsize",
                format!("{win} is out of range"),
            )
            .set_hint(
                "expected 1 to 1024 (larger windows make block numbers ambiguous after roll-over)",
            );
    }
    let retries = *t.max_retries.get_ref();
    if retries == 0 || retries > 20 {
        diags
            .error(
                src,
                t.max_retries.span(),
                "transfer.max-retries",
                format!("{retries} is out of range"),
            )
            .set_hint("expected 1 to 20");
    }
    if t.min_rto.get() > t.max_rto.get() || t.min_rto.get().is_zero() {
        diags.push(Diagnostic::file(
            Severity::Error,
            src.path.clone(),
            format!(
                "transfer.min-rto ({}) must be > 0 and <= transfer.max-rto ({})",
                t.min_rto, t.max_rto
            ),
        ));
    }
    TransferSettings {
        limits: Limits {
            max_blksize: blk.clamp(u32::from(MIN_BLKSIZE), u32::from(MAX_BLKSIZE)) as u16,
            max_windowsize: win.clamp(1, 1024) as u16,
            allow_timeout: t.allow_timeout_option,
            allow_tsize: true,
        },
        blksize_within_mtu: t.blksize_within_mtu,
        timing: Timing {
            initial_rto: t.initial_rto.get(),
            min_rto: t.min_rto.get(),
            max_rto: t.max_rto.get(),
            max_retries: retries,
            pacing_burst: usize::try_from(t.pacing_burst.0).unwrap_or(usize::MAX),
            pacing_gap: t.pacing_gap.get(),
        },
    }
}
