//! The inventory: devices built by applying events in order.
//!
//! `apply` is O(1) per event apart from a new device's insertion into the
//! ordered key set (O(log n), once per device): hash maps from MAC to
//! record and from address to lease holder, bounded lists per device.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::Ipv4Addr;

use serde::Serialize;

use crate::event::{
    Daemon, Envelope, Event, LicenseEvent, NtpRequestEvent, NtpSourceEvent, TransferEvent,
    UnixMillis,
};
use crate::mac::Mac;
use crate::record::{Device, FileFetch, NtpSeen};
use crate::vendor;
use crate::verdict::InventoryConfig;

/// Who holds an address: the device its last ACK went to, until expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Holder {
    pub(crate) mac: Mac,
    pub(crate) expires: Option<UnixMillis>,
}

/// A transfer or NTP request from an address no lease covered at the time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unattributed {
    /// When.
    pub at: UnixMillis,
    /// Publishing daemon.
    pub daemon: Daemon,
    /// The address.
    pub ip: Ipv4Addr,
    /// The file, for a transfer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// The site's devices and the site-wide state the events carry.
#[derive(Debug, Clone)]
pub struct Inventory {
    pub(crate) cfg: InventoryConfig,
    pub(crate) devices: HashMap<Mac, Device>,
    /// The same keys, ordered: the API's pagination order.
    pub(crate) order: BTreeSet<Mac>,
    pub(crate) holders: HashMap<Ipv4Addr, Holder>,
    pub(crate) unattributed_count: u64,
    pub(crate) unattributed: VecDeque<Unattributed>,
    pub(crate) events_applied: u64,
    pub(crate) events_lost: u64,
    /// Transfers and NTP requests no lease covered when applied, kept whole
    /// (bounded like `unattributed`) so that an ACK applied later but
    /// handled earlier by dhcpd can claim them: each daemon's stream is in
    /// order, but admind reads the four streams as the lines arrive, and a
    /// phone's NTP request can reach it before dhcpd's ACK line (seen in
    /// `make demo`: an ALE phone left `booting`).
    pub(crate) early: VecDeque<(UnixMillis, Daemon, Event)>,
    pub(crate) ntp_sources: BTreeMap<String, NtpSourceEvent>,
    pub(crate) license: Option<LicenseEvent>,
}

