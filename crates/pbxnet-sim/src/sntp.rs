//! SNTP client (RFC 4330) as the phones use it: one unauthenticated 48-byte
//! mode-3 request, the offset from the four timestamps. Wall-clock values
//! are arguments.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds from 1900-01-01 to 1970-01-01.
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// A bad or refused answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum SntpError {
    /// Not 48 bytes or more.
    #[error("reply of {0} bytes")]
    Short(usize),
    /// Not a server reply (mode 4).
    #[error("reply mode {0}, expected 4")]
    Mode(u8),
    /// The origin timestamp is not our transmit timestamp (a stale or
    /// spoofed reply).
    #[error("origin timestamp does not match the request")]
    Origin,
    /// Kiss-o'-death (stratum 0) with its code.
    #[error("kiss-o'-death {0}")]
    Kiss(String),
    /// Leap indicator 3: the server is not synchronised.
    #[error("server unsynchronised (LI=3, stratum {0})")]
    Unsynchronised(u8),
    /// Zero transmit timestamp.
    #[error("zero transmit timestamp")]
    ZeroTransmit,
}

/// A 64-bit NTP timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NtpTimestamp(pub u64);

impl NtpTimestamp {
    /// From wall-clock time (era 0, valid until 2036).
    pub(crate) fn from_system(t: SystemTime) -> NtpTimestamp {
        let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
        let secs = d.as_secs() + NTP_UNIX_OFFSET;
        let frac = (u64::from(d.subsec_nanos()) << 32) / 1_000_000_000;
        NtpTimestamp((secs << 32) | frac)
    }

    /// Seconds (with fraction) since the NTP epoch, as f64.
    pub(crate) fn as_secs_f64(self) -> f64 {
        (self.0 >> 32) as f64 + (self.0 & 0xffff_ffff) as f64 / 4_294_967_296.0
    }
}

/// The 48-byte request: LI 0, VN 4, mode 3, transmit = `t1`.
pub(crate) fn request(t1: NtpTimestamp) -> [u8; 48] {
    let mut p = [0u8; 48];
    p[0] = 4 << 3 | 3;
    p[40..48].copy_from_slice(&t1.0.to_be_bytes());
    p
}

/// What the server said.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct SntpResult {
    /// θ = ((T2 − T1) + (T3 − T4)) / 2, seconds.
    pub offset: f64,
    /// δ = (T4 − T1) − (T3 − T2), seconds.
    pub delay: f64,
    /// Server stratum.
    pub stratum: u8,
    /// Reference id (4 bytes, text for stratum 1 / kiss codes).
    pub reference_id: [u8; 4],
}

fn ts(p: &[u8], at: usize) -> NtpTimestamp {
    let mut b = [0u8; 8];
    b.copy_from_slice(&p[at..at + 8]);
    NtpTimestamp(u64::from_be_bytes(b))
}

/// Checks a reply to the request sent at `t1`, received at `t4`.
pub(crate) fn parse_reply(
    p: &[u8],
    t1: NtpTimestamp,
    t4: NtpTimestamp,
) -> Result<SntpResult, SntpError> {
    if p.len() < 48 {
        return Err(SntpError::Short(p.len()));
    }
    let li = p[0] >> 6;
    let mode = p[0] & 7;
    if mode != 4 {
        return Err(SntpError::Mode(mode));
    }
    if ts(p, 24) != t1 {
        return Err(SntpError::Origin);
    }
    let stratum = p[1];
    let mut reference_id = [0u8; 4];
    reference_id.copy_from_slice(&p[12..16]);
    if stratum == 0 {
        return Err(SntpError::Kiss(
            String::from_utf8_lossy(&reference_id).into_owned(),
        ));
    }
    if li == 3 {
        return Err(SntpError::Unsynchronised(stratum));
    }
    let t2 = ts(p, 32);
    let t3 = ts(p, 40);
    if t3.0 == 0 {
        return Err(SntpError::ZeroTransmit);
    }
    let (t1, t2, t3, t4) = (
        t1.as_secs_f64(),
        t2.as_secs_f64(),
        t3.as_secs_f64(),
        t4.as_secs_f64(),
    );
    Ok(SntpResult {
        offset: ((t2 - t1) + (t3 - t4)) / 2.0,
        delay: (t4 - t1) - (t3 - t2),
        stratum,
        reference_id,
    })
}

/// A duration as fractional milliseconds (for reports).
pub(crate) fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(
        li: u8,
        stratum: u8,
        origin: NtpTimestamp,
        t2: NtpTimestamp,
        t3: NtpTimestamp,
    ) -> Vec<u8> {
        let mut p = vec![0u8; 48];
        p[0] = li << 6 | 4 << 3 | 4;
        p[1] = stratum;
        p[12..16].copy_from_slice(b"LOCL");
        p[24..32].copy_from_slice(&origin.0.to_be_bytes());
        p[32..40].copy_from_slice(&t2.0.to_be_bytes());
        p[40..48].copy_from_slice(&t3.0.to_be_bytes());
        p
    }

    #[test]
    fn request_is_mode3_v4_with_transmit() {
        let t1 = NtpTimestamp(0x1122_3344_5566_7788);
        let r = request(t1);
        assert_eq!(r[0], 0x23);
        assert_eq!(&r[40..], &0x1122_3344_5566_7788u64.to_be_bytes());
        assert!(r[1..40].iter().all(|b| *b == 0));
    }

    #[test]
    fn offset_and_delay_follow_rfc5905() {
        let s = |x: u64| NtpTimestamp(x << 32);
        // T1=100, T2=111, T3=112, T4=105: offset = (11 + 7)/2 = 9, delay = 5 - 1 = 4.
        let r = parse_reply(&reply(0, 10, s(100), s(111), s(112)), s(100), s(105)).unwrap();
        assert_eq!(r.offset, 9.0);
        assert_eq!(r.delay, 4.0);
        assert_eq!(r.stratum, 10);
    }

    #[test]
    fn rejects_kiss_unsynchronised_and_wrong_origin() {
        let s = |x: u64| NtpTimestamp(x << 32);
        assert_eq!(
            parse_reply(&reply(0, 0, s(1), s(2), s(3)), s(1), s(4)),
            Err(SntpError::Kiss("LOCL".into()))
        );
        assert_eq!(
            parse_reply(&reply(3, 16, s(1), s(2), s(3)), s(1), s(4)),
            Err(SntpError::Unsynchronised(16))
        );
        assert_eq!(
            parse_reply(&reply(0, 2, s(9), s(2), s(3)), s(1), s(4)),
            Err(SntpError::Origin)
        );
    }

    #[test]
    fn timestamp_from_system_time() {
        let t = UNIX_EPOCH + Duration::from_millis(1500);
        let n = NtpTimestamp::from_system(t);
        assert_eq!(n.0 >> 32, NTP_UNIX_OFFSET + 1);
        assert_eq!(n.0 & 0xffff_ffff, 1 << 31);
    }
}
