//! The web view (crate pbxnet-admin-web) mounted in admind: [`AdminSite`]
//! answers the view's questions from admind's own state (the inventory,
//! the users of admin.toml, the daemons' control sockets through
//! [`crate::sources`]) so the pages and the JSON API show the same data.

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};

use pbxnet_admin_web::{
    ActionError, ClientRow, LeaseRow, LicenseView, PoolUsage, Role, ServiceRow, SiteData,
    SourceRow, Tracking, Unreachable,
};
use pbxnet_inventory::{Envelope, Inventory, Mac, UnixMillis};
use serde_json::Value;
use tokio::sync::broadcast;

use crate::api::{now_ms, AppState};
use crate::auth::{self, verify_password};
use crate::sources::{self, SourceError};

/// Events the site page's list starts with.
const RECENT_KEPT: usize = 20;

/// admind as the web view sees it.
#[derive(Debug, Clone)]
pub struct AdminSite {
    state: AppState,
    /// The last events (newest last), kept from the live stream.
    recent: Arc<Mutex<VecDeque<Arc<Envelope>>>>,
}

impl AdminSite {
    /// Wraps admind's state and starts keeping the last events (a task
    /// on the current runtime, ending with it).
    pub fn new(state: AppState) -> AdminSite {
        let recent = Arc::new(Mutex::new(VecDeque::with_capacity(RECENT_KEPT)));
        let mut rx = state.live.subscribe();
        let keep = recent.clone();
        tokio::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(e) => {
                        let mut r = keep.lock().unwrap_or_else(|p| p.into_inner());
                        if r.len() == RECENT_KEPT {
                            r.pop_front();
                        }
                        r.push_back(e);
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
        });
        AdminSite { state, recent }
    }
}

fn unreachable(e: SourceError) -> Unreachable {
    let (daemon, reason) = match e {
        SourceError::Unreachable(d, why) => (d, why),
        SourceError::Answer(d, why) => (d, format!("answer not understood: {why}")),
    };
    Unreachable {
        daemon: crate::names::binary_name(daemon).to_string(),
        reason,
    }
}

fn role(r: auth::Role) -> Role {
    match r {
        auth::Role::Read => Role::Read,
        auth::Role::Admin => Role::Admin,
    }
}

/// Tracking from ntpd's status snapshot.
fn tracking(v: &Value) -> Tracking {
    let client = &v["client"];
    let selected = client["sources"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["selected"].as_bool() == Some(true))
        .and_then(|s| s["address"].as_str())
        .map(str::to_string);
    let last_sync = client["since_last_sync_s"]
        .as_f64()
        .map(|s| now_ms().saturating_sub((s * 1000.0) as u64))
        .or_else(|| {
            v["reference_time_unix"]
                .as_f64()
                .map(|t| (t * 1000.0) as u64)
        });
    Tracking {
        synchronized: v["synchronized"].as_bool().unwrap_or(false),
        stratum: v["stratum"].as_u64().unwrap_or(16).min(16) as u8,
        selected,
        offset_s: client["system_offset_s"].as_f64(),
        last_sync,
        leap: v["leap"].as_str().unwrap_or("unknown").to_string(),
    }
}

fn source_rows(v: &Value) -> Vec<SourceRow> {
    v["client"]["sources"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| SourceRow {
            name: s["address"].as_str().unwrap_or_default().to_string(),
            state: s["state"].as_str().unwrap_or_default().to_string(),
            stratum: s["stratum"].as_u64().map(|x| x.min(16) as u8),
            offset_s: s["offset_s"].as_f64(),
            delay_s: s["delay_s"].as_f64(),
        })
        .collect()
}

fn client_rows(v: &Value) -> Vec<ClientRow> {
    v["clients"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| {
            Some(ClientRow {
                ip: c["address"].as_str()?.parse().ok()?,
                mac: None,
                requests: c["requests"].as_u64().unwrap_or(0),
                dropped: c["dropped"].as_u64().unwrap_or(0),
                last_s: c["last_s"].as_f64().unwrap_or(0.0),
            })
        })
        .collect()
}

/// The licence view from licd's status (kebab-case keys; the main key's
/// services are the table).
fn license_view(v: &Value) -> LicenseView {
    let field = |o: &Value, k: &str| o.get(k).or_else(|| o.get(k.replace('-', "_"))).cloned();
    let main = v["keys"].get(0).cloned().unwrap_or(Value::Null);
    let grace_until = field(&main, "grace-until").and_then(|g| g.as_str().map(str::to_string));
    let days_left = grace_until.as_deref().and_then(days_until);
    let services = main["services"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| ServiceRow {
            name: s["name"].as_str().unwrap_or_default().to_string(),
            authorized: s["authorized"].as_u64().unwrap_or(0) as u32,
            activated: s["activated"].as_u64().unwrap_or(0) as u32,
        })
        .collect();
    LicenseView {
        mode: field(v, "system-mode")
            .and_then(|m| m.as_str().map(str::to_string))
            .unwrap_or_else(|| "unknown".into()),
        days_left,
        services,
    }
}

