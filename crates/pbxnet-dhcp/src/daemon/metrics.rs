//! `/metrics` of pbxnet-dhcpd: the core's counters and pool usage as
//! Prometheus metrics, named after the Kea exporter's (`pkt4-*-received`,
//! `assigned-addresses`, `total-addresses`, `v4-allocation-fail`).
//! Kea's exporter calls the pool size `kea_dhcp4_addresses_total`; here it
//! is `pbxnet_dhcp4_pool_addresses`, since `promtool check metrics`
//! refuses a gauge ending in `_total`.

use std::sync::Arc;

use pbxnet_runtime::metrics::Snapshot;

use super::clock::now_ms;
use super::sockets::Port;
use super::store::Store;
use crate::server::Server;
use crate::{Counters, DropReason, NamedCounters};

/// Message types a server sends (the others it only receives).
const SENT: [&str; 3] = ["offer", "ack", "nak"];

/// Fills `out` from the core (under the core lock the caller holds) and
/// the reply pacers.
pub(super) fn fill(s: &Server<Store>, ports: &[Arc<Port>], out: &mut Snapshot) {
    counters(s.counters(), out);
    for p in s.pool_usage(now_ms() / 1000) {
        out.gauge(
            "pbxnet_dhcp4_addresses_assigned",
            "Addresses of the pool in use: offered, leased or on probation after a DECLINE",
            &[("pool", &p.pool)],
            p.used,
        );
        out.gauge(
            "pbxnet_dhcp4_pool_addresses",
            "Addresses in the pool (Kea's total-addresses; not named *_total: that suffix is for counters)",
            &[("pool", &p.pool)],
            p.size,
        );
    }
    let (mut delayed, mut dropped) = (0, 0);
    for port in ports {
        let pace = port.pace.lock().expect("pacer lock");
        delayed += pace.counters().delayed;
        dropped += pace.counters().dropped;
    }
    out.counter(
        "pbxnet_dhcp4_replies_delayed",
        "Replies that waited for their destination's pace",
        &[],
        delayed,
    );
    out.counter(
        "pbxnet_dhcp4_packets_dropped",
        "Datagrams received and not answered, and replies not sent, by reason",
        &[("reason", "reply_queue_full")],
        dropped,
    );
}

/// The core's counters (pure: tested below).
fn counters(c: &Counters, out: &mut Snapshot) {
    let named = NamedCounters::from(c.clone());
    for (kind, n) in named.received.named() {
        out.counter(
            "pbxnet_dhcp4_packets_received",
            "DHCPv4 messages received, by message type",
            &[("type", kind)],
            n,
        );
    }
    for (kind, n) in named.sent.named() {
        if SENT.contains(&kind) {
            out.counter(
                "pbxnet_dhcp4_packets_sent",
                "DHCPv4 messages sent, by message type",
                &[("type", kind)],
                n,
            );
        }
    }
    out.counter(
        "pbxnet_dhcp4_allocation_failures",
        "Requests for an address no pool of the client's class could give (also counted as dropped, reason pool_exhausted)",
        &[],
        c.dropped[DropReason::PoolExhausted as usize],
    );
    for d in DropReason::ALL {
        out.counter(
            "pbxnet_dhcp4_packets_dropped",
            "Datagrams received and not answered, and replies not sent, by reason",
            &[("reason", d.label())],
            c.dropped[d as usize],
        );
    }
    out.counter(
        "pbxnet_dhcp4_declines",
        "Addresses put on probation after a DECLINE",
        &[],
        c.declines,
    );
    out.counter(
        "pbxnet_dhcp4_conflicts",
        "Never-used addresses the conflict probe found in use",
        &[],
        c.conflicts,
    );
    out.counter(
        "pbxnet_dhcp4_replies_truncated",
        "Replies that left out an option the client's maximum message size had no room for",
        &[],
        c.truncated_replies,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_become_labelled_samples() {
        let mut c = Counters::default();
        c.received[1] = 4; // discover
        c.sent[2] = 3; // offer
        c.sent[5] = 2; // ack
        c.dropped[DropReason::PoolExhausted as usize] = 7;
        c.dropped[DropReason::Flood as usize] = 1;
        let mut s = Snapshot::new();
        counters(&c, &mut s);
        let text = s.render(false);
        for line in [
            "pbxnet_dhcp4_packets_received_total{type=\"discover\"} 4\n",
            "pbxnet_dhcp4_packets_received_total{type=\"request\"} 0\n",
            "pbxnet_dhcp4_packets_sent_total{type=\"offer\"} 3\n",
            "pbxnet_dhcp4_packets_sent_total{type=\"ack\"} 2\n",
            "pbxnet_dhcp4_allocation_failures_total 7\n",
            "pbxnet_dhcp4_packets_dropped_total{reason=\"pool_exhausted\"} 7\n",
            "pbxnet_dhcp4_packets_dropped_total{reason=\"flood\"} 1\n",
        ] {
            assert!(text.contains(line), "{line} not in\n{text}");
        }
        assert!(!text.contains("packets_sent_total{type=\"discover\"}"));
    }
}
