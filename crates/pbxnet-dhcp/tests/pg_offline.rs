//! The PostgreSQL lease store while the database is down (issue 19):
//! renewals keep being ACKed from the offline queue, new clients get no
//! offer, the queue is replayed when the database is back, and it survives
//! a `kill -9` of the server. Against a real PostgreSQL 15 stopped with
//! `pg_ctl stop -m immediate` (`support/pg_cluster.rs`).

mod support;

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use pbxnet_dhcp::config::PgSettings;
use pbxnet_dhcp::daemon::PgStore;
use pbxnet_dhcp::{code, LeaseState, LeaseStore, MessageType};
use support::pg_cluster::{unavailable, PgCluster};
use support::pg_servers::{
    client_packet, core_with, db_init, exchange, lease, settings, Core, SRV,
};

macro_rules! need_postgres {
    () => {
        if let Some(why) = unavailable() {
            eprintln!("SKIPPED {}: {}", module_path!(), why);
            return;
        }
    };
}

/// 100 addresses, leases of an hour.
const POOL_100: &str = r#"
[[subnet]]
name = "site"
network = "192.168.92.0/24"
lease-time = "1h"
[[pool]]
name = "hundred"
range = "192.168.92.10..192.168.92.109"
[[class]]
name = "any"
any-device = true
profile = "p"
[[profile]]
name = "p"
"#;

fn mac(n: u32) -> [u8; 6] {
    [2, 0, 0, 2, (n >> 8) as u8, n as u8]
}

/// DISCOVER and REQUEST through one server; the ACKed address.
fn bind(server: &Core, n: u32, withheld: &AtomicU64) -> Option<Ipv4Addr> {
    let offer = exchange(
        server,
        &client_packet(mac(n), MessageType::Discover, n),
        withheld,
    )?;
    let mut req = client_packet(mac(n), MessageType::Request, n);
    req.options
        .set(code::REQUESTED_IP, offer.yiaddr.octets().to_vec());
    req.options.set(code::SERVER_ID, SRV.octets().to_vec());
    let ack = exchange(server, &req, withheld)?;
    (ack.options.message_type() == Some(MessageType::Ack as u8)).then_some(ack.yiaddr)
}

/// A RENEWING request (ciaddr set, no server identifier); whether it was
/// ACKed.
fn renew(server: &Core, n: u32, ip: Ipv4Addr, xid: u32, withheld: &AtomicU64) -> bool {
    let mut req = client_packet(mac(n), MessageType::Request, xid);
    req.ciaddr = ip;
    exchange(server, &req, withheld)
        .is_some_and(|a| a.options.message_type() == Some(MessageType::Ack as u8) && a.yiaddr == ip)
}

fn status(server: &Core) -> pbxnet_dhcp::daemon::pg::LeaseStoreStatus {
    server
        .lock()
        .unwrap()
        .store()
        .status()
        .expect("a PostgreSQL store")
}

fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// PostgreSQL stopped for a few seconds while 30 clients renew through one
/// server without pause: every renewal is ACKed, a new client gets no
/// offer (counted as `store_unreachable`), `status` says unreachable with
/// commits queued, and once PostgreSQL is back the queue is replayed: the
/// database holds each client's last ACKed expiry.
#[test]
fn database_down_under_load_renewals_never_fail_and_queued_commits_land() {
    need_postgres!();
    let pg = PgCluster::start();
    let s = settings(&pg, "default");
    db_init(&s);
    let server = core_with(&s, 1, POOL_100);
    let withheld = AtomicU64::new(0);
    let clients: Vec<(u32, Ipv4Addr)> = (0..30)
        .map(|n| (n, bind(&server, n, &withheld).expect("bound online")))
        .collect();
    let stop = AtomicBool::new(false);
    let failed = AtomicU64::new(0);
    let renewals = AtomicU64::new(0);
    // Per client: the expiry of its last ACK.
    let acked: std::sync::Mutex<HashMap<u32, u64>> = Default::default();
    std::thread::scope(|sc| {
        sc.spawn(|| {
            let mut xid = 1_000;
            while !stop.load(Ordering::Relaxed) {
                for &(n, ip) in &clients {
                    xid += 1;
                    if renew(&server, n, ip, xid, &withheld) {
                        renewals.fetch_add(1, Ordering::Relaxed);
                        let l = server.lock().unwrap().store().by_ip(ip).cloned().unwrap();
                        acked.lock().unwrap().insert(n, l.expires);
                    } else {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        std::thread::sleep(Duration::from_millis(500));
        pg.crash();
        wait_for("the server to notice", Duration::from_secs(5), || {
            status(&server).state == "unreachable"
        });
        let before = renewals.load(Ordering::Relaxed);
        // Offline long enough for the expiries to move on by seconds.
        std::thread::sleep(Duration::from_secs(3));
        assert!(
            renewals.load(Ordering::Relaxed) > before + 30,
            "renewals went on offline"
        );
        let st = status(&server);
        assert!(st.queued > 0, "{st:?}");
        assert!(st.unreachable_since.is_some(), "{st:?}");
        // A new client: no offer, counted with its reason.
        let w = AtomicU64::new(0);
        let discover = client_packet(mac(999), MessageType::Discover, 999);
        assert!(
            exchange(&server, &discover, &w).is_none(),
            "offer while offline"
        );
        let dropped = pbxnet_dhcp::NamedCounters::from(server.lock().unwrap().counters().clone())
            .dropped
            .store_unreachable;
        assert!(dropped >= 1, "store_unreachable drops: {dropped}");
        pg.pg_ctl_start();
        wait_for("the replay", Duration::from_secs(30), || {
            let st = status(&server);
            st.state == "connected" && st.queued == 0
        });
        // Renewals after the replay go straight to the database again.
        std::thread::sleep(Duration::from_millis(300));
        stop.store(true, Ordering::Relaxed);
    });
    assert_eq!(failed.load(Ordering::Relaxed), 0, "renewals not ACKed");
    let st = status(&server);
    assert!(st.replayed > 0, "{st:?}");
    assert_eq!(st.conflicts, 0, "{st:?}");
    // Nothing ACKed is lost: the database has each client's last expiry.
    let check = PgStore::open(&settings(&pg, "default")).unwrap();
    let acked = acked.into_inner().unwrap();
    for (n, ip) in &clients {
        let l = check.by_ip(*ip).expect("row");
        assert_eq!(l.state, LeaseState::Bound);
        assert_eq!(l.mac, mac(*n));
        assert!(
            l.expires >= acked[n],
            "{ip}: {} < ACKed {}",
            l.expires,
            acked[n]
        );
    }
}

/// Marks the child process of [`offline_acks_survive_kill_9_of_the_server`].
const CHILD: &str = "PBXNET_PG_OFFLINE_CHILD";

/// A server whose ACKs were queued offline is killed with SIGKILL; when it
/// starts again (PostgreSQL back), the queue is replayed before anything
/// is loaded and the database holds every lease it ACKed. Fails when the
/// queue file is not written or not replayed (checked by removing it).
#[test]
fn offline_acks_survive_kill_9_of_the_server() {
    need_postgres!();
    let pg = PgCluster::start();
    let s = settings(&pg, "default");
    db_init(&s);
    let far = 1_900_000_000;
    {
        let mut seed = PgStore::open(&settings(&pg, "default")).unwrap();
        for i in 0..5u8 {
            seed.upsert(lease([192, 168, 92, 10 + i], i, LeaseState::Bound, far));
        }
        seed.commit().unwrap();
    }
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "offline_child",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, format!("{}\n{}", s.url, s.offline_queue.display()))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next = || loop {
        let l = lines.next().expect("child output").unwrap();
        // libtest may print `test offline_child ... ` on the same line.
        if let Some(at) = l.find("child: ") {
            return l[at + "child: ".len()..].to_string();
        }
    };
    assert_eq!(next(), "open");
    pg.crash();
    writeln!(child.stdin.as_mut().unwrap(), "go").unwrap();
    assert_eq!(next(), "acked 5");
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(s.offline_queue.exists());
    if std::env::var_os("PBXNET_TEST_DROP_QUEUE").is_some() {
        // The red check: without the queue the ACKs are lost.
        std::fs::remove_file(&s.offline_queue).unwrap();
    }
    pg.pg_ctl_start();
    // The server starts again with its queue.
    let again = PgStore::open(&s).unwrap();
    let check = PgStore::open(&settings(&pg, "default")).unwrap();
    for i in 0..5u8 {
        let l = check.by_ip(Ipv4Addr::new(192, 168, 92, 10 + i)).unwrap();
        assert_eq!(l.expires, far + 1_000, "ACKed offline, lost: {l:?}");
        let mine = again.by_ip(l.ip).unwrap();
        assert_eq!(mine, l, "the restarted server's index");
    }
    assert_eq!(again.status().queued, 0);
    assert_eq!(again.status().replayed, 5);
}

/// The server of [`offline_acks_survive_kill_9_of_the_server`]: opens the
/// store, waits for the database to be gone, renews five leases and says
/// so once each ACK may leave, then waits to be killed.
#[test]
fn offline_child() {
    let Ok(env) = std::env::var(CHILD) else {
        return;
    };
    let (url, queue) = env.split_once('\n').unwrap();
    let s = PgSettings {
        url: url.into(),
        password_file: None,
        site: "default".into(),
        offline_queue: queue.into(),
        tls: pbxnet_dhcp::config::PgTls::Disable,
    };
    let mut store = PgStore::open(&s).unwrap();
    println!("child: open");
    let mut go = String::new();
    std::io::stdin().read_line(&mut go).unwrap();
    let far = 1_900_000_000;
    for i in 0..5u8 {
        store.upsert(lease(
            [192, 168, 92, 10 + i],
            i,
            LeaseState::Bound,
            far + 1_000,
        ));
        let done = store
            .begin_commit()
            .unwrap()
            .blocking_recv()
            .unwrap()
            .unwrap();
        assert!(done.lost.is_empty(), "{done:?}");
    }
    assert_eq!(store.status().state, "unreachable");
    println!("child: acked 5");
    std::thread::sleep(Duration::from_secs(600));
}

/// A TCP relay to 127.0.0.1:`target` that can go silent: while `silent`
/// it keeps every connection open but forwards nothing (a partition
/// where packets vanish: no RST, no FIN). Returns its port.
fn relay(target: u16, silent: std::sync::Arc<AtomicBool>) -> u16 {
    use std::io::Read;
    use std::net::{TcpListener, TcpStream};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                continue;
            };
            for (mut from, mut to) in [
                (client.try_clone().unwrap(), server.try_clone().unwrap()),
                (server, client),
            ] {
                let silent = silent.clone();
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16384];
                    while let Ok(n) = from.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        if !silent.load(Ordering::Relaxed) && to.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = to.shutdown(std::net::Shutdown::Both);
                });
            }
        }
    });
    port
}

