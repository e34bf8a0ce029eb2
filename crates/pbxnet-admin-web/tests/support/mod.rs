//! A [`SiteData`] for tests: an inventory fed with events in the schema the
//! daemons publish (JSON lines), a settable clock, two users, and daemon
//! answers derived from the same events (leases and pool use from the
//! inventory's bound leases; a release applies the RELEASE event dhcpd
//! publishes). ntpd and licd can be made unreachable to test those pages.

#![allow(dead_code, unreachable_pub)]

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use pbxnet_admin_web::{
    ActionError, ClientRow, LeaseRow, LicenseView, PoolUsage, Role, SiteData, SourceRow, Tracking,
    Unreachable,
};
use pbxnet_inventory::{
    DeviceFilter, Envelope, Inventory, InventoryConfig, LeaseState, UnixMillis, MAX_PAGE,
};
use tokio::sync::broadcast;

pub const T0: UnixMillis = 1_796_524_521_000;

pub struct TestSite {
    pub inv: Mutex<Inventory>,
    pub now: AtomicU64,
    pub ntpd_up: AtomicBool,
    pub recent: Mutex<Vec<Envelope>>,
    pub live: broadcast::Sender<Arc<Envelope>>,
    /// The pool 192.168.92.10–.13 (4 addresses: 3 leased is 75 %).
    pub pool_size: u64,
}

pub fn line(at: UnixMillis, daemon: &str, event: &str) -> Envelope {
    Envelope::from_json_line(&format!(
        r#"{{"v":1,"daemon":"{daemon}","at":{at},"event":{event}}}"#
    ))
    .expect("schema event")
}

pub fn dhcp(at: UnixMillis, msg: &str, mac: &str, ip: &str, vc: &str, host: &str) -> Envelope {
    let expires = at + 3_600_000;
    line(
        at,
        "dhcpd",
        &format!(
            r#"{{"type":"dhcp","message":"{msg}","mac":"{mac}","ip":"{ip}","vendor_class":"{vc}","hostname":"{host}","class":"infra","profile":"infra-{host}","lease_expires":{expires}}}"#
        ),
    )
}

pub fn fetch(at: UnixMillis, ip: &str, path: &str, outcome: &str) -> Envelope {
    line(
        at,
        "tftpd",
        &format!(
            r#"{{"type":"transfer","client_ip":"{ip}","path":"{path}","protocol":"tftp","bytes":2048,"outcome":"{outcome}"}}"#
        ),
    )
}

/// Three devices: a provisioned Stellar AP, an OmniSwitch stuck after its
/// lease, an OmniSwitch whose os_conf is missing.
pub fn site_events() -> Vec<Envelope> {
    let t = T0;
    let sw = "alcatel-lucent.omniswitch.OS6860";
    vec![
        dhcp(
            t,
            "discover",
            "34:e7:0b:00:00:01",
            "192.168.92.10",
            "OAW-AP1221",
            "ap-hall",
        ),
        dhcp(
            t + 5,
            "ack",
            "34:e7:0b:00:00:01",
            "192.168.92.10",
            "OAW-AP1221",
            "ap-hall",
        ),
        fetch(t + 100, "192.168.92.10", "hap_instruction.ini", "ok"),
        fetch(t + 200, "192.168.92.10", "hap_conf.ini", "ok"),
        line(
            t + 300,
            "ntpd",
            r#"{"type":"ntp-request","client_ip":"192.168.92.10","version":4,"auth":"none"}"#,
        ),
        dhcp(
            t,
            "discover",
            "00:e0:b1:00:00:02",
            "192.168.92.11",
            sw,
            "sw-core",
        ),
        dhcp(
            t + 5,
            "ack",
            "00:e0:b1:00:00:02",
            "192.168.92.11",
            sw,
            "sw-core",
        ),
        fetch(t + 100, "192.168.92.11", "os_ins.alu", "ok"),
        dhcp(
            t,
            "discover",
            "00:e0:b1:00:00:03",
            "192.168.92.12",
            sw,
            "sw-edge",
        ),
        dhcp(
            t + 5,
            "ack",
            "00:e0:b1:00:00:03",
            "192.168.92.12",
            sw,
            "sw-edge",
        ),
        fetch(t + 100, "192.168.92.12", "os_ins.alu", "ok"),
        fetch(t + 200, "192.168.92.12", "os_conf", "not-found"),
    ]
}

impl TestSite {
    pub fn new(events: &[Envelope]) -> Arc<TestSite> {
        let site = Arc::new(TestSite {
            inv: Mutex::new(Inventory::new(InventoryConfig::default())),
            now: AtomicU64::new(T0 + 600_000),
            ntpd_up: AtomicBool::new(true),
            recent: Mutex::new(Vec::new()),
            live: broadcast::channel(64).0,
            pool_size: 4,
        });
        for e in events {
            site.apply(e.clone());
        }
        site
    }

