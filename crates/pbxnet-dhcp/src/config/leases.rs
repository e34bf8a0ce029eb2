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
    let mut ok = check_site_and_tls(v, raw);
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

/// `site` and `tls`, which both backends accept (SQLite ignores them).
fn check_site_and_tls(v: &mut V<'_>, raw: &RawLeases) -> bool {
    let mut ok = true;
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
        ok = false;
    }
    let tls = raw.tls.get_ref().as_str();
    if tls != "disable" {
        let msg = if tls == "require" {
            "TLS to the database is not supported yet".to_string()
        } else {
            format!("unknown TLS mode `{tls}`")
        };
        v.err(
            raw.tls.span(),
            "leases.tls",
            msg,
            "use a Unix socket (`host=/run/postgresql`) or a trusted network with tls = \"disable\" (\"require\" is not supported yet)",
        );
        ok = false;
    }
    ok
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
