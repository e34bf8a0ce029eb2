//! A reload of the source list: unchanged sources keep their state.

use super::{Client, DisciplineConfig, Source, SourceConfig};
use crate::mac::Key;
use std::net::SocketAddr;

/// What a [`Client::reconfigure`] did to one source address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceChange {
    /// Same address, key and polls: its state is kept.
    Unchanged(SocketAddr),
    /// New address: starts with a burst.
    Added(SocketAddr),
    /// No longer listed: dropped.
    Removed(SocketAddr),
    /// Another key (or a key added or removed): restarted afresh.
    KeyChanged(SocketAddr),
    /// New poll range (minpoll, maxpoll): its samples are kept.
    PollChanged {
        /// The source.
        addr: SocketAddr,
        /// Old range.
        from: (i8, i8),
        /// New range.
        to: (i8, i8),
    },
}

/// Same key: id, type and secret (compared through a digest, so that the
/// secret is never exposed).
fn key_eq(a: &Option<Key>, b: &Option<Key>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => {
            const PROBE: &[u8] = b"pbxnet-ntpd key identity";
            a.id() == b.id() && a.kind() == b.kind() && a.digest(PROBE) == b.digest(PROBE)
        }
        _ => false,
    }
}

impl Client {
    /// Replace the source list (a reload). A source whose address and key
    /// are unchanged keeps its state (samples, reach, poll, pending
    /// request); a poll range change is applied to it in place (its poll is
    /// clamped into the new range). A new key means a new trust basis: that
    /// source starts afresh, like a new one (with its burst). Sources no
    /// longer listed are dropped. Steering on/off and the thresholds come
    /// from `discipline`; the learned frequency is kept. Returns what changed,
    /// for the log.
    pub fn reconfigure(
        &mut self,
        sources: Vec<SourceConfig>,
        discipline: DisciplineConfig,
        now: f64,
    ) -> Vec<SourceChange> {
        let mut changes = Vec::new();
        let mut old: Vec<Option<Source>> = std::mem::take(&mut self.sources)
            .into_iter()
            .map(Some)
            .collect();
        for cfg in sources {
            let same_addr = old
                .iter()
                .position(|o| o.as_ref().is_some_and(|o| o.cfg.addr == cfg.addr));
            let kept = same_addr.and_then(|k| old[k].take());
            let src = match kept {
                Some(mut s) if key_eq(&s.cfg.key, &cfg.key) => {
                    if (s.cfg.minpoll, s.cfg.maxpoll) != (cfg.minpoll, cfg.maxpoll) {
                        changes.push(SourceChange::PollChanged {
                            addr: cfg.addr,
                            from: (s.cfg.minpoll, s.cfg.maxpoll),
                            to: (cfg.minpoll, cfg.maxpoll),
                        });
                        s.poll = s.poll.clamp(cfg.minpoll, cfg.maxpoll.max(cfg.minpoll));
                        s.next_poll = s.next_poll.min(now + s.interval());
                    } else {
                        changes.push(SourceChange::Unchanged(cfg.addr));
                    }
                    s.cfg = cfg;
                    s
                }
                Some(_) => {
                    changes.push(SourceChange::KeyChanged(cfg.addr));
                    let id = self.next_id;
                    self.next_id += 1;
                    Source::new(id, cfg, now)
                }
                None => {
                    changes.push(SourceChange::Added(cfg.addr));
                    let id = self.next_id;
                    self.next_id += 1;
                    Source::new(id, cfg, now)
                }
            };
            self.sources.push(src);
        }
        for s in old.into_iter().flatten() {
            changes.push(SourceChange::Removed(s.cfg.addr));
        }
        // A system peer that is gone (or restarted) cannot stay the
        // reference: select again among the samples the others hold (they
        // were already used for the clock, so no discipline update).
        if let Some(sel) = self.last_selection {
            if self.source(sel.peer).and_then(|s| s.best()).is_none() {
                self.last_selection = None;
                self.select(now);
            }
        }
        self.discipline.cfg = discipline;
        changes
    }
}
