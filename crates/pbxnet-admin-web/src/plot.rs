//! The site page's plot of the last 24 hours, pure and server-rendered as
//! SVG (no chart library, no script): leases granted per minute on top,
//! boots started per hour stacked by their verdict below.
//!
//! Both come from the inventory's boots (each boot records when it started
//! and when its lease was acknowledged), so the plot covers what the
//! inventory keeps: the last `boots_kept` boots of each device.

use std::fmt::Write;

use pbxnet_inventory::{boot_verdict, Inventory, Mac, UnixMillis, Verdict};

const MINUTES: usize = 24 * 60;
const HOURS: usize = 24;
const MINUTE_MS: u64 = 60_000;
const HOUR_MS: u64 = 3_600_000;

/// What the plot shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activity {
    /// Leases granted in each minute, oldest first; the last is the minute
    /// that ends at `now`.
    pub leases_per_minute: Vec<u32>,
    /// Boots started in each hour, by verdict ([`Verdict::ALL`] order).
    pub boots_per_hour: Vec<[u32; 6]>,
}

fn bucket(at: UnixMillis, now: UnixMillis, width: u64, count: usize) -> Option<usize> {
    let age = now.checked_sub(at)?;
    let back = (age / width) as usize;
    (back < count).then(|| count - 1 - back)
}

/// The activity of the devices `macs` over the 24 hours before `now`.
pub fn activity(inv: &Inventory, macs: impl Iterator<Item = Mac>, now: UnixMillis) -> Activity {
    let mut a = Activity {
        leases_per_minute: vec![0; MINUTES],
        boots_per_hour: vec![[0; 6]; HOURS],
    };
    for mac in macs {
        let Some(d) = inv.device(mac) else { continue };
        for boot in &d.boots {
            if let Some(i) = boot.leased.and_then(|t| bucket(t, now, MINUTE_MS, MINUTES)) {
                a.leases_per_minute[i] += 1;
            }
            if let Some(i) = bucket(boot.started, now, HOUR_MS, HOURS) {
                let v = boot_verdict(boot, d.kind, inv.config(), now);
                let k = Verdict::ALL.iter().position(|x| *x == v).unwrap_or(0);
                a.boots_per_hour[i][k] += 1;
            }
        }
    }
    a
}

/// The fill of each verdict (the page's verdict colours).
const COLOURS: [&str; 6] = [
    "#1e7b34", "#0b5cad", "#b3261e", "#8e1b6e", "#a65c00", "#5a6274",
];

const W: f64 = 720.0;
const LEFT: f64 = 40.0;
const PLOT_W: f64 = W - LEFT - 10.0;