impl Inventory {
    /// An empty inventory.
    pub fn new(cfg: InventoryConfig) -> Self {
        Inventory {
            cfg,
            devices: HashMap::new(),
            order: BTreeSet::new(),
            holders: HashMap::new(),
            unattributed_count: 0,
            unattributed: VecDeque::new(),
            events_applied: 0,
            events_lost: 0,
            early: VecDeque::new(),
            ntp_sources: BTreeMap::new(),
            license: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &InventoryConfig {
        &self.cfg
    }

    /// Applies one event. Events must come in the order the daemons handled
    /// them (per daemon; across daemons by `at`): an address is mapped to the
    /// device holding its lease when the event is applied.
    pub fn apply(&mut self, e: &Envelope) {
        self.events_applied += 1;
        match &e.event {
            Event::Dhcp(d) => self.apply_dhcp(e.at, d),
            Event::Transfer(t) => self.apply_transfer(e.at, e.daemon, t),
            Event::NtpRequest(n) => self.apply_ntp_request(e.at, e.daemon, n),
            Event::NtpSource(s) => {
                self.ntp_sources.insert(s.source.clone(), s.clone());
            }
            Event::License(l) => self.license = Some(l.clone()),
            Event::Lost(l) => {
                // Not an event that happened on the site: the gap marker.
                self.events_applied -= 1;
                self.events_lost += l.count;
            }
        }
    }

    /// The record of a device.
    pub fn device(&self, mac: Mac) -> Option<&Device> {
        self.devices.get(&mac)
    }

    /// Number of devices.
    pub fn len(&self) -> usize {
        self.devices.len()
    }

    /// Whether there is no device.
    pub fn is_empty(&self) -> bool {
        self.devices.is_empty()
    }

    /// Transfers and NTP requests no lease accounted for (all counted).
    pub fn unattributed_count(&self) -> u64 {
        self.unattributed_count
    }

    /// The last unattributed events, oldest first.
    pub fn unattributed(&self) -> impl Iterator<Item = &Unattributed> {
        self.unattributed.iter()
    }

    /// Events applied since the start.
    pub fn events_applied(&self) -> u64 {
        self.events_applied
    }

    /// Events the publishers reported as not delivered (gaps in the stream:
    /// verdicts near a gap may be wrong, so this is shown, not hidden).
    pub fn events_lost(&self) -> u64 {
        self.events_lost
    }

    /// The device entry, created on first sight.
    pub(crate) fn entry(&mut self, mac: Mac, at: UnixMillis) -> &mut Device {
        if !self.devices.contains_key(&mac) {
            self.order.insert(mac);
        }
        let dev = self
            .devices
            .entry(mac)
            .or_insert_with(|| Device::new(mac, at));
        // Daemons publish independently: another's earlier event may come later.
        dev.first_seen = dev.first_seen.min(at);
        dev
    }

    /// The device holding `ip` at `at`, or the event is counted unattributed.
    fn attribute(
        &mut self,
        at: UnixMillis,
        daemon: Daemon,
        ip: Ipv4Addr,
        path: Option<&str>,
    ) -> Option<Mac> {
        let held = self
            .holders
            .get(&ip)
            .filter(|h| h.expires.is_none_or(|x| at < x))
            .map(|h| h.mac);
        if held.is_none() {
            self.unattributed_count += 1;
            if self.cfg.unattributed_kept > 0 {
                if self.unattributed.len() >= self.cfg.unattributed_kept {
                    self.unattributed.pop_front();
                }
                let path = path.map(str::to_string);
                self.unattributed.push_back(Unattributed {
                    at,
                    daemon,
                    ip,
                    path,
                });
            }
        }
        held
    }

    fn keep_early(&mut self, at: UnixMillis, daemon: Daemon, event: Event) {
        if self.cfg.unattributed_kept == 0 {
            return;
        }
        if self.early.len() >= self.cfg.unattributed_kept {
            self.early.pop_front();
        }
        self.early.push_back((at, daemon, event));
    }

    /// An ACK for `ip` handled at `ack_at` was just applied: the kept
    /// unattributed events from `ip` that happened at or after it belong to
    /// the new holder. They are applied again (and no longer counted as
    /// unattributed).
    pub(crate) fn reattribute_early(&mut self, ip: Ipv4Addr, ack_at: UnixMillis) {
        let from_ip = |e: &Event| match e {
            Event::Transfer(t) => t.client_ip == ip,
            Event::NtpRequest(n) => n.client_ip == ip,
            _ => false,
        };
        if !self
            .early
            .iter()
            .any(|(at, _, e)| *at >= ack_at && from_ip(e))
        {
            return;
        }
        let (claimed, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.early)
            .into_iter()
            .partition(|(at, _, e)| *at >= ack_at && from_ip(e));
        self.early = kept.into();
        for (at, daemon, event) in claimed {
            self.unattributed_count = self.unattributed_count.saturating_sub(1);
            if let Some(i) = self
                .unattributed
                .iter()
                .position(|u| u.at == at && u.ip == ip && u.daemon == daemon)
            {
                self.unattributed.remove(i);
            }
            match &event {
                Event::Transfer(t) => self.apply_transfer(at, daemon, t),
                Event::NtpRequest(n) => self.apply_ntp_request(at, daemon, n),
                _ => {}
            }
        }
    }

    fn apply_transfer(&mut self, at: UnixMillis, daemon: Daemon, t: &TransferEvent) {
        let Some(mac) = self.attribute(at, daemon, t.client_ip, Some(&t.path)) else {
            self.keep_early(at, daemon, Event::Transfer(t.clone()));
            return;
        };
        let chains = &self.cfg.chains;
        let keep = self.cfg.files_per_boot;
        let Some(dev) = self.devices.get_mut(&mac) else {
            return;
        };
        dev.last_contact = dev.last_contact.max(at);
        learn_identity(dev, t);
        let step = chains.step_of(dev.kind, mac, dev.boot_file.as_deref(), &t.path);
        let required = chains.required(dev.kind);
        let Some(boot) = dev.boots.back_mut() else {
            return;
        };
        let fetch = FileFetch {
            at,
            path: t.path.clone(),
            protocol: t.protocol,
            bytes: t.bytes,
            outcome: t.outcome,
            step,
        };
        boot.record_fetch(fetch, keep);
        boot.check_complete(required, at);
    }

    fn apply_ntp_request(&mut self, at: UnixMillis, daemon: Daemon, n: &NtpRequestEvent) {
        let Some(mac) = self.attribute(at, daemon, n.client_ip, None) else {
            self.keep_early(at, daemon, Event::NtpRequest(n.clone()));
            return;
        };
        let Some(dev) = self.devices.get_mut(&mac) else {
            return;
        };
        dev.last_contact = dev.last_contact.max(at);
        dev.last_ntp = Some(NtpSeen {
            at,
            version: n.version,
            key_id: n.key_id,
            auth: n.auth,
            kod: n.kod.clone(),
        });
        if let Some(boot) = dev.boots.back_mut().filter(|b| b.leased.is_some()) {
            boot.first_ntp.get_or_insert(at);
        }
    }
}

/// Model and firmware from a transfer: the User-Agent names the running
/// firmware (it wins); an image name names a model only when none is known
/// yet (the site's `400HD.img` is a family), and a firmware only when the
/// image was fetched whole (an aborted read means the phone kept its own).
fn learn_identity(dev: &mut Device, t: &TransferEvent) {
    if let Some((fw, model)) = t.user_agent.as_deref().and_then(vendor::from_user_agent) {
        dev.firmware = Some(fw);
        if model.is_some() {
            dev.model = model;
        }
    }
    if let Some((model, fw)) = vendor::from_image_name(&t.path) {
        dev.model.get_or_insert(model);
        if let (Some(fw), crate::event::Outcome::Ok) = (fw, t.outcome) {
            if t.user_agent.is_none() {
                dev.firmware = Some(fw);
            }
        }
    }
}
