//! `[clock]`: the discipline thresholds and the clock mode.

use super::raw::{ClockMode, RawClock};
use pbxnet_config::{Diagnostic, Diagnostics, Severity, ValidateCtx};
use std::path::PathBuf;

/// Validated `[clock]`.
#[derive(Debug, Clone)]
pub struct ClockSettings {
    /// Mode.
    pub mode: ClockMode,
    /// Thresholds for the discipline.
    pub discipline: crate::client::DisciplineConfig,
    /// Root distance limit (s).
    pub max_distance: f64,
    /// Simulated offset (s).
    pub sim_offset: f64,
    /// Simulated frequency error (ppm).
    pub sim_frequency_ppm: f64,
    /// Drift file (absolute).
    pub drift_file: PathBuf,
}

/// The clock settings, every inconsistency reported.
pub(super) fn clock(c: &RawClock, ctx: &ValidateCtx<'_>, diags: &mut Diagnostics) -> ClockSettings {
    let src = ctx.source;
    let step = c.step_threshold.get_ref().get().as_secs_f64();
    let slew = c.slew_threshold.get_ref().get().as_secs_f64();
    if slew > step {
        diags.error(
            src,
            c.slew_threshold.span(),
            "clock.slew-threshold",
            "the slew threshold is above the step threshold",
        );
    }
    if c.mode != ClockMode::Simulated && (c.sim_offset != 0.0 || c.sim_frequency_ppm != 0.0) {
        diags.push(Diagnostic::file(
            Severity::Warning,
            &src.path,
            "clock.sim-offset / sim-frequency-ppm only apply to mode = \"simulated\"",
        ));
    }
    if !c.sim_offset.is_finite()
        || !c.sim_frequency_ppm.is_finite()
        || c.sim_frequency_ppm.abs() > 500.0
    {
        diags.push(Diagnostic::file(
            Severity::Error,
            &src.path,
            "clock.sim-frequency-ppm must be within ±500 ppm and sim-offset finite",
        ));
    }
    ClockSettings {
        mode: c.mode,
        discipline: crate::client::DisciplineConfig {
            step_threshold: step,
            slew_threshold: slew,
            steer: c.mode != ClockMode::Observe,
            ..Default::default()
        },
        max_distance: c.max_distance.get().as_secs_f64(),
        sim_offset: c.sim_offset,
        sim_frequency_ppm: c.sim_frequency_ppm,
        drift_file: if c.drift_file.is_absolute() {
            c.drift_file.clone()
        } else {
            ctx.site.state_directory.join(&c.drift_file)
        },
    }
}