/// The plot as an `<svg>` element (inline in the page).
pub fn render(a: &Activity) -> String {
    let mut s = String::with_capacity(8 * 1024);
    let lease_max = a
        .leases_per_minute
        .iter()
        .copied()
        .max()
        .unwrap_or(0)
        .max(1);
    let boot_max = a
        .boots_per_hour
        .iter()
        .map(|h| h.iter().sum::<u32>())
        .max()
        .unwrap_or(0)
        .max(1);
    let leases: u32 = a.leases_per_minute.iter().sum();
    let boots: u32 = a.boots_per_hour.iter().flatten().sum();
    let _ = write!(
        s,
        r#"<svg class="plot" viewBox="0 0 {W} 250" role="img" aria-labelledby="plot-title" xmlns="http://www.w3.org/2000/svg"><title id="plot-title">Last 24 hours: {leases} leases granted (at most {lease_max} in a minute), {boots} boots started</title>"#
    );
    // Top panel: leases per minute, y 10..100.
    panel_frame(&mut s, 10.0, 90.0, "leases / min", lease_max);
    let mut path = String::new();
    for (i, n) in a
        .leases_per_minute
        .iter()
        .enumerate()
        .filter(|(_, n)| **n > 0)
    {
        let x = LEFT + PLOT_W * (i as f64 + 0.5) / MINUTES as f64;
        let h = 90.0 * f64::from(*n) / f64::from(lease_max);
        let _ = write!(path, "M{x:.1} 100V{:.1}", 100.0 - h);
    }
    let _ = write!(
        s,
        r##"<path d="{path}" stroke="#0b5cad" stroke-width="1" fill="none"/>"##
    );
    // Bottom panel: boots per hour by verdict, y 130..220.
    panel_frame(&mut s, 130.0, 90.0, "boots / h", boot_max);
    let bar_w = PLOT_W / HOURS as f64;
    for (i, hour) in a.boots_per_hour.iter().enumerate() {
        let mut y = 220.0;
        for (k, n) in hour.iter().enumerate().filter(|(_, n)| **n > 0) {
            let h = 90.0 * f64::from(*n) / f64::from(boot_max);
            y -= h;
            let x = LEFT + bar_w * i as f64 + 1.0;
            let _ = write!(
                s,
                r#"<rect x="{x:.1}" y="{y:.1}" width="{:.1}" height="{h:.1}" fill="{}"><title>{n} {}</title></rect>"#,
                bar_w - 2.0,
                COLOURS[k],
                Verdict::ALL[k].as_str()
            );
        }
    }
    // Time axis.
    for h in (0..=24).step_by(6) {
        let x = LEFT + PLOT_W * h as f64 / 24.0;
        let label = if h == 24 {
            "now".to_string()
        } else {
            format!("−{} h", 24 - h)
        };
        let _ = write!(
            s,
            r#"<text x="{x:.1}" y="240" text-anchor="middle">{label}</text>"#
        );
    }
    s.push_str("</svg>");
    s
}

fn panel_frame(s: &mut String, top: f64, height: f64, label: &str, max: u32) {
    let bottom = top + height;
    let right = LEFT + PLOT_W;
    let _ = write!(
        s,
        r##"<line x1="{LEFT}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#aeb5c2"/><text x="{}" y="{}" text-anchor="end">{max}</text><text x="{}" y="{bottom}" text-anchor="end">0</text><text x="{}" y="{}">{label}</text>"##,
        LEFT - 4.0,
        top + 8.0,
        LEFT - 4.0,
        LEFT + 4.0,
        top + 8.0
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{boot, inventory, small_site};

    #[test]
    fn boots_and_leases_fall_in_their_minute_and_hour() {
        let inv = small_site();
        let macs: Vec<Mac> = [
            "34:e7:0b:00:00:01",
            "00:e0:b1:00:00:02",
            "00:e0:b1:00:00:03",
        ]
        .iter()
        .map(|m| m.parse().unwrap())
        .collect();
        // The boots were at 1,000,000 (leases at +5 ms); look 10 min later.
        let now = 1_600_000;
        let a = activity(&inv, macs.iter().copied(), now);
        assert_eq!(a.leases_per_minute.iter().sum::<u32>(), 3);
        // 599,995 ms before now: the 10th minute back.
        assert_eq!(a.leases_per_minute[MINUTES - 10], 3);
        let last_hour = a.boots_per_hour[HOURS - 1];
        assert_eq!(last_hour, [1, 0, 1, 1, 0, 0]); // provisioned, stuck, file error
                                                   // A day later they are out of the window.
        let a = activity(&inv, macs.into_iter(), now + 86_400_000);
        assert_eq!(a.leases_per_minute.iter().sum::<u32>(), 0);
    }

    #[test]
    fn the_svg_is_one_element_with_a_title_and_scales_to_the_maximum() {
        let inv = inventory(&boot(
            10_000,
            "00:80:9f:00:00:01",
            "10.0.0.1",
            "noe",
            "alcatel.noe",
            "p",
        ));
        let macs = ["00:80:9f:00:00:01".parse().unwrap()];
        let svg = render(&activity(&inv, macs.into_iter(), 20_000));
        assert!(svg.starts_with("<svg class=\"plot\""));
        assert!(svg.ends_with("</svg>"));
        assert!(svg.contains("1 leases granted (at most 1 in a minute), 1 boots started"));
        // The single minute's bar is full height (from 100 up to 10).
        assert!(svg.contains("V10.0"), "{svg}");
        assert_eq!(svg.matches("<rect").count(), 1);
    }
}