    pub fn apply(&self, e: Envelope) {
        self.inv.lock().unwrap().apply(&e);
        self.recent.lock().unwrap().push(e.clone());
        let _ = self.live.send(Arc::new(e));
    }

    fn unreachable(daemon: &str) -> Unreachable {
        Unreachable {
            daemon: daemon.into(),
            reason: "connection refused".into(),
        }
    }

    fn bound_leases(&self) -> Vec<LeaseRow> {
        let now = self.now();
        let inv = self.inv.lock().unwrap();
        let page = inv
            .devices(&DeviceFilter::default(), None, MAX_PAGE, now)
            .unwrap();
        page.devices
            .iter()
            .filter_map(|s| inv.device(s.mac))
            .filter_map(|d| {
                let l = d.lease.as_ref()?;
                (l.state_at(now) == LeaseState::Bound).then(|| LeaseRow {
                    ip: l.ip,
                    mac: d.mac,
                    hostname: d.hostname.clone(),
                    state: "bound".into(),
                    expires: l.expires,
                    class: d.class.clone(),
                })
            })
            .collect()
    }
}

impl SiteData for TestSite {
    fn now(&self) -> UnixMillis {
        self.now.load(Ordering::SeqCst)
    }

    fn with_inventory<R>(&self, f: impl FnOnce(&Inventory) -> R) -> R {
        f(&self.inv.lock().unwrap())
    }

    async fn authenticate(&self, user: &str, password: &str) -> Option<Role> {
        match (user, password) {
            ("anna", "correct horse") => Some(Role::Admin),
            ("rita", "read only please") => Some(Role::Read),
            _ => None,
        }
    }

    async fn pools(&self) -> Result<Vec<PoolUsage>, Unreachable> {
        let used = self.bound_leases().len() as u64;
        Ok(vec![
            PoolUsage {
                name: "192.168.92.10-192.168.92.13".into(),
                used,
                total: self.pool_size,
            },
            PoolUsage {
                name: "10.1.0.10-10.1.0.19".into(),
                used: 10,
                total: 10,
            },
        ])
    }

    async fn leases(&self) -> Result<Vec<LeaseRow>, Unreachable> {
        Ok(self.bound_leases())
    }

    async fn tracking(&self) -> Result<Tracking, Unreachable> {
        if !self.ntpd_up.load(Ordering::SeqCst) {
            return Err(Self::unreachable("pbxnet-ntpd"));
        }
        Ok(Tracking {
            synchronized: true,
            stratum: 3,
            selected: Some("192.168.92.1".into()),
            offset_s: Some(0.000_123),
            last_sync: Some(self.now() - 30_000),
            leap: "normal".into(),
        })
    }

    async fn sources(&self) -> Result<Vec<SourceRow>, Unreachable> {
        if !self.ntpd_up.load(Ordering::SeqCst) {
            return Err(Self::unreachable("pbxnet-ntpd"));
        }
        Ok(vec![SourceRow {
            name: "192.168.92.1".into(),
            state: "selected".into(),
            stratum: Some(2),
            offset_s: Some(0.000_2),
            delay_s: Some(0.000_4),
        }])
    }

    async fn clients(&self) -> Result<Vec<ClientRow>, Unreachable> {
        if !self.ntpd_up.load(Ordering::SeqCst) {
            return Err(Self::unreachable("pbxnet-ntpd"));
        }
        Ok(vec![ClientRow {
            ip: Ipv4Addr::new(192, 168, 92, 10),
            mac: None,
            requests: 1,
            dropped: 0,
            last_s: 4.0,
        }])
    }

    async fn license(&self) -> Result<LicenseView, Unreachable> {
        Err(Self::unreachable("pbxnet-licd"))
    }

    async fn release_lease(&self, ip: Ipv4Addr, _user: &str) -> Result<(), ActionError> {
        let holder = self.bound_leases().into_iter().find(|l| l.ip == ip);
        let Some(l) = holder else {
            return Err(ActionError::Refused(format!("no lease of {ip}")));
        };
        let mac = l.mac.to_string();
        let ev = line(
            self.now(),
            "dhcpd",
            &format!(r#"{{"type":"dhcp","message":"release","mac":"{mac}","ip":"{ip}"}}"#),
        );
        self.apply(ev);
        Ok(())
    }

    fn recent_events(&self, n: usize) -> Vec<Envelope> {
        self.recent
            .lock()
            .unwrap()
            .iter()
            .rev()
            .take(n)
            .cloned()
            .collect()
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<Envelope>> {
        self.live.subscribe()
    }
}
