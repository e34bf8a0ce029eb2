//! The daemon's own subcommands: `leases` (read from the database, so it
//! works beside the daemon), `lease release` (asks the daemon); `leases
//! export|import` and `db init|upgrade` are in `transfer.rs`.

use std::net::Ipv4Addr;

use clap::Subcommand;
use pbxnet_config::DaemonConfig;
use pbxnet_runtime::exit::{EX_CONFIG, EX_DATAERR, EX_IOERR, EX_SOFTWARE, EX_USAGE};
use pbxnet_runtime::{ask_at, ExitContext, Failure, Invocation};

use super::clock::now_ms;
use super::control::{view, CtlRequest, CtlResponse, LeaseView, NAME};
use super::transfer::Target;
use crate::config::{DhcpConfig, LeaseBackend};

/// The daemon's own subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// List the leases in the lease database (the daemon need not run; a
    /// broken dhcp.toml is reported and the database still read).
    Leases(LeasesArgs),
    /// Act on one lease of the running daemon.
    Lease {
        #[command(subcommand)]
        action: LeaseAction,
    },
    /// The PostgreSQL lease store's schema ([leases] backend = "postgresql").
    Db {
        #[command(subcommand)]
        action: DbAction,
    },
}

#[derive(Debug, Subcommand, PartialEq, Eq)]
pub(crate) enum DbAction {
    /// Create the schema in an empty database.
    Init,
    /// Bring the schema to this build's version.
    Upgrade,
}

/// `leases export` / `leases import`.
#[derive(Debug, Subcommand)]
pub(crate) enum LeasesAction {
    /// Write every lease of the store (of its site) to stdout, one JSON object per line.
    Export(TransferArgs),
    /// Read leases (JSON lines, from FILE or stdin) into the store; held addresses are left alone.
    Import {
        #[command(flatten)]
        target: TransferArgs,
        /// JSON lines file (default: stdin).
        file: Option<std::path::PathBuf>,
    },
}

