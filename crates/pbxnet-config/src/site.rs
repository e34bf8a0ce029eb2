//! `site.toml`: settings shared by the four daemons.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::diag::{Diagnostic, Diagnostics, Severity};
use crate::host::HostInterfaces;
use crate::source::Source;
use crate::template::MacroContext;
use crate::values::Ipv4;

/// The product's factory address for the PBX (and so for pbxnet) on the
/// default 192.168.92.0/24 site.
pub const DEFAULT_SERVER_ADDRESS: Ipv4Addr = Ipv4Addr::new(192, 168, 92, 246);

/// `site.toml` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawSite {
    /// The server's own address: what `${server_ip}` expands to.
    #[serde(default = "default_server_address")]
    pub server_address: Spanned<Ipv4>,
    /// Interfaces the daemons serve on (empty: all).
    #[serde(default)]
    pub interfaces: Vec<Spanned<String>>,
    /// Durable state (leases, licence state, NTP drift).
    #[serde(default = "default_state_directory")]
    pub state_directory: PathBuf,
    /// Control sockets.
    #[serde(default = "default_runtime_directory")]
    pub runtime_directory: PathBuf,
    /// User to switch to after binding privileged ports when started as root.
    #[serde(default)]
    pub user: Option<Spanned<String>>,
    /// Logging.
    #[serde(default)]
    pub log: RawLog,
}

impl Default for RawSite {
    fn default() -> Self {
        RawSite {
            server_address: default_server_address(),
            interfaces: Vec::new(),
            state_directory: default_state_directory(),
            runtime_directory: default_runtime_directory(),
            user: None,
            log: RawLog::default(),
        }
    }
}

fn default_server_address() -> Spanned<Ipv4> {
    Spanned::new(0..0, Ipv4(DEFAULT_SERVER_ADDRESS))
}

fn default_state_directory() -> PathBuf {
    PathBuf::from("/var/lib/pbxnet")
}

fn default_runtime_directory() -> PathBuf {
    PathBuf::from("/run/pbxnet")
}

/// `[log]` in `site.toml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawLog {
    /// Minimum level.
    #[serde(default)]
    pub level: LogLevel,
    /// Output format.
    #[serde(default)]
    pub format: LogFormat,
}

/// Log verbosity. Per-packet events are `debug`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Only errors.
    Error,
    /// Problems the operator can act on.
    Warn,
    /// Start-up, reloads, leases committed, steps of the clock.
    #[default]
    Info,
    /// Every packet.
    Debug,
    /// Everything.
    Trace,
}

impl LogLevel {
    /// The tracing filter directive for this level.
    pub fn as_str(&self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// `human` on a terminal, `journald` under systemd, `plain` otherwise.
    #[default]
    Auto,
    /// Colours and timestamps, for a terminal.
    Human,
    /// One line per event, no colours, no timestamps (journald adds its own),
    /// with `<N>` syslog priority prefixes.
    Journald,
    /// One line per event with timestamps, no colours.
    Plain,
    /// One JSON object per line.
    Json,
}

/// Validated logging settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LogSettings {
    /// Minimum level.
    pub level: LogLevel,
    /// Format.
    pub format: LogFormat,
}

/// Validated site settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    /// The server's own address.
    pub server_address: Ipv4Addr,
    /// Interfaces to serve on (empty: all).
    pub interfaces: Vec<String>,
    /// Durable state directory.
    pub state_directory: PathBuf,
    /// Runtime directory for control sockets.
    pub runtime_directory: PathBuf,
    /// User to switch to after binding, when started as root.
    pub user: Option<String>,
    /// Logging.
    pub log: LogSettings,
    /// Where `server-address` is set (site.toml, or the whole file when
    /// the default applies), for diagnostics that daemons' checks raise
    /// about it.
    server_address_at: Diagnostic,
}

impl Default for Site {
    fn default() -> Self {
        Site::validate(
            RawSite::default(),
            &Source::new("<built-in>", ""),
            None,
            &mut Diagnostics::new(),
        )
    }
}

impl Site {
    /// What the macros expand to on this site.
    pub fn macro_context(&self) -> MacroContext {
        MacroContext {
            server_ip: self.server_address,
        }
    }

    /// A diagnostic about `server-address`, pointing at it in site.toml
    /// (at the whole file when the default applies).
    pub fn server_address_diagnostic(
        &self,
        severity: Severity,
        message: impl Into<String>,
    ) -> Diagnostic {
        let mut d = self.server_address_at.clone();
        d.severity = severity;
        d.message = message.into();
        d
    }

    /// Checks a raw site; problems go into `diags`. With `host` (this
    /// host's interfaces, read by the loader), also checks that the
    /// interfaces exist and that the server address is this host's.
    pub fn validate(
        raw: RawSite,
        source: &Source,
        host: Option<&HostInterfaces>,
        diags: &mut Diagnostics,
    ) -> Site {
        if let Some(host) = host {
            check_on_host(&raw, source, host, diags);
        }
        let server_address_at = server_address_at(&raw, source);
        let address = raw.server_address.get_ref().0;
        check_server_address(&raw, source, diags);
        let interfaces = check_interfaces(&raw, source, diags);
        check_directories(&raw, source, diags);
        let user = check_user(raw.user.as_ref(), source, diags);
        Site {
            server_address: address,
            interfaces,
            state_directory: raw.state_directory,
            runtime_directory: raw.runtime_directory,
            user,
            log: LogSettings {
                level: raw.log.level,
                format: raw.log.format,
            },
            server_address_at,
        }
    }
}

