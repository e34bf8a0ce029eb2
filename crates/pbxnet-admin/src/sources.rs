//! What admind asks the daemons' control sockets, each answer unwrapped
//! from the daemon's own envelope: dhcpd's leases, pool usage and release,
//! ntpd's status and clients, licd's status. An answer that does not have
//! the expected shape is an error naming the daemon, like no answer.

use std::net::Ipv4Addr;

use pbxnet_inventory::Daemon;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::config::AdminConfig;
use crate::control_client::ask;

/// Why a daemon's state is not available.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceError {
    /// No answer (down, socket missing, timeout).
    Unreachable(Daemon, String),
    /// An answer admind does not understand, or a refusal.
    Answer(Daemon, String),
}

impl std::fmt::Display for SourceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SourceError::Unreachable(d, why) => {
                write!(f, "{} is unreachable: {why}", crate::names::short_name(*d))
            }
            SourceError::Answer(d, why) => write!(f, "{}: {why}", crate::names::short_name(*d)),
        }
    }
}

async fn call(cfg: &AdminConfig, daemon: Daemon, request: Value) -> Result<Value, SourceError> {
    ask(&cfg.sockets(daemon).control, &request, cfg.timeout)
        .await
        .map_err(|e| SourceError::Unreachable(daemon, e.0))
}

/// The value under `key` of an externally tagged answer (`{"Leases": …}`).
fn unwrap_tag(daemon: Daemon, mut answer: Value, key: &str) -> Result<Value, SourceError> {
    if let Some(message) = answer.get("Error").and_then(Value::as_str) {
        return Err(SourceError::Answer(daemon, message.to_string()));
    }
    answer
        .get_mut(key)
        .map(Value::take)
        .ok_or_else(|| SourceError::Answer(daemon, format!("expected `{key}` in the answer")))
}

/// One lease as dhcpd's `leases` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DhcpLease {
    /// MAC.
    pub mac: String,
    /// Address.
    pub ip: Ipv4Addr,
    /// State (`bound`, `offered`, …).
    pub state: String,
    /// Unix seconds.
    pub expires: u64,
    /// Class.
    #[serde(default)]
    pub class: String,
    /// Profile.
    #[serde(default)]
    pub profile: String,
    /// Option 60.
    #[serde(default)]
    pub vendor_class: String,
    /// Option 12.
    #[serde(default)]
    pub hostname: String,
}

/// One pool's use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolUse {
    /// Pool name.
    pub pool: String,
    /// Addresses in use.
    pub used: u32,
    /// Size.
    pub size: u32,
}

/// dhcpd's leases.
pub async fn leases(cfg: &AdminConfig) -> Result<Vec<DhcpLease>, SourceError> {
    let v = unwrap_tag(
        Daemon::Dhcpd,
        call(cfg, Daemon::Dhcpd, json!("Leases")).await?,
        "Leases",
    )?;
    serde_json::from_value(v).map_err(|e| SourceError::Answer(Daemon::Dhcpd, e.to_string()))
}

/// dhcpd's pool usage.
pub async fn pools(cfg: &AdminConfig) -> Result<Vec<PoolUse>, SourceError> {
    let mut v = unwrap_tag(
        Daemon::Dhcpd,
        call(cfg, Daemon::Dhcpd, json!("Status")).await?,
        "Status",
    )?;
    serde_json::from_value(v["pools"].take())
        .map_err(|e| SourceError::Answer(Daemon::Dhcpd, e.to_string()))
}

/// Releases the lease(s) of an address or a MAC: the addresses released.
pub async fn release(cfg: &AdminConfig, target: &str) -> Result<Vec<Ipv4Addr>, SourceError> {
    let v = unwrap_tag(
        Daemon::Dhcpd,
        call(cfg, Daemon::Dhcpd, json!({ "Release": target })).await?,
        "Released",
    )?;
    serde_json::from_value(v).map_err(|e| SourceError::Answer(Daemon::Dhcpd, e.to_string()))
}

/// ntpd's status snapshot (server and client side).
pub async fn ntp_status(cfg: &AdminConfig) -> Result<Value, SourceError> {
    unwrap_tag(
        Daemon::Ntpd,
        call(cfg, Daemon::Ntpd, json!({"command": "status"})).await?,
        "status",
    )
}

/// ntpd's clients table.
pub async fn ntp_clients(cfg: &AdminConfig) -> Result<Value, SourceError> {
    unwrap_tag(
        Daemon::Ntpd,
        call(cfg, Daemon::Ntpd, json!({"command": "clients"})).await?,
        "clients",
    )
}

/// licd's status.
pub async fn license(cfg: &AdminConfig) -> Result<Value, SourceError> {
    let v = call(cfg, Daemon::Licd, json!({"cmd": "status"})).await?;
    if v.get("system-mode").is_none() {
        return Err(SourceError::Answer(
            Daemon::Licd,
            "expected `system-mode` in the answer".into(),
        ));
    }
    Ok(v)
}
