//! `pbxnet-ntpd status` as text, in the shape of `chronyc tracking`,
//! `sources`, `sourcestats` and `clients`: words and units, never debug
//! output.

use super::client_status::{ClientStatus, SourceStatus};
use super::control::{ClientsReport, Snapshot};
use std::fmt::Write as _;

/// An offset with its sign and a readable unit.
pub(crate) fn offset(x: f64) -> String {
    if x.abs() < 1e-3 {
        format!("{:+.0}us", x * 1e6)
    } else if x.abs() < 1.0 {
        format!("{:+.3}ms", x * 1e3)
    } else {
        format!("{x:+.3}s")
    }
}

/// A positive quantity of seconds with a readable unit.
pub(crate) fn error(x: f64) -> String {
    if x < 1e-3 {
        format!("{:.0}us", x * 1e6)
    } else if x < 1.0 {
        format!("{:.3}ms", x * 1e3)
    } else {
        format!("{x:.3}s")
    }
}

/// A time span, rounded to the largest whole unit (s, m, h, d).
pub(crate) fn span(secs: f64) -> String {
    let s = secs.max(0.0);
    if s < 120.0 {
        format!("{s:.0}s")
    } else if s < 7200.0 {
        format!("{:.0}m", s / 60.0)
    } else if s < 172_800.0 {
        format!("{:.0}h", s / 3600.0)
    } else {
        format!("{:.0}d", s / 86400.0)
    }
}

/// Unix seconds as `YYYY-MM-DD hh:mm:ss` (UTC).
pub(crate) fn utc(unix: f64) -> String {
    let secs = unix.floor() as i64;
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    // Civil from days (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn leap_status(leap: &str) -> &'static str {
    match leap {
        "normal" => "Normal",
        "insert-second" => "Insert second",
        "delete-second" => "Delete second",
        _ => "Not synchronised",
    }
}

fn reference(s: &Snapshot) -> String {
    if !s.synchronized {
        return "none (not synchronised)".to_string();
    }
    match s.refid.as_str() {
        "127.127.1.1" => "127.127.1.1 (local clock)".to_string(),
        id => id.to_string(),
    }
}

/// `chronyc tracking`: the system's state.
pub(crate) fn tracking(s: &Snapshot) -> String {
    let mut o = String::new();
    let row = |o: &mut String, name: &str, value: String| {
        let _ = writeln!(o, "{name:<16}: {value}");
    };
    row(&mut o, "Reference ID", reference(s));
    row(&mut o, "Stratum", s.stratum.to_string());
    let rt = s.reference_time_unix.map_or("-".into(), utc);
    row(&mut o, "Ref time (UTC)", rt);
    if let Some(c) = &s.client {
        client_tracking(&mut o, c);
    }
    row(
        &mut o,
        "Root delay",
        format!("{:.9} seconds", s.root_delay_s),
    );
    row(
        &mut o,
        "Root dispersion",
        format!("{:.9} seconds", s.root_dispersion_s),
    );
    row(
        &mut o,
        "Root distance",
        format!("{:.9} seconds", s.root_distance_s),
    );
    row(&mut o, "Leap status", leap_status(&s.leap).to_string());
    let ns = 2f64.powi(i32::from(s.precision)) * 1e9;
    row(
        &mut o,
        "Precision",
        format!("2^{} ({ns:.0}ns)", s.precision),
    );
    if let Some(l) = s.local_stratum {
        row(
            &mut o,
            "Local stratum",
            format!("{l} (served when no source is selected)"),
        );
    }
    o
}

fn client_tracking(o: &mut String, c: &ClientStatus) {
    let row = |o: &mut String, name: &str, value: String| {
        let _ = writeln!(o, "{name:<16}: {value}");
    };
    let sys = c
        .system_offset_s
        .map_or("- (no selection yet)".into(), |x| {
            format!("{} (positive: the sources are ahead of us)", offset(x))
        });
    row(o, "System offset", sys);
    if let Some(u) = c.uncorrected_offset_s.filter(|u| u.abs() >= 1e-3) {
        let note = "not corrected yet: counted in the root dispersion";
        row(o, "Uncorrected", format!("{} ({note})", offset(u)));
    }
    let dir = if c.frequency_ppm >= 0.0 {
        "slow"
    } else {
        "fast"
    };
    row(
        o,
        "Frequency",
        format!("{:.3} ppm {dir}", c.frequency_ppm.abs()),
    );
    let last = c
        .since_last_sync_s
        .map_or("never".into(), |x| format!("{} ago", span(x)));
    row(o, "Last update", last);
    let steps = match c.last_step {
        Some((at, size)) => format!(
            "{}, the last {} at {} UTC",
            c.steps,
            offset(size),
            utc(at as f64)
        ),
        None => c.steps.to_string(),
    };
    row(o, "Steps", steps);
    let mut clock = c.clock_mode.to_lowercase();
    if let Some(t) = c.simulated_true_offset_s {
        let _ = write!(clock, " (true offset {})", offset(t));
    }
    row(o, "Clock", clock);
    if let Some(e) = &c.clock_error {
        row(o, "Clock error", e.clone());
    }
    let t1 = format!(
        "kernel {}, user space {}",
        c.t1_kernel_stamps, c.t1_user_stamps
    );
    row(o, "T1 stamps", t1);
}