/// Where `server-address` is set: its value in site.toml, or the whole file
/// when the default applies.
fn server_address_at(raw: &RawSite, source: &Source) -> Diagnostic {
    if raw.server_address.span().is_empty() {
        let mut d = Diagnostic::file(Severity::Error, &source.path, "");
        d.key = "server-address".to_string();
        d
    } else {
        Diagnostic::at(
            Severity::Error,
            source,
            raw.server_address.span(),
            "server-address",
            "",
        )
    }
}

/// The server address must be a unicast address.
fn check_server_address(raw: &RawSite, source: &Source, diags: &mut Diagnostics) {
    let address = raw.server_address.get_ref().0;
    if address.is_unspecified()
        || address.is_broadcast()
        || address.is_multicast()
        || address.is_loopback()
    {
        diags
            .error(
                source,
                raw.server_address.span(),
                "server-address",
                format!("`{address}` cannot be the server's address"),
            )
            .set_hint("expected the unicast address of this server on the site LAN, such as 192.168.92.246");
    }
}

/// Interface names must be valid Linux names, each listed once; returns them.
fn check_interfaces(raw: &RawSite, source: &Source, diags: &mut Diagnostics) -> Vec<String> {
    let mut interfaces = Vec::new();
    for (i, name) in raw.interfaces.iter().enumerate() {
        let text = name.get_ref();
        let bad = text.is_empty()
            || text.len() > 15
            || text.contains(['/', ' ', ':'])
            || text == "."
            || text == "..";
        if bad {
            diags
                .error(source, name.span(), format!("interfaces[{i}]"), format!("`{text}` is not a valid interface name"))
                .set_hint("expected a Linux interface name of 1 to 15 characters without `/`, `:` or spaces, such as eth0");
        }
        if interfaces.contains(text) {
            diags.warning(
                source,
                name.span(),
                format!("interfaces[{i}]"),
                format!("interface `{text}` is listed twice"),
            );
        }
        interfaces.push(text.clone());
    }
    interfaces
}

/// The state and runtime directories must be absolute.
fn check_directories(raw: &RawSite, source: &Source, diags: &mut Diagnostics) {
    for (key, dir) in [
        ("state-directory", &raw.state_directory),
        ("runtime-directory", &raw.runtime_directory),
    ] {
        if !dir.is_absolute() {
            diags.push(
                crate::diag::Diagnostic::file(
                    crate::diag::Severity::Error,
                    &source.path,
                    format!(
                        "`{key}` must be an absolute path, found `{}`",
                        dir.display()
                    ),
                )
                .with_hint("expected a path such as /var/lib/pbxnet"),
            );
        }
    }
}

/// The user name, if given, must be a plausible system user.
fn check_user(
    user: Option<&Spanned<String>>,
    source: &Source,
    diags: &mut Diagnostics,
) -> Option<String> {
    user.map(|u| {
        let name = u.get_ref().clone();
        if name.is_empty() || name.contains([':', '/', ' ']) {
            diags
                .error(
                    source,
                    u.span(),
                    "user",
                    format!("`{name}` is not a valid user name"),
                )
                .set_hint("expected a system user such as pbxnet");
        }
        name
    })
}

/// The interfaces `site.toml` names exist on this host, and the server
/// address is one of its addresses.
fn check_on_host(raw: &RawSite, source: &Source, host: &HostInterfaces, diags: &mut Diagnostics) {
    for (i, name) in raw.interfaces.iter().enumerate() {
        match host.get(name.get_ref()) {
            None => {
                diags
                    .error(
                        source,
                        name.span(),
                        format!("interfaces[{i}]"),
                        format!("interface `{}` does not exist on this host", name.get_ref()),
                    )
                    .set_hint(format!("interfaces here: {}", host.summary()));
            }
            Some(found) if found.ipv4.is_empty() => {
                diags
                    .warning(
                        source,
                        name.span(),
                        format!("interfaces[{i}]"),
                        format!("interface `{}` has no IPv4 address (yet): nothing can be served on it until it has one", name.get_ref()),
                    )
                    .set_hint(format!("interfaces here: {}", host.summary()));
            }
            Some(_) => {}
        }
    }
    let address = raw.server_address.get_ref().0;
    if host.holding(address).is_none() {
        let message =
            format!("server-address {address} is not an address of any interface of this host");
        let hint = format!("devices are sent this address (`${{server_ip}}`, server identifier) and will look for the server there; interfaces here: {}", host.summary());
        let d = if raw.server_address.span().is_empty() {
            let mut d = Diagnostic::file(
                Severity::Warning,
                &source.path,
                format!("{message} (the default, site.toml does not set it)"),
            );
            d.key = "server-address".to_string();
            diags.push(d)
        } else {
            diags.warning(source, raw.server_address.span(), "server-address", message)
        };
        d.set_hint(hint);
    }
}
