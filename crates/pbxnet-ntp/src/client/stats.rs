//! Per-source statistics for `status sourcestats` (the columns of
//! `chronyc sourcestats`): a least-squares line through the source's
//! samples, with our own corrections added back.

use super::{Client, Source};

/// What the samples of one source say.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SourceStats {
    /// Samples in the filter (NP).
    pub samples: usize,
    /// Runs of residuals of one sign (NR): about half the samples for
    /// noise, few when the line does not fit.
    pub runs: usize,
    /// Time from the oldest to the newest sample (s).
    pub span: f64,
    /// The source's frequency relative to our clock as it is corrected now
    /// (ppm, positive: our clock is slow).
    pub freq_ppm: f64,
    /// Standard error of that frequency (ppm).
    pub skew_ppm: f64,
    /// The source's offset estimate now (s, positive: it is ahead).
    pub offset: f64,
    /// Standard deviation of the samples around the line (s).
    pub std_dev: f64,
}

impl Client {
    /// Statistics of the source with id `id` at monotonic `now`; `None`
    /// without samples.
    pub fn source_stats(&self, id: usize, now: f64) -> Option<SourceStats> {
        let s = self.source(id)?;
        let (best, jitter) = s.best()?;
        let applied = if self.discipline.cfg.steer {
            self.discipline.freq_ppm
        } else {
            0.0
        };
        let mut stats = line_fit(s).unwrap_or(SourceStats {
            samples: 1,
            runs: 1,
            span: 0.0,
            freq_ppm: 0.0,
            skew_ppm: 0.0,
            offset: 0.0,
            std_dev: jitter,
        });
        stats.freq_ppm -= applied;
        stats.offset = best.offset + self.discipline.freq_ppm * 1e-6 * (now - best.at)
            - (self.discipline.cum_at(now) - best.cum);
        Some(stats)
    }
}

/// The least-squares line u = a + b·t through (time, offset + our
/// corrections then) of every sample; `None` below 3 samples. `freq_ppm`
/// is the raw slope here; `offset` is left for the caller.
fn line_fit(s: &Source) -> Option<SourceStats> {
    let pts: Vec<(f64, f64)> = s.samples().map(|x| (x.at, x.offset + x.cum)).collect();
    let n = pts.len();
    if n < 3 {
        return None;
    }
    let nf = n as f64;
    let mt = pts.iter().map(|p| p.0).sum::<f64>() / nf;
    let mu = pts.iter().map(|p| p.1).sum::<f64>() / nf;
    let sxx: f64 = pts.iter().map(|p| (p.0 - mt).powi(2)).sum();
    let sxy: f64 = pts.iter().map(|p| (p.0 - mt) * (p.1 - mu)).sum();
    let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    let residuals: Vec<f64> = pts.iter().map(|p| p.1 - mu - slope * (p.0 - mt)).collect();
    let var = residuals.iter().map(|r| r * r).sum::<f64>() / (nf - 2.0);
    let runs = 1 + residuals
        .windows(2)
        .filter(|w| (w[0] >= 0.0) != (w[1] >= 0.0))
        .count();
    let span = pts.iter().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max)
        - pts.iter().map(|p| p.0).fold(f64::INFINITY, f64::min);
    Some(SourceStats {
        samples: n,
        runs,
        span,
        freq_ppm: slope * 1e6,
        skew_ppm: if sxx > 0.0 {
            (var / sxx).sqrt() * 1e6
        } else {
            0.0
        },
        offset: 0.0,
        std_dev: var.sqrt(),
    })
}
