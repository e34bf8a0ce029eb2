//! Two and three pbxnet-dhcpd sharing one PostgreSQL in the namespace lab
//! (`support/cluster.rs`): PostgreSQL on its own lab address, perfdhcp
//! relaying to each server (one generator per server, all on one pool)
//! and udhcpc clients on the LAN reaching every server by broadcast. What
//! was ACKed is read from a capture of the servers' replies and compared
//! with the database: no address ACKed to two clients, nothing ACKed
//! missing from the database, after `kill -9` of a server under load too.
//!
//! Sizes: PBXNET_PG_CLUSTER_LEASES (default 100,000: 2,000 each for two
//! and three servers racing for a pool of 2,100, the rest split between
//! two and three servers on a pool four times as large) at
//! PBXNET_PG_CLUSTER_RATE exchanges/s (default 3,000, all generators
//! together).
//!
//! The scenario with PostgreSQL cut off from one server is ignored: see its
//! ignore reason.

mod support;

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use pbxnet_testlab::can_run_lab;
use support::cluster::{
    duplicates, lost, mac_of, perfdhcp, udhcpc, Ack, Capture, Cluster, PG_IP, SERVER_IPS,
};
use support::pg_cluster::unavailable;

macro_rules! need_lab {
    () => {
        if let Some(why) = can_run_lab().err().or_else(unavailable) {
            eprintln!("SKIPPED {}: {why}", module_path!());
            return;
        }
        for tool in ["perfdhcp", "tcpdump", "udhcpc"] {
            if !std::process::Command::new("sh")
                .args(["-c", &format!("command -v {tool} >/dev/null")])
                .status()
                .is_ok_and(|s| s.success())
            {
                eprintln!(
                    "SKIPPED {}: no {tool} (tests/install-deps.sh)",
                    module_path!()
                );
                return;
            }
        }
    };
}

