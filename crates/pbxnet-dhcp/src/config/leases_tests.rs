use super::super::tests::{check, errors, BASE};
use super::{LeaseBackend, PgSettings, PgTls};

fn with(leases: &str) -> String {
    format!("{BASE}\n[leases]\n{leases}")
}

#[test]
fn sqlite_is_the_default_backend() {
    let cfg = check(BASE).unwrap_or_else(|d| panic!("{d:#?}"));
    assert_eq!(cfg.leases, LeaseBackend::Sqlite);
}

#[test]
fn postgresql_backend_takes_url_site_and_password_file() {
    let cfg = check(&with(
        "backend = \"postgresql\"\nurl = \"postgresql://pbxnet@/pbxnet?host=/run/postgresql\"\npassword-file = \"/etc/pbxnet/db.pw\"\nsite = \"paris-1\"\n",
    ))
    .unwrap_or_else(|d| panic!("{d:#?}"));
    assert_eq!(
        cfg.leases,
        LeaseBackend::Postgres(PgSettings {
            url: "postgresql://pbxnet@/pbxnet?host=/run/postgresql".into(),
            password_file: Some("/etc/pbxnet/db.pw".into()),
            site: "paris-1".into(),
            offline_queue: pbxnet_config::Site::default()
                .state_directory
                .join("pg-offline-paris-1.sqlite3"),
            tls: PgTls::Disable,
        })
    );
    // Debug never shows the connection string.
    assert!(!format!("{:?}", cfg.leases).contains("pbxnet@"));
}

#[test]
fn leases_errors_name_key_line_and_column() {
    // BASE has 9 lines, then a blank line and `[leases]`: line 12 on.
    let d = errors(&with("backend = \"mysql\"\n"));
    let e = d
        .iter()
        .find(|e| e.key == "leases.backend")
        .expect("backend error");
    assert!(
        e.message.contains("unknown lease backend `mysql`"),
        "{e:#?}"
    );
    assert_eq!((e.line, e.column), (12, 11), "{e:#?}");

    let d = errors(&with("backend = \"postgresql\"\n"));
    assert!(
        d.iter().any(|e| e.key == "leases.url" && e.line == 12),
        "{d:#?}"
    );

    let d = errors(&with(
        "backend = \"postgresql\"\nurl = \"postgresql://pbxnet:secret@db/pbxnet\"\n",
    ));
    let e = d.iter().find(|e| e.key == "leases.url").expect("url error");
    assert!(e.message.contains("holds a password"), "{e:#?}");
    assert!(!e.message.contains("secret"), "{e:#?}");
    assert_eq!((e.line, e.column), (13, 7), "{e:#?}");

    let d = errors(&with(
        "backend = \"postgresql\"\nurl = \"host=db password=secret\"\n",
    ));
    assert!(d.iter().any(|e| e.key == "leases.url"), "{d:#?}");

    let d = errors(&with("tls = \"verify-full\"\n"));
    assert!(
        d.iter()
            .any(|e| e.key == "leases.tls" && e.message.contains("needs the CA")),
        "{d:#?}"
    );
    let d = errors(&with("tls = \"require\"\ntls-ca-file = \"ca.pem\"\n"));
    assert!(
        d.iter()
            .any(|e| e.key == "leases.tls-ca-file" && e.line == 13),
        "{d:#?}"
    );
    let d = errors(&with("tls = \"prefer\"\n"));
    assert!(d.iter().any(|e| e.key == "leases.tls"), "{d:#?}");

    let d = errors(&with("site = \"a b\"\n"));
    assert!(
        d.iter().any(|e| e.key == "leases.site" && e.line == 12),
        "{d:#?}"
    );

    let d = errors(&with("bakend = \"sqlite\"\n"));
    assert!(!d.is_empty());
}

#[test]
fn tls_modes_take_the_ca_file_relative_to_the_configuration() {
    let cfg = check(&with(
        "backend = \"postgresql\"\nurl = \"host=db.example user=pbxnet\"\ntls = \"verify-full\"\ntls-ca-file = \"db-ca.pem\"\n",
    ))
    .unwrap_or_else(|d| panic!("{d:#?}"));
    let LeaseBackend::Postgres(pg) = cfg.leases else {
        panic!("{:?}", cfg.leases)
    };
    assert_eq!(
        pg.tls,
        PgTls::VerifyFull {
            ca_file: "./db-ca.pem".into()
        }
    );
    let cfg = check(&with(
        "backend = \"postgresql\"\nurl = \"host=db.example user=pbxnet\"\ntls = \"require\"\n",
    ))
    .unwrap_or_else(|d| panic!("{d:#?}"));
    assert!(matches!(
        cfg.leases,
        LeaseBackend::Postgres(PgSettings {
            tls: PgTls::Require,
            ..
        })
    ));
}
