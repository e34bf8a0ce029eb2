//! TLS to the PostgreSQL lease store (`[leases] tls`), against a scratch
//! PostgreSQL 15 listening on 127.0.0.1 with `ssl = on` and a certificate
//! signed by a CA made here with rcgen.

mod support;

use std::net::Ipv4Addr;

use pbxnet_dhcp::config::{PgSettings, PgTls};
use pbxnet_dhcp::daemon::pg::sql;
use pbxnet_dhcp::daemon::PgStore;
use pbxnet_dhcp::{LeaseState, LeaseStore};
use support::pg_cluster::{unavailable, PgCluster};
use support::pg_servers::{db_init, lease};

macro_rules! need_postgres {
    () => {
        if let Some(why) = unavailable() {
            eprintln!("SKIPPED {}: {}", module_path!(), why);
            return;
        }
    };
}

/// A CA (its PEM) and a server certificate for `localhost` it signed
/// (certificate and key PEM).
fn ca_and_server() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
    (ca.pem(), cert.pem(), key.serialize_pem())
}

fn settings(pg: &PgCluster, host: &str, tls: PgTls) -> PgSettings {
    PgSettings {
        url: format!(
            "postgresql://pbxnet@{host}:{}/postgres?hostaddr=127.0.0.1",
            pg.port()
        ),
        password_file: None,
        site: "default".into(),
        offline_queue: pg.dir().join(format!("offline-{host}.sqlite3")),
        tls,
    }
}

/// Whether the session `s` opens is encrypted, as the server sees it.
fn server_sees_tls(s: &PgSettings) -> Result<bool, String> {
    sql::block_on(async {
        let c = sql::connect(s).await.map_err(|e| e.to_string())?;
        let row = c
            .query_one(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )
            .await
            .map_err(|e| e.to_string())?;
        Ok(row.get::<_, bool>(0))
    })
    .unwrap()
}

#[test]
fn tls_require_and_verify_full_against_a_cluster_with_ssl() {
    need_postgres!();
    let (ca, cert, key) = ca_and_server();
    let pg = PgCluster::start_tls(&cert, &key);
    let ca_file = pg.dir().join("db-ca.pem");
    std::fs::write(&ca_file, &ca).unwrap();
    let verify = PgTls::VerifyFull {
        ca_file: ca_file.clone(),
    };
    // verify-full: the certificate chains to the CA and names the host.
    let s = settings(&pg, "localhost", verify.clone());
    assert_eq!(server_sees_tls(&s), Ok(true));
    db_init(&s);
    let l = lease([10, 0, 0, 5], 1, LeaseState::Bound, 1_900_000_000);
    {
        let mut store = PgStore::open(&s).unwrap();
        store.upsert(l.clone());
        store.commit().unwrap();
    }
    assert_eq!(
        PgStore::open(&s).unwrap().by_ip(Ipv4Addr::new(10, 0, 0, 5)),
        Some(&l)
    );
    // require: encrypted, the certificate unchecked.
    assert_eq!(
        server_sees_tls(&settings(&pg, "db.invalid", PgTls::Require)),
        Ok(true)
    );
    // disable: plain text.
    assert_eq!(
        server_sees_tls(&settings(&pg, "localhost", PgTls::Disable)),
        Ok(false)
    );
    // verify-full refuses a certificate for another name...
    let e = server_sees_tls(&settings(&pg, "db.invalid", verify)).unwrap_err();
    assert!(e.to_lowercase().contains("certificate"), "{e}");
    // ... and one signed by another CA.
    let (other_ca, _, _) = ca_and_server();
    let other = pg.dir().join("other-ca.pem");
    std::fs::write(&other, other_ca).unwrap();
    let e = server_sees_tls(&settings(
        &pg,
        "localhost",
        PgTls::VerifyFull { ca_file: other },
    ))
    .unwrap_err();
    assert!(e.to_lowercase().contains("certificate"), "{e}");
    // A CA file that is not there is named.
    let missing = PgTls::VerifyFull {
        ca_file: "/nonexistent/db-ca.pem".into(),
    };
    let e = server_sees_tls(&settings(&pg, "localhost", missing)).unwrap_err();
    assert!(e.contains("/nonexistent/db-ca.pem"), "{e}");
}