/// Which store export and import use.
#[derive(Debug, clap::Args)]
pub(crate) struct TransferArgs {
    /// This SQLite lease file instead of the store dhcp.toml configures.
    #[arg(long)]
    pub(crate) sqlite: Option<std::path::PathBuf>,
    /// This site instead of the configured one (PostgreSQL store).
    #[arg(long)]
    pub(crate) site: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum LeaseAction {
    /// Free the lease of an address or MAC.
    Release {
        /// IPv4 address or MAC address.
        target: String,
    },
}

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct LeasesArgs {
    #[command(subcommand)]
    pub(crate) action: Option<LeasesAction>,
    /// Only this site (PostgreSQL store; default: the configured site).
    #[arg(long)]
    site: Option<String>,
    /// JSON output.
    #[arg(long)]
    json: bool,
    /// Only this MAC.
    #[arg(long)]
    mac: Option<String>,
    /// Only this address.
    #[arg(long)]
    ip: Option<Ipv4Addr>,
    /// Only this class.
    #[arg(long)]
    class: Option<String>,
    /// Only expired / released leases.
    #[arg(long)]
    expired: bool,
}

/// `lease release`: asks the running daemon to free a lease.
pub(super) fn release_cmd(invocation: &Invocation, target: String) -> Result<(), Failure> {
    let socket = invocation.site_control_socket_of(DhcpConfig::FILE_NAME, NAME)?;
    match ask_at(&socket, &CtlRequest::Release(target))? {
        CtlResponse::Released(ips) => {
            let text: String = ips.iter().map(|ip| format!("released {ip}\n")).collect();
            pbxnet_runtime::output::print(&text).exit_code(EX_IOERR)
        }
        CtlResponse::Error(e) => Err(Failure::new(EX_DATAERR, anyhow::anyhow!("{e}"))),
        other => Err(Failure::new(
            EX_SOFTWARE,
            anyhow::anyhow!("unexpected answer {other:?}"),
        )),
    }
}

/// `leases`: reads the lease database directly (read-only; WAL lets it run
/// beside the daemon).
pub(super) fn leases_cmd(invocation: &Invocation, args: &LeasesArgs) -> Result<(), Failure> {
    use std::fmt::Write as _;
    let (source, server) = lease_source(invocation, args.site.clone())?;
    if let Target::Sqlite(db) = &source {
        if args.site.is_some() {
            return Err(Failure::new(
                EX_USAGE,
                anyhow::anyhow!("--site: the SQLite lease store has one site"),
            ));
        }
        if !db.exists() {
            return Err(Failure::new(
                EX_IOERR,
                anyhow::anyhow!(
                    "no lease database at {} (has the daemon run yet?)",
                    db.display()
                ),
            ));
        }
    }
    let mut all: Vec<LeaseView> = source
        .read()?
        .iter()
        .map(|l| view(server.as_ref(), l))
        .collect();
    let now = now_ms() / 1000;
    let mac = match &args.mac {
        Some(m) => Some(
            m.parse::<pbxnet_config::MacAddr>()
                .map_err(|e| Failure::new(EX_USAGE, anyhow::Error::msg(e)))?
                .to_string(),
        ),
        None => None,
    };
    all.retain(|l| {
        mac.as_ref().is_none_or(|m| &l.mac == m)
            && args.ip.is_none_or(|ip| l.ip == ip)
            && args.class.as_ref().is_none_or(|c| &l.class == c)
            && (!args.expired || l.expires <= now || l.state == "released")
    });
    all.sort_by_key(|l| u32::from(l.ip));
    let mut out = String::new();
    if args.json {
        out = serde_json::to_string_pretty(&all).exit_code(EX_SOFTWARE)?;
    } else {
        let _ = writeln!(
            out,
            "{:<17} {:<15} {:<9} {:>10} {:<20} {:<22} {:<16} HOSTNAME",
            "MAC", "IP", "STATE", "EXPIRES-IN", "CLASS", "PROFILE", "VENDOR-CLASS"
        );
        for l in all {
            let left = l.expires as i64 - now as i64;
            let _ = writeln!(
                out,
                "{:<17} {:<15} {:<9} {:>9}s {:<20} {:<22} {:<16} {}",
                l.mac, l.ip, l.state, left, l.class, l.profile, l.vendor_class, l.hostname
            );
        }
    }
    pbxnet_runtime::output::print(&out).exit_code(EX_IOERR)
}

/// Where `leases` reads, and the configuration that names profiles. The
/// database only needs the state directory (site.toml) and `lease-database`
/// (dhcp.toml): when dhcp.toml does not validate (being edited), the leases
/// are still listed, from the `lease-database` it names if that much can be
/// read (else the default), without profiles, and stderr says so.
fn lease_source(
    invocation: &Invocation,
    site: Option<String>,
) -> Result<(Target, Option<crate::ServerConfig>), Failure> {
    if let Ok(loaded) = invocation.load_config::<DhcpConfig>() {
        let target = match loaded.daemon.leases {
            LeaseBackend::Sqlite => Target::Sqlite(loaded.daemon.lease_database),
            LeaseBackend::Postgres(mut pg) => {
                if let Some(s) = site {
                    pg.site = s;
                }
                Target::Postgres(pg)
            }
        };
        return Ok((target, Some(loaded.daemon.server)));
    }
    let paths = invocation.paths_for(DhcpConfig::FILE_NAME);
    let (site, _) = pbxnet_config::load_site(&paths)
        .map_err(|r| Failure::new(EX_CONFIG, anyhow::anyhow!("{r}")))?;
    let named = std::fs::read_to_string(&paths.daemon)
        .ok()
        .and_then(|text| text.parse::<toml::Table>().ok())
        .and_then(|t| {
            t.get("lease-database")?
                .as_str()
                .map(std::path::PathBuf::from)
        });
    let db = site
        .state_directory
        .join(named.unwrap_or_else(|| crate::config::RawDhcp::default().lease_database));
    eprintln!(
        "{NAME}: {} does not validate (run `{NAME} check`); listing the lease database {} without profiles",
        paths.daemon.display(),
        db.display()
    );
    Ok((Target::Sqlite(db), None))
}
