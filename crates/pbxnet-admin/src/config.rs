//! `admin.toml`: the management daemon's configuration.
//!
//! ```toml
//! # listen = "127.0.0.1:8640"        (default: this host only)
//! # state-directory = "/var/lib/pbxnet/admind"   (default: <site state-directory>/admind)
//! [store]
//! # max-events = 1000000             (the event log keeps the newest this many)
//! [daemons]
//! # timeout-ms = 2000                (a daemon that does not answer in time: 503)
//! # runtime-directory = "/run/pbxnet" (default: the site's; where the sockets are)
//! # licd-runtime-directory = "/run/pbxnet" (license.toml may name another)
//! [[token]]
//! name = "monitoring"
//! sha256 = "<64 hex digits: sha256 of the token>"
//! role = "read"
//! [[user]]
//! name = "admin"
//! password-hash = "$argon2id$v=19$m=19456,t=2,p=1$…"
//! role = "admin"
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use pbxnet_config::{DaemonConfig, Diagnostics, Source, Spanned, ValidateCtx};
use pbxnet_inventory::InventoryConfig;
use serde::Deserialize;

use crate::auth::{Credentials, Role, TokenEntry, UserEntry};
use crate::names::{binary_name, ALL_DAEMONS};
use pbxnet_inventory::Daemon;

/// Default API address: this host only.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8640";

/// `admin.toml` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawAdminConfig {
    /// API address.
    #[serde(default = "default_listen")]
    pub listen: Spanned<String>,
    /// Where the event log lives (default `<site state-directory>/admind`).
    #[serde(default)]
    pub state_directory: Option<PathBuf>,
    /// `[store]`.
    #[serde(default)]
    pub store: RawStore,
    /// `[daemons]`.
    #[serde(default)]
    pub daemons: RawDaemons,
    /// `[inventory]`.
    #[serde(default)]
    pub inventory: RawInventory,
    /// `[[token]]`.
    #[serde(default)]
    pub token: Vec<RawToken>,
    /// `[[user]]`.
    #[serde(default)]
    pub user: Vec<RawUser>,
}

fn default_listen() -> Spanned<String> {
    Spanned::new(0..0, DEFAULT_LISTEN.into())
}

impl Default for RawAdminConfig {
    fn default() -> Self {
        RawAdminConfig {
            listen: default_listen(),
            state_directory: None,
            store: RawStore::default(),
            daemons: RawDaemons::default(),
            inventory: RawInventory::default(),
            token: Vec::new(),
            user: Vec::new(),
        }
    }
}

/// `[store]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawStore {
    /// Events kept in the log (the oldest are pruned beyond it).
    #[serde(default = "default_max_events")]
    pub max_events: Spanned<u64>,
}

fn default_max_events() -> Spanned<u64> {
    Spanned::new(0..0, DEFAULT_MAX_EVENTS)
}

impl Default for RawStore {
    fn default() -> Self {
        RawStore {
            max_events: default_max_events(),
        }
    }
}

/// Default bound of the event log.
pub const DEFAULT_MAX_EVENTS: u64 = 1_000_000;
const MIN_MAX_EVENTS: u64 = 1000;
const MAX_MAX_EVENTS: u64 = 50_000_000;

/// `[daemons]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawDaemons {
    /// How long a control request may take.
    #[serde(default)]
    pub timeout_ms: Option<Spanned<u64>>,
    /// Directory of the daemons' sockets (default: the site's).
    #[serde(default)]
    pub runtime_directory: Option<PathBuf>,
    /// Directory of licd's sockets (license.toml may name its own).
    #[serde(default)]
    pub licd_runtime_directory: Option<PathBuf>,
}

/// `[inventory]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawInventory {
    /// Seconds after a lease with the chain incomplete: stuck.
    #[serde(default)]
    pub stuck_after_s: Option<u64>,
    /// Seconds after the chain completed with no NTP request: no time.
    #[serde(default)]
    pub no_time_after_s: Option<u64>,
    /// Seconds after the first message with no lease: no lease.
    #[serde(default)]
    pub no_lease_after_s: Option<u64>,
}

/// `[[token]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawToken {
    /// Who holds it (logged, never the token).
    pub name: Spanned<String>,
    /// SHA-256 of the token, 64 hex digits.
    pub sha256: Spanned<String>,
    /// `read` or `admin`.
    pub role: Spanned<String>,
}

/// `[[user]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawUser {
    /// Login name.
    pub name: Spanned<String>,
    /// Argon2 PHC string.
    pub password_hash: Spanned<String>,
    /// `read` or `admin`.
    pub role: Spanned<String>,
}