fn env_u32(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn no_duplicates(acks: &[Ack]) {
    let d = duplicates(acks);
    assert!(
        d.is_empty(),
        "{} addresses ACKed to two clients (address, clients): {:?}",
        d.len(),
        &d[..d.len().min(10)]
    );
}

fn nothing_lost(acks: &[Ack], db: &std::collections::HashMap<Ipv4Addr, (String, String)>) {
    let l = lost(acks, db);
    assert!(
        l.is_empty(),
        "{} ACKed leases not bound to their client in the database: {:?}",
        l.len(),
        &l[..l.len().min(10)]
    );
}

/// Distinct addresses among the ACKs.
fn leases(acks: &[Ack]) -> usize {
    acks.iter().map(|a| a.ip).collect::<HashSet<_>>().len()
}

/// `servers` servers, one perfdhcp each at rate/servers, until `target`
/// distinct addresses were ACKed (topped up with new clients when some
/// exchanges were dropped) from a pool of `pool` addresses. Then: no
/// duplicate, nothing lost.
///
/// With a pool barely larger than `target` (`contended`) the servers chase
/// the same last free addresses, each learning of the other's new leases
/// only about a second later: that is where two servers would ACK one
/// address twice without the compare-and-swap (this fails when a lost swap
/// is not reported), and some swaps must have lost. In a large pool the
/// servers' cursors start apart and rarely meet: that run is the volume.
/// Returns, for a contended run, the ACKs withheld after a lost swap.
fn shared_pool(servers: usize, target: usize, pool: u32, rate: u32) -> usize {
    let t0 = Instant::now();
    let contended = (pool as usize) < target + target / 10;
    let mut c = Cluster::new(servers, 0, &format!("n{servers}p{pool}"), pool);
    for i in 0..servers {
        c.start(i);
    }
    let mut cap = Capture::start(c.relay());
    for pass in 0..12u32 {
        let missing = target.saturating_sub(leases(&cap.acks()));
        if missing == 0 {
            break;
        }
        // 1 % more than missing (a few random MACs repeat), at least 100
        // per server: near the end many exchanges lose their race.
        let each = (missing * 101 / 100 / servers + 1).max(100) as u32;
        let gens: Vec<_> = (0..servers)
            .map(|i| {
                let mac = format!("02:{servers:02x}:{:02x}:00:00:00", pass * 4 + i as u32);
                perfdhcp(c.relay(), i, rate / servers as u32, each, 0, &mac)
            })
            .collect();
        for mut g in gens {
            g.wait().unwrap();
        }
    }
    let acks = cap.stop();
    let n = leases(&acks);
    let per_server: Vec<usize> = SERVER_IPS[..servers]
        .iter()
        .map(|s| acks.iter().filter(|a| a.server == *s).count())
        .collect();
    // Races the compare-and-swap settled (the loser withheld its ACK):
    // distinct addresses (the daemon logs a lost address once per reply
    // batch of the group commit that lost it).
    let withheld: usize = c
        .daemons
        .iter()
        .flatten()
        .map(|d| {
            d.log()
                .lines()
                .filter(|l| l.contains("ACK withheld"))
                .filter_map(|l| l.rsplit("ip=").next().map(str::to_string))
                .collect::<HashSet<_>>()
                .len()
        })
        .sum();
    eprintln!(
        "{servers} servers: {n} leases ({} ACKs, per server {per_server:?}, {withheld} ACKs withheld after a lost swap) in {:.1} s",
        acks.len(),
        t0.elapsed().as_secs_f64()
    );
    // The property is "no address twice, nothing lost"; the count only has
    // to show the volume was there. perfdhcp's exchanges on a loaded
    // machine (CI runs the test beside nothing, a developer's machine may
    // not) can leave a few short after the top-up passes.
    assert!(
        n >= target - target / 100,
        "only {n} of {target} leases were ACKed"
    );
    assert!(
        per_server.iter().all(|&k| k > 0),
        "a server ACKed nothing: {per_server:?}"
    );
    no_duplicates(&acks);
    let db = c.db_leases();
    nothing_lost(&acks, &db);
    if contended {
        withheld
    } else {
        0
    }
}

#[test]
fn two_then_three_servers_on_one_postgresql_never_ack_one_address_twice() {
    need_lab!();
    let total = env_u32("PBXNET_PG_CLUSTER_LEASES", 100_000) as usize;
    let rate = env_u32("PBXNET_PG_CLUSTER_RATE", 3_000);
    // Contention: 2,000 leases from 2,100 addresses.
    let raced = shared_pool(2, 2_000, 2_100, rate) + shared_pool(3, 2_000, 2_100, rate);
    // Whether two servers meet on one address in a given run is timing;
    // over the two contended runs some swaps must have lost (three servers
    // lose thousands), or the compare-and-swap was not exercised.
    assert!(
        raced > 0,
        "the servers never raced for an address: the compare-and-swap was not exercised"
    );
    // Volume: the rest of `total` from a pool four times as large.
    let volume = total.saturating_sub(4_000);
    shared_pool(2, volume / 2, (volume * 2) as u32, rate);
    shared_pool(3, volume - volume / 2, (volume * 2) as u32, rate);
}

/// Which server each udhcpc client got its lease from, and the address.
struct Phone {
    ns_index: usize,
    mac: String,
    ip: Ipv4Addr,
    server: Ipv4Addr,
}

#[test]
fn kill_9_of_one_server_20_times_under_load_loses_nothing_and_others_renew() {
    need_lab!();
    let t0 = Instant::now();
    let rate = env_u32("PBXNET_PG_CLUSTER_RATE", 3_000) / 2;
    let mut c = Cluster::new(3, 4, "kill", 200_000);
    for i in 0..3 {
        c.start(i);
    }
    let mut cap = Capture::start(c.relay());
    let mut phones: Vec<Phone> = (0..c.dhcp_clients().len())
        .map(|k| {
            let ns = &c.dhcp_clients()[k];
            let (ip, server) = udhcpc(ns, None);
            Phone {
                ns_index: k,
                mac: mac_of(ns),
                ip,
                server,
            }
        })
        .collect();
    // Load on every server for the whole test (stopped below).
    let mut gens: Vec<_> = (0..3)
        .map(|i| {
            perfdhcp(
                c.relay(),
                i,
                rate / 3,
                0,
                600,
                &format!("02:4b:{i:02x}:00:00:00"),
            )
        })
        .collect();
    let mut moved = 0;
    for round in 0..20 {
        // The server holding the most phones (any, in turn, when none).
        let victim = (0..3)
            .max_by_key(|&i| {
                let held = phones.iter().filter(|p| p.server == SERVER_IPS[i]).count();
                (held, (i + 3 - round % 3) % 3 == 0)
            })
            .unwrap();
        c.kill9(victim);
        for p in phones.iter_mut().filter(|p| p.server == SERVER_IPS[victim]) {
            let (ip, server) = udhcpc(&c.dhcp_clients()[p.ns_index], Some(p.ip));
            assert_eq!(ip, p.ip, "round {round}: {} lost its address", p.mac);
            assert_ne!(server, SERVER_IPS[victim]);
            p.server = server;
            moved += 1;
        }
        c.start(victim);
    }
    for g in &mut gens {
        let _ = g.kill();
        let _ = g.wait();
    }
    // Replies to the exchanges in flight when the generators stopped.
    std::thread::sleep(Duration::from_millis(500));
    let acks = cap.stop();
    eprintln!(
        "20 kills: {} leases ({} ACKs), {moved} phone renewals by another server, {:.1} s",
        acks.iter().map(|a| a.ip).collect::<HashSet<_>>().len(),
        acks.len(),
        t0.elapsed().as_secs_f64()
    );
    assert!(moved >= 20, "only {moved} renewals moved to another server");
    no_duplicates(&acks);
    let db = c.db_leases();
    nothing_lost(&acks, &db);
    for p in &phones {
        assert_eq!(
            db.get(&p.ip),
            Some(&(p.mac.clone(), "bound".to_string())),
            "phone {} at {}",
            p.mac,
            p.ip
        );
    }
    let phone_ips: HashSet<_> = phones.iter().map(|p| p.ip).collect();
    assert_eq!(phone_ips.len(), phones.len(), "two phones share an address");
}

/// Phones renew (udhcpc asking for its address) every second during
/// `outage`, while perfdhcp loads both servers; then everything ACKed
/// during and before the outage must be in the database within 30 s.
/// Returns the ACKs sent during the outage.
fn renewals_through_outage(
    c: &mut Cluster,
    outage: Duration,
    cut: impl FnOnce(&Cluster),
    heal: impl FnOnce(&Cluster),
) -> Vec<Ack> {
    let rate = env_u32("PBXNET_PG_CLUSTER_RATE", 3_000) / 4;
    let mut cap = Capture::start(c.relay());
    let phones: Vec<(usize, Ipv4Addr)> = (0..c.dhcp_clients().len())
        .map(|k| (k, udhcpc(&c.dhcp_clients()[k], None).0))
        .collect();
    let secs = outage.as_secs() as u32 + 10;
    let mut gens: Vec<_> = (0..2)
        .map(|i| {
            perfdhcp(
                c.relay(),
                i,
                rate / 2,
                0,
                secs,
                &format!("02:57:{i:02x}:00:00:00"),
            )
        })
        .collect();
    std::thread::sleep(Duration::from_secs(2));
    let before = cap.acks().len();
    cut(c);
    let end = Instant::now() + outage;
    let mut renewals = 0;
    while Instant::now() < end {
        for &(k, ip) in &phones {
            let (got, _) = udhcpc(&c.dhcp_clients()[k], Some(ip));
            assert_eq!(got, ip, "renewal during the outage gave another address");
            renewals += 1;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    let during = cap.acks()[before..].to_vec();
    heal(c);
    for g in &mut gens {
        g.wait().unwrap();
    }
    let acks = cap.stop();
    no_duplicates(&acks);
    // The queued commits land: poll until nothing is missing.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let missing = lost(&acks, &c.db_leases());
        if missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} ACKed leases still not in the database 30 s after the outage: {:?}",
            missing.len(),
            &missing[..missing.len().min(10)]
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    eprintln!(
        "{renewals} renewals during the outage; {} ACKs, {} during the outage",
        acks.len(),
        during.len()
    );
    during
}

#[test]
fn postgresql_stopped_30_s_under_load_renewals_never_fail_nothing_acked_is_lost() {
    need_lab!();
    let mut c = Cluster::new(2, 2, "stop", 200_000);
    c.start(0);
    c.start(1);
    let during = renewals_through_outage(
        &mut c,
        Duration::from_secs(30),
        |c| c.pg.stop(),
        |c| c.pg.pg_ctl_start(),
    );
    // Both servers kept allocating from what they hold.
    for s in &SERVER_IPS[..2] {
        assert!(
            during.iter().any(|a| a.server == *s),
            "{s} ACKed nothing while PostgreSQL was stopped; PostgreSQL log:\n{}",
            c.pg.log()
        );
    }
}

/// Silently discards the traffic between server 0 and PostgreSQL, both
/// ways (blackhole routes on both ends: the kernel here has no netfilter
/// or tc classifiers; an established connection just stops getting
/// answers, as behind a dead link).
fn partition(c: &Cluster, on: bool) {
    let verb = if on { "add" } else { "del" };
    c.server_ns(0)
        .run("ip", &["route", verb, "blackhole", &format!("{PG_IP}/32")])
        .unwrap();
    c.pg_ns()
        .run(
            "ip",
            &["route", verb, "blackhole", &format!("{}/32", SERVER_IPS[0])],
        )
        .unwrap();
}

#[test]
#[ignore = "cut-off server OFFERs the held lease but udhcpc gets no ACK within its 3 selects (-T 1): the writer blocks on the dead link (DB_TIMEOUT 2 s for the commit that finds it, then each offline reconnect attempt up to 2 s) while the REQUEST's commit waits behind it"]
fn partition_between_one_server_and_postgresql_renewals_never_fail_nothing_acked_is_lost() {
    need_lab!();
    let mut c = Cluster::new(2, 2, "cut", 200_000);
    c.start(0);
    c.start(1);
    let during = renewals_through_outage(
        &mut c,
        Duration::from_secs(30),
        |c| partition(c, true),
        |c| partition(c, false),
    );
    // The cut-off server kept serving from what it holds.
    assert!(
        during.iter().any(|a| a.server == SERVER_IPS[0]),
        "the cut-off server ACKed nothing during the partition"
    );
}
