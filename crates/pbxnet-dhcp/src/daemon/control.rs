//! The control socket's requests and answers, the views `status` and
//! `leases` show, and the daemon's side: answering from the core.

use std::net::Ipv4Addr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use pbxnet_runtime::events::{EventCounters, Events};

use super::clock::now_ms;
use super::sockets::Port;
use super::store::Store;
use crate::server::Server;
use crate::{Counters, DropReason, Lease, LeaseStore, PoolUsage};

/// Daemon name (and control socket file name).
pub(super) const NAME: &str = "pbxnet-dhcpd";

/// A MAC address as the views show it.
pub(super) fn mac_str(m: [u8; 6]) -> String {
    pbxnet_config::MacAddr(m).to_string()
}

/// A control-socket request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum CtlRequest {
    /// Every lease.
    Leases,
    /// Counters and pool usage.
    Status,
    /// Release the lease of an IP or MAC.
    Release(String),
}

/// One lease as shown by `leases`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LeaseView {
    /// MAC.
    pub mac: String,
    /// Address.
    pub ip: Ipv4Addr,
    /// State.
    pub state: String,
    /// Unix seconds.
    pub expires: u64,
    /// Class.
    pub class: String,
    /// Option profile of the class (current configuration).
    pub profile: String,
    /// Option 60.
    pub vendor_class: String,
    /// Option 12.
    pub hostname: String,
}

/// What `status` shows: every number under its name (the counters
/// serialize as named objects, see [`crate::NamedCounters`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatusView {
    /// Version.
    pub version: String,
    /// Seconds since start.
    pub uptime: u64,
    /// Messages received and sent by type, drops by reason, and the rest.
    pub counters: Counters,
    /// Pool usage.
    pub pools: Vec<PoolUsage>,
    /// Reply pacing, all interfaces together.
    #[serde(default)]
    pub pacing: PacingView,
    /// The event socket: subscribers, events published, lines dropped.
    #[serde(default)]
    pub events: EventCounters,
    /// The shared lease store (PostgreSQL): connection state, offline
    /// queue, replay progress, conflicts. Absent for SQLite.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_store: Option<super::store::pg::LeaseStoreStatus>,
}

/// Reply pacing counters (`status`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PacingView {
    /// Replies that waited for their destination's pace.
    pub delayed: u64,
    /// Replies dropped on a full pacing queue.
    pub dropped: u64,
    /// Replies waiting now.
    pub held: u64,
}

/// A control-socket response.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum CtlResponse {
    /// Leases.
    Leases(Vec<LeaseView>),
    /// Status.
    Status(Box<StatusView>),
    /// Addresses released.
    Released(Vec<Ipv4Addr>),
    /// Refused.
    Error(String),
}

/// `status` as text.
pub(super) fn render_status(s: &StatusView) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(out, "version {}  uptime {}s", s.version, s.uptime);
    let c = crate::NamedCounters::from(s.counters.clone());
    for ((name, received), (_, sent)) in c.received.named().into_iter().zip(c.sent.named()) {
        let _ = writeln!(out, "{name:>10}: received {received:>10}  sent {sent:>10}");
    }
    for d in DropReason::ALL {
        let _ = writeln!(
            out,
            "dropped {}: {}",
            d.label(),
            s.counters.dropped[d as usize]
        );
    }
    let _ = writeln!(
        out,
        "replies overloaded (option 52): {}  with options left out: {}",
        c.overloaded_replies, c.truncated_replies
    );
    let _ = writeln!(
        out,
        "declined addresses: {}  conflicts found by the probe: {}",
        c.declines, c.conflicts
    );
    for p in &s.pools {
        let _ = writeln!(out, "pool {}: {}/{}", p.pool, p.used, p.size);
    }
    if let Some(ls) = &s.lease_store {
        let _ = writeln!(out, "{}", ls.line());
    }
    let _ = writeln!(
        out,
        "paced replies: delayed {}  dropped {}  waiting {}",
        s.pacing.delayed, s.pacing.dropped, s.pacing.held
    );
    let _ = writeln!(out, "events: {}", s.events);
    out
}

