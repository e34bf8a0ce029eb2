//! What a round measures: which stack served, the fleet's report, and the
//! servers' peak memory.

use crate::report::FleetReport;

/// Which stack serves the site.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StackKind {
    /// pbxnet-dhcpd, -tftpd and -ntpd.
    Pbxnet,
    /// Kea, tftpd-hpa and chronyd.
    Anchors,
}

impl StackKind {
    /// Its name in the output.
    pub(super) fn label(self) -> &'static str {
        match self {
            StackKind::Pbxnet => "pbxnet (dhcpd + tftpd + ntpd)",
            StackKind::Anchors => "Kea 2.2 memfile + tftpd-hpa + chronyd",
        }
    }
}

/// One stack's result in one round.
#[derive(Debug, Clone)]
pub(super) struct Outcome {
    /// The stack that served.
    pub(super) stack: StackKind,
    /// The fleet's report.
    pub(super) report: FleetReport,
    /// Peak RSS (VmHWM) per server process, KiB.
    pub(super) rss: Vec<(String, Option<u64>)>,
}
