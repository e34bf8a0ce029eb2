//! The system clock through `clock_adjtime(CLOCK_REALTIME)` (ADJ_FREQUENCY,
//! ADJ_SETOFFSET, leap status). The only `unsafe` of the crate: libc has no
//! safe wrapper and nix has none for adjtimex. Never called by the tests or
//! the demo (they use the simulated clock, and lab processes have no
//! CAP_SYS_TIME).
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
