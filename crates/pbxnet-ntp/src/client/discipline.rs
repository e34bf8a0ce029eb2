//! The clock discipline: frequency from a least-squares fit of the offsets
//! with our own corrections added back, phase removed by a temporary
//! frequency offset (slew), steps beyond the step threshold.

use super::limits::MAX_FREQ_PPM;
use super::outputs::ClientEvent;
use std::collections::VecDeque;

/// Discipline thresholds (the seed's rules, configurable).
#[derive(Debug, Clone, Copy)]
pub struct DisciplineConfig {
    /// Offsets above this (s) are stepped (seed: 10 min).
    pub step_threshold: f64,
    /// Offsets below this (s) are slewed smoothly; above, the slew runs at
    /// the maximum rate ("gradual frequency correction", seed: 1 s).
    pub slew_threshold: f64,
    /// Largest slew on top of the frequency correction (ppm).
    pub max_slew_ppm: f64,
    /// Longest time constant of a small-offset slew (s); the slew takes 16
    /// poll intervals of the system peer, within [16 s, slew_time].
    pub slew_time: f64,
    /// Samples in the frequency fit.
    pub freq_window: usize,
    /// Least time between two points of the frequency fit (s), at least one
    /// poll interval: successive estimates share most of their samples, so
    /// closer points add little and would shorten the fit's span.
    pub fit_spacing: f64,
    /// False: observe only, never emit clock events.
    pub steer: bool,
}

impl Default for DisciplineConfig {
    fn default() -> Self {
        DisciplineConfig {
            step_threshold: 600.0,
            slew_threshold: 1.0,
            max_slew_ppm: 500.0,
            slew_time: 128.0,
            freq_window: 64,
            fit_spacing: 8.0,
            steer: true,
        }
    }
}

/// The clock discipline.
#[derive(Debug)]
pub struct Discipline {
    pub(super) cfg: DisciplineConfig,
    /// Learned frequency correction (ppm).
    pub freq_ppm: f64,
    slew_ppm: f64,
    slew_until: f64,
    /// Start of the running slew (s) and the phase it set out to remove
    /// (s): with the rate, what is left of it at any time.
    slew_start: f64,
    slew_phase: f64,
    applied_ppm: f64,
    /// Cumulative correction applied to the clock (s), for the fit.
    cum: f64,
    last_t: Option<f64>,
    history: VecDeque<(f64, f64)>,
    last_fit_at: Option<f64>,
    /// Steps done.
    pub steps: u32,
    /// Last step (monotonic time, seconds).
    pub last_step: Option<(f64, f64)>,
    /// Last offset applied.
    pub last_offset: Option<f64>,
}

impl Discipline {
    /// New discipline starting from a frequency (e.g. the persisted drift).
    pub fn new(cfg: DisciplineConfig, freq_ppm: f64) -> Self {
        Discipline {
            cfg,
            freq_ppm,
            slew_ppm: 0.0,
            slew_until: 0.0,
            slew_start: 0.0,
            slew_phase: 0.0,
            applied_ppm: freq_ppm,
            cum: 0.0,
            last_t: None,
            history: VecDeque::new(),
            last_fit_at: None,
            steps: 0,
            last_step: None,
            last_offset: None,
        }
    }

    fn advance(&mut self, now: f64) {
        self.cum = self.cum_at(now);
        if self.last_t.is_some() && now >= self.slew_until {
            // What the slew could not remove (the rate was clamped) stays
            // uncorrected until the next update.
            self.slew_phase = self.uncorrected_at(self.slew_until);
            self.slew_start = self.slew_until;
            self.slew_ppm = 0.0;
        }
        self.last_t = Some(now);
    }

    /// Cumulative correction the clock will have received by `now` (s).
    pub fn cum_at(&self, now: f64) -> f64 {
        let Some(t) = self.last_t.filter(|_| self.cfg.steer) else {
            return self.cum;
        };
        let dt = (now - t).max(0.0);
        let slew_dt = (self.slew_until - t).clamp(0.0, dt);
        let total = (self.freq_ppm + self.slew_ppm).clamp(-MAX_FREQ_PPM, MAX_FREQ_PPM);
        let base = self.freq_ppm.clamp(-MAX_FREQ_PPM, MAX_FREQ_PPM);
        self.cum + (total * slew_dt + base * (dt - slew_dt)) * 1e-6
    }

