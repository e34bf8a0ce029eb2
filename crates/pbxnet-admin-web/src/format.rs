//! How values read on a page: times in UTC, offsets with a unit, events
//! as one line of words.

use pbxnet_inventory::{DhcpMessage, Envelope, Event, Outcome, UnixMillis};

/// `2026-12-06 02:35:21` (UTC) from Unix ms.
pub fn time(ms: UnixMillis) -> String {
    let secs = ms / 1000;
    let (y, mo, d) = civil_from_days((secs / 86_400) as i64);
    let s = secs % 86_400;
    format!(
        "{y:04}-{mo:02}-{d:02} {:02}:{:02}:{:02}",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// `2026-12-06T02:35:21Z`, for `<time datetime>`.
pub fn iso(ms: UnixMillis) -> String {
    let mut t = time(ms);
    t.replace_range(10..11, "T");
    t.push('Z');
    t
}

/// `02:35:21` (UTC), for the event list.
pub fn clock(ms: UnixMillis) -> String {
    time(ms)[11..].to_string()
}

/// Days since 1970-01-01 to (year, month, day): Howard Hinnant's
/// `civil_from_days`, proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// `+1.234 ms`, `-12.5 µs`, `+2.100 s`: a signed duration in seconds.
pub fn offset(seconds: f64) -> String {
    let a = seconds.abs();
    let sign = if seconds < 0.0 { '-' } else { '+' };
    if a >= 1.0 {
        format!("{sign}{a:.3} s")
    } else if a >= 1e-3 {
        format!("{sign}{:.3} ms", a * 1e3)
    } else {
        format!("{sign}{:.1} µs", a * 1e6)
    }
}

/// `3 s`, `4 min`, `2 h` ago, from a number of seconds.
pub fn ago(seconds: f64) -> String {
    let s = seconds.max(0.0) as u64;
    match s {
        0..=119 => format!("{s} s ago"),
        120..=7199 => format!("{} min ago", s / 60),
        _ => format!("{} h ago", s / 3600),
    }
}

/// Kebab-case API spelling of a serde enum value (`not-found`).
pub fn spelled<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// An event in words, for the live list.
pub fn event_text(e: &Envelope) -> String {
    match &e.event {
        Event::Dhcp(d) => {
            let what = match d.message {
                DhcpMessage::Discover => "DISCOVER from",
                DhcpMessage::Offer => "OFFER to",
                DhcpMessage::Ack => "ACK to",
                DhcpMessage::Nak => "NAK to",
                DhcpMessage::Decline => "DECLINE from",
                DhcpMessage::Release => "RELEASE from",
            };
            let ip = d.ip.map(|ip| format!(" ({ip})")).unwrap_or_default();
            let class = d
                .class
                .as_deref()
                .map(|c| format!(", class {c}"))
                .unwrap_or_default();
            format!("{what} {}{ip}{class}", d.mac)
        }
        Event::Transfer(t) => {
            let result = match t.outcome {
                Outcome::Ok => format!("{} bytes", t.bytes),
                other => spelled(&other),
            };
            format!(
                "{} {} to {}: {result}",
                spelled(&t.protocol).to_ascii_uppercase(),
                t.path,
                t.client_ip
            )
        }
        Event::NtpRequest(n) => {
            let kod = n
                .kod
                .as_deref()
                .map(|k| format!(", kiss {k}"))
                .unwrap_or_default();
            format!("time request v{} from {}{kod}", n.version, n.client_ip)
        }
        Event::NtpSource(s) => format!("source {} is {}", s.source, spelled(&s.state)),
        Event::License(l) => match &l.counter {
            Some(c) => format!("licence {}: {} of {} used", c.name, c.used, c.limit),
            None => format!("licence mode {}", l.mode),
        },
        Event::Lost(l) => format!("{} events lost (subscriber buffer full)", l.count),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_utc_calendar_dates() {
        assert_eq!(time(0), "1970-01-01 00:00:00");
        // 2026-12-06 02:35:21 UTC
        assert_eq!(time(1_796_524_521_000), "2026-12-06 02:35:21");
        assert_eq!(iso(1_796_524_521_999), "2026-12-06T02:35:21Z");
        assert_eq!(clock(1_796_524_521_000), "02:35:21");
        // A leap day.
        assert_eq!(time(951_782_400_000), "2000-02-29 00:00:00");
    }

    #[test]
    fn offsets_and_ages_carry_a_unit() {
        assert_eq!(offset(0.001_234), "+1.234 ms");
        assert_eq!(offset(-0.000_012_5), "-12.5 µs");
        assert_eq!(offset(2.1), "+2.100 s");
        assert_eq!(ago(3.2), "3 s ago");
        assert_eq!(ago(300.0), "5 min ago");
        assert_eq!(ago(7200.0), "2 h ago");
    }

    #[test]
    fn events_read_as_words() {
        let line = r#"{"v":1,"daemon":"tftpd","at":1,"event":{"type":"transfer","client_ip":"192.168.92.10","path":"os_conf","protocol":"tftp","bytes":0,"outcome":"not-found"}}"#;
        let e = Envelope::from_json_line(line).unwrap();
        assert_eq!(event_text(&e), "TFTP os_conf to 192.168.92.10: not-found");
        let line = r#"{"v":1,"daemon":"dhcpd","at":1,"event":{"type":"dhcp","message":"ack","mac":"00:e0:b1:70:00:01","ip":"192.168.92.10","class":"ale"}}"#;
        let e = Envelope::from_json_line(line).unwrap();
        assert_eq!(
            event_text(&e),
            "ACK to 00:e0:b1:70:00:01 (192.168.92.10), class ale"
        );
    }
}
