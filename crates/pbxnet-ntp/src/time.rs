//! Era-safe NTP time quantities.
//!
//! NTP timestamps are 64-bit fixed point (32.32) seconds since 1900-01-01 and
//! wrap every 2^32 s (the first wrap is in February 2036). Differences are
//! taken modulo 2^64 and read as a signed 64-bit number of 2^-32 s units, which
//! is correct across an era boundary as long as the two instants are less than
//! 68 years apart (RFC 5905 §6).

use std::fmt;
use std::ops::{Add, Neg, Sub};

/// Seconds from 1900-01-01 (NTP epoch) to 1970-01-01 (Unix epoch).
pub const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// A 64-bit NTP timestamp (32.32 fixed point seconds, era-relative).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct NtpTimestamp(u64);

impl NtpTimestamp {
    /// The all-zero timestamp, meaning "unknown" on the wire.
    pub const ZERO: NtpTimestamp = NtpTimestamp(0);

    /// From the raw 64-bit wire value.
    pub const fn from_bits(bits: u64) -> Self {
        NtpTimestamp(bits)
    }

    /// The raw 64-bit wire value.
    pub const fn to_bits(self) -> u64 {
        self.0
    }

    /// From seconds and nanoseconds since the Unix epoch (any era).
    pub fn from_unix(secs: i64, nanos: u32) -> Self {
        let ntp_secs = (secs as i128 + NTP_UNIX_OFFSET as i128).rem_euclid(1 << 32) as u64;
        let frac = ((u64::from(nanos.min(999_999_999)) << 32) / 1_000_000_000) & 0xffff_ffff;
        NtpTimestamp((ntp_secs << 32) | frac)
    }

    /// From a [`std::time::SystemTime`]-like duration since the Unix epoch.
    pub fn from_unix_duration(d: std::time::Duration) -> Self {
        Self::from_unix(d.as_secs() as i64, d.subsec_nanos())
    }

    /// Seconds since the Unix epoch, choosing the era that puts the result
    /// closest to `pivot_unix_secs` (e.g. the local clock or a build date).
    pub fn to_unix_nanos_near(self, pivot_unix_secs: i64) -> i128 {
        let pivot = NtpTimestamp::from_unix(pivot_unix_secs, 0);
        let diff = self.diff(pivot);
        i128::from(pivot_unix_secs) * 1_000_000_000 + diff.as_nanos()
    }

    /// Whole seconds field (era-relative).
    pub const fn seconds(self) -> u32 {
        (self.0 >> 32) as u32
    }

    /// Fraction field in 2^-32 s.
    pub const fn fraction(self) -> u32 {
        self.0 as u32
    }

    /// `self - earlier`, era-safe (correct while |difference| < 68 years).
    pub fn diff(self, earlier: NtpTimestamp) -> NtpDuration {
        NtpDuration(self.0.wrapping_sub(earlier.0) as i64)
    }
}

impl fmt::Debug for NtpTimestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "NtpTimestamp({:#010x}.{:08x})",
            self.seconds(),
            self.fraction()
        )
    }
}

impl Add<NtpDuration> for NtpTimestamp {
    type Output = NtpTimestamp;
    fn add(self, d: NtpDuration) -> NtpTimestamp {
        NtpTimestamp(self.0.wrapping_add(d.0 as u64))
    }
}

impl Sub<NtpDuration> for NtpTimestamp {
    type Output = NtpTimestamp;
    fn sub(self, d: NtpDuration) -> NtpTimestamp {
        NtpTimestamp(self.0.wrapping_sub(d.0 as u64))
    }
}

impl Sub for NtpTimestamp {
    type Output = NtpDuration;
    fn sub(self, rhs: NtpTimestamp) -> NtpDuration {
        self.diff(rhs)
    }
}

/// A signed time difference in 2^-32 s units (range ±68 years).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord, Debug)]
pub struct NtpDuration(i64);

impl NtpDuration {
    /// Zero.
    pub const ZERO: NtpDuration = NtpDuration(0);

    /// From raw 2^-32 s units.
    pub const fn from_bits(bits: i64) -> Self {
        NtpDuration(bits)
    }

    /// Raw 2^-32 s units.
    pub const fn to_bits(self) -> i64 {
        self.0
    }

    /// From (possibly fractional) seconds, saturating.
    pub fn from_seconds(s: f64) -> Self {
        NtpDuration((s * 4_294_967_296.0) as i64)
    }

    /// From nanoseconds, saturating.
    pub fn from_nanos(ns: i128) -> Self {
        let v = (ns << 32) / 1_000_000_000;
        NtpDuration(v.clamp(i64::MIN as i128, i64::MAX as i128) as i64)
    }

    /// As seconds.
    pub fn as_seconds(self) -> f64 {
        self.0 as f64 / 4_294_967_296.0
    }

    /// As nanoseconds (rounded toward zero).
    pub fn as_nanos(self) -> i128 {
        (i128::from(self.0) * 1_000_000_000) >> 32
    }

    /// Absolute value (saturating).
    pub fn abs(self) -> Self {
        NtpDuration(self.0.saturating_abs())
    }
}

impl Add for NtpDuration {
    type Output = NtpDuration;
    fn add(self, rhs: NtpDuration) -> NtpDuration {
        NtpDuration(self.0.saturating_add(rhs.0))
    }
}

impl Sub for NtpDuration {
    type Output = NtpDuration;
    fn sub(self, rhs: NtpDuration) -> NtpDuration {
        NtpDuration(self.0.saturating_sub(rhs.0))
    }
}

