//! The system clock through `clock_adjtime(CLOCK_REALTIME)` (ADJ_FREQUENCY,
//! ADJ_SETOFFSET, leap status). One of the crate's two `unsafe` modules
//! (with `mmsg`): libc has no safe wrapper and nix has none for adjtimex.
//! The tests and the demo use the simulated clock; the only calls they make
//! here are the query-only one (`modes = 0`, which changes nothing and needs
//! no privilege) and, in lab processes without CAP_SYS_TIME, modifying calls
//! the kernel refuses (EPERM) before it looks at them.
#![allow(unsafe_code)]

fn adjtime(tx: &mut libc::timex) -> Result<(), String> {
    // SAFETY: `tx` is a valid, initialised timex for the duration of the call.
    let r = unsafe { libc::clock_adjtime(libc::CLOCK_REALTIME, tx) };
    if r < 0 {
        Err(format!(
            "clock_adjtime: {}",
            std::io::Error::last_os_error()
        ))
    } else {
        Ok(())
    }
}

/// What a query-only `clock_adjtime` reports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct KernelClock {
    /// Frequency correction in effect (ppm).
    pub(crate) freq_ppm: f64,
    /// `status` bits (STA_*).
    pub(crate) status: i32,
    /// Clock state (TIME_OK, TIME_INS, … TIME_ERROR: 0–5).
    pub(crate) state: i32,
}

/// Read the kernel clock's frequency and status without changing anything
/// (`modes = 0`: allowed without CAP_SYS_TIME).
pub(crate) fn query() -> Result<KernelClock, String> {
    let mut tx = zeroed();
    // SAFETY: `tx` is a valid, initialised timex; modes = 0 only reads.
    let r = unsafe { libc::clock_adjtime(libc::CLOCK_REALTIME, &mut tx) };
    if r < 0 {
        return Err(format!(
            "clock_adjtime (query): {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(KernelClock {
        freq_ppm: tx.freq as f64 / 65536.0,
        status: tx.status,
        state: r,
    })
}

/// CAP_SYS_TIME (capability 25) in an effective set as /proc/<pid>/status
/// prints it (`CapEff:\t<hex>`); `None` when the line is missing.
pub(crate) fn cap_sys_time_in(status: &str) -> Option<bool> {
    let hex = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))?
        .trim();
    let bits = u64::from_str_radix(hex, 16).ok()?;
    Some(bits & (1 << 25) != 0)
}

/// Whether this process may adjust the clock: CAP_SYS_TIME effective. Read
/// from /proc so that finding out never needs a modifying call.
pub(crate) fn may_adjust() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| cap_sys_time_in(&s))
        .unwrap_or(false)
}

fn zeroed() -> libc::timex {
    // SAFETY: timex is a plain C struct of integers; all-zero is valid.
    unsafe { std::mem::zeroed() }
}

/// Set the frequency correction (ppm, positive = run faster).
pub(crate) fn set_frequency(ppm: f64) -> Result<(), String> {
    let mut tx = zeroed();
    tx.modes = libc::ADJ_FREQUENCY;
    tx.freq = (ppm.clamp(-500.0, 500.0) * 65536.0) as libc::c_long;
    adjtime(&mut tx)
}

/// Step the clock by `secs`.
pub(crate) fn step(secs: f64) -> Result<(), String> {
    let mut tx = zeroed();
    tx.modes = libc::ADJ_SETOFFSET | libc::ADJ_NANO;
    let whole = secs.floor();
    tx.time.tv_sec = whole as libc::time_t;
    tx.time.tv_usec = ((secs - whole) * 1e9) as libc::suseconds_t;
    adjtime(&mut tx)
}

/// Arm (or clear) a leap second at the end of the UTC day.
pub(crate) fn set_leap(insert: bool, delete: bool) -> Result<(), String> {
    let mut tx = zeroed();
    adjtime(&mut tx)?;
    let mut status = tx.status & !(libc::STA_INS | libc::STA_DEL | libc::STA_UNSYNC);
    if insert {
        status |= libc::STA_INS;
    }
    if delete {
        status |= libc::STA_DEL;
    }
    let mut tx = zeroed();
    tx.modes = libc::ADJ_STATUS;
    tx.status = status;
    adjtime(&mut tx)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Query only (modes = 0): safe with or without CAP_SYS_TIME.
    #[test]
    fn query_reads_frequency_and_state_without_changing_them() {
        let a = query().expect("query-only clock_adjtime");
        assert!(a.freq_ppm.abs() <= 512.0, "{a:?}");
        assert!((0..=5).contains(&a.state), "{a:?}");
        // the kernel keeps the frequency within ±500 ppm (±32768000 in its
        // 16-bit fixed point); anything else means the struct was misread
        assert!(a.status & !0xffff == 0, "{a:?}");
    }

    #[test]
    fn reads_cap_sys_time_from_the_effective_set() {
        let with = "Name:\tx\nCapInh:\t0\nCapPrm:\t000001ffffffffff\nCapEff:\t000001ffffffffff\n";
        let without = "CapPrm:\t000001ffffffffff\nCapEff:\t000001fffdffffff\n";
        assert_eq!(cap_sys_time_in(with), Some(true));
        assert_eq!(cap_sys_time_in(without), Some(false));
        assert_eq!(cap_sys_time_in("CapEff:\t0000000002000000"), Some(true));
        assert_eq!(cap_sys_time_in("Name:\tx\n"), None);
        assert_eq!(cap_sys_time_in("CapEff:\tzz"), None);
    }
}
