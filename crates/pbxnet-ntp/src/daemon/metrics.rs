//! `/metrics` of pbxnet-ntpd, from the same snapshot `status` shows: the
//! server's requests by result, authentication failures and kiss-o'-death
//! sent; the clock's state; and per upstream source its offset, delay,
//! stratum and reachability, as ntpd-rs' exporter names them
//! (`ntp_source_offset_seconds`, `ntp_source_delay_seconds` ...).

use pbxnet_runtime::metrics::Snapshot as Metrics;

use super::client_status::ClientStatus;
use super::control::Snapshot;

const REQUESTS: &str = "pbxnet_ntp_requests";
const REQUESTS_HELP: &str = "NTP requests received, by result: accepted (answered with the time), denied, rate_limited, auth_failed, malformed, ignored (control or other modes, amplification)";

/// Fills `out` from the status snapshot (pure: tested below).
pub(super) fn fill(s: &Snapshot, out: &mut Metrics) {
    let v = &s.server;
    let results = [
        (
            "accepted",
            v.replies_authenticated + v.replies_unauthenticated,
        ),
        ("denied", v.kod_deny + v.drop_denied),
        ("rate_limited", v.kod_rate + v.drop_rate_limited),
        (
            "auth_failed",
            v.crypto_nak + v.drop_bad_auth + v.drop_auth_required,
        ),
        ("malformed", v.drop_malformed + v.drop_bad_version),
        (
            "ignored",
            v.drop_mode_control + v.drop_mode_other + v.drop_amplification + v.drop_buffer,
        ),
    ];
    for (result, n) in results {
        out.counter(REQUESTS, REQUESTS_HELP, &[("result", result)], n);
    }
    let auth = "pbxnet_ntp_auth_failures";
    let auth_help = "Requests whose authentication failed, by cause";
    out.counter(auth, auth_help, &[("cause", "bad_mac")], v.auth_bad_mac);
    out.counter(
        auth,
        auth_help,
        &[("cause", "unknown_key")],
        v.auth_unknown_key,
    );
    out.counter(
        auth,
        auth_help,
        &[("cause", "untrusted_key")],
        v.auth_untrusted_key,
    );
    let kod = "pbxnet_ntp_kod_sent";
    let kod_help = "Kiss-o'-death replies sent, by code";
    out.counter(kod, kod_help, &[("code", "RATE")], v.kod_rate);
    out.counter(kod, kod_help, &[("code", "DENY")], v.kod_deny);
    out.counter(kod, kod_help, &[("code", "CRYPTO-NAK")], v.crypto_nak);
    out.counter(
        "pbxnet_ntp_send_errors",
        "Replies the kernel refused to send",
        &[],
        s.send_errors,
    );
    out.gauge(
        "pbxnet_ntp_synchronized",
        "1 when the server announces a synchronised time (leap indicator not 3)",
        &[],
        s.synchronized,
    );
    out.gauge(
        "pbxnet_ntp_stratum",
        "Stratum the server announces",
        &[],
        s.stratum,
    );
    out.gauge(
        "pbxnet_ntp_root_delay_seconds",
        "Root delay the server announces",
        &[],
        s.root_delay_s,
    );
    out.gauge(
        "pbxnet_ntp_root_dispersion_seconds",
        "Root dispersion the server announces",
        &[],
        s.root_dispersion_s,
    );
    if let Some(c) = &s.client {
        client(c, out);
    }
}

/// The client side: the clock and each source.
fn client(c: &ClientStatus, out: &mut Metrics) {
    if let Some(offset) = c.system_offset_s {
        out.gauge(
            "pbxnet_ntp_system_offset_seconds",
            "Offset of the system clock from the selected sources' time",
            &[],
            offset,
        );
    }
    out.gauge(
        "pbxnet_ntp_frequency_ppm",
        "Frequency correction applied to the system clock",
        &[],
        c.frequency_ppm,
    );
    out.counter(
        "pbxnet_ntp_clock_steps",
        "Steps of the system clock",
        &[],
        u64::from(c.steps),
    );
    for src in &c.sources {
        let labels = [("source", src.address.as_str())];
        if let Some(offset) = src.offset_s {
            out.gauge(
                "pbxnet_ntp_source_offset_seconds",
                "Offset of the source's time from the system clock",
                &labels,
                offset,
            );
        }
        if let Some(delay) = src.delay_s {
            out.gauge(
                "pbxnet_ntp_source_delay_seconds",
                "Round-trip delay to the source",
                &labels,
                delay,
            );
        }
        if let Some(stratum) = src.stratum {
            out.gauge(
                "pbxnet_ntp_source_stratum",
                "Stratum of the source",
                &labels,
                stratum,
            );
        }
        out.gauge(
            "pbxnet_ntp_source_reachability",
            "Reachability register of the source: the last 8 polls, 1 bit each (255: all answered)",
            &labels,
            u8::from_str_radix(&src.reach, 8).unwrap_or(0),
        );
        out.gauge(
            "pbxnet_ntp_source_poll_interval_seconds",
            "Poll interval of the source",
            &labels,
            2f64.powi(i32::from(src.poll)),
        );
        out.gauge(
            "pbxnet_ntp_source_selected",
            "1 for the sources the clock is steered by",
            &labels,
            src.selected,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The client side as `status --json` would carry it: one selected
    /// source answering every poll, one never reached.
    fn client_status() -> ClientStatus {
        serde_json::from_value(serde_json::json!({
            "clock_mode": "slew",
            "sources": [
                {"address": "192.0.2.1:123", "state": "selected", "stratum": 2, "reach": "377",
                 "poll": 6, "offset_s": -0.0125, "delay_s": 0.004, "jitter_s": 0.001,
                 "selected": true, "why": "selected"},
                {"address": "192.0.2.2:123", "state": "unreachable", "stratum": null, "reach": "000",
                 "poll": 4, "offset_s": null, "delay_s": null, "jitter_s": null,
                 "selected": false, "why": "no reply"}
            ],
            "system_offset_s": 0.002, "frequency_ppm": -12.5, "steps": 1,
            "last_step": null, "since_last_sync_s": 3.0, "simulated_true_offset_s": null
        }))
        .unwrap()
    }

    #[test]
    fn sources_become_labelled_gauges_and_absent_measurements_are_left_out() {
        let mut m = Metrics::new();
        client(&client_status(), &mut m);
        let text = m.render(false);
        for line in [
            "pbxnet_ntp_source_offset_seconds{source=\"192.0.2.1:123\"} -0.0125\n",
            "pbxnet_ntp_source_delay_seconds{source=\"192.0.2.1:123\"} 0.004\n",
            "pbxnet_ntp_source_stratum{source=\"192.0.2.1:123\"} 2\n",
            "pbxnet_ntp_source_reachability{source=\"192.0.2.1:123\"} 255\n",
            "pbxnet_ntp_source_reachability{source=\"192.0.2.2:123\"} 0\n",
            "pbxnet_ntp_source_poll_interval_seconds{source=\"192.0.2.1:123\"} 64.0\n",
            "pbxnet_ntp_source_selected{source=\"192.0.2.1:123\"} 1\n",
            "pbxnet_ntp_source_selected{source=\"192.0.2.2:123\"} 0\n",
            "pbxnet_ntp_system_offset_seconds 0.002\n",
            "pbxnet_ntp_clock_steps_total 1\n",
        ] {
            assert!(text.contains(line), "{line} not in\n{text}");
        }
        assert!(!text.contains("pbxnet_ntp_source_offset_seconds{source=\"192.0.2.2:123\"}"));
    }
}
