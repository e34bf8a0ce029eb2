use super::*;

fn v() -> Validators {
    Validators {
        etag: file_etag(7, 100, 1_700_000_000_000_000_000),
        last_modified: Some(1_700_000_000),
    }
}

fn sel(c: Conditions<'_>) -> Selection {
    select(&c, &v(), 100)
}

#[test]
fn etags_are_strong_and_change_with_the_file_or_bytes() {
    assert_eq!(file_etag(0x10, 0x20, 0x30), "\"10-20-30\"");
    assert_ne!(file_etag(1, 2, 3), file_etag(1, 2, 4));
    assert_ne!(content_etag(b"a"), content_etag(b"b"));
    assert!(content_etag(b"a").starts_with("\"m-") && content_etag(b"a").ends_with('"'));
}

#[test]
fn if_none_match_weak_star_and_lists() {
    let etag = v().etag;
    let weak = format!("W/{etag}");
    let list = format!("\"x\", {etag}");
    for m in [etag.as_str(), weak.as_str(), "*", list.as_str()] {
        assert_eq!(
            sel(Conditions {
                if_none_match: Some(m),
                ..Default::default()
            }),
            Selection::NotModified,
            "{m}"
        );
    }
    assert_eq!(
        sel(Conditions {
            if_none_match: Some("\"other\""),
            ..Default::default()
        }),
        Selection::Full
    );
}

#[test]
fn if_none_match_takes_precedence_over_if_modified_since() {
    let later = "Tue, 14 Nov 2023 22:13:20 GMT"; // 1_700_000_000: not modified since
    assert_eq!(
        sel(Conditions {
            if_modified_since: Some(later),
            ..Default::default()
        }),
        Selection::NotModified
    );
    let c = Conditions {
        if_none_match: Some("\"other\""),
        if_modified_since: Some(later),
        ..Default::default()
    };
    assert_eq!(sel(c), Selection::Full);
    let earlier = "Tue, 14 Nov 2023 22:13:19 GMT";
    assert_eq!(
        sel(Conditions {
            if_modified_since: Some(earlier),
            ..Default::default()
        }),
        Selection::Full
    );
    assert_eq!(
        sel(Conditions {
            if_modified_since: Some("yesterday"),
            ..Default::default()
        }),
        Selection::Full
    );
}

#[test]
fn single_byte_ranges() {
    let r = |s: &str| {
        sel(Conditions {
            range: Some(s),
            ..Default::default()
        })
    };
    assert_eq!(r("bytes=0-9"), Selection::Partial { first: 0, last: 9 });
    assert_eq!(
        r("bytes=90-"),
        Selection::Partial {
            first: 90,
            last: 99
        }
    );
    assert_eq!(
        r("bytes=-10"),
        Selection::Partial {
            first: 90,
            last: 99
        }
    );
    assert_eq!(r("bytes=-1000"), Selection::Partial { first: 0, last: 99 });
    assert_eq!(
        r("bytes=50-1000"),
        Selection::Partial {
            first: 50,
            last: 99
        }
    );
    assert_eq!(r("bytes=100-"), Selection::Unsatisfiable);
    assert_eq!(r("bytes=-0"), Selection::Unsatisfiable);
    assert_eq!(r("bytes=0-1,5-6"), Selection::Full);
    assert_eq!(r("bytes=9-3"), Selection::Full);
    assert_eq!(r("items=0-1"), Selection::Full);
    assert_eq!(r("bytes=x-"), Selection::Full);
    assert_eq!(
        select(
            &Conditions {
                range: Some("bytes=-5"),
                ..Default::default()
            },
            &v(),
            0
        ),
        Selection::Unsatisfiable
    );
}

#[test]
fn if_range_honoured() {
    let etag = v().etag;
    let weak = format!("W/{etag}");
    let with = |ir: &str| {
        sel(Conditions {
            range: Some("bytes=0-0"),
            if_range: Some(ir),
            ..Default::default()
        })
    };
    assert_eq!(with(&etag), Selection::Partial { first: 0, last: 0 });
    assert_eq!(with("\"stale\""), Selection::Full);
    assert_eq!(with(&weak), Selection::Full);
    assert_eq!(
        with("Tue, 14 Nov 2023 22:13:20 GMT"),
        Selection::Partial { first: 0, last: 0 }
    );
    assert_eq!(with("Tue, 14 Nov 2023 22:13:21 GMT"), Selection::Full);
}
