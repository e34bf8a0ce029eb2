//! The PostgreSQL schema (versioned in `pbxnet_schema`), connecting, and
//! the row form of a lease. A row is never deleted: a lease that ends
//! becomes `state = 'free'` with its version bumped, so an address's
//! version only grows and a compare-and-swap on it cannot be fooled by a
//! delete followed by a re-insert (ABA).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use tokio_postgres::{Client, Row};

use crate::config::PgSettings;
use crate::{ClientKey, Lease, LeaseState};

/// Schema version this build writes and reads (`pbxnet_schema.version`).
pub const PG_SCHEMA_VERSION: i32 = 1;

/// Version 1: the leases of every site, one row per (site, address).
const SCHEMA_V1: &str = "
CREATE TABLE pbxnet_schema (
    version integer NOT NULL
);
CREATE SEQUENCE pbxnet_lease_change;
CREATE TABLE pbxnet_leases (
    site         text    NOT NULL,
    address      inet    NOT NULL,
    client       bytea   NOT NULL,  -- 'I' + option 61, or 'H' + htype + chaddr
    mac          text    NOT NULL,  -- aa:bb:cc:dd:ee:ff
    state        text    NOT NULL CHECK (state IN ('offered', 'bound', 'released', 'declined', 'free')),
    expires      bigint  NOT NULL,  -- Unix seconds
    class        text    NOT NULL,
    vendor_class text    NOT NULL,
    hostname     text    NOT NULL,
    version      bigint  NOT NULL,  -- compare-and-swap: every write checks and bumps it
    changed      bigint  NOT NULL DEFAULT nextval('pbxnet_lease_change'), -- refresh watermark
    PRIMARY KEY (site, address)
);
CREATE INDEX pbxnet_leases_changed ON pbxnet_leases (site, changed);
INSERT INTO pbxnet_schema (version) VALUES (1);
";

/// Columns read for a lease, in the order [`from_row`] expects.
pub(super) const COLUMNS: &str =
    "address, client, mac, state, expires, class, vendor_class, hostname, version, changed";