impl Neg for NtpDuration {
    type Output = NtpDuration;
    fn neg(self) -> NtpDuration {
        NtpDuration(self.0.saturating_neg())
    }
}

/// A 32-bit NTP short format value (16.16 unsigned seconds): root delay and
/// root dispersion.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord, Debug)]
pub struct NtpShort(u32);

impl NtpShort {
    /// From the raw wire value.
    pub const fn from_bits(bits: u32) -> Self {
        NtpShort(bits)
    }

    /// The raw wire value.
    pub const fn to_bits(self) -> u32 {
        self.0
    }

    /// From a duration: negative values become 0, large ones saturate.
    pub fn from_duration(d: NtpDuration) -> Self {
        let v = d.0 >> 16;
        NtpShort(v.clamp(0, u32::MAX as i64) as u32)
    }

    /// As a duration.
    pub fn to_duration(self) -> NtpDuration {
        NtpDuration(i64::from(self.0) << 16)
    }

    /// As seconds.
    pub fn as_seconds(self) -> f64 {
        f64::from(self.0) / 65536.0
    }
}

/// Clock offset θ and round-trip delay δ from the four timestamps (RFC 5905):
/// θ = ((T2 − T1) + (T3 − T4)) / 2, δ = (T4 − T1) − (T3 − T2).
pub fn offset_delay(
    t1: NtpTimestamp,
    t2: NtpTimestamp,
    t3: NtpTimestamp,
    t4: NtpTimestamp,
) -> (NtpDuration, NtpDuration) {
    let a = i128::from((t2 - t1).0);
    let b = i128::from((t3 - t4).0);
    let offset = ((a + b) / 2).clamp(i64::MIN as i128, i64::MAX as i128) as i64;
    let delay = i128::from((t4 - t1).0) - i128::from((t3 - t2).0);
    (
        NtpDuration(offset),
        NtpDuration(delay.clamp(i64::MIN as i128, i64::MAX as i128) as i64),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn unix_epoch_maps_to_ntp_offset() {
        let t = NtpTimestamp::from_unix(0, 0);
        assert_eq!(t.seconds() as u64, NTP_UNIX_OFFSET);
        assert_eq!(t.fraction(), 0);
        let half = NtpTimestamp::from_unix(0, 500_000_000);
        assert_eq!(half.fraction(), 0x8000_0000);
    }

    #[test]
    fn era_wrap_2036_is_continuous() {
        // 2036-02-07T06:28:16Z is the first NTP era boundary.
        let wrap_unix = (1i64 << 32) - NTP_UNIX_OFFSET as i64;
        let before = NtpTimestamp::from_unix(wrap_unix - 1, 0);
        let after = NtpTimestamp::from_unix(wrap_unix + 1, 0);
        assert_eq!(before.seconds(), u32::MAX);
        assert_eq!(after.seconds(), 1);
        assert_eq!((after - before).as_seconds(), 2.0);
        assert_eq!((before - after).as_seconds(), -2.0);
        assert_eq!(
            after.to_unix_nanos_near(wrap_unix),
            (wrap_unix as i128 + 1) * 1_000_000_000
        );
    }

    #[test]
    fn offset_and_delay_follow_rfc5905_signs() {
        let base = NtpTimestamp::from_unix(1_700_000_000, 0);
        let s = NtpDuration::from_seconds;
        // server 1 s ahead, 10 ms each way, 1 ms processing
        let t1 = base;
        let t2 = base + s(1.010);
        let t3 = base + s(1.011);
        let t4 = base + s(0.021);
        let (theta, delta) = offset_delay(t1, t2, t3, t4);
        assert!((theta.as_seconds() - 1.0).abs() < 1e-9, "{theta:?}");
        assert!((delta.as_seconds() - 0.020).abs() < 1e-9, "{delta:?}");
    }

    proptest! {
        #[test]
        fn diff_is_inverse_of_add(a in any::<u64>(), d in -(1i64<<62)..(1i64<<62)) {
            let t = NtpTimestamp::from_bits(a);
            let u = t + NtpDuration::from_bits(d);
            prop_assert_eq!((u - t).to_bits(), d);
            prop_assert_eq!(u - NtpDuration::from_bits(d), t);
        }

        #[test]
        fn unix_round_trip_any_era(secs in -2_000_000_000i64..8_000_000_000i64, nanos in 0u32..1_000_000_000) {
            let t = NtpTimestamp::from_unix(secs, nanos);
            let back = t.to_unix_nanos_near(secs);
            let want = secs as i128 * 1_000_000_000 + nanos as i128;
            prop_assert!((back - want).abs() <= 1, "{} vs {}", back, want);
        }

        #[test]
        fn offset_is_exact_for_symmetric_paths(off in -1_000_000i64..1_000_000, d in 0i64..1_000_000, base in any::<u64>()) {
            // off and d in microseconds
            let us = |x: i64| NtpDuration::from_nanos(x as i128 * 1000);
            let t1 = NtpTimestamp::from_bits(base);
            let t2 = t1 + us(off + d);
            let t3 = t2;
            let t4 = t1 + us(2 * d);
            let (theta, delta) = offset_delay(t1, t2, t3, t4);
            prop_assert!((theta.as_nanos() - off as i128 * 1000).abs() <= 2);
            prop_assert!((delta.as_nanos() - 2 * d as i128 * 1000).abs() <= 2);
        }
    }
}
