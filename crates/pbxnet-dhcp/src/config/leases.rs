//! `[leases]`: which lease store the daemon uses. SQLite (the default, a
//! file under the state directory) or PostgreSQL shared by several servers
//! (a libpq-style connection string, the password in a file of its own,
//! the `site` whose leases this server serves).

use std::path::PathBuf;

use super::context::V;
use super::raw::RawLeases;

/// The validated `[leases]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseBackend {
    /// The embedded SQLite file (`lease-database`).
    Sqlite,
    /// A PostgreSQL database shared by several servers.
    Postgres(PgSettings),
}

/// How to reach the PostgreSQL lease store.
#[derive(Clone, PartialEq, Eq)]
pub struct PgSettings {
    /// libpq-style connection string (URL or `key=value` form), without a
    /// password (validation refuses one: it would end up in logs and `ps`).
    pub url: String,
    /// File holding the password (first line), if the server needs one.
    pub password_file: Option<PathBuf>,
    /// Site whose leases this server serves (one database, many sites).
    pub site: String,
    /// The offline queue: commits ACKed while the database was unreachable
    /// (`<state-directory>/pg-offline-<site>.sqlite3`).
    pub offline_queue: PathBuf,
    /// TLS to the database.
    pub tls: PgTls,
}

/// `[leases] tls`: how the connection to the database is protected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PgTls {
    /// Plain (a Unix socket, or a network trusted as it is).
    Disable,
    /// Encrypted; the server's certificate is not checked.
    Require,
    /// Encrypted; the certificate must chain to `ca_file` and name the
    /// host connected to.
    VerifyFull {
        /// PEM file of the CA certificates (`tls-ca-file`).
        ca_file: PathBuf,
    },
}

/// Never prints the connection string: it names hosts and users, and an
/// operator may paste logs anywhere.
impl std::fmt::Debug for PgSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgSettings")
            .field("site", &self.site)
            .field("password_file", &self.password_file)
            .field("offline_queue", &self.offline_queue)
            .finish_non_exhaustive()
    }
}

/// Longest `site` name (it is part of every row's key).
const MAX_SITE_LEN: usize = 64;

pub(super) fn validate(
    v: &mut V<'_>,
    raw: &RawLeases,
    config_dir: &std::path::Path,
    state_dir: &std::path::Path,
) -> Option<LeaseBackend> {
    let backend = raw.backend.get_ref().as_str();
    let tls = check_tls(v, raw, config_dir);
    let mut ok = check_site(v, raw) && tls.is_some();
    match backend {
        "sqlite" => ok.then_some(LeaseBackend::Sqlite),
        "postgresql" => {
            let url = match &raw.url {
                Some(u) => u,
                None => {
                    v.err(
                        raw.backend.span(),
                        "leases.url",
                        "backend \"postgresql\" needs a connection string",
                        "add url = \"postgresql://pbxnet@/pbxnet?host=/run/postgresql\"",
                    );
                    return None;
                }
            };
            if let Err(why) = check_url(url.get_ref()) {
                v.err(
                    url.span(),
                    "leases.url",
                    why,
                    "put the password in `password-file`",
                );
                ok = false;
            }
            ok.then(|| {
                LeaseBackend::Postgres(PgSettings {
                    url: url.get_ref().clone(),
                    password_file: raw
                        .password_file
                        .as_ref()
                        .map(|p| config_dir.join(p.get_ref())),
                    site: raw.site.get_ref().clone(),
                    offline_queue: state_dir
                        .join(format!("pg-offline-{}.sqlite3", raw.site.get_ref())),
                    tls: tls.expect("checked above"),
                })
            })
        }
        other => {
            v.err(
                raw.backend.span(),
                "leases.backend",
                format!("unknown lease backend `{other}`"),
                "use \"sqlite\" (one server) or \"postgresql\" (several servers sharing one store)",
            );
            None
        }
    }
}

/// `site`, which both backends accept (SQLite ignores it).
fn check_site(v: &mut V<'_>, raw: &RawLeases) -> bool {
    let site = raw.site.get_ref();
    let site_ok = !site.is_empty()
        && site.len() <= MAX_SITE_LEN
        && site
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !site_ok {
        v.err(
            raw.site.span(),
            "leases.site",
            format!("invalid site name {site:?}"),
            format!("1 to {MAX_SITE_LEN} characters among letters, digits, `-`, `_` and `.`"),
        );
    }
    site_ok
}

/// `tls` and `tls-ca-file` (SQLite ignores them): `verify-full` needs the
/// CA file, the other modes take none.
fn check_tls(v: &mut V<'_>, raw: &RawLeases, config_dir: &std::path::Path) -> Option<PgTls> {
    let ca = raw.tls_ca_file.as_ref();
    let tls = match (raw.tls.get_ref().as_str(), ca) {
        ("disable", None) => PgTls::Disable,
        ("require", None) => PgTls::Require,
        ("verify-full", Some(ca)) => PgTls::VerifyFull {
            ca_file: config_dir.join(ca.get_ref()),
        },
        ("verify-full", None) => {
            v.err(
                raw.tls.span(),
                "leases.tls",
                "tls = \"verify-full\" needs the CA that signs the database's certificate",
                "add tls-ca-file = \"db-ca.pem\"",
            );
            return None;
        }
        ("disable" | "require", Some(ca)) => {
            v.err(
                ca.span(),
                "leases.tls-ca-file",
                "a CA file is only used with tls = \"verify-full\"",
                "set tls = \"verify-full\" to check the database's certificate, or remove tls-ca-file",
            );
            return None;
        }
        (other, _) => {
            v.err(
                raw.tls.span(),
                "leases.tls",
                format!("unknown TLS mode `{other}`"),
                "use \"disable\" (Unix socket, trusted network), \"require\" (encrypted) or \"verify-full\" (encrypted, certificate checked against tls-ca-file)",
            );
            return None;
        }
    };
    Some(tls)
}

/// A connection string must look like one and must not carry a password.
/// The message never repeats the string.
fn check_url(url: &str) -> Result<(), String> {
    let lower = url.to_ascii_lowercase();
    if let Some(rest) = lower
        .strip_prefix("postgresql://")
        .or_else(|| lower.strip_prefix("postgres://"))
    {
        let authority = rest.split(['/', '?']).next().unwrap_or("");
        if let Some((userinfo, _)) = authority.rsplit_once('@') {
            if userinfo.contains(':') {
                return Err("the connection string holds a password".into());
            }
        }
        if lower.contains("password=") {
            return Err("the connection string holds a password".into());
        }
        return Ok(());
    }
    if lower.contains('=') {
        if lower
            .split_whitespace()
            .any(|kv| kv.starts_with("password="))
        {
            return Err("the connection string holds a password".into());
        }
        return Ok(());
    }
    Err("not a connection string: expected postgresql://… or key=value pairs".into())
}

#[cfg(test)]
#[path = "leases_tests.rs"]
mod tests;
