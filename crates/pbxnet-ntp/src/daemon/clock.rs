//! Clocks the client side can drive.
//!
//! - `Simulated`: real time plus a simulated phase that drifts at
//!   (frequency error + applied correction); steps move the phase. The real
//!   clock is never touched. The server workers read the same phase, so what
//!   the daemon serves is the simulated clock's time.
//! - `System`: `clock_adjtime(CLOCK_REALTIME)` (see `adjtime`).
//! - `Observe`: measure only (the core emits no clock events then).

use crate::{ClientEvent, ClockMode, LeapIndicator, NtpTimestamp};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// The simulated clock's phase: `phase(t) = phase_s + rate_ppm·1e-6·(t − epoch)`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shift {
    epoch: Instant,
    phase_s: f64,
    rate_ppm: f64,
}

impl Shift {
    fn phase_at(&self, now: Instant) -> f64 {
        let dt = now.saturating_duration_since(self.epoch).as_secs_f64();
        self.phase_s + self.rate_ppm * 1e-6 * dt
    }
}

/// Shared, cheap reader of "our" time (real time + simulated phase).
#[derive(Debug, Clone)]
pub(crate) struct ClockReader {
    shift: Arc<Mutex<Shift>>,
}

fn real_ntp() -> NtpTimestamp {
    NtpTimestamp::from_unix_duration(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default(),
    )
}

impl ClockReader {
    /// A copy of the current shift (read once per batch by the workers).
    pub(crate) fn snapshot(&self) -> Shift {
        self.shift.lock().map(|s| *s).unwrap_or(Shift {
            epoch: Instant::now(),
            phase_s: 0.0,
            rate_ppm: 0.0,
        })
    }

    /// Our time now.
    pub(crate) fn now(&self) -> NtpTimestamp {
        self.snapshot().apply(real_ntp())
    }

    /// Translate a kernel CLOCK_REALTIME stamp taken a while ago (a
    /// transmit stamp read when the reply came back, a receive stamp read
    /// after a wake-up) to our time, with the simulated phase of the moment
    /// the stamp was taken rather than of now: during a slew the phase moves
    /// up to 500 ppm, i.e. 6 µs over a 12 ms round trip.
    pub(crate) fn map_kernel(&self, real: NtpTimestamp) -> NtpTimestamp {
        let s = self.snapshot();
        if s.phase_s == 0.0 && s.rate_ppm == 0.0 {
            return real;
        }
        let age = (real_ntp() - real).as_seconds().clamp(0.0, 60.0);
        let at = Instant::now()
            .checked_sub(std::time::Duration::from_secs_f64(age))
            .unwrap_or_else(Instant::now);
        real + crate::NtpDuration::from_seconds(s.phase_at(at))
    }
}

impl Shift {
    /// Translate a real-time timestamp (e.g. a kernel receive stamp) to ours.
    pub(crate) fn apply(&self, real: NtpTimestamp) -> NtpTimestamp {
        if self.phase_s == 0.0 && self.rate_ppm == 0.0 {
            return real;
        }
        let p = self.phase_at(Instant::now());
        if p == 0.0 {
            real
        } else {
            real + crate::NtpDuration::from_seconds(p)
        }
    }
}

/// The clock owned by the client loop.
#[derive(Debug)]
pub(crate) struct DaemonClock {
    mode: ClockMode,
    shift: Arc<Mutex<Shift>>,
    sim_freq_err_ppm: f64,
}

impl DaemonClock {
    pub(crate) fn new(mode: ClockMode, sim_offset: f64, sim_freq_err_ppm: f64) -> DaemonClock {
        let (phase_s, rate_ppm) = match mode {
            ClockMode::Simulated => (sim_offset, sim_freq_err_ppm),
            _ => (0.0, 0.0),
        };
        DaemonClock {
            mode,
            shift: Arc::new(Mutex::new(Shift {
                epoch: Instant::now(),
                phase_s,
                rate_ppm,
            })),
            sim_freq_err_ppm,
        }
    }

    pub(crate) fn mode(&self) -> ClockMode {
        self.mode
    }

    /// Stop driving the clock (measure only): the system clock cannot be
    /// adjusted (no CAP_SYS_TIME).
    pub(crate) fn fall_back_to_observe(&mut self) {
        self.mode = ClockMode::Observe;
    }

    pub(crate) fn reader(&self) -> ClockReader {
        ClockReader {
            shift: self.shift.clone(),
        }
    }

    /// Simulated phase now (s): the true offset of our clock, known only in
    /// simulated mode (for status and benchmarks).
    pub(crate) fn sim_phase(&self) -> Option<f64> {
        (self.mode == ClockMode::Simulated)
            .then(|| self.reader().snapshot().phase_at(Instant::now()))
    }

    /// Apply a clock event from the core.
    pub(crate) fn apply(&mut self, ev: &ClientEvent) -> Result<(), String> {
        match self.mode {
            ClockMode::Observe => Ok(()),
            ClockMode::Simulated => {
                let now = Instant::now();
                let mut s = self
                    .shift
                    .lock()
                    .map_err(|_| "clock lock poisoned".to_string())?;
                match ev {
                    ClientEvent::SetFrequency(f) => {
                        let p = s.phase_at(now);
                        *s = Shift {
                            epoch: now,
                            phase_s: p,
                            rate_ppm: self.sim_freq_err_ppm + f,
                        };
                    }
                    ClientEvent::Step(x) => {
                        let p = s.phase_at(now);
                        *s = Shift {
                            epoch: now,
                            phase_s: p + x,
                            rate_ppm: s.rate_ppm,
                        };
                    }
                    _ => {}
                }
                Ok(())
            }
            ClockMode::System => match ev {
                ClientEvent::SetFrequency(f) => super::adjtime::set_frequency(*f),
                ClientEvent::Step(x) => super::adjtime::step(*x),
                ClientEvent::Leap(l) => super::adjtime::set_leap(
                    *l == LeapIndicator::Leap61,
                    *l == LeapIndicator::Leap59,
                ),
                _ => Ok(()),
            },
        }
    }
}
