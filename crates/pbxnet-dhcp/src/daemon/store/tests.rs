//! The store against a real SQLite file.

use rusqlite::Connection;

use super::sqlite::SqliteStore;
use super::*;
use crate::{ClientKey, Lease, LeaseState, LeaseStore};
use std::net::Ipv4Addr;
use std::path::Path;

fn lease(ip: [u8; 4], id: u8, state: LeaseState) -> Lease {
    Lease {
        ip: Ipv4Addr::from(ip),
        client: ClientKey::hw(1, &[2, 0, 0, 0, 0, id]),
        mac: [2, 0, 0, 0, 0, id],
        state,
        expires: 2_000_000_000,
        class: "c".into(),
        vendor_class: "450HD".into(),
        hostname: "h".into(),
    }
}

#[test]
fn committed_leases_survive_reopen_and_offers_are_not_persisted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l.sqlite3");
    let mut s = SqliteStore::open(&path).unwrap();
    s.upsert(lease([10, 0, 0, 1], 1, LeaseState::Bound));
    s.upsert(lease([10, 0, 0, 2], 2, LeaseState::Offered));
    s.upsert(lease([10, 0, 0, 3], 3, LeaseState::Declined));
    s.upsert(lease([10, 0, 0, 4], 4, LeaseState::Bound));
    s.remove(Ipv4Addr::new(10, 0, 0, 4));
    s.commit().unwrap();
    s.upsert(lease([10, 0, 0, 5], 5, LeaseState::Bound)); // never committed
    drop(s);
    let s = SqliteStore::open(&path).unwrap();
    let ips: Vec<Ipv4Addr> = s.all().iter().map(|l| l.ip).collect();
    assert_eq!(
        ips,
        [Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 3)]
    );
    assert_eq!(
        s.by_ip(Ipv4Addr::new(10, 0, 0, 1)).unwrap(),
        &lease([10, 0, 0, 1], 1, LeaseState::Bound)
    );
    assert!(s
        .by_client(&ClientKey::hw(1, &[2, 0, 0, 0, 0, 1]))
        .is_some());
    assert_eq!(read_all(&path).unwrap().len(), 2);
}

/// Commits never checkpoint; the checkpoint thread moves the WAL into
/// the database within a couple of intervals.
#[test]
fn the_wal_is_checkpointed_off_the_commit_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l.sqlite3");
    let mut s = SqliteStore::open(&path).unwrap();
    let db_pages = |p: &Path| std::fs::metadata(p).unwrap().len() / 4096;
    let before = db_pages(&path);
    for i in 0..3000u32 {
        let [_, _, b2, b3] = i.to_be_bytes();
        s.upsert(lease([10, 1, b2, b3], (i % 250) as u8, LeaseState::Bound));
        if i % 100 == 99 {
            s.commit().unwrap();
        }
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while db_pages(&path) <= before + 10 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(
        db_pages(&path) > before + 10,
        "database still {} pages: the WAL was not checkpointed",
        db_pages(&path)
    );
    drop(s);
    assert_eq!(read_all(&path).unwrap().len(), 3000);
}

#[test]
fn refuses_foreign_and_corrupt_files() {
    let dir = tempfile::tempdir().unwrap();
    let foreign = dir.path().join("other.db");
    Connection::open(&foreign)
        .unwrap()
        .execute_batch("CREATE TABLE t (x);")
        .unwrap();
    assert!(matches!(
        SqliteStore::open(&foreign),
        Err(OpenError::Foreign { .. })
    ));
    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, vec![0x42; 8192]).unwrap();
    let e = SqliteStore::open(&garbage).unwrap_err();
    assert!(
        matches!(e, OpenError::Sqlite { .. } | OpenError::Corrupt { .. }),
        "{e}"
    );
    // Neither file was replaced.
    assert_eq!(std::fs::read(&garbage).unwrap(), vec![0x42; 8192]);
    let bad_row = dir.path().join("bad.sqlite3");
    drop(SqliteStore::open(&bad_row).unwrap());
    Connection::open(&bad_row)
        .unwrap()
        .execute(
            "INSERT INTO leases VALUES (1, '10.0.0.300', x'4801', 'zz', 'bound', 1, '', '', '')",
            [],
        )
        .unwrap();
    assert!(matches!(
        SqliteStore::open(&bad_row),
        Err(OpenError::Corrupt { .. })
    ));
}

#[test]
fn commits_queued_within_the_interval_share_one_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l.sqlite3");
    // A long floor so that the jobs below surely arrive within it.
    let mut s = SqliteStore::open_with_interval(&path, std::time::Duration::from_secs(2)).unwrap();
    s.upsert(lease([10, 0, 0, 1], 1, LeaseState::Bound));
    s.commit().unwrap();
    assert_eq!(s.transactions(), 1);
    let tickets: Vec<CommitTicket> = (2..=6)
        .map(|i| {
            s.upsert(lease([10, 0, 0, i], i, LeaseState::Bound));
            s.begin_commit().expect("a change is pending")
        })
        .collect();
    for t in tickets {
        t.blocking_recv().unwrap().unwrap();
    }
    // Five commits asked for, one transaction (one fsync) ran for them.
    assert_eq!(s.transactions(), 2);
    // Nothing pending: no commit, no ticket.
    assert!(s.begin_commit().is_none());
    drop(s);
    assert_eq!(read_all(&path).unwrap().len(), 6);
}

#[test]
fn failed_commit_keeps_changes_for_the_next_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l.sqlite3");
    let mut s = SqliteStore::open(&path).unwrap();
    s.upsert(lease([10, 0, 0, 1], 1, LeaseState::Bound));
    // Make the next write fail: a trigger that aborts inserts.
    let other = Connection::open(&path).unwrap();
    other
        .execute_batch("CREATE TRIGGER stop BEFORE INSERT ON leases BEGIN SELECT RAISE(ABORT, 'disk full (simulated)'); END;")
        .unwrap();
    assert!(s.commit().is_err());
    other.execute_batch("DROP TRIGGER stop;").unwrap();
    // Nothing new queued: the writer retries the kept changes.
    s.commit().unwrap();
    drop(s);
    assert_eq!(read_all(&path).unwrap().len(), 1);
}