/// Where one daemon is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonSockets {
    /// Which daemon.
    pub daemon: Daemon,
    /// `<dir>/<name>.sock`.
    pub control: PathBuf,
    /// `<dir>/<name>.events`.
    pub events: PathBuf,
}

/// Validated `admin.toml`.
#[derive(Debug, Clone)]
pub struct AdminConfig {
    /// API address.
    pub listen: SocketAddr,
    /// Event log directory.
    pub state_directory: PathBuf,
    /// Events kept.
    pub max_events: u64,
    /// Control request timeout.
    pub timeout: Duration,
    /// The four daemons' sockets.
    pub daemons: Vec<DaemonSockets>,
    /// Inventory thresholds.
    pub inventory: InventoryConfig,
    /// Tokens and users.
    pub credentials: Credentials,
}

impl AdminConfig {
    /// The event log database.
    pub fn store_file(&self) -> PathBuf {
        self.state_directory.join("events.sqlite")
    }

    /// The sockets of `daemon`.
    pub fn sockets(&self, daemon: Daemon) -> &DaemonSockets {
        self.daemons
            .iter()
            .find(|d| d.daemon == daemon)
            .expect("every daemon has sockets")
    }
}

impl DaemonConfig for AdminConfig {
    const FILE_NAME: &'static str = "admin.toml";
    // The API address is checked as written; the host's interfaces are not
    // needed (and its unit allows no netlink socket).
    const READS_HOST_INTERFACES: bool = false;
    type Raw = RawAdminConfig;

    fn validate(
        raw: RawAdminConfig,
        ctx: &ValidateCtx<'_>,
        diags: &mut Diagnostics,
    ) -> Option<Self> {
        let src = ctx.source;
        let listen = validate_listen(&raw.listen, src, diags);
        let (max_events, timeout) = validate_limits(&raw, src, diags);
        let credentials = validate_credentials(&raw, src, diags);
        if credentials.is_empty() {
            diags
                .warning(src, 0..0, "token", "no [[token]] and no [[user]]: every API call but /healthz will be refused (401)")
                .set_hint("add a [[token]] (`pbxnet-admind new-token`) or a [[user]] (`pbxnet-admind hash-password`)");
        }
        Some(AdminConfig {
            listen: listen?,
            state_directory: raw.state_directory.as_deref().map_or_else(
                || ctx.site.state_directory.join("admind"),
                |d| ctx.resolve(d),
            ),
            max_events,
            timeout,
            daemons: socket_paths(&raw.daemons, ctx),
            inventory: inventory_config(&raw.inventory),
            credentials,
        })
    }
}

fn validate_limits(raw: &RawAdminConfig, src: &Source, diags: &mut Diagnostics) -> (u64, Duration) {
    let max_events = *raw.store.max_events.get_ref();
    if !(MIN_MAX_EVENTS..=MAX_MAX_EVENTS).contains(&max_events) {
        diags
            .error(
                src,
                raw.store.max_events.span(),
                "store.max-events",
                format!("{max_events} is outside {MIN_MAX_EVENTS}..={MAX_MAX_EVENTS}"),
            )
            .set_hint("about 300 bytes of disk per event: 1000000 keeps ~300 MB");
    }
    let timeout_ms = raw
        .daemons
        .timeout_ms
        .as_ref()
        .map_or(2000, |t| *t.get_ref());
    if let Some(t) = &raw.daemons.timeout_ms {
        if !(50..=60_000).contains(t.get_ref()) {
            diags
                .error(
                    src,
                    t.span(),
                    "daemons.timeout-ms",
                    format!("{} is outside 50..=60000", t.get_ref()),
                )
                .set_hint(
                    "how long the API waits for a daemon's control socket before answering 503",
                );
        }
    }
    (max_events, Duration::from_millis(timeout_ms))
}

/// The daemons' sockets: the site's runtime directory unless admin.toml
/// names another (licd's may differ: license.toml has its own key).
fn socket_paths(raw: &RawDaemons, ctx: &ValidateCtx<'_>) -> Vec<DaemonSockets> {
    let dir = raw
        .runtime_directory
        .as_deref()
        .map_or_else(|| ctx.site.runtime_directory.clone(), |d| ctx.resolve(d));
    let licd_dir = raw
        .licd_runtime_directory
        .as_deref()
        .map_or_else(|| dir.clone(), |d| ctx.resolve(d));
    ALL_DAEMONS
        .into_iter()
        .map(|daemon| {
            let d = if daemon == Daemon::Licd {
                &licd_dir
            } else {
                &dir
            };
            DaemonSockets {
                daemon,
                control: d.join(format!("{}.sock", binary_name(daemon))),
                events: d.join(format!("{}.events", binary_name(daemon))),
            }
        })
        .collect()
}

