use std::collections::HashMap;

use pbxnet_inventory::Verdict;

use super::*;
use crate::fixtures::{boot, inventory, small_site};

const LATER: u64 = 1_000_000 + 600_000; // 10 min after the boots: past "stuck"

fn params(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn the_query_string_is_read_and_bad_values_name_their_parameter() {
    let q = DevicesQuery::from_params(&params(&[
        ("verdict", "stuck-after-lease"),
        ("q", " 00:02 "),
        ("class", ""),
        ("sort", "ip"),
        ("dir", "desc"),
        ("page", "3"),
    ]))
    .unwrap();
    assert_eq!(q.filter.verdict, Some(Verdict::StuckAfterLease));
    assert_eq!(q.filter.search.as_deref(), Some("00:02"));
    assert_eq!(q.filter.class, None);
    assert_eq!((q.sort, q.desc, q.page), (SortKey::Ip, true, 3));
    for (k, v) in [
        ("verdict", "stuck"),
        ("sort", "colour"),
        ("dir", "up"),
        ("page", "0"),
    ] {
        let err = DevicesQuery::from_params(&params(&[(k, v)])).unwrap_err();
        assert_eq!(err.param, k);
    }
}

#[test]
fn links_keep_the_filters_and_encode_them() {
    let q = DevicesQuery::from_params(&params(&[("q", "a&b c"), ("model", "OS6860")])).unwrap();
    assert_eq!(
        q.href(SortKey::Model, true, 2),
        "/devices?q=a%26b%20c&model=OS6860&sort=model&dir=desc&page=2"
    );
    let cols = columns(&q);
    let mac = &cols[0];
    assert_eq!(mac.sort, Some("ascending"));
    assert!(mac.href.contains("sort=mac&dir=desc"), "{}", mac.href);
    assert!(cols[1].href.contains("sort=model&dir=asc"));
    assert!(cols[1].sort.is_none());
}

#[test]
fn a_mac_fragment_finds_exactly_the_devices_that_contain_it() {
    let inv = small_site();
    let f = |s: &str| DeviceFilter {
        search: Some(s.into()),
        ..DeviceFilter::default()
    };
    let macs = |s| -> Vec<String> {
        matching(&inv, &f(s), LATER)
            .iter()
            .map(|d| d.mac.to_string())
            .collect()
    };
    assert_eq!(
        macs("00:00:0"),
        [
            "00:e0:b1:00:00:02",
            "00:e0:b1:00:00:03",
            "34:e7:0b:00:00:01"
        ]
    );
    assert_eq!(macs("b1:00:00:03"), ["00:e0:b1:00:00:03"]);
    assert_eq!(macs("92.21"), ["34:e7:0b:00:00:01"]);
    assert_eq!(macs("SW-"), ["00:e0:b1:00:00:02", "00:e0:b1:00:00:03"]);
}

#[test]
fn every_column_sorts_both_ways_with_the_mac_breaking_ties() {
    let inv = small_site();
    let mut all = matching(&inv, &DeviceFilter::default(), LATER);
    sort(&mut all, SortKey::Verdict, false);
    let v: Vec<Verdict> = all.iter().map(|d| d.verdict).collect();
    assert_eq!(
        v,
        [
            Verdict::Provisioned,
            Verdict::StuckAfterLease,
            Verdict::FileError
        ]
    );
    sort(&mut all, SortKey::Ip, true);
    assert_eq!(all[0].ip.unwrap().to_string(), "192.168.92.23");
    sort(&mut all, SortKey::Model, false);
    let m: Vec<String> = all.iter().map(|d| d.mac.to_string()).collect();
    // OAW-AP1221 before the two OS6860, which keep MAC order.
    assert_eq!(
        m,
        [
            "34:e7:0b:00:00:01",
            "00:e0:b1:00:00:02",
            "00:e0:b1:00:00:03"
        ]
    );
    sort(&mut all, SortKey::Model, true);
    let m: Vec<String> = all.iter().map(|d| d.mac.to_string()).collect();
    assert_eq!(
        m,
        [
            "00:e0:b1:00:00:03",
            "00:e0:b1:00:00:02",
            "34:e7:0b:00:00:01"
        ]
    );
}

#[test]
fn five_thousand_devices_make_fifty_pages_of_a_hundred() {
    let mut ev = Vec::new();
    for i in 0..5000u32 {
        let mac = format!("00:80:9f:00:{:02x}:{:02x}", i >> 8, i & 0xff);
        let ip = format!("10.0.{}.{}", i / 250, i % 250 + 1);
        ev.extend(boot(
            1000 + u64::from(i),
            &mac,
            &ip,
            "noe",
            "alcatel.noe.8068",
            "p",
        ));
    }
    let inv = inventory(&ev);
    let all = matching(&inv, &DeviceFilter::default(), 2_000_000);
    assert_eq!(all.len(), 5000);
    assert_eq!(page_count(all.len()), 50);
    let (p, rows) = page_of(&all, 50);
    assert_eq!((p, rows.len()), (50, 100));
    assert_eq!(rows[99].mac.to_string(), "00:80:9f:00:13:87");
    // Past the end: the last page, not an empty one.
    let (p, rows) = page_of(&all, 99);
    assert_eq!((p, rows.len()), (50, 100));
    let (p, rows) = page_of(&[], 3);
    assert_eq!((p, rows.len()), (1, 0));
}

#[test]
fn the_filter_choices_are_the_distinct_values() {
    let inv = small_site();
    let all = matching(&inv, &DeviceFilter::default(), LATER);
    let [classes, models, _] = choices(&all);
    assert_eq!(
        classes.into_iter().collect::<Vec<_>>(),
        ["omniswitch", "stellar"]
    );
    assert_eq!(models.len(), 2);
}
