//! The client side's part of `status`: the system offset and frequency,
//! the steps, and per source what `chronyc sources` and `chronyc
//! sourcestats` show, with the reason a source is not used in words.

use crate::{Client, Reject, SelectStatus, Source, SourceState};
use serde::{Deserialize, Serialize};

/// One source.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct SourceStatus {
    pub(crate) address: String,
    pub(crate) state: String,
    pub(crate) stratum: Option<u8>,
    pub(crate) reach: String,
    pub(crate) poll: i8,
    pub(crate) offset_s: Option<f64>,
    pub(crate) delay_s: Option<f64>,
    pub(crate) jitter_s: Option<f64>,
    pub(crate) selected: bool,
    /// Why it is used or not, in words.
    pub(crate) why: String,
    /// chronyc's state mark: `*` system peer, `+` combined, `-` pruned
    /// outlier, `x` falseticker, `?` unusable.
    #[serde(default)]
    pub(crate) mark: char,
    /// Seconds since its last usable reply.
    #[serde(default)]
    pub(crate) last_rx_s: Option<f64>,
    /// Error bound of its offset (s): half its delay plus its root
    /// distance, dispersion and jitter.
    #[serde(default)]
    pub(crate) error_s: Option<f64>,
    /// Key id it is polled with.
    #[serde(default)]
    pub(crate) key: Option<u32>,
    /// The authentication check that failed, when one did.
    #[serde(default)]
    pub(crate) auth_failure: Option<String>,
    /// `sourcestats`.
    #[serde(default)]
    pub(crate) stats: Option<SourceStatsView>,
}

/// A source's statistics (`chronyc sourcestats` columns).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct SourceStatsView {
    pub(crate) samples: usize,
    pub(crate) runs: usize,
    pub(crate) span_s: f64,
    pub(crate) freq_ppm: f64,
    pub(crate) skew_ppm: f64,
    pub(crate) offset_s: f64,
    pub(crate) std_dev_s: f64,
}

/// The client side.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ClientStatus {
    pub(crate) clock_mode: String,
    pub(crate) sources: Vec<SourceStatus>,
    pub(crate) system_offset_s: Option<f64>,
    pub(crate) frequency_ppm: f64,
    pub(crate) steps: u32,
    /// Unix time and size (s) of the last step.
    pub(crate) last_step: Option<(u64, f64)>,
    pub(crate) since_last_sync_s: Option<f64>,
    /// Simulated mode only: the clock's true offset from real time.
    pub(crate) simulated_true_offset_s: Option<f64>,
    /// Why the configured clock mode is not in effect (e.g. no CAP_SYS_TIME).
    #[serde(default)]
    pub(crate) clock_error: Option<String>,
    /// Exchanges whose T1 was the kernel's transmit stamp / a user-space read.
    #[serde(default)]
    pub(crate) t1_kernel_stamps: u64,
    #[serde(default)]
    pub(crate) t1_user_stamps: u64,
    /// What the clock is still off by as far as we know (the rest of a
    /// slew, or a step waiting for agreement): counted in the root
    /// dispersion we announce.
    #[serde(default)]
    pub(crate) uncorrected_offset_s: Option<f64>,
    /// Sources agreeing on the selected offset.
    #[serde(default)]
    pub(crate) agreeing_sources: Option<usize>,
}

/// Every source of `client` at monotonic `now`.
pub(crate) fn sources(client: &Client, now: f64) -> Vec<SourceStatus> {
    let peer = client.selection().map(|s| s.peer);
    client
        .sources()
        .iter()
        .map(|s| source(client, s, peer == Some(s.id()), now))
        .collect()
}

fn source(client: &Client, s: &Source, system_peer: bool, now: f64) -> SourceStatus {
    let best = s.best();
    let (why, auth_failure) = why(s, system_peer, best.is_some());
    SourceStatus {
        address: s.addr().to_string(),
        state: format!("{:?}", s.state),
        stratum: best.map(|(b, _)| b.stratum),
        reach: format!("{:03o}", s.reach),
        poll: s.poll(),
        offset_s: best.map(|(b, _)| b.offset),
        delay_s: best.map(|(b, _)| b.delay),
        jitter_s: best.map(|(_, j)| j),
        selected: s.selected,
        why,
        mark: mark(s, system_peer, best.is_some()),
        last_rx_s: s.latest().map(|x| now - x.at),
        error_s: best.map(|(b, j)| {
            b.delay / 2.0 + b.root_delay / 2.0 + b.dispersion + b.root_dispersion + j
        }),
        key: s.config().key.as_ref().map(|k| k.id()),
        auth_failure,
        stats: client.source_stats(s.id(), now).map(|x| SourceStatsView {
            samples: x.samples,
            runs: x.runs,
            span_s: x.span,
            freq_ppm: x.freq_ppm,
            skew_ppm: x.skew_ppm,
            offset_s: x.offset,
            std_dev_s: x.std_dev,
        }),
    }
}

fn mark(s: &Source, system_peer: bool, has_sample: bool) -> char {
    match s.select {
        _ if !has_sample || s.state == SourceState::Denied => '?',
        SelectStatus::Selected if system_peer => '*',
        SelectStatus::Selected => '+',
        SelectStatus::Outlier => '-',
        SelectStatus::Falseticker => 'x',
        SelectStatus::NoMajority | SelectStatus::NoSample => '?',
    }
}

/// Why the source is used or not, and the authentication check that
/// failed if one did.
fn why(s: &Source, system_peer: bool, has_sample: bool) -> (String, Option<String>) {
    if s.state == SourceState::Denied {
        let why = match s.last_reject {
            Some(r) => format!("stopped by a {r}"),
            None => "stopped by a kiss-o'-death".to_string(),
        };
        return (why, None);
    }
    if let Some(r) = s.last_reject {
        let auth = matches!(r, Reject::Auth(_)).then(|| r.to_string());
        return (format!("last reply rejected: {r}"), auth);
    }
    if !has_sample && s.reach == 0 && s.requests_sent() > 0 {
        return match s.config().key.as_ref() {
            Some(k) => {
                let why = format!(
                    "no reply to keyed request (key {}): the server may not know the key or \
                     hold another secret (chrony answers a bad MAC with silence)",
                    k.id()
                );
                (why.clone(), Some(why))
            }
            None => ("no reply".to_string(), None),
        };
    }
    let why = match (s.select, has_sample) {
        (_, false) => "no sample yet",
        (SelectStatus::Selected, true) if system_peer => "selected (system peer)",
        (SelectStatus::Selected, true) => "selected",
        (SelectStatus::Falseticker, true) => "falseticker: outside the majority intersection",
        (SelectStatus::Outlier, true) => "outlier: pruned by clustering",
        (SelectStatus::NoMajority, true) => "no majority of sources agrees",
        (SelectStatus::NoSample, true) => "waiting for selection",
    };
    (why.to_string(), None)
}
