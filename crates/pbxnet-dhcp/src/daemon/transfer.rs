//! `db init|upgrade` (the PostgreSQL schema) and `leases export|import`:
//! every lease as one JSON object per line, every field kept, so leases
//! move between the SQLite file and PostgreSQL (or between sites) without
//! loss. The format (one line per lease):
//! `{"site","ip","client","mac","state","expires","class","vendor-class","hostname"}`,
//! `client` the stored client key in hex (`49…` = option 61, `48…` =
//! hardware type + address), `expires` Unix seconds.

use std::io::{BufRead, Write};
use std::net::Ipv4Addr;
use std::path::PathBuf;

use pbxnet_runtime::exit::{EX_CONFIG, EX_DATAERR, EX_IOERR, EX_UNAVAILABLE};
use pbxnet_runtime::{ExitContext, Failure, Invocation};
use serde::{Deserialize, Serialize};

use super::store::pg::{sql, PgStore};
use super::store::{read_all, SqliteStore};
use crate::config::{DhcpConfig, LeaseBackend, PgSettings};
use crate::{ClientKey, Lease, LeaseState, LeaseStore};

/// One lease as a JSON line.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct LeaseLine {
    /// Site (`default` for a SQLite file).
    pub site: String,
    /// Address.
    pub ip: Ipv4Addr,
    /// Stored client key, hex.
    pub client: String,
    /// aa:bb:cc:dd:ee:ff.
    pub mac: String,
    /// offered, bound, released or declined.
    pub state: String,
    /// Unix seconds.
    pub expires: u64,
    /// Class.
    pub class: String,
    /// Option 60 as sent.
    pub vendor_class: String,
    /// Option 12 as sent.
    pub hostname: String,
}

impl LeaseLine {
    /// The line of `l` in `site`.
    pub fn of(site: &str, l: &Lease) -> LeaseLine {
        LeaseLine {
            site: site.into(),
            ip: l.ip,
            client: l
                .client
                .to_bytes()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
            mac: pbxnet_config::MacAddr(l.mac).to_string(),
            state: l.state.as_str().into(),
            expires: l.expires,
            class: l.class.to_string(),
            vendor_class: l.vendor_class.as_str().into(),
            hostname: l.hostname.as_str().into(),
        }
    }

    /// The lease it describes.
    pub fn lease(&self) -> Result<Lease, String> {
        let hex = &self.client;
        let bytes: Option<Vec<u8>> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
            .collect();
        let client = bytes
            .as_deref()
            .and_then(ClientKey::from_bytes)
            .ok_or_else(|| format!("{}: bad client key {hex:?}", self.ip))?;
        Ok(Lease {
            ip: self.ip,
            client,
            mac: self
                .mac
                .parse::<pbxnet_config::MacAddr>()
                .map_err(|e| format!("{}: bad MAC: {e}", self.ip))?
                .0,
            state: LeaseState::parse(&self.state)
                .ok_or_else(|| format!("{}: bad state {:?}", self.ip, self.state))?,
            expires: self.expires,
            class: self.class.as_str().into(),
            vendor_class: self.vendor_class.as_str().into(),
            hostname: self.hostname.as_str().into(),
        })
    }
}

/// Which store a command works on.
pub(super) enum Target {
    Sqlite(PathBuf),
    Postgres(PgSettings),
}

impl Target {
    /// `--sqlite FILE` if given, else the store `dhcp.toml` configures;
    /// `--site` overrides the configured site (PostgreSQL only).
    pub(super) fn resolve(
        invocation: &Invocation,
        sqlite: Option<PathBuf>,
        site: Option<String>,
    ) -> Result<Target, Failure> {
        if let Some(p) = sqlite {
            return Ok(Target::Sqlite(p));
        }
        let cfg = invocation.load_config::<DhcpConfig>()?.daemon;
        Ok(match cfg.leases {
            LeaseBackend::Sqlite => Target::Sqlite(cfg.lease_database),
            LeaseBackend::Postgres(mut pg) => {
                if let Some(s) = site {
                    pg.site = s;
                }
                Target::Postgres(pg)
            }
        })
    }

    fn site(&self) -> &str {
        match self {
            Target::Sqlite(_) => "default",
            Target::Postgres(pg) => &pg.site,
        }
    }

    /// Every lease of the store (of its site).
    pub(super) fn read(&self) -> Result<Vec<Lease>, Failure> {
        match self {
            Target::Sqlite(path) => read_all(path).exit_code(EX_IOERR),
            Target::Postgres(pg) => {
                let rows = sql::block_on(async {
                    let c = sql::connect(pg).await?;
                    sql::check_schema(&c).await?;
                    sql::load_site(&c, &pg.site).await
                })
                .exit_code(EX_UNAVAILABLE)?
                .exit_code(EX_UNAVAILABLE)?;
                Ok(rows.into_iter().filter_map(|r| r.lease).collect())
            }
        }
    }
}

