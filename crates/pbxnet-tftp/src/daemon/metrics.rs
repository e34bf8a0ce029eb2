//! `/metrics` of pbxnet-tftpd: TFTP transfers by outcome (the totals the
//! main loop keeps), HTTP and HTTPS responses by status (the front end's
//! counters), bytes per protocol, and what runs now.
//!
//! One family for the three protocols, `pbxnet_tftp_transfers_total
//! {protocol,outcome}`, so that "did the phone get its file" is one query
//! whatever it fetched with. HTTP outcomes are named after the TFTP ones:
//! `complete` (2xx), `not-modified` (304), `timed-out` (408), `refused`
//! (another 4xx: not found, denied, unauthorised ...), `server-error` (5xx).

use std::collections::BTreeMap;

use pbxnet_runtime::metrics::Snapshot;

use super::http::HttpStatus;
use super::status::Totals;

const TRANSFERS: &str = "pbxnet_tftp_transfers";
const TRANSFERS_HELP: &str = "Transfers ended, by protocol (tftp, http, https) and outcome; TFTP requests refused before a transfer count as outcome refused";
const BYTES: &str = "pbxnet_tftp_bytes_sent";
const BYTES_HELP: &str = "File bytes sent, by protocol";
const REFUSED: &str = "pbxnet_tftp_requests_refused";
const REFUSED_HELP: &str =
    "Requests refused, by protocol and reason (TFTP: the refusal; HTTP(S): the status code)";

const MALFORMED: &str = "pbxnet_tftp_malformed";
const MALFORMED_HELP: &str = "TFTP datagrams or HTTP(S) request heads that did not parse";
const ACTIVE: &str = "pbxnet_tftp_active_transfers";
const ACTIVE_HELP: &str = "Transfers running now (HTTP(S): requests being answered)";

/// The outcome an HTTP status counts as.
fn http_outcome(status: u16) -> &'static str {
    match status {
        200..=299 => "complete",
        304 => "not-modified",
        408 => "timed-out",
        500..=599 => "server-error",
        _ => "refused",
    }
}

/// Fills `out` from the TFTP totals, the running transfer count and the
/// HTTP(S) counters (pure: tested below). Samples of one name form one
/// family whatever the order they are given in.
pub(super) fn fill(totals: &Totals, running: usize, http: &HttpStatus, out: &mut Snapshot) {
    tftp(totals, running, out);
    http_front(http, out);
}

/// The TFTP side: the main loop's totals.
fn tftp(totals: &Totals, running: usize, out: &mut Snapshot) {
    let tftp = ("protocol", "tftp");
    let mut outcomes: Vec<_> = totals.outcomes.iter().collect();
    outcomes.sort();
    for (outcome, n) in outcomes {
        out.counter(TRANSFERS, TRANSFERS_HELP, &[tftp, ("outcome", outcome)], *n);
    }
    let refused_total: u64 = totals.refused.values().sum();
    let refused_outcome = [tftp, ("outcome", "refused")];
    out.counter(TRANSFERS, TRANSFERS_HELP, &refused_outcome, refused_total);
    out.counter(BYTES, BYTES_HELP, &[tftp], totals.bytes_sent);
    let mut refused: Vec<_> = totals.refused.iter().collect();
    refused.sort();
    for (reason, n) in refused {
        out.counter(REFUSED, REFUSED_HELP, &[tftp, ("reason", reason)], *n);
    }
    let requests_help = "TFTP read and write requests received";
    out.counter("pbxnet_tftp_requests", requests_help, &[], totals.requests);
    out.counter(MALFORMED, MALFORMED_HELP, &[tftp], totals.malformed);
    let retransmits_help = "TFTP blocks sent again after a timeout";
    out.counter(
        "pbxnet_tftp_retransmits",
        retransmits_help,
        &[],
        totals.retransmits,
    );
    out.gauge(ACTIVE, ACTIVE_HELP, &[tftp], running);
}

/// The HTTP(S) front end's counters.
fn http_front(http: &HttpStatus, out: &mut Snapshot) {
    for (protocol, counts) in &http.protocols {
        let protocol = ("protocol", protocol.as_str());
        let mut by_outcome: BTreeMap<&str, u64> = BTreeMap::new();
        for (status, n) in &counts.by_status {
            let outcome = http_outcome(status.parse().unwrap_or(0));
            *by_outcome.entry(outcome).or_default() += n;
            if outcome == "refused" {
                out.counter(REFUSED, REFUSED_HELP, &[protocol, ("reason", status)], *n);
            }
        }
        for (outcome, n) in by_outcome {
            out.counter(
                TRANSFERS,
                TRANSFERS_HELP,
                &[protocol, ("outcome", outcome)],
                n,
            );
        }
        out.counter(BYTES, BYTES_HELP, &[protocol], counts.bytes);
    }
    let http_label = [("protocol", "http")];
    out.counter(MALFORMED, MALFORMED_HELP, &http_label, http.malformed);
    out.gauge(ACTIVE, ACTIVE_HELP, &http_label, http.active_requests);
    let connections_help = "HTTP(S) connections open now";
    out.gauge(
        "pbxnet_http_connections",
        connections_help,
        &[],
        http.connections,
    );
    let refused_help = "HTTP(S) connections closed at once over the connection cap";
    let refused = http.refused_connections;
    out.counter(
        "pbxnet_http_connections_refused",
        refused_help,
        &[],
        refused,
    );
}

#[cfg(test)]
mod tests {
    use super::super::http::ProtocolCounts;
    use super::*;

    #[test]
    fn tftp_and_http_transfers_share_one_family() {
        let mut totals = Totals::default();
        totals.outcomes.insert("complete".into(), 3);
        totals.outcomes.insert("timed-out".into(), 1);
        totals.refused.insert("not-found".into(), 2);
        totals.bytes_sent = 1000;
        let mut http = HttpStatus::default();
        let mut https = ProtocolCounts::default();
        https.by_status.insert("200".into(), 4);
        https.by_status.insert("206".into(), 1);
        https.by_status.insert("404".into(), 2);
        https.bytes = 77;
        http.protocols.insert("https".into(), https);
        let mut s = Snapshot::new();
        fill(&totals, 1, &http, &mut s);
        let text = s.render(false);
        for line in [
            "pbxnet_tftp_transfers_total{protocol=\"tftp\",outcome=\"complete\"} 3\n",
            "pbxnet_tftp_transfers_total{protocol=\"tftp\",outcome=\"refused\"} 2\n",
            "pbxnet_tftp_transfers_total{protocol=\"https\",outcome=\"complete\"} 5\n",
            "pbxnet_tftp_transfers_total{protocol=\"https\",outcome=\"refused\"} 2\n",
            "pbxnet_tftp_bytes_sent_total{protocol=\"tftp\"} 1000\n",
            "pbxnet_tftp_bytes_sent_total{protocol=\"https\"} 77\n",
            "pbxnet_tftp_requests_refused_total{protocol=\"https\",reason=\"404\"} 2\n",
            "pbxnet_tftp_requests_refused_total{protocol=\"tftp\",reason=\"not-found\"} 2\n",
            "pbxnet_tftp_active_transfers{protocol=\"tftp\"} 1\n",
        ] {
            assert!(text.contains(line), "{line} not in\n{text}");
        }
    }
}