/// The server's counters.
pub(crate) fn server(s: &Snapshot) -> String {
    let st = &s.server;
    let mut o = String::new();
    let keys = match &s.key_file {
        Some(f) => format!("{} from {}", s.keys, f.display()),
        None => "none (no key file)".to_string(),
    };
    let _ = writeln!(o, "keys: {keys}");
    let _ = writeln!(o, "requests received: {}", st.received);
    let _ = writeln!(
        o,
        "replies: {} (v1 {}, v2 {}, v3 {}, v4 {}); authenticated {}, unauthenticated {}, leaked while rate-limited {}",
        s.replies_total,
        st.replies_by_version[1], st.replies_by_version[2], st.replies_by_version[3], st.replies_by_version[4],
        st.replies_authenticated, st.replies_unauthenticated, st.replies_rate_leaked
    );
    let _ = writeln!(
        o,
        "kiss-o'-death: RATE {}, DENY {}; crypto-NAK {}",
        st.kod_rate, st.kod_deny, st.crypto_nak
    );
    let _ = writeln!(
        o,
        "dropped: rate-limited {}, malformed {}, bad version {}, mode 6/7 {}, other mode {}, denied {}, bad auth {}, auth required {}, truncated {}",
        st.drop_rate_limited, st.drop_malformed, st.drop_bad_version, st.drop_mode_control, st.drop_mode_other,
        st.drop_denied, st.drop_bad_auth, st.drop_auth_required, s.drop_truncated
    );
    let _ = writeln!(
        o,
        "auth failures: bad MAC {}, unknown key {}, untrusted key {}",
        st.auth_bad_mac, st.auth_unknown_key, st.auth_untrusted_key
    );
    o
}

/// `chronyc sources`: one line per source, and why it is (not) used.
pub(crate) fn sources(c: &ClientStatus) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "MS Name/IP address           Stratum Poll Reach LastRx Last sample          State"
    );
    let _ = writeln!(o, "{}", "=".repeat(96));
    let mut srcs: Vec<&SourceStatus> = c.sources.iter().collect();
    srcs.sort_by(|a, b| a.address.cmp(&b.address));
    for x in srcs {
        let stratum = x.stratum.map_or("-".into(), |s| s.to_string());
        let last_rx = x.last_rx_s.map_or("-".into(), span);
        let sample = match (x.offset_s, x.error_s) {
            (Some(off), Some(err)) => format!("{} +/- {}", offset(off), error(err)),
            _ => "-".to_string(),
        };
        let _ = writeln!(
            o,
            "^{} {:<28} {:>7} {:>4} {:>5} {:>6} {:<20} {}",
            x.mark, x.address, stratum, x.poll, x.reach, last_rx, sample, x.why
        );
    }
    o
}

/// `chronyc sourcestats`: what each source's samples say.
pub(crate) fn sourcestats(c: &ClientStatus) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "Name/IP Address               NP  NR  Span  Frequency  Freq Skew     Offset  Std Dev"
    );
    let _ = writeln!(o, "{}", "=".repeat(84));
    let mut srcs: Vec<&SourceStatus> = c.sources.iter().collect();
    srcs.sort_by(|a, b| a.address.cmp(&b.address));
    for x in srcs {
        match &x.stats {
            Some(t) => {
                let _ = writeln!(
                    o,
                    "{:<28} {:>4} {:>3} {:>5} {:>10.3} {:>10.3} {:>10} {:>8}",
                    x.address,
                    t.samples,
                    t.runs,
                    span(t.span_s),
                    t.freq_ppm,
                    t.skew_ppm,
                    offset(t.offset_s),
                    error(t.std_dev_s)
                );
            }
            None => {
                let _ = writeln!(
                    o,
                    "{:<28}    0   0     -          -          -          -        -",
                    x.address
                );
            }
        }
    }
    o
}

/// `chronyc clients`: per client host, requests, drops, interval, last seen.
pub(crate) fn clients(r: &ClientsReport) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{} client(s) (each of {} worker(s) keeps the {} most recently seen)",
        r.clients.len(),
        r.workers,
        r.table_slots_per_worker
    );
    let _ = writeln!(
        o,
        "Hostname                                   NTP     Drop    Int   Last"
    );
    let _ = writeln!(o, "{}", "=".repeat(70));
    for c in &r.clients {
        let _ = writeln!(
            o,
            "{:<40} {:>6} {:>8} {:>6} {:>6}",
            c.address.to_string(),
            c.requests,
            c.dropped,
            c.interval_s.map_or("-".into(), span),
            span(c.last_s)
        );
    }
    o
}

/// The default view: the daemon, `tracking`, the server's counters and
/// `sources`.
pub(crate) fn status(s: &Snapshot) -> String {
    let mut o = format!(
        "pbxnet-ntpd {}, up {}, {} worker(s)\n",
        s.version,
        span(s.uptime_s as f64),
        s.workers
    );
    o += &tracking(s);
    o += "\n";
    o += &server(s);
    o += &format!("events: {}\n", s.events);
    if let Some(c) = &s.client {
        o += "\n";
        o += &sources(c);
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_offsets_spans_and_dates_in_words_and_units() {
        assert_eq!(offset(0.000_023), "+23us");
        assert_eq!(offset(-0.0123), "-12.300ms");
        assert_eq!(offset(-900.0), "-900.000s");
        assert_eq!(error(0.000_512), "512us");
        assert_eq!(span(12.4), "12s");
        assert_eq!(span(600.0), "10m");
        assert_eq!(span(86400.0), "24h");
        assert_eq!(span(3.0 * 86400.0), "3d");
        assert_eq!(utc(0.0), "1970-01-01 00:00:00");
        assert_eq!(utc(1_800_000_000.5), "2027-01-15 08:00:00");
        assert_eq!(leap_status("unsynchronised"), "Not synchronised");
    }
}
