//! The client side's source state changes as published events
//! ([`pbxnet_inventory::NtpSourceEvent`]): each source's state in
//! chronyc's terms, compared with what was last published.

use std::collections::HashMap;

use pbxnet_inventory::{NtpSourceEvent, SourceState};

use super::client_status::SourceStatus;

/// A source's state as the event names it, from its `sources` line.
fn state_of(s: &SourceStatus) -> SourceState {
    match s.mark {
        '*' | '+' => SourceState::Selected,
        '-' => SourceState::Outlier,
        'x' => SourceState::Falseticker,
        _ if s.state == "Denied" => SourceState::Denied,
        _ if s.offset_s.is_none() => SourceState::Unreachable,
        _ => SourceState::Candidate,
    }
}

/// The events for the sources whose state differs from `last` (which is
/// updated); a source seen for the first time counts as a change.
pub(super) fn changes(
    last: &mut HashMap<String, SourceState>,
    sources: &[SourceStatus],
) -> Vec<NtpSourceEvent> {
    let mut out = Vec::new();
    for s in sources {
        let state = state_of(s);
        if last.insert(s.address.clone(), state) == Some(state) {
            continue;
        }
        out.push(NtpSourceEvent {
            source: s.address.clone(),
            state,
            stratum: s.stratum,
            offset_ns: s.offset_s.map(|o| (o * 1e9).round() as i64),
        });
    }
    last.retain(|address, _| sources.iter().any(|s| &s.address == address));
    out
}

#[cfg(test)]
mod tests {
    use super::{changes, SourceStatus};
    use pbxnet_inventory::SourceState;
    use std::collections::HashMap;

    fn source(address: &str, mark: char, offset_s: Option<f64>) -> SourceStatus {
        SourceStatus {
            address: address.into(),
            state: "Active".into(),
            stratum: offset_s.map(|_| 2),
            reach: "377".into(),
            poll: 6,
            offset_s,
            delay_s: None,
            jitter_s: None,
            selected: mark == '*',
            why: String::new(),
            mark,
            last_rx_s: None,
            error_s: None,
            key: None,
            auth_failure: None,
            stats: None,
        }
    }

    #[test]
    fn only_changed_sources_are_published() {
        let mut last = HashMap::new();
        let first = changes(&mut last, &[source("a", '?', None), source("b", '?', None)]);
        assert_eq!(first.len(), 2);
        assert!(first.iter().all(|e| e.state == SourceState::Unreachable));
        assert!(changes(&mut last, &[source("a", '?', None), source("b", '?', None)]).is_empty());
        let next = changes(
            &mut last,
            &[source("a", '*', Some(0.0015)), source("b", 'x', Some(-2.0))],
        );
        assert_eq!(next.len(), 2);
        assert_eq!(
            (next[0].state, next[0].stratum, next[0].offset_ns),
            (SourceState::Selected, Some(2), Some(1_500_000))
        );
        assert_eq!(next[1].state, SourceState::Falseticker);
        let mut denied = source("b", '?', Some(-2.0));
        denied.state = "Denied".into();
        let last_change = changes(&mut last, &[source("a", '*', Some(0.001)), denied]);
        assert_eq!(last_change.len(), 1);
        assert_eq!(last_change[0].state, SourceState::Denied);
    }
}
