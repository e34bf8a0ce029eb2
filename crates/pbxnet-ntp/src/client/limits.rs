//! The client's fixed limits.

/// RFC 5905 MAXDIST-like bound used by the issue: root distance ≤ 16 s.
pub const MAX_ROOT_DISTANCE: f64 = 16.0;
/// Kernel limit on ADJ_FREQUENCY (±500 ppm).
pub const MAX_FREQ_PPM: f64 = 500.0;
/// Samples per source in the filter.
pub const FILTER_LEN: usize = 16;
/// Clock dispersion growth rate (RFC 5905 PHI, 15 ppm).
pub(super) const PHI: f64 = 15e-6;
/// Clustering never prunes below this many survivors (RFC 5905 NMIN).
pub const MIN_SURVIVORS: usize = 3;