/// Whole days from now to a `YYYY-MM-DD` date (0 once it is past).
fn days_until(date: &str) -> Option<u32> {
    let mut parts = date.get(..10)?.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, d) = (parts.next()??, parts.next()??, parts.next()??);
    // Days from civil (Howard Hinnant), the inverse of the view's formatter.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let today = (now_ms() / 86_400_000) as i64;
    Some((days - today).max(0) as u32)
}

impl SiteData for AdminSite {
    fn now(&self) -> UnixMillis {
        now_ms()
    }

    fn with_inventory<R>(&self, f: impl FnOnce(&Inventory) -> R) -> R {
        f(&self
            .state
            .inventory
            .read()
            .unwrap_or_else(|p| p.into_inner()))
    }

    async fn authenticate(&self, user: &str, password: &str) -> Option<Role> {
        let cfg = self.state.config();
        let entry = cfg
            .credentials
            .users
            .iter()
            .find(|u| u.name == user)?
            .clone();
        let password = password.to_string();
        // Argon2 takes tens of milliseconds by design: off the serving thread.
        let ok = tokio::task::spawn_blocking(move || verify_password(&entry.phc, &password))
            .await
            .unwrap_or(false);
        ok.then_some(role(entry.role))
    }

    async fn pools(&self) -> Result<Vec<PoolUsage>, Unreachable> {
        let pools = sources::pools(&self.state.config())
            .await
            .map_err(unreachable)?;
        Ok(pools
            .into_iter()
            .map(|p| PoolUsage {
                name: p.pool,
                used: u64::from(p.used),
                total: u64::from(p.size),
            })
            .collect())
    }

    async fn leases(&self) -> Result<Vec<LeaseRow>, Unreachable> {
        let leases = sources::leases(&self.state.config())
            .await
            .map_err(unreachable)?;
        Ok(leases
            .into_iter()
            .filter_map(|l| {
                Some(LeaseRow {
                    ip: l.ip,
                    mac: l.mac.parse::<Mac>().ok()?,
                    hostname: Some(l.hostname).filter(|h| !h.is_empty()),
                    state: l.state,
                    expires: (l.expires > 0).then(|| l.expires * 1000),
                    class: Some(l.class).filter(|c| !c.is_empty()),
                })
            })
            .collect())
    }

    async fn tracking(&self) -> Result<Tracking, Unreachable> {
        let v = sources::ntp_status(&self.state.config())
            .await
            .map_err(unreachable)?;
        Ok(tracking(&v))
    }

    async fn sources(&self) -> Result<Vec<SourceRow>, Unreachable> {
        let v = sources::ntp_status(&self.state.config())
            .await
            .map_err(unreachable)?;
        Ok(source_rows(&v))
    }

    async fn clients(&self) -> Result<Vec<ClientRow>, Unreachable> {
        let v = sources::ntp_clients(&self.state.config())
            .await
            .map_err(unreachable)?;
        Ok(client_rows(&v))
    }

    async fn license(&self) -> Result<LicenseView, Unreachable> {
        let v = sources::license(&self.state.config())
            .await
            .map_err(unreachable)?;
        Ok(license_view(&v))
    }

    async fn release_lease(&self, ip: Ipv4Addr, user: &str) -> Result<(), ActionError> {
        match sources::release(&self.state.config(), &ip.to_string()).await {
            Ok(released) => {
                tracing::info!(who = %user, %ip, released = ?released, "lease released through the web view");
                Ok(())
            }
            Err(SourceError::Answer(_, why)) => Err(ActionError::Refused(why)),
            Err(e) => Err(ActionError::Unreachable(unreachable(e))),
        }
    }

    fn recent_events(&self, n: usize) -> Vec<Envelope> {
        let r = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        r.iter().rev().take(n).map(|e| (**e).clone()).collect()
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<Envelope>> {
        self.state.live.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn ntpd_status_reads_as_tracking_and_sources() {
        let v = json!({
            "synchronized": true, "stratum": 3, "leap": "normal", "refid": "192.168.92.1",
            "client": { "system_offset_s": -0.0002, "since_last_sync_s": 12.0, "sources": [
                { "address": "192.168.92.1", "state": "selected", "selected": true, "stratum": 2,
                  "offset_s": 0.0001, "delay_s": 0.0004 },
                { "address": "192.168.92.2", "state": "unreachable", "selected": false }
            ]}
        });
        let t = tracking(&v);
        assert_eq!(t.selected.as_deref(), Some("192.168.92.1"));
        assert_eq!((t.stratum, t.synchronized), (3, true));
        assert_eq!(t.offset_s, Some(-0.0002));
        assert!(t.last_sync.unwrap() <= now_ms() - 12_000);
        let s = source_rows(&v);
        assert_eq!(s.len(), 2);
        assert_eq!(s[1].state, "unreachable");
        assert_eq!(s[1].stratum, None);
    }

    #[test]
    fn licd_status_reads_as_mode_and_services() {
        let v = json!({
            "system-mode": "grace",
            "keys": [{ "grace-until": "2999-01-01", "services": [
                { "name": "SIP users", "authorized": 50, "activated": 12 }
            ]}]
        });
        let l = license_view(&v);
        assert_eq!(l.mode, "grace");
        assert!(l.days_left.unwrap() > 300_000);
        assert_eq!(l.services[0].activated, 12);
        assert_eq!(days_until("1970-01-02"), Some(0));
    }
}