/// `leases export`: JSON lines on stdout.
pub(super) fn export(target: &Target) -> Result<(), Failure> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for l in target.read()? {
        let line = serde_json::to_string(&LeaseLine::of(target.site(), &l)).exit_code(EX_IOERR)?;
        writeln!(out, "{line}").exit_code(EX_IOERR)?;
    }
    out.flush().exit_code(EX_IOERR)
}

/// `leases import`: reads JSON lines (a file, or stdin) into the store.
/// Every line is checked before anything is written; an address that
/// already has a lease in the target is not overwritten (reported).
pub(super) fn import(target: &Target, file: Option<PathBuf>) -> Result<(), Failure> {
    let reader: Box<dyn BufRead> = match &file {
        Some(p) => Box::new(std::io::BufReader::new(
            std::fs::File::open(p).exit_code(EX_IOERR)?,
        )),
        None => Box::new(std::io::stdin().lock()),
    };
    let mut leases = Vec::new();
    for (n, line) in reader.lines().enumerate() {
        let line = line.exit_code(EX_IOERR)?;
        if line.trim().is_empty() {
            continue;
        }
        let parsed: LeaseLine = serde_json::from_str(&line)
            .map_err(|e| Failure::new(EX_DATAERR, anyhow::anyhow!("line {}: {e}", n + 1)))?;
        let lease = parsed
            .lease()
            .map_err(|e| Failure::new(EX_DATAERR, anyhow::anyhow!("line {}: {e}", n + 1)))?;
        leases.push(lease);
    }
    let (written, kept) = write_all(target, leases)?;
    eprintln!(
        "imported {written} leases into site {}; {} addresses already held there were left as they were{}",
        target.site(),
        kept.len(),
        if kept.is_empty() {
            String::new()
        } else {
            format!(": {kept:?}")
        }
    );
    Ok(())
}

/// Writes `leases` (bound leases last, so each client's index ends on its
/// binding) unless their address is held; returns how many were written
/// and the addresses left alone.
fn write_all(target: &Target, mut leases: Vec<Lease>) -> Result<(usize, Vec<Ipv4Addr>), Failure> {
    leases.sort_by_key(|l| (l.state == LeaseState::Bound, l.expires));
    let store = |e: String| Failure::new(EX_IOERR, anyhow::anyhow!("{e}"));
    let mut kept = Vec::new();
    let mut put = |s: &mut dyn LeaseStore, leases: Vec<Lease>| {
        let mut n = 0;
        for l in leases {
            if s.by_ip(l.ip).is_some() {
                kept.push(l.ip);
            } else {
                s.upsert(l);
                n += 1;
            }
        }
        n
    };
    let written = match target {
        Target::Sqlite(path) => {
            let mut s = SqliteStore::open(path).exit_code(EX_IOERR)?;
            let n = put(&mut s, leases);
            s.commit().map_err(|e| store(e.to_string()))?;
            n
        }
        Target::Postgres(pg) => {
            let mut s = PgStore::open(pg).exit_code(EX_UNAVAILABLE)?;
            let n = put(&mut s, leases);
            let done = s.commit_outcome().map_err(store)?;
            kept.extend(&done.lost);
            n - done.lost.len()
        }
    };
    Ok((written, kept))
}

/// `db init` / `db upgrade` on the configured PostgreSQL store.
pub(super) fn db(invocation: &Invocation, upgrade: bool) -> Result<(), Failure> {
    let Target::Postgres(pg) = Target::resolve(invocation, None, None)? else {
        return Err(Failure::new(
            EX_CONFIG,
            anyhow::anyhow!("[leases] backend is \"sqlite\": its file is created by the daemon; `db` is for \"postgresql\""),
        ));
    };
    let done = sql::block_on(async {
        let mut c = sql::connect(&pg).await?;
        if upgrade {
            let (from, to) = sql::upgrade(&mut c).await?;
            Ok::<_, sql::PgError>(format!("schema version {from} -> {to}\n"))
        } else {
            sql::init(&mut c).await?;
            Ok(format!(
                "schema version {} created\n",
                sql::PG_SCHEMA_VERSION
            ))
        }
    })
    .exit_code(EX_UNAVAILABLE)?
    .exit_code(EX_UNAVAILABLE)?;
    pbxnet_runtime::output::print(&done).exit_code(EX_IOERR)
}
