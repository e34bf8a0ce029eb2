//! Source selection: Marzullo intersection, RFC 5905 clustering and
//! combination of the survivors.

use super::{Client, Sample, SelectStatus, Selection, MIN_SURVIVORS, PHI};

impl Client {
    /// Intersection, clustering and combination over every source's best
    /// sample; records each source's [`SelectStatus`] and the selection.
    /// Returns the combined offset (now), the combined fit point (mean
    /// sample time, u = θ + our corrections) and the system peer.
    pub(super) fn select(&mut self, now: f64) -> Option<(f64, (f64, f64), Candidate)> {
        // Candidates: best sample of every reachable source.
        let mut cands = Vec::new();
        for (i, s) in self.sources.iter_mut().enumerate() {
            s.selected = false;
            s.select = SelectStatus::NoSample;
            if let Some((b, jitter)) = s.best() {
                let age = now - b.at;
                let lambda = b.delay / 2.0
                    + b.root_delay / 2.0
                    + b.dispersion
                    + b.root_dispersion
                    + PHI * age
                    + jitter;
                cands.push(Candidate {
                    index: i,
                    sample: b,
                    lambda,
                    jitter,
                    fit: (b.at, b.offset + b.cum),
                });
            }
        }
        // Estimates of the phase at their mean sample time are brought up
        // to now: our corrections since then are taken off, and the drift
        // since then at the learned frequency (the slope of u = θ + our
        // corrections) is added. The fit point (t, u) is kept for the
        // frequency fit, which must not see its own slope.
        let cum_now = self.discipline.cum_at(now);
        let slope = self.discipline.freq_ppm * 1e-6;
        for c in cands.iter_mut() {
            c.sample.offset += slope * (now - c.sample.at) - (cum_now - c.sample.cum);
        }
        let Some(truechimers) = marzullo(&cands) else {
            for c in &cands {
                self.sources[c.index].select = SelectStatus::NoMajority;
            }
            return None;
        };
        for c in &cands {
            self.sources[c.index].select = SelectStatus::Falseticker;
        }
        let survivors: Vec<Candidate> = truechimers.iter().map(|&k| cands[k]).collect();
        let (kept, pruned) = cluster(&survivors, MIN_SURVIVORS);
        for &k in &pruned {
            self.sources[survivors[k].index].select = SelectStatus::Outlier;
        }
        let mut wsum = 0.0;
        let mut osum = 0.0;
        let mut fit = (0.0, 0.0);
        let mut peer = survivors[kept[0]];
        for &k in &kept {
            let c = survivors[k];
            let src = &mut self.sources[c.index];
            src.selected = true;
            src.select = SelectStatus::Selected;
            let w = 1.0 / c.lambda.max(1e-6);
            wsum += w;
            osum += w * c.sample.offset;
            fit.0 += w * c.fit.0;
            fit.1 += w * c.fit.1;
            if c.lambda < peer.lambda {
                peer = c;
            }
        }
        let offset = osum / wsum;
        self.last_selection = Some(Selection {
            offset,
            peer: self.sources[peer.index].id,
            distance: peer.lambda,
            agreeing: truechimers.len(),
        });
        Some((offset, (fit.0 / wsum, fit.1 / wsum), peer))
    }
}

/// A source's best sample as selection sees it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Candidate {
    /// Index into `Client::sources`.
    pub(super) index: usize,
    pub(super) sample: Sample,
    /// Root distance λ (s): the half-width of its correctness interval.
    pub(super) lambda: f64,
    /// Peer jitter (s).
    pub(super) jitter: f64,
    /// (time, u = θ + our corrections) of its estimate, for the frequency fit.
    pub(super) fit: (f64, f64),
}

/// Marzullo's intersection: the largest clique of candidates whose
/// [θ−λ, θ+λ] intervals share a point; `None` without a majority.
fn marzullo(c: &[Candidate]) -> Option<Vec<usize>> {
    let m = c.len();
    if m == 0 {
        return None;
    }
    let mut edges: Vec<(f64, i32)> = Vec::with_capacity(2 * m);
    for k in c {
        edges.push((k.sample.offset - k.lambda, 1));
        edges.push((k.sample.offset + k.lambda, -1));
    }
    edges.sort_by(|a, b| a.0.total_cmp(&b.0).then(b.1.cmp(&a.1)));
    let (mut best, mut cur, mut point) = (0, 0, 0.0);
    for (x, d) in &edges {
        cur += d;
        if cur > best {
            best = cur;
            point = *x;
        }
    }
    if (best as usize) * 2 <= m {
        return None;
    }
    Some(
        c.iter()
            .enumerate()
            .filter(|(_, k)| {
                k.sample.offset - k.lambda <= point && point <= k.sample.offset + k.lambda
            })
            .map(|(i, _)| i)
            .collect(),
    )
}

/// RFC 5905 §11.2.2 cluster algorithm on the truechimers. The selection
/// jitter of a survivor is the RMS of its offset's differences from the
/// other survivors' offsets; while more than `min_survivors` remain and the
/// largest selection jitter exceeds the smallest peer jitter, the survivor
/// with the largest selection jitter is pruned (removing it tightens the
/// cluster more than any single source's own noise could). Returns the
/// kept and the pruned indices into `c`, each in ascending order; ties
/// prune the lowest index, so the result is deterministic.
pub(super) fn cluster(c: &[Candidate], min_survivors: usize) -> (Vec<usize>, Vec<usize>) {
    let mut kept: Vec<usize> = (0..c.len()).collect();
    let mut pruned = Vec::new();
    while kept.len() > min_survivors.max(1) {
        let n = kept.len() as f64;
        let mut worst = (0usize, f64::NEG_INFINITY);
        let mut min_peer_jitter = f64::INFINITY;
        for (pos, &i) in kept.iter().enumerate() {
            let sum: f64 = kept
                .iter()
                .map(|&j| (c[j].sample.offset - c[i].sample.offset).powi(2))
                .sum();
            let sel_jitter = (sum / (n - 1.0)).sqrt();
            if sel_jitter > worst.1 {
                worst = (pos, sel_jitter);
            }
            min_peer_jitter = min_peer_jitter.min(c[i].jitter);
        }
        if worst.1 <= min_peer_jitter {
            break;
        }
        pruned.push(kept.remove(worst.0));
    }
    pruned.sort_unstable();
    (kept, pruned)
}
