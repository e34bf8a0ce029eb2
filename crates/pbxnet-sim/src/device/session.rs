//! One running device: its state, the step recorder, the DHCP exchange and
//! the options every kind reads.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::Rng;

use crate::dhcp::{code, Backoff, ClientIdentity, DhcpClient, Lease};
use crate::net::Stack;
use crate::report::{DeviceReport, StepReport};
use crate::sntp::{self};
use crate::spec::{DeviceSpec, Kind, RunLimits};
use crate::wire::Mac;

use super::error::DeviceError;

/// DHCP identity of a device.
pub(super) fn identity(spec: &DeviceSpec, mac: Mac) -> ClientIdentity {
    match spec.kind {
        Kind::Audiocodes if spec.lync => ClientIdentity {
            mac,
            vendor_class: Some(b"MS-UC-Client".to_vec()),
            user_class: Some(spec.model.as_bytes().to_vec()),
            parameter_request: vec![1, 3, 6, 15, 42, 2, 43, 120],
            host_name: Some(format!("{}-{}", spec.model, hex_tail(&mac))),
            broadcast: false,
        },
        Kind::Audiocodes if spec.recovery => ClientIdentity {
            mac,
            vendor_class: Some(spec.model.as_bytes().to_vec()),
            user_class: Some(spec.model.as_bytes().to_vec()),
            parameter_request: vec![1, 3, 66, 67],
            host_name: None,
            broadcast: false,
        },
        Kind::Audiocodes => ClientIdentity {
            mac,
            vendor_class: Some(spec.model.as_bytes().to_vec()),
            user_class: Some(spec.model.as_bytes().to_vec()),
            // 66/67/160/42/2/120 as the seed lists, plus the usual basics.
            parameter_request: vec![1, 3, 6, 15, 28, 66, 67, 160, 42, 2, 120, 43],
            host_name: Some(format!("{}-{}", spec.model, hex_tail(&mac))),
            broadcast: false,
        },
        Kind::AlePhone => ClientIdentity {
            mac,
            vendor_class: Some(b"alcatel.noe.0".to_vec()),
            user_class: None,
            parameter_request: vec![1, 3, 6, 15, 42, 43, 66, 67],
            host_name: None,
            broadcast: false,
        },
        Kind::SipPhone => ClientIdentity {
            mac,
            vendor_class: Some(format!("SIP-{}", spec.model).into_bytes()),
            user_class: None,
            parameter_request: vec![1, 3, 6, 15, 42, 66, 67, 150],
            host_name: None,
            broadcast: false,
        },
        Kind::Omniswitch => ClientIdentity {
            mac,
            vendor_class: Some(format!("alcatel-lucent.omniswitch.{}", spec.model).into_bytes()),
            user_class: None,
            parameter_request: vec![1, 3, 6, 43, 66, 67, 150],
            host_name: None,
            broadcast: true,
        },
        Kind::Stellar => ClientIdentity {
            mac,
            vendor_class: Some(spec.model.as_bytes().to_vec()),
            user_class: None,
            parameter_request: vec![1, 3, 6, 15, 42, 43, 66, 67],
            host_name: None,
            broadcast: false,
        },
    }
}

fn hex_tail(mac: &Mac) -> String {
    format!("{:02x}{:02x}{:02x}", mac[3], mac[4], mac[5])
}

/// Decides from the first bytes of a file whether to stop the transfer.
pub(super) type HeaderCheck = dyn Fn(&[u8]) -> bool;

/// One running device.
pub(super) struct Device<'a> {
    pub(super) spec: &'a DeviceSpec,
    pub(super) mac: Mac,
    pub(super) stack: &'a Stack,
    pub(super) limits: RunLimits,
    pub(super) rng: StdRng,
    pub(super) deadline: Instant,
    pub(super) ip: Ipv4Addr,
    /// Prefix length of the leased subnet (for the device's TCP interface).
    pub(super) lease_prefix: Option<u8>,
    pub(super) report: DeviceReport,
}

impl Device<'_> {
    pub(super) fn step<T>(
        &mut self,
        name: &str,
        f: impl FnOnce(&mut Self) -> Result<(T, String), DeviceError>,
    ) -> Result<T, DeviceError> {
        let t = Instant::now();
        let r = f(self);
        let ms = sntp::millis(t.elapsed());
        match r {
            Ok((v, detail)) => {
                self.report.steps.push(StepReport {
                    name: name.into(),
                    ms,
                    ok: true,
                    detail,
                });
                Ok(v)
            }
            Err(e) => {
                self.report.steps.push(StepReport {
                    name: name.into(),
                    ms,
                    ok: false,
                    detail: e.to_string(),
                });
                Err(e)
            }
        }
    }

    pub(super) fn dhcp(&mut self) -> Result<Lease, DeviceError> {
        let backoff = if self.spec.recovery {
            // Recovery mode: a DISCOVER every ~5 s.
            Backoff {
                initial: Duration::from_secs(5),
                max: Duration::from_secs(5),
                jitter: Duration::from_millis(250),
                request_attempts: 2,
            }
        } else {
            Backoff {
                initial: Duration::from_millis(self.limits.dhcp_initial_ms),
                max: Duration::from_millis(self.limits.dhcp_initial_ms * 8),
                jitter: Duration::from_millis(self.limits.dhcp_initial_ms / 4),
                request_attempts: 4,
            }
        };
        let start = Instant::now();
        let mut c = DhcpClient::new(
            identity(self.spec, self.mac),
            backoff,
            self.rng.gen(),
            start,
        );
        let rx = self.stack.register_dhcp(c.xid());
        let result = loop {
            while let Some(p) = c.poll_transmit() {
                self.stack.send_dhcp(self.mac, &p)?;
            }
            if let Some(l) = c.lease() {
                break Ok(l.clone());
            }
            let now = Instant::now();
            if now >= self.deadline {
                break Err(DeviceError::NoLease(now - start, c.retransmissions));
            }
            let wake = c.poll_timeout().unwrap_or(self.deadline).min(self.deadline);
            match rx.recv_timeout(wake.saturating_duration_since(now)) {
                Ok(m) => {
                    if c.handle_message(m.at, &m.payload).is_ok() {
                        self.stack.learn(m.src_ip, m.src_mac);
                    }
                }
                Err(_) => c.handle_timeout(Instant::now()),
            }
        };
        self.stack.unregister_dhcp(c.xid());
        self.report.dhcp_retransmissions = c.retransmissions;
        self.report.dhcp_naks = c.naks;
        result
    }

    pub(super) fn time_server(&self, lease: &Lease) -> Result<Option<Ipv4Addr>, DeviceError> {
        // 42 beats 4.
        let o = &lease.options;
        let ntp = o.ip_list(code::NTP_SERVERS)?;
        if let Some(s) = ntp.first() {
            return Ok(Some(*s));
        }
        let time = o.ip_list(code::TIME_SERVERS)?;
        Ok(time.first().copied())
    }

    pub(super) fn tftp_server_66(&self, lease: &Lease) -> Result<Option<Ipv4Addr>, DeviceError> {
        match lease.options.text(code::TFTP_SERVER) {
            None => Ok(None),
            Some(t) => t
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| DeviceError::HostName {
                    option: code::TFTP_SERVER,
                    host: t,
                }),
        }
    }
}
