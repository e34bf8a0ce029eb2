//! File and time transfers of a device: TFTP reads (whole files, or a
//! firmware header then an abort) and SNTP.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant, SystemTime};

use std::sync::mpsc::Receiver;

use rand::Rng;

use crate::net::Inbound;
use crate::report::{FileReport, StepReport};
use crate::sntp::{self, NtpTimestamp};
use crate::tftp::{ReadRequest, Status, TftpError, TftpRead};

use super::error::DeviceError;
use super::session::{Device, HeaderCheck};

impl Device<'_> {
    /// Reads a whole file by TFTP, or stops once `stop_after_header` says
    /// the first bytes are enough (the second value is then true).
    pub(super) fn tftp(
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
        let exchanged = self.tftp_exchange(&mut x, &rx, (server, port), stop_after_header);
        let (result, aborted) = match exchanged {
            Ok(outcome) => outcome,
            Err(e) => {
                self.stack.unbind_udp(self.ip, port);
                return Err(e);
            }
        };
        let ms = sntp::millis(t.elapsed());
        if aborted && self.spec.linger_after_abort_ms > 0 {
            self.count_data_after_abort(&rx, server, t, ms);
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
                    protocol: "tftp".into(),
                    tls: None,
                    tls_fingerprint: None,
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

    /// Runs the read until it completes, fails or the deadline passes; the
    /// second value says whether it was aborted after the header. `Err` only
    /// when sending failed.
    fn tftp_exchange(
        &mut self,
        x: &mut TftpRead,
        rx: &Receiver<Inbound>,
        (server, port): (Ipv4Addr, u16),
        stop_after_header: Option<&HeaderCheck>,
    ) -> Result<(Result<(), TftpError>, bool), DeviceError> {
        let mut aborted = false;
        let result = loop {
            while let Some((dport, p)) = x.poll_foreign() {
                let _ = self
                    .stack
                    .send_udp(self.mac, (self.ip, port), (server, dport), &p);
            }
            while let Some(p) = x.poll_transmit() {
                let dport = x.peer_port().unwrap_or(69);
                self.stack
                    .send_udp(self.mac, (self.ip, port), (server, dport), &p)?;
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
        Ok((result, aborted))
    }

    /// Test knob: keep listening after aborting and count the DATA the
    /// server still sends after our ERROR (it must free the transfer at
    /// once). `t` is when the read started, `ms` how long it took.
    fn count_data_after_abort(
        &mut self,
        rx: &Receiver<Inbound>,
        server: Ipv4Addr,
        t: Instant,
        ms: f64,
    ) {
        let until = Instant::now() + Duration::from_millis(self.spec.linger_after_abort_ms);
        let mut n = 0;
        let mut seen = Vec::new();
        while let Ok(m) = rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
            if m.src_ip == server && m.payload.get(..2) == Some(&[0, 3]) && m.payload.len() >= 4 {
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

    pub(super) fn sntp(&mut self, server: Ipv4Addr) -> Result<(), DeviceError> {
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

    pub(super) fn sntp_exchange(
        &mut self,
        server: Ipv4Addr,
        port: u16,
        rx: &Receiver<Inbound>,
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
}
