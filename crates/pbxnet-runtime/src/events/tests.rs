use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream as StdStream;
use std::time::{Duration, Instant};

use pbxnet_inventory::{
    Daemon as Source, Envelope, Event, LicenseEvent, LostEvent, NtpRequestEvent,
};

use super::{socket_path, Events, MAX_SUBSCRIBERS};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn license(n: u32) -> Event {
    Event::License(LicenseEvent {
        mode: "valid".into(),
        days_left: Some(n),
        counter: None,
    })
}

/// Runs the runtime until `done` holds (the accept loop and the writers
/// only run while it is driven), at most 10 s.
fn drive_until(rt: &tokio::runtime::Runtime, mut done: impl FnMut() -> bool) {
    rt.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !done() {
            assert!(Instant::now() < deadline, "condition not reached in 10 s");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    });
}

fn bound(rt: &tokio::runtime::Runtime, dir: &tempfile::TempDir) -> (Events, std::path::PathBuf) {
    let path = socket_path(&dir.path().join("pbxnet-testd.sock"));
    let events = rt
        .block_on(async { Events::bind(&path, Source::Licd) })
        .unwrap();
    (events, path)
}

#[test]
fn the_socket_sits_beside_the_control_socket_with_its_mode() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let (_events, path) = bound(&rt, &dir);
    assert_eq!(path, dir.path().join("pbxnet-testd.events"));
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn a_subscriber_gets_the_lines_in_order() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let (events, path) = bound(&rt, &dir);
    let client = StdStream::connect(&path).unwrap();
    drive_until(&rt, || events.counters().subscribers == 1);
    for n in 0..1000 {
        events.publish_at(1_700_000_000_000 + u64::from(n), || license(n));
    }
    let reader = std::thread::spawn(move || {
        BufReader::new(client)
            .lines()
            .take(1000)
            .map(|l| Envelope::from_json_line(&l.unwrap()).unwrap())
            .collect::<Vec<_>>()
    });
    drive_until(&rt, || reader.is_finished());
    let got = reader.join().unwrap();
    for (n, envelope) in (0u32..).zip(&got) {
        assert_eq!(envelope.daemon, Source::Licd);
        assert_eq!(envelope.at, 1_700_000_000_000 + u64::from(n));
        assert_eq!(envelope.event, license(n));
    }
    assert_eq!(got.len(), 1000);
    assert_eq!(events.counters().published, 1000);
    assert_eq!(events.counters().dropped, 0);
}

#[test]
fn a_stalled_subscriber_neither_blocks_publishing_nor_loses_silently() {
    const N: u64 = 100_000;
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let (events, path) = bound(&rt, &dir);
    let client = StdStream::connect(&path).unwrap();
    drive_until(&rt, || events.counters().subscribers == 1);
    // Its writer gets a turn now and then, as in a daemon, and blocks on
    // the full socket; publishing must not notice.
    let started = Instant::now();
    rt.block_on(async {
        for n in 0..N {
            events.publish(|| {
                Event::NtpRequest(NtpRequestEvent {
                    client_ip: std::net::Ipv4Addr::new(192, 168, 92, (n % 250) as u8),
                    version: 4,
                    key_id: None,
                    auth: pbxnet_inventory::AuthResult::None,
                    kod: None,
                })
            });
            if n % 10_000 == 0 {
                tokio::task::yield_now().await;
            }
        }
    });
    let took = started.elapsed();
    // About 0.2 s in a debug build; a publisher that waited for the
    // subscriber would never finish.
    assert!(took < Duration::from_secs(5), "publishing took {took:?}");
    let counters = events.counters();
    assert_eq!(counters.published, N);
    assert!(counters.dropped > N / 2, "{counters:?}");
    // It starts reading: every event is there or counted by a marker.
    let reader = std::thread::spawn(move || {
        let mut lines = 0u64;
        let mut lost = Vec::new();
        for line in BufReader::new(client).lines() {
            let envelope = Envelope::from_json_line(&line.unwrap()).unwrap();
            match envelope.event {
                Event::Lost(LostEvent { count }) => lost.push(count),
                Event::NtpRequest(_) => lines += 1,
                other => panic!("unexpected {other:?}"),
            }
            if lines + lost.iter().sum::<u64>() == N {
                break;
            }
        }
        (lines, lost)
    });
    drive_until(&rt, || reader.is_finished());
    let (lines, lost) = reader.join().unwrap();
    assert_eq!(lost.iter().sum::<u64>(), counters.dropped, "{lost:?}");
    assert_eq!(lines + counters.dropped, N);
    assert!(lines >= super::queue::CAPACITY as u64 - 1);
}

#[test]
fn a_fifth_subscriber_is_closed_at_once() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let (events, path) = bound(&rt, &dir);
    let mut first: Vec<StdStream> = (0..MAX_SUBSCRIBERS)
        .map(|_| StdStream::connect(&path).unwrap())
        .collect();
    drive_until(&rt, || {
        events.counters().subscribers == MAX_SUBSCRIBERS as u64
    });
    let mut fifth = StdStream::connect(&path).unwrap();
    fifth
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let reader = std::thread::spawn(move || fifth.read(&mut [0u8; 16]).unwrap());
    drive_until(&rt, || reader.is_finished());
    assert_eq!(reader.join().unwrap(), 0, "the fifth got a stream");
    assert_eq!(events.counters().subscribers, MAX_SUBSCRIBERS as u64);
    // One leaves: its place is free again.
    drop(first.pop());
    drive_until(&rt, || {
        events.counters().subscribers == MAX_SUBSCRIBERS as u64 - 1
    });
    let _again = StdStream::connect(&path).unwrap();
    drive_until(&rt, || {
        events.counters().subscribers == MAX_SUBSCRIBERS as u64
    });
}

#[test]
fn nothing_is_built_or_counted_without_a_subscriber() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let (events, path) = bound(&rt, &dir);
    let mut built = 0;
    for n in 0..100 {
        events.publish(|| {
            built += 1;
            license(n)
        });
    }
    assert_eq!(built, 0);
    assert_eq!(events.counters().published, 0);
    let client = StdStream::connect(&path).unwrap();
    drive_until(&rt, || events.counters().subscribers == 1);
    events.publish(|| {
        built += 1;
        license(1)
    });
    assert_eq!((built, events.counters().published), (1, 1));
    drop(client);
    drive_until(&rt, || events.counters().subscribers == 0);
    events.publish(|| {
        built += 1;
        license(2)
    });
    assert_eq!((built, events.counters().published), (1, 1));
    let disabled = Events::disabled();
    disabled.publish(|| {
        built += 1;
        license(3)
    });
    assert_eq!(built, 1);
    assert!(!disabled.active());
}