/// The network to the database goes silent (packets vanish, nothing is
/// refused or closed): the server notices within the 2 s bound, every
/// renewal is still ACKed, and none waits much longer than that bound;
/// when the network comes back the queue is replayed.
#[test]
fn silent_network_to_the_database_is_noticed_within_seconds() {
    need_postgres!();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let pg = PgCluster::start_tls(&cert.cert.pem(), &cert.key_pair.serialize_pem());
    let silent = std::sync::Arc::new(AtomicBool::new(false));
    let port = relay(pg.port(), silent.clone());
    let s = PgSettings {
        url: format!("postgresql://pbxnet@127.0.0.1:{port}/postgres"),
        ..settings(&pg, "default")
    };
    db_init(&s);
    let server = core_with(&s, 1, POOL_100);
    let withheld = AtomicU64::new(0);
    let clients: Vec<(u32, Ipv4Addr)> = (0..10)
        .map(|n| (n, bind(&server, n, &withheld).expect("bound online")))
        .collect();
    silent.store(true, Ordering::Relaxed);
    let mut slowest = Duration::ZERO;
    let mut expiry = HashMap::new();
    for round in 0..3u32 {
        for &(n, ip) in &clients {
            let t = Instant::now();
            assert!(
                renew(&server, n, ip, 5_000 + round * 100 + n, &withheld),
                "{ip} not renewed"
            );
            slowest = slowest.max(t.elapsed());
            expiry.insert(
                ip,
                server.lock().unwrap().store().by_ip(ip).unwrap().expires,
            );
        }
        std::thread::sleep(Duration::from_millis(1_100));
    }
    // One renewal waited for the bound (2 s) at most, plus scheduling.
    assert!(
        slowest < Duration::from_millis(3_500),
        "an ACK waited {slowest:?}"
    );
    let st = status(&server);
    assert_eq!(st.state, "unreachable", "{st:?}");
    assert!(st.queued > 0, "{st:?}");
    silent.store(false, Ordering::Relaxed);
    wait_for("the replay", Duration::from_secs(30), || {
        let st = status(&server);
        st.state == "connected" && st.queued == 0
    });
    let check = PgStore::open(&PgSettings {
        url: pg_direct(&pg),
        ..settings(&pg, "default")
    })
    .unwrap();
    for (ip, e) in expiry {
        assert!(check.by_ip(ip).unwrap().expires >= e, "{ip}");
    }
}

fn pg_direct(pg: &PgCluster) -> String {
    format!("postgresql://pbxnet@127.0.0.1:{}/postgres", pg.port())
}