/// A lease as shown; its class's profile from `cfg` (empty without one).
pub(super) fn view(cfg: Option<&crate::ServerConfig>, l: &Lease) -> LeaseView {
    let profile = cfg
        .and_then(|cfg| {
            let c = cfg.classes.iter().find(|c| *c.name == *l.class)?;
            Some(cfg.profiles[c.profile].name.clone())
        })
        .unwrap_or_default();
    LeaseView {
        profile,
        mac: mac_str(l.mac),
        ip: l.ip,
        state: l.state.as_str().to_string(),
        expires: l.expires,
        class: l.class.to_string(),
        vendor_class: l.vendor_class.to_string(),
        hostname: l.hostname.to_string(),
    }
}

pub(super) fn control(
    s: &mut Server<Store>,
    ports: &[Arc<Port>],
    req: CtlRequest,
    started: u64,
    events: &Events,
) -> CtlResponse {
    let now = now_ms();
    match req {
        CtlRequest::Leases => CtlResponse::Leases(
            s.store()
                .all()
                .into_iter()
                .map(|l| view(Some(s.config()), l))
                .collect(),
        ),
        CtlRequest::Status => {
            let c = s.counters().clone();
            CtlResponse::Status(Box::new(StatusView {
                version: env!("CARGO_PKG_VERSION").to_string(),
                uptime: (now - started) / 1000,
                counters: c,
                pools: s.pool_usage(now / 1000),
                pacing: ports.iter().fold(PacingView::default(), |mut v, p| {
                    let pace = p.pace.lock().expect("pacer lock");
                    let c = pace.counters();
                    v.delayed += c.delayed;
                    v.dropped += c.dropped;
                    v.held += pace.held() as u64;
                    v
                }),
                events: events.counters(),
                lease_store: s.store().status(),
            }))
        }
        CtlRequest::Release(target) => {
            let ips: Vec<Ipv4Addr> = if let Ok(ip) = target.parse::<Ipv4Addr>() {
                vec![ip]
            } else if let Ok(mac) = target.parse::<pbxnet_config::MacAddr>() {
                s.store()
                    .all()
                    .into_iter()
                    .filter(|l| l.mac == mac.0)
                    .map(|l| l.ip)
                    .collect()
            } else {
                return CtlResponse::Error(format!(
                    "`{target}` is neither an IPv4 address nor a MAC address"
                ));
            };
            let mut done = Vec::new();
            let mut macs = Vec::new();
            for ip in ips {
                if let Some(lease) = s.store_mut().remove(ip) {
                    done.push(ip);
                    macs.push(lease.mac);
                }
            }
            if let Err(e) = s.store_mut().commit() {
                return CtlResponse::Error(format!("lease store: {e}"));
            }
            if done.is_empty() {
                return CtlResponse::Error(format!("no lease for {target}"));
            }
            tracing::info!(released = ?done, "leases released by operator");
            // Subscribers see the lease end as if the device had released it.
            for (&ip, &mac) in done.iter().zip(&macs) {
                events.publish_at(now, || operator_release(mac, ip));
            }
            CtlResponse::Released(done)
        }
    }
}

/// The event of a lease the operator released.
fn operator_release(mac: [u8; 6], ip: Ipv4Addr) -> pbxnet_inventory::Event {
    pbxnet_inventory::Event::Dhcp(pbxnet_inventory::DhcpEvent {
        message: pbxnet_inventory::DhcpMessage::Release,
        mac: pbxnet_inventory::Mac(mac),
        ip: Some(ip),
        vendor_class: None,
        user_class: None,
        parameter_request: Vec::new(),
        hostname: None,
        relay: None,
        class: None,
        profile: None,
        boot_file: None,
        lease_expires: None,
    })
}