    /// The phase offset (s, signed like θ) that the discipline knows of and
    /// has not removed yet at `now`: the rest of the running slew. Our clock
    /// is off by this much (plus the measurement error) until the slew ends:
    /// a server counts it in the root dispersion it announces.
    pub fn uncorrected_at(&self, now: f64) -> f64 {
        if !self.cfg.steer {
            return 0.0;
        }
        let base = self.freq_ppm.clamp(-MAX_FREQ_PPM, MAX_FREQ_PPM);
        let rate = (self.freq_ppm + self.slew_ppm).clamp(-MAX_FREQ_PPM, MAX_FREQ_PPM) - base;
        let elapsed = (now.min(self.slew_until) - self.slew_start).max(0.0);
        self.slew_phase - rate * 1e-6 * elapsed
    }

    /// Slew end time, if a slew is running.
    pub fn slew_deadline(&self) -> Option<f64> {
        (self.slew_ppm != 0.0).then_some(self.slew_until)
    }

    /// Timer: end of a slew.
    pub fn handle_timeout(&mut self, now: f64, out: &mut VecDeque<ClientEvent>) {
        if self.slew_ppm != 0.0 && now >= self.slew_until {
            self.advance(now);
            self.emit_freq(out);
        }
    }

    fn emit_freq(&mut self, out: &mut VecDeque<ClientEvent>) {
        let f = (self.freq_ppm + self.slew_ppm).clamp(-MAX_FREQ_PPM, MAX_FREQ_PPM);
        if self.cfg.steer && f != self.applied_ppm {
            out.push_back(ClientEvent::SetFrequency(f));
        }
        self.applied_ppm = f;
    }

    /// A new system offset θ (s, positive = we are behind) at `now`, from
    /// a source polled every `interval` seconds; `fit` is the (time, u)
    /// point it was estimated from (u = θ + cumulative correction then:
    /// free of our own actions), for the frequency fit.
    pub fn update(
        &mut self,
        now: f64,
        theta: f64,
        fit: (f64, f64),
        interval: f64,
        out: &mut VecDeque<ClientEvent>,
    ) {
        self.advance(now);
        self.last_offset = Some(theta);
        let spacing = self.cfg.fit_spacing.max(interval) * 0.9;
        if self.last_fit_at.is_none_or(|t| now - t >= spacing) {
            self.history.push_back(fit);
            self.last_fit_at = Some(now);
        }
        while self.history.len() > self.cfg.freq_window.max(2) {
            self.history.pop_front();
        }
        let mut theta = theta;
        if theta.abs() > self.cfg.step_threshold {
            if self.cfg.steer {
                out.push_back(ClientEvent::Step(theta));
                self.cum += theta;
            }
            self.steps += 1;
            self.last_step = Some((now, theta));
            theta = 0.0;
        }
        if self.history.len() >= 3 {
            let n = self.history.len() as f64;
            let (mt, mu) = self
                .history
                .iter()
                .fold((0.0, 0.0), |a, (t, u)| (a.0 + t / n, a.1 + u / n));
            let (sxy, sxx) = self.history.iter().fold((0.0, 0.0), |a, (t, u)| {
                (a.0 + (t - mt) * (u - mu), a.1 + (t - mt) * (t - mt))
            });
            if sxx > 0.0 {
                self.freq_ppm = (sxy / sxx * 1e6).clamp(-MAX_FREQ_PPM, MAX_FREQ_PPM);
            }
        }
        // Remove the phase by slewing: smoothly below the slew threshold, at
        // the maximum rate above it.
        let max = self.cfg.max_slew_ppm * 1e-6;
        // Small offsets: time constant of 16 poll intervals, within
        // [16 s, slew_time]: long enough to average the jitter out.
        let tau = (16.0 * interval).clamp(16.0, self.cfg.slew_time.max(16.0));
        let t = if theta.abs() < self.cfg.slew_threshold {
            (theta.abs() / max).max(tau)
        } else {
            theta.abs() / max
        };
        if theta != 0.0 && t > 0.0 {
            self.slew_ppm = theta / t * 1e6;
            self.slew_until = now + t;
        } else {
            self.slew_ppm = 0.0;
        }
        self.slew_start = now;
        self.slew_phase = theta;
        self.emit_freq(out);
    }
}