fn inventory_config(raw: &RawInventory) -> InventoryConfig {
    let defaults = InventoryConfig::default();
    let ms = |s: Option<u64>, default: u64| s.map_or(default, |s| s.saturating_mul(1000));
    InventoryConfig {
        stuck_after_ms: ms(raw.stuck_after_s, defaults.stuck_after_ms),
        no_time_after_ms: ms(raw.no_time_after_s, defaults.no_time_after_ms),
        no_lease_after_ms: ms(raw.no_lease_after_s, defaults.no_lease_after_ms),
        ..defaults
    }
}

fn validate_listen(
    raw: &Spanned<String>,
    src: &Source,
    diags: &mut Diagnostics,
) -> Option<SocketAddr> {
    match raw.get_ref().parse::<SocketAddr>() {
        Ok(addr) => {
            if !addr.ip().is_loopback() {
                diags
                    .warning(src, raw.span(), "listen", format!("{addr} serves the API beyond this host over plain HTTP"))
                    .set_hint("tokens and passwords cross the network in clear: prefer 127.0.0.1 and an SSH tunnel or a TLS proxy");
            }
            Some(addr)
        }
        Err(e) => {
            diags
                .error(
                    src,
                    raw.span(),
                    "listen",
                    format!("`{}`: {e}", raw.get_ref()),
                )
                .set_hint("an address and port, e.g. \"127.0.0.1:8640\" or \"192.168.92.1:8640\"");
            None
        }
    }
}

fn parse_role(
    raw: &Spanned<String>,
    key: &str,
    src: &Source,
    diags: &mut Diagnostics,
) -> Option<Role> {
    let role = Role::parse(raw.get_ref());
    if role.is_none() {
        diags
            .error(
                src,
                raw.span(),
                key,
                format!("unknown role `{}`", raw.get_ref()),
            )
            .set_hint("\"read\" (GET only) or \"admin\" (also releases leases)");
    }
    role
}

fn validate_credentials(
    raw: &RawAdminConfig,
    src: &Source,
    diags: &mut Diagnostics,
) -> Credentials {
    let mut creds = Credentials::default();
    let mut names: Vec<String> = Vec::new();
    let mut unique = |name: &Spanned<String>, key: &str, diags: &mut Diagnostics| {
        if names.contains(name.get_ref()) {
            diags.error(
                src,
                name.span(),
                key,
                format!("`{}` is named twice", name.get_ref()),
            );
            return false;
        }
        names.push(name.get_ref().clone());
        true
    };
    for t in &raw.token {
        let fresh = unique(&t.name, "token.name", diags);
        let role = parse_role(&t.role, "token.role", src, diags);
        let hash = crate::auth::parse_sha256_hex(t.sha256.get_ref());
        if hash.is_none() {
            diags
                .error(src, t.sha256.span(), "token.sha256", "not 64 hexadecimal digits".to_string())
                .set_hint("the SHA-256 of the token, e.g. `printf %s \"$TOKEN\" | sha256sum`, or `pbxnet-admind new-token`");
        }
        if let (true, Some(role), Some(sha256)) = (fresh, role, hash) {
            creds.tokens.push(TokenEntry {
                name: t.name.get_ref().clone(),
                sha256,
                role,
            });
        }
    }
    for u in &raw.user {
        let fresh = unique(&u.name, "user.name", diags);
        let role = parse_role(&u.role, "user.role", src, diags);
        let phc = u.password_hash.get_ref();
        let ok = crate::auth::check_phc(phc);
        if let Err(e) = &ok {
            diags
                .error(src, u.password_hash.span(), "user.password-hash", e.clone())
                .set_hint("an Argon2 PHC string ($argon2id$v=19$…): `pbxnet-admind hash-password`");
        }
        if u.name.get_ref().contains(':') || u.name.get_ref().is_empty() {
            diags.error(
                src,
                u.name.span(),
                "user.name",
                "must be non-empty and without ':' (HTTP Basic)".to_string(),
            );
        }
        if let (true, Some(role), Ok(())) = (fresh, role, ok) {
            creds.users.push(UserEntry {
                name: u.name.get_ref().clone(),
                phc: phc.clone(),
                role,
            });
        }
    }
    creds
}
