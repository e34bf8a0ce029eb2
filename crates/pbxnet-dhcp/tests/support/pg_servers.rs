//! Servers on a shared PostgreSQL store as the daemon's shell drives
//! them, for the tests of `tests/pg.rs` and `tests/pg_offline.rs`: the
//! settings of one server, a core on a small pool, one datagram through
//! it with its commit.

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use pbxnet_dhcp::config::PgSettings;
use pbxnet_dhcp::daemon::pg::sql;
use pbxnet_dhcp::daemon::{PgStore, Store};
use pbxnet_dhcp::{ClientKey, Lease, LeaseState, LeaseStore};

use super::pg_cluster::PgCluster;

/// Settings of one server: each call its own offline queue file (each
/// server has its own state directory).
pub(crate) fn settings(pg: &PgCluster, site: &str) -> PgSettings {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    PgSettings {
        url: pg.url(),
        password_file: None,
        site: site.into(),
        offline_queue: pg.dir().join(format!("offline-{site}-{n}.sqlite3")),
        tls: pbxnet_dhcp::config::PgTls::Disable,
    }
}

pub(crate) fn db_init(s: &PgSettings) {
    sql::block_on(async {
        let mut c = sql::connect(s).await.unwrap();
        sql::init(&mut c).await.unwrap();
    })
    .unwrap();
}

pub(crate) fn lease(ip: [u8; 4], n: u8, state: LeaseState, expires: u64) -> Lease {
    let mac = [2, 0, 0, 0, 1, n];
    Lease {
        ip: Ipv4Addr::from(ip),
        client: ClientKey::from_bytes(&[b'H', 1, 2, 0, 0, 0, 1, n]).unwrap(),
        mac,
        state,
        expires,
        class: "phones".into(),
        vendor_class: format!("vendor {n} é").as_str().into(),
        hostname: format!("host-{n}").as_str().into(),
    }
}

pub(crate) fn leases_of(store: &impl LeaseStore) -> Vec<Lease> {
    store.all().into_iter().cloned().collect()
}

// Offers held 1 s (the shortest): an offer a client left for the other
// server's blocks its address only that long.
pub(crate) const POOL_CONFIG: &str = r#"
offer-hold = "1s"
[[subnet]]
name = "site"
network = "192.168.92.0/24"
lease-time = "1h"
[[pool]]
name = "tiny"
range = "192.168.92.10..192.168.92.19"
[[class]]
name = "any"
any-device = true
profile = "p"
[[profile]]
name = "p"
"#;

pub(crate) const SRV: Ipv4Addr = Ipv4Addr::new(192, 168, 92, 246);

pub(crate) fn server_config(pool_config: &str) -> pbxnet_dhcp::ServerConfig {
    use pbxnet_config::{parse_toml, DaemonConfig, Diagnostics, Site, Source, ValidateCtx};
    let src = Source::new("dhcp.toml", pool_config);
    let raw = parse_toml(&src).unwrap();
    let mut site = Site::default();
    site.server_address = SRV;
    let ctx = ValidateCtx {
        site: &site,
        source: &src,
        config_dir: std::path::Path::new("."),
        host: None,
    };
    let mut d = Diagnostics::new();
    pbxnet_dhcp::DhcpConfig::validate(raw, &ctx, &mut d)
        .unwrap_or_else(|| panic!("{:#?}", d.into_sorted()))
        .server
}

pub(crate) type Core = Arc<Mutex<pbxnet_dhcp::Server<Store>>>;

/// A server on the pool of [`POOL_CONFIG`].
pub(crate) fn core(s: &PgSettings, seed: u64) -> Core {
    core_with(s, seed, POOL_CONFIG)
}

/// A server with `pool_config` on the store `s` (its own offline queue).
pub(crate) fn core_with(s: &PgSettings, seed: u64, pool_config: &str) -> Core {
    use rand::SeedableRng;
    // Each server its own offline queue.
    let s = PgSettings {
        offline_queue: s.offline_queue.with_extension(format!("server-{seed}")),
        ..s.clone()
    };
    let store = Store::Postgres(Box::new(PgStore::open(&s).unwrap()));
    let mut server = pbxnet_dhcp::Server::new(
        server_config(pool_config),
        store,
        rand::rngs::StdRng::seed_from_u64(seed),
    )
    .unwrap();
    server.set_interfaces(vec![pbxnet_dhcp::Interface {
        index: 2,
        name: "eth0".into(),
        addr: SRV,
    }]);
    Arc::new(Mutex::new(server))
}

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// One datagram through a server as the shell handles it
/// (`daemon/serve.rs`, `daemon/send.rs`): take in other servers' rows,
/// decide, hand the changes to the writer, and release the reply only
/// once the commit is durable and did not lose the address.
pub(crate) fn exchange(
    core: &Core,
    p: &pbxnet_dhcp::Packet,
    withheld: &AtomicU64,
) -> Option<pbxnet_dhcp::Packet> {
    use pbxnet_dhcp::{Outcome, Packet};
    let mut bytes = Vec::new();
    p.encode(&mut bytes);
    let mut reply = Vec::new();
    let (outcome, ticket) = {
        let mut s = core.lock().unwrap();
        s.store_mut().absorb();
        let o = s.handle(now_ms(), 2, &bytes, &mut reply);
        (o, s.store_mut().begin_commit())
    };
    let Outcome::Reply { .. } = outcome else {
        return None;
    };
    if let Some(t) = ticket {
        match t.blocking_recv().unwrap() {
            Ok(c) if c.keeps(&reply) => {}
            Ok(_) => {
                withheld.fetch_add(1, Ordering::Relaxed);
                return None;
            }
            Err(e) => panic!("commit failed: {e}"),
        }
    }
    Some(Packet::decode(&reply).unwrap())
}

pub(crate) fn client_packet(
    mac: [u8; 6],
    mt: pbxnet_dhcp::MessageType,
    xid: u32,
) -> pbxnet_dhcp::Packet {
    let mut p = pbxnet_dhcp::Packet::new(1);
    p.xid = xid;
    p.chaddr[..6].copy_from_slice(&mac);
    p.options
        .set(pbxnet_dhcp::code::MESSAGE_TYPE, vec![mt as u8]);
    p
}
