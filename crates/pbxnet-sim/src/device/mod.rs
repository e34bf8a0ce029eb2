//! The simulated devices: what each kind puts in its DHCP requests and what
//! it does with the answer, driven over the shared [`Stack`].
//!
//! One file per job: `session` (the device's state, step recorder, DHCP),
//! `transfer` (TFTP and SNTP), `fetch` (a file by TFTP, HTTP or HTTPS), `audiocodes` and `kinds` (what each kind
//! does with its lease), `error` (how a step fails).

mod audiocodes;
mod error;
mod fetch;
mod kinds;
mod session;
mod transfer;

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::dhcp::{code, Lease};
use crate::net::Stack;
use crate::report::DeviceReport;
use crate::sntp::{self};
use crate::spec::{DeviceSpec, Kind, RunLimits};
use crate::wire::Mac;

use error::DeviceError;
use session::Device;

/// Powers the device on at `start` and runs it to its end.
pub(crate) fn run_device(
    stack: &Stack,
    spec: &DeviceSpec,
    limits: RunLimits,
    seed: u64,
    fleet_start: Instant,
) -> DeviceReport {
    let mac = provision_mac(spec);
    let mut report = DeviceReport::new(spec);
    let Some(mac) = mac else {
        report.fail("bad MAC address in the fleet spec", 0.0);
        return report;
    };
    let power_on = fleet_start + Duration::from_millis(spec.power_on_ms);
    let now = Instant::now();
    if power_on > now {
        std::thread::sleep(power_on - now);
    }
    let t0 = Instant::now();
    let mut d = Device {
        spec,
        mac,
        stack,
        limits,
        rng: StdRng::seed_from_u64(seed),
        deadline: t0 + Duration::from_secs(limits.deadline_s),
        ip: Ipv4Addr::UNSPECIFIED,
        lease_prefix: None,
        report,
    };
    d.report.power_on_ms = sntp::millis(t0 - fleet_start);
    let r = d.run();
    let total = sntp::millis(t0.elapsed());
    if let Err(e) = r {
        d.report.fail(&e.to_string(), total);
    } else {
        d.report.ok = true;
        d.report.total_ms = total;
    }
    if !d.ip.is_unspecified() {
        d.report.ip = Some(d.ip.to_string());
    }
    d.report
}

fn provision_mac(spec: &DeviceSpec) -> Option<Mac> {
    crate::wire::parse_mac(&spec.mac)
}

impl Device<'_> {
    fn run(&mut self) -> Result<(), DeviceError> {
        let lease = self.step("dhcp", |d| {
            let l = d.dhcp()?;
            let detail = describe_lease(&l);
            Ok((l, detail))
        })?;
        self.ip = lease.address;
        self.lease_prefix = fetch::lease_prefix(&lease);
        self.report.ip = Some(lease.address.to_string());
        self.report.options = describe_options(&lease);
        self.stack.claim(lease.address, self.mac)?;
        match self.spec.kind {
            Kind::Audiocodes if self.spec.lync => self.lync(&lease),
            Kind::Audiocodes if self.spec.recovery => self.recovery(&lease),
            Kind::Audiocodes => self.audiocodes(&lease),
            Kind::AlePhone => self.ale_phone(&lease),
            Kind::SipPhone => self.sip_phone(&lease),
            Kind::Omniswitch => self.omniswitch(&lease),
            Kind::Stellar => self.stellar(&lease),
        }
    }
}

fn describe_lease(l: &Lease) -> String {
    format!(
        "{} from {} (lease {})",
        l.address,
        l.server_id,
        l.lease_time.map_or("-".to_string(), |t| format!("{t}s"))
    )
}

/// A short text of the provisioning options received (for the report).
pub(crate) fn describe_options(l: &Lease) -> String {
    let mut parts = Vec::new();
    for (c, v) in l.options.iter() {
        let text = match c {
            code::TFTP_SERVER | code::BOOTFILE | code::PROVISIONING_URL | code::VENDOR_CLASS => {
                format!("{c}={}", String::from_utf8_lossy(v).trim_end_matches('\0'))
            }
            code::NTP_SERVERS | code::TFTP_SERVER_ADDRESS | code::TIME_SERVERS
                if v.len() % 4 == 0 =>
            {
                format!(
                    "{c}={}",
                    v.chunks_exact(4)
                        .map(|q| Ipv4Addr::new(q[0], q[1], q[2], q[3]).to_string())
                        .collect::<Vec<_>>()
                        .join(",")
                )
            }
            code::TIME_OFFSET if v.len() == 4 => {
                format!("{c}={:+}", i32::from_be_bytes([v[0], v[1], v[2], v[3]]))
            }
            code::SIP_SERVERS | code::VENDOR_SPECIFIC => format!("{c}=<{}B>", v.len()),
            _ => continue,
        };
        parts.push(text);
    }
    if !l.next_server.is_unspecified() {
        parts.push(format!("siaddr={}", l.next_server));
    }
    parts.join(" ")
}