/// Why the PostgreSQL store cannot be used. Messages never carry the
/// connection string or the password.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// Connecting or a statement failed (with its causes: "error
    /// performing TLS handshake" alone does not say which certificate
    /// check failed).
    #[error("PostgreSQL lease store: {}", with_causes(.0))]
    Db(#[from] tokio_postgres::Error),
    /// The password file cannot be read.
    #[error("reading the database password file {path}: {source}")]
    Password {
        /// File.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// No schema, or another version.
    #[error("PostgreSQL lease store: {0}")]
    Schema(String),
    /// A row does not parse.
    #[error("PostgreSQL lease store: bad row for {ip}: {reason}")]
    Corrupt {
        /// Address.
        ip: String,
        /// What is wrong.
        reason: String,
    },
    /// The runtime or thread could not start.
    #[error("PostgreSQL lease store: {0}")]
    Start(String),
    /// The TLS configuration cannot be built (CA file).
    #[error("PostgreSQL lease store: {0}")]
    Tls(String),
    /// The database did not answer in time.
    #[error("PostgreSQL lease store: no answer within the timeout ({0})")]
    Timeout(&'static str),
}

impl PgError {
    /// Whether the database cannot be reached (refused, closed, silent, or
    /// shutting down), as opposed to refusing what was asked: the writer
    /// then goes offline instead of failing the commit.
    pub fn unreachable(&self) -> bool {
        match self {
            PgError::Timeout(_) | PgError::Password { .. } | PgError::Tls(_) => true,
            PgError::Db(e) => match e.code() {
                None => true,
                // 08: connection exception; 57: operator intervention
                // (admin shutdown, cannot connect now); 53: insufficient
                // resources (too many connections, disk full).
                Some(c) => {
                    e.is_closed() || ["08", "57", "53"].iter().any(|p| c.code().starts_with(p))
                }
            },
            PgError::Schema(_) | PgError::Corrupt { .. } | PgError::Start(_) => false,
        }
    }
}

/// `e` and each error that caused it, `: `-separated.
fn with_causes(e: &tokio_postgres::Error) -> String {
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = c.source();
    }
    text
}

/// How long connecting may take, when the connection string does not say.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Connects (the password, if any, read from its file now) and runs the
/// connection on the current tokio runtime.
pub async fn connect(settings: &PgSettings) -> Result<Client, PgError> {
    let mut cfg: tokio_postgres::Config = settings.url.parse()?;
    if let Some(path) = &settings.password_file {
        let text = std::fs::read_to_string(path).map_err(|source| PgError::Password {
            path: path.display().to_string(),
            source,
        })?;
        cfg.password(text.lines().next().unwrap_or("").trim_end());
    }
    cfg.application_name("pbxnet-dhcpd");
    if cfg.get_connect_timeout().is_none() {
        cfg.connect_timeout(CONNECT_TIMEOUT);
    }
    // A peer that vanished (partition, power loss) is noticed by the
    // kernel within about 10 s even on an idle connection; a commit in
    // flight is bounded by the writer's own timeout.
    cfg.keepalives(true)
        .keepalives_idle(std::time::Duration::from_secs(5))
        .keepalives_interval(std::time::Duration::from_secs(2))
        .keepalives_retries(3)
        .tcp_user_timeout(std::time::Duration::from_secs(10));
    let client = match super::tls::client_config(&settings.tls).map_err(PgError::Tls)? {
        None => {
            let (client, conn) = cfg.connect(tokio_postgres::NoTls).await?;
            tokio::spawn(watch(conn));
            client
        }
        Some(tls) => {
            // Refuse a server that does not offer TLS (the default,
            // `prefer`, would fall back to plain text).
            cfg.ssl_mode(tokio_postgres::config::SslMode::Require);
            let (client, conn) = cfg.connect(super::tls::MakeRustls(tls)).await?;
            tokio::spawn(watch(conn));
            client
        }
    };
    Ok(client)
}

/// Drives a connection until it closes, and says why it did.
async fn watch<F: std::future::Future<Output = Result<(), tokio_postgres::Error>>>(conn: F) {
    if let Err(e) = conn.await {
        tracing::warn!(error = %e, "PostgreSQL lease store connection closed");
    }
}

/// The schema version in the database, `None` when it has none.
pub async fn schema_version(client: &Client) -> Result<Option<i32>, PgError> {
    let exists: bool = client
        .query_one("SELECT to_regclass('pbxnet_schema') IS NOT NULL", &[])
        .await?
        .get(0);
    if !exists {
        return Ok(None);
    }
    let row = client
        .query_opt("SELECT max(version) FROM pbxnet_schema", &[])
        .await?;
    Ok(row.and_then(|r| r.get::<_, Option<i32>>(0)))
}

/// `db init`: creates the schema in an empty database; refuses one that
/// has any version already (`db upgrade` is for that).
pub async fn init(client: &mut Client) -> Result<(), PgError> {
    if let Some(v) = schema_version(client).await? {
        return Err(PgError::Schema(format!(
            "the database already has schema version {v}; use `db upgrade`"
        )));
    }
    let tx = client.transaction().await?;
    tx.batch_execute(SCHEMA_V1).await?;
    tx.commit().await?;
    Ok(())
}

/// `db upgrade`: brings an older schema to [`PG_SCHEMA_VERSION`], one
/// version per transaction (a newer one is refused). Returns the
/// versions before and after.
pub async fn upgrade(client: &mut Client) -> Result<(i32, i32), PgError> {
    let from = schema_version(client).await?.ok_or_else(|| {
        PgError::Schema("the database has no pbxnet schema; use `db init`".into())
    })?;
    if from > PG_SCHEMA_VERSION {
        return Err(newer(from));
    }
    // Version 1 is the first; later versions add their step here:
    // `if v == 1 { tx.batch_execute(V1_TO_V2)...; v = 2 }`.
    Ok((from, from))
}

fn newer(found: i32) -> PgError {
    PgError::Schema(format!(
        "the database has schema version {found}, this build knows {PG_SCHEMA_VERSION}: upgrade pbxnet-dhcpd"
    ))
}

/// Refuses a database without our schema or with another version.
pub async fn check_schema(client: &Client) -> Result<(), PgError> {
    match schema_version(client).await? {
        None => Err(PgError::Schema(
            "the database has no pbxnet schema; run `pbxnet-dhcpd db init`".into(),
        )),
        Some(v) if v == PG_SCHEMA_VERSION => Ok(()),
        Some(v) if v < PG_SCHEMA_VERSION => Err(PgError::Schema(format!(
            "the database has schema version {v}; run `pbxnet-dhcpd db upgrade`"
        ))),
        Some(v) => Err(newer(v)),
    }
}

/// One row: the address, its lease (`None` when free), its version and
/// change stamp.
#[derive(Debug, Clone)]
pub struct LeaseRow {
    /// Address.
    pub ip: Ipv4Addr,
    /// The lease on it, `None` for a free row.
    pub lease: Option<Lease>,
    /// Compare-and-swap version.
    pub version: i64,
    /// Value of the change sequence at its last write.
    pub changed: i64,
}

/// Class names shared between leases (one allocation per class).
pub(super) type Classes = HashMap<String, Arc<str>>;

pub(super) fn from_row(r: &Row, classes: &mut Classes) -> Result<LeaseRow, PgError> {
    let ip = match r.try_get::<_, IpAddr>(0)? {
        IpAddr::V4(ip) => ip,
        IpAddr::V6(ip) => {
            return Err(PgError::Corrupt {
                ip: ip.to_string(),
                reason: "not an IPv4 address".into(),
            })
        }
    };
    let corrupt = |reason: String| PgError::Corrupt {
        ip: ip.to_string(),
        reason,
    };
    let version: i64 = r.try_get(8)?;
    let changed: i64 = r.try_get(9)?;
    let state: &str = r.try_get(3)?;
    if state == "free" {
        return Ok(LeaseRow {
            ip,
            lease: None,
            version,
            changed,
        });
    }
    let state = LeaseState::parse(state).ok_or_else(|| corrupt(format!("bad state {state:?}")))?;
    let client = ClientKey::from_bytes(r.try_get::<_, &[u8]>(1)?)
        .ok_or_else(|| corrupt("bad client key".into()))?;
    let mac = r
        .try_get::<_, &str>(2)?
        .parse::<pbxnet_config::MacAddr>()
        .map_err(|e| corrupt(format!("bad MAC: {e}")))?
        .0;
    let expires: i64 = r.try_get(4)?;
    let class: String = r.try_get(5)?;
    let lease = Lease {
        ip,
        client,
        mac,
        state,
        expires: u64::try_from(expires).map_err(|_| corrupt("negative expiry".into()))?,
        class: classes
            .entry(class)
            .or_insert_with_key(|k| k.as_str().into())
            .clone(),
        vendor_class: r.try_get::<_, &str>(6)?.into(),
        hostname: r.try_get::<_, &str>(7)?.into(),
    };
    Ok(LeaseRow {
        ip,
        lease: Some(lease),
        version,
        changed,
    })
}

/// Every row of `site` (free ones too: their versions matter).
pub async fn load_site(client: &Client, site: &str) -> Result<Vec<LeaseRow>, PgError> {
    let rows = client
        .query(
            &format!("SELECT {COLUMNS} FROM pbxnet_leases WHERE site = $1 ORDER BY address"),
            &[&site],
        )
        .await?;
    let mut classes = Classes::new();
    rows.iter().map(|r| from_row(r, &mut classes)).collect()
}

/// Runs `f` on a fresh current-thread runtime (commands, tests: outside
/// the daemon's runtime).
pub fn block_on<T>(f: impl std::future::Future<Output = T>) -> Result<T, PgError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| PgError::Start(e.to_string()))?;
    Ok(rt.block_on(f))
}
