//! The simulated devices: what each kind puts in its DHCP requests and what
//! it does with the answer, driven over the shared [`Stack`].

use std::net::Ipv4Addr;
use std::time::{Duration, Instant, SystemTime};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use crate::dhcp::{code, Backoff, ClientIdentity, DhcpClient, Lease};
use crate::net::{NetError, Stack};
use crate::provision::{self, UrlProto};
use crate::report::{DeviceReport, FileReport, StepReport};
use crate::sntp::{self, NtpTimestamp};
use crate::spec::{DeviceSpec, Kind, RunLimits, AUDIOCODES_FAMILY, OMNISWITCH_MAX};
use crate::tftp::{ReadRequest, Status, TftpError, TftpRead};
use crate::wire::Mac;


/// A failed step.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum DeviceError {
    /// DHCP did not bind before the deadline.
    #[error("no lease within {0:?} ({1} retransmissions)")]
    NoLease(Duration, u32),
    /// Network I/O.
    #[error(transparent)]
    Net(#[from] NetError),
    /// TFTP.
    #[error("TFTP {path} from {server}: {source}")]
    Tftp {
        /// Path requested.
        path: String,
        /// Server.
        server: Ipv4Addr,
        /// Cause.
        source: TftpError,
    },
    /// Content of a received file or option.
    #[error(transparent)]
    Provision(#[from] provision::ProvisionError),
    /// An option the device needs is missing or wrong.
    #[error("{0}")]
    Options(String),
    /// SNTP.
    #[error("SNTP to {server}: {why}")]
    Sntp {
        /// Server.
        server: Ipv4Addr,
        /// Cause.
        why: String,
    },
}

/// DHCP identity of a device.
pub(crate) fn identity(spec: &DeviceSpec, mac: Mac) -> ClientIdentity {
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
type HeaderCheck = dyn Fn(&[u8]) -> bool;

/// One running device.
struct Device<'a> {
    spec: &'a DeviceSpec,
    mac: Mac,
    stack: &'a Stack,
    limits: RunLimits,
    rng: StdRng,
    deadline: Instant,
    ip: Ipv4Addr,
    report: DeviceReport,
}

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
    fn step<T>(
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

    fn run(&mut self) -> Result<(), DeviceError> {
        let lease = self.step("dhcp", |d| {
            let l = d.dhcp()?;
            let detail = describe_lease(&l);
            Ok((l, detail))
        })?;
        self.ip = lease.address;
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

    fn dhcp(&mut self) -> Result<Lease, DeviceError> {
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

    /// Reads a whole file (or its first block when `header_only`) by TFTP.
    fn tftp(
        &mut self,
        server: Ipv4Addr,
        path: &str,
        blksize: Option<u16>,
        max_size: usize,
        stop_after_header: Option<&HeaderCheck>,
    ) -> Result<(Vec<u8>, bool), DeviceError> {
        let t = Instant::now();
        let port: u16 = self.rng.gen_range(49152..=65535);
        let rx = self.stack.bind_udp(self.ip, port)?;
        let mut x = TftpRead::new(ReadRequest {
            path: path.to_string(),
            blksize,
            tsize: blksize.is_some(),
            max_size,
            timeout: Duration::from_millis(self.limits.tftp_timeout_ms),
            retries: self.limits.tftp_retries,
        });
        let mut aborted = false;
        let result = loop {
            while let Some((dport, p)) = x.poll_foreign() {
                let _ = self
                    .stack
                    .send_udp(self.mac, (self.ip, port), (server, dport), &p);
            }
            while let Some(p) = x.poll_transmit() {
                let dport = x.peer_port().unwrap_or(69);
                if let Err(e) = self
                    .stack
                    .send_udp(self.mac, (self.ip, port), (server, dport), &p)
                {
                    self.stack.unbind_udp(self.ip, port);
                    return Err(e.into());
                }
            }
            match x.status() {
                Status::Complete => break Ok(()),
                Status::Failed(e) => break Err(e.clone()),
                Status::Receiving => {}
            }
            if Instant::now() >= self.deadline {
                break Err(TftpError::Timeout(x.retransmissions));
            }
            match rx.recv_timeout(x.timeout()) {
                Ok(m) if m.src_ip == server => {
                    x.handle(m.src_port, &m.payload);
                    if let Some(check) = stop_after_header {
                        if !aborted
                            && x.status() == &Status::Receiving
                            && !x.data().is_empty()
                            && check(x.data())
                        {
                            x.abort("firmware version unchanged");
                            aborted = true;
                        }
                    }
                }
                Ok(_) => {}
                Err(_) => x.handle_timeout(),
            }
        };
        let ms = sntp::millis(t.elapsed());
        if aborted && self.spec.linger_after_abort_ms > 0 {
            // Test knob: keep listening and count the DATA the server still
            // sends after our ERROR (it must free the transfer at once).
            let until = Instant::now() + Duration::from_millis(self.spec.linger_after_abort_ms);
            let mut n = 0;
            let mut seen = Vec::new();
            while let Ok(m) = rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
                if m.src_ip == server && m.payload.get(..2) == Some(&[0, 3]) && m.payload.len() >= 4
                {
                    n += 1;
                    let block = u16::from_be_bytes([m.payload[2], m.payload[3]]);
                    seen.push(format!(
                        "DATA {block} from port {} {:.0} ms after the ERROR",
                        m.src_port,
                        sntp::millis(m.at.saturating_duration_since(t)) - ms
                    ));
                }
            }
            self.report.data_after_abort = Some(n);
            if !seen.is_empty() {
                self.report.steps.push(StepReport {
                    name: "after-abort".into(),
                    ms: 0.0,
                    ok: false,
                    detail: seen.join("; "),
                });
            }
        }
        self.stack.unbind_udp(self.ip, port);
        self.report.tftp_retransmissions += x.retransmissions;
        match result {
            Ok(()) => {
                let blksize = x.blksize();
                let data = x.into_data();
                self.report.files.push(FileReport {
                    path: path.to_string(),
                    server: server.to_string(),
                    bytes: data.len() as u64,
                    ms,
                    blksize,
                    note: if aborted {
                        "header only, aborted".into()
                    } else {
                        String::new()
                    },
                });
                Ok((data, aborted))
            }
            Err(source) => Err(DeviceError::Tftp {
                path: path.to_string(),
                server,
                source,
            }),
        }
    }

    fn sntp(&mut self, server: Ipv4Addr) -> Result<(), DeviceError> {
        self.step("sntp", |d| {
            let port: u16 = d.rng.gen_range(49152..=65535);
            let rx = d.stack.bind_udp(d.ip, port)?;
            let r = d.sntp_exchange(server, port, &rx);
            d.stack.unbind_udp(d.ip, port);
            let r = r?;
            d.report.time_offset_ms = Some(r.offset * 1000.0);
            d.report.time_server = Some(server.to_string());
            Ok((
                (),
                format!(
                    "{server} stratum {} offset {:+.3} ms delay {:.3} ms",
                    r.stratum,
                    r.offset * 1000.0,
                    r.delay * 1000.0
                ),
            ))
        })
    }

    fn sntp_exchange(
        &mut self,
        server: Ipv4Addr,
        port: u16,
        rx: &std::sync::mpsc::Receiver<crate::net::Inbound>,
    ) -> Result<sntp::SntpResult, DeviceError> {
        let mut last = String::from("no reply");
        for _ in 0..3 {
            let t1 = NtpTimestamp::from_system(SystemTime::now());
            self.stack
                .send_udp(self.mac, (self.ip, port), (server, 123), &sntp::request(t1))?;
            let until = Instant::now() + Duration::from_secs(1);
            while let Ok(m) = rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
                let t4 = NtpTimestamp::from_system(SystemTime::now());
                if m.src_ip != server || m.src_port != 123 {
                    continue;
                }
                match sntp::parse_reply(&m.payload, t1, t4) {
                    Ok(r) => return Ok(r),
                    Err(e) => last = e.to_string(),
                }
            }
        }
        Err(DeviceError::Sntp { server, why: last })
    }

    fn time_server(&self, lease: &Lease) -> Result<Option<Ipv4Addr>, DeviceError> {
        // 42 beats 4.
        let o = &lease.options;
        let ntp = o
            .ip_list(code::NTP_SERVERS)
            .map_err(|e| DeviceError::Options(e.to_string()))?;
        if let Some(s) = ntp.first() {
            return Ok(Some(*s));
        }
        let time = o
            .ip_list(code::TIME_SERVERS)
            .map_err(|e| DeviceError::Options(e.to_string()))?;
        Ok(time.first().copied())
    }

    fn tftp_server_66(&self, lease: &Lease) -> Result<Option<Ipv4Addr>, DeviceError> {
        match lease.options.text(code::TFTP_SERVER) {
            None => Ok(None),
            Some(t) => t.trim().parse().map(Some).map_err(|_| {
                DeviceError::Options(format!(
                    "option 66 {t:?} is not an address (no DNS in the lab)"
                ))
            }),
        }
    }

    fn audiocodes(&mut self, lease: &Lease) -> Result<(), DeviceError> {
        let mac = self.mac;
        let model = self.spec.model.clone();
        let default_cfg = format!(
            "{}.cfg",
            mac.iter().map(|b| format!("{b:02x}")).collect::<String>()
        );
        let (server, firmware, config, via) = match lease.options.text(code::PROVISIONING_URL) {
            Some(url) if !self.spec.ignores_160 => {
                if lease.options.has_nul(code::PROVISIONING_URL) {
                    return Err(DeviceError::Options(
                        "option 160 contains a NUL byte".into(),
                    ));
                }
                let u = provision::parse_option_160(&url, &mac)?;
                if u.proto != UrlProto::Tftp {
                    return Err(DeviceError::Options(format!(
                        "option 160 {url:?}: only tftp is simulated"
                    )));
                }
                let server: Ipv4Addr = u.host.parse().map_err(|_| {
                    DeviceError::Options(format!(
                        "option 160 host {:?} is not an address (no DNS in the lab)",
                        u.host
                    ))
                })?;
                (server, u.firmware, u.config, "160")
            }
            _ => {
                let server = match self.tftp_server_66(lease)? {
                    Some(s) => s,
                    None if !lease.next_server.is_unspecified() => lease.next_server,
                    None => {
                        return Err(DeviceError::Options(
                            "neither option 160 nor 66 nor siaddr".into(),
                        ))
                    }
                };
                let fw = lease
                    .options
                    .text(code::BOOTFILE)
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| format!("{model}.img"));
                (server, Some(fw), None, "66/67")
            }
        };
        self.report.via = Some(via.into());
        if let Some(v) = lease.options.get(code::SIP_SERVERS) {
            let sip = provision::parse_sip_servers(v)?;
            self.report.sip_servers = Some(sip.to_string());
        }
        if let Some(fw) = firmware {
            let current = self.spec.firmware_version.clone().unwrap_or_default();
            self.step("firmware", |d| {
                let cur = current.clone();
                let check = move |head: &[u8]| matches!(provision::parse_firmware_header(head), Ok((_, v)) if v == cur);
                let (img, aborted) = d.tftp(server, &fw, Some(1428), 64 << 20, Some(&check))?;
                let (family, version) = provision::parse_firmware_header(&img)?;
                if family != AUDIOCODES_FAMILY {
                    return Err(DeviceError::Options(format!("{fw}: firmware for {family}, not {AUDIOCODES_FAMILY}")));
                }
                if aborted {
                    d.report.firmware = Some(format!("{version} (unchanged)"));
                    Ok(((), format!("{fw}: version {version} unchanged, transfer aborted after {} bytes", img.len())))
                } else {
                    d.report.firmware = Some(format!("{current} -> {version}"));
                    Ok(((), format!("{fw}: upgraded {current} -> {version}, {} bytes", img.len())))
                }
            })?;
        }
        let cfg = config.unwrap_or(default_cfg.clone());
        self.step("config", |d| {
            let (path, text) = match d.tftp(server, &cfg, Some(1428), 1 << 20, None) {
                Ok((data, _)) => (cfg.clone(), data),
                Err(DeviceError::Tftp {
                    source: TftpError::Server { code: 1, .. },
                    ..
                }) if cfg == default_cfg => {
                    // No per-MAC file: the model's file (`<Model>/<Model>.cfg`).
                    let alt = format!("{model}/{model}.cfg");
                    let (data, _) = d.tftp(server, &alt, Some(1428), 1 << 20, None)?;
                    (alt, data)
                }
                Err(e) => return Err(e),
            };
            let text = String::from_utf8_lossy(&text).into_owned();
            let n = provision::check_phone_config(&path, &text, &model)?;
            Ok(((), format!("{path}: {n} parameters for {model}")))
        })?;
        self.utc_offset(lease);
        match self.time_server(lease)? {
            Some(s) => self.sntp(s),
            None => Err(DeviceError::Options(
                "no NTP server (option 42 or 4)".into(),
            )),
        }
    }

    /// Lync mode: option 43 must carry the certificate-provisioning
    /// service (sub-options 1–5, optional 10 = voice VLAN), option 120 the
    /// SIP server; the HTTPS provisioning itself is not simulated.
    fn lync(&mut self, lease: &Lease) -> Result<(), DeviceError> {
        self.report.via = Some("43".into());
        self.step("option-43", |d| {
            let v = lease
                .options
                .get(code::VENDOR_SPECIFIC)
                .ok_or_else(|| DeviceError::Options("Lync mode: no option 43".into()))?;
            let l = provision::parse_lync_43(v)?;
            let detail = format!(
                "certificate provisioning {}://{}:{}{}{}",
                l.scheme,
                l.server,
                l.port,
                l.path,
                l.vlan
                    .map_or(String::new(), |v| format!(", voice VLAN {v}"))
            );
            d.report.provisioning = Some(detail.clone());
            Ok(((), detail))
        })?;
        if let Some(v) = lease.options.get(code::SIP_SERVERS) {
            let sip = provision::parse_sip_servers(v)?;
            self.report.sip_servers = Some(sip.to_string());
        }
        self.utc_offset(lease);
        match self.time_server(lease)? {
            Some(s) => self.sntp(s),
            None => Err(DeviceError::Options(
                "no NTP server (option 42 or 4)".into(),
            )),
        }
    }

    /// Recovery mode: 66 (or siaddr) and 67 (or `<model>.img`), the whole
    /// image in 512-byte blocks whatever its version, nothing else.
    fn recovery(&mut self, lease: &Lease) -> Result<(), DeviceError> {
        self.report.via = Some("recovery".into());
        let server = match self.tftp_server_66(lease)? {
            Some(s) => s,
            None if !lease.next_server.is_unspecified() => lease.next_server,
            None => {
                return Err(DeviceError::Options(
                    "recovery: no option 66 nor siaddr".into(),
                ))
            }
        };
        let fw = lease
            .options
            .text(code::BOOTFILE)
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| format!("{}.img", self.spec.model));
        self.step("firmware", |d| {
            let (img, _) = d.tftp(server, &fw, None, 64 << 20, None)?;
            let (family, version) = provision::parse_firmware_header(&img)?;
            if family != AUDIOCODES_FAMILY {
                return Err(DeviceError::Options(format!(
                    "{fw}: firmware for {family}, not {AUDIOCODES_FAMILY}"
                )));
            }
            d.report.firmware = Some(format!("recovered {version}"));
            Ok((
                (),
                format!(
                    "{fw}: recovery image {version}, {} bytes in 512-byte blocks",
                    img.len()
                ),
            ))
        })
    }

    fn utc_offset(&mut self, lease: &Lease) {
        if let Some(v) = lease.options.get(code::TIME_OFFSET) {
            if v.len() == 4 {
                self.report.utc_offset_s = Some(i32::from_be_bytes([v[0], v[1], v[2], v[3]]));
            }
        }
    }

    fn ale_phone(&mut self, lease: &Lease) -> Result<(), DeviceError> {
        if self.tftp_server_66(lease)?.is_none() && lease.next_server.is_unspecified() {
            return Err(DeviceError::Options(
                "no call server / TFTP address (66 or siaddr)".into(),
            ));
        }
        self.utc_offset(lease);
        match self.time_server(lease)? {
            Some(s) => self.sntp(s),
            None => Err(DeviceError::Options(
                "no NTP server (option 42 or 4)".into(),
            )),
        }
    }

    fn sip_phone(&mut self, lease: &Lease) -> Result<(), DeviceError> {
        let list = lease
            .options
            .ip_list(code::TFTP_SERVER_ADDRESS)
            .map_err(|e| DeviceError::Options(format!("option 150: {e}")))?;
        let server = match (list.first(), self.tftp_server_66(lease)?) {
            (Some(s), _) => *s,
            (None, Some(s)) => s,
            (None, None) if !lease.next_server.is_unspecified() => lease.next_server,
            _ => {
                return Err(DeviceError::Options(
                    "no TFTP server (150, 66 or siaddr)".into(),
                ))
            }
        };
        let file = lease
            .options
            .text(code::BOOTFILE)
            .filter(|s| !s.is_empty())
            .or_else(|| (!lease.boot_file.is_empty()).then(|| lease.boot_file.clone()))
            .ok_or_else(|| DeviceError::Options("no config file name (67 or file)".into()))?;
        let model = self.spec.model.clone();
        self.step("config", |d| {
            let (data, _) = d.tftp(server, &file, None, 1 << 20, None)?;
            let text = String::from_utf8_lossy(&data).into_owned();
            let n = provision::check_phone_config(&file, &text, &model)?;
            Ok(((), format!("{file}: {n} parameters")))
        })?;
        match self.time_server(lease)? {
            Some(s) => self.sntp(s),
            None => Ok(()),
        }
    }

    fn omniswitch(&mut self, lease: &Lease) -> Result<(), DeviceError> {
        let server = if !lease.next_server.is_unspecified() {
            lease.next_server
        } else if let Some(s) = self.tftp_server_66(lease)? {
            s
        } else {
            let l = lease
                .options
                .ip_list(code::TFTP_SERVER_ADDRESS)
                .map_err(|e| DeviceError::Options(format!("option 150: {e}")))?;
            *l.first()
                .ok_or_else(|| DeviceError::Options("no TFTP server (siaddr, 66 or 150)".into()))?
        };
        let aos8 = matches!(self.spec.model.to_ascii_uppercase().as_str(), m if m.starts_with("OS6360") || m.starts_with("OS6560"));
        let ins_name = if aos8 { "os8_ins.alu" } else { "os_ins.alu" };
        let ins = self.step("instructions", |d| {
            let (data, _) = d.tftp(server, ins_name, None, OMNISWITCH_MAX, None)?;
            let text = String::from_utf8_lossy(&data).into_owned();
            let ins = provision::parse_switch_instructions(ins_name, &text, server)?;
            let detail = format!(
                "{ins_name}: config {} @ {}, script {} @ {}",
                ins.config,
                ins.config_server,
                ins.script.as_deref().unwrap_or("-"),
                ins.script_server
                    .map(|s| s.to_string())
                    .unwrap_or("-".into())
            );
            Ok((ins, detail))
        })?;
        self.step("config", |d| {
            let (data, _) = d.tftp(ins.config_server, &ins.config, None, OMNISWITCH_MAX, None)?;
            if data.is_empty() {
                return Err(DeviceError::Options(format!("{} is empty", ins.config)));
            }
            let text = String::from_utf8_lossy(&data);
            if text.contains("${") {
                return Err(DeviceError::Options(format!(
                    "{}: unexpanded macro",
                    ins.config
                )));
            }
            Ok(((), format!("{}: {} bytes", ins.config, data.len())))
        })?;
        if let (Some(script), Some(srv)) = (ins.script.clone(), ins.script_server) {
            self.step("script", |d| {
                let (data, _) = d.tftp(srv, &script, None, OMNISWITCH_MAX, None)?;
                Ok(((), format!("{script}: {} bytes", data.len())))
            })?;
        }
        Ok(())
    }

    fn stellar(&mut self, lease: &Lease) -> Result<(), DeviceError> {
        let file = lease
            .options
            .text(code::BOOTFILE)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| DeviceError::Options("no option 67 (instruction file)".into()))?;
        let server = match self.tftp_server_66(lease)? {
            Some(s) => s,
            None if !lease.next_server.is_unspecified() => lease.next_server,
            None => return Err(DeviceError::Options("no TFTP server (66 or siaddr)".into())),
        };
        let ins = self.step("instructions", |d| {
            let (data, _) = d.tftp(server, &file, None, 1 << 20, None)?;
            let text = String::from_utf8_lossy(&data).into_owned();
            let ins = provision::parse_ap_instructions(&file, &text, server)?;
            let detail = format!("{file}: config {} @ {}", ins.config, ins.server);
            Ok((ins, detail))
        })?;
        self.step("config", |d| {
            let (data, _) = d.tftp(ins.server, &ins.config, None, 1 << 20, None)?;
            let text = String::from_utf8_lossy(&data).into_owned();
            let c = provision::parse_ap_config(&ins.config, &text)?;
            Ok((
                (),
                format!(
                    "{}: SSIDs {}, country {}, cluster {}",
                    ins.config,
                    c.ssids.join("/"),
                    c.country,
                    c.virtual_ip
                ),
            ))
        })?;
        match self.time_server(lease)? {
            Some(s) => self.sntp(s),
            None => Ok(()),
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
