//! Per-device and fleet reports (JSON between the fleet process and its
//! driver; a table for people).

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::spec::DeviceSpec;

/// One step of a device's boot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepReport {
    /// `dhcp`, `firmware`, `config`, `instructions`, `script`, `sntp`.
    pub name: String,
    /// How long it took.
    pub ms: f64,
    /// Whether it succeeded.
    pub ok: bool,
    /// What it got (or why it failed).
    pub detail: String,
}

/// One file fetched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileReport {
    /// Path requested.
    pub path: String,
    /// TFTP server.
    pub server: String,
    /// Bytes received.
    pub bytes: u64,
    /// Transfer time.
    pub ms: f64,
    /// Block size used (512 unless negotiated).
    #[serde(default)]
    pub blksize: usize,
    /// `header only, aborted` for a firmware check.
    pub note: String,
    /// `tftp`, `http` or `https`.
    #[serde(default = "tftp_label")]
    pub protocol: String,
    /// HTTPS: the TLS version negotiated (`1.2`, `1.3`).
    #[serde(default)]
    pub tls: Option<String>,
    /// HTTPS: SHA-256 of the server's certificate (`AB:CD:…`), which the
    /// device accepted without knowing it.
    #[serde(default)]
    pub tls_fingerprint: Option<String>,
}

fn tftp_label() -> String {
    "tftp".into()
}

impl FileReport {
    /// `https/1.3`, `http` or `tftp`.
    pub fn protocol_label(&self) -> String {
        match &self.tls {
            Some(v) => format!("{}/{v}", self.protocol),
            None => self.protocol.clone(),
        }
    }
}

/// What one device got and how long each step took.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceReport {
    /// Name.
    pub name: String,
    /// Family label.
    pub kind: String,
    /// Model.
    pub model: String,
    /// MAC.
    pub mac: String,
    /// Leased address.
    pub ip: Option<String>,
    /// Provisioning options received (short form).
    pub options: String,
    /// AudioCodes: `160` or `66/67`.
    pub via: Option<String>,
    /// Firmware outcome.
    pub firmware: Option<String>,
    /// Option 120 decoded (AudioCodes).
    #[serde(default)]
    pub sip_servers: Option<String>,
    /// Lync mode: the certificate-provisioning service from option 43;
    /// option 160 over HTTP(S): the URLs the phone derived from it.
    #[serde(default)]
    pub provisioning: Option<String>,
    /// Files fetched.
    pub files: Vec<FileReport>,
    /// Steps in order.
    pub steps: Vec<StepReport>,
    /// SNTP server used.
    pub time_server: Option<String>,
    /// SNTP offset, ms.
    pub time_offset_ms: Option<f64>,
    /// Option 2, seconds.
    pub utc_offset_s: Option<i32>,
    /// DHCP retransmissions.
    pub dhcp_retransmissions: u32,
    /// DHCP NAKs.
    pub dhcp_naks: u32,
    /// TFTP retransmissions.
    pub tftp_retransmissions: u32,
    /// DATA received after the device's ERROR (only with the linger knob).
    #[serde(default)]
    pub data_after_abort: Option<u32>,
    /// When it powered on, ms after the fleet start.
    pub power_on_ms: f64,
    /// From power-on to fully provisioned (or to the failure), ms.
    pub total_ms: f64,
    /// Fully provisioned.
    pub ok: bool,
    /// Why not.
    pub error: Option<String>,
}

impl DeviceReport {
    /// An empty report for `spec`.
    pub fn new(spec: &DeviceSpec) -> Self {
        DeviceReport {
            name: spec.name.clone(),
            kind: spec.kind.label().to_string(),
            model: spec.model.clone(),
            mac: spec.mac.to_ascii_lowercase(),
            ip: None,
            options: String::new(),
            via: None,
            firmware: None,
            sip_servers: None,
            provisioning: None,
            files: Vec::new(),
            steps: Vec::new(),
            time_server: None,
            time_offset_ms: None,
            utc_offset_s: None,
            dhcp_retransmissions: 0,
            dhcp_naks: 0,
            tftp_retransmissions: 0,
            data_after_abort: None,
            power_on_ms: 0.0,
            total_ms: 0.0,
            ok: false,
            error: None,
        }
    }

    /// Marks the device failed.
    pub fn fail(&mut self, why: &str, total_ms: f64) {
        self.ok = false;
        self.error = Some(why.to_string());
        self.total_ms = total_ms;
    }

    /// Milliseconds spent in step `name` (first occurrence).
    pub fn step_ms(&self, name: &str) -> Option<f64> {
        self.steps.iter().find(|s| s.name == name).map(|s| s.ms)
    }
}

/// The whole fleet's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FleetReport {
    /// Devices in spec order.
    pub devices: Vec<DeviceReport>,
    /// From the fleet start until the last device finished, ms.
    pub wall_ms: f64,
    /// From the fleet start until the last *successful* device was fully
    /// provisioned, ms.
    pub last_provisioned_ms: f64,
    /// Frames the receiver read.
    pub frames: u64,
    /// ARP replies sent for devices.
    pub arp_replies: u64,
}

impl FleetReport {
    /// Devices that failed.
    pub fn failures(&self) -> usize {
        self.devices.iter().filter(|d| !d.ok).count()
    }

    /// The distinct HTTPS server certificate fingerprints the devices saw.
    pub fn tls_fingerprints(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .devices
            .iter()
            .flat_map(|d| d.files.iter())
            .filter_map(|f| f.tls_fingerprint.clone())
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// DHCP + TFTP retransmissions of the whole fleet.
    pub fn retries(&self) -> u64 {
        self.devices
            .iter()
            .map(|d| u64::from(d.dhcp_retransmissions + d.tftp_retransmissions))
            .sum()
    }

    /// The installer's table: one line per device, then the failures' reasons.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<14} {:<11} {:<10} {:<17} {:<15} {:<7} {:<44} {:>9} {:>8}  result",
            "device", "kind", "model", "MAC", "IP", "via", "files fetched", "offset", "ready"
        );
        for d in &self.devices {
            let files = if d.files.is_empty() {
                "-".to_string()
            } else {
                d.files
                    .iter()
                    .map(|f| {
                        let name = f.path.rsplit('/').next().unwrap_or(&f.path);
                        if f.note.is_empty() {
                            format!("{name} ({} {})", human_bytes(f.bytes), f.protocol_label())
                        } else {
                            format!("{name} (hdr {})", f.protocol_label())
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let offset = d
                .time_offset_ms
                .map_or("-".to_string(), |o| format!("{o:+.2}ms"));
            let _ = writeln!(
                out,
                "{:<14} {:<11} {:<10} {:<17} {:<15} {:<7} {:<44} {:>9} {:>7.0}ms  {}",
                d.name,
                d.kind,
                d.model,
                d.mac,
                d.ip.as_deref().unwrap_or("-"),
                d.via.as_deref().unwrap_or("-"),
                files,
                offset,
                d.total_ms,
                if d.ok { "OK" } else { "FAILED" }
            );
        }
        out.push_str(&self.failure_lines());
        out
    }

    /// One line per failed device with its reason (`  ac-03 FAILED: …`).
    pub(crate) fn failure_lines(&self) -> String {
        let mut out = String::new();
        for d in self.devices.iter().filter(|d| !d.ok) {
            let _ = writeln!(
                out,
                "  {} FAILED: {}",
                d.name,
                d.error.as_deref().unwrap_or("?")
            );
        }
        out
    }

    /// The per-device detail (options received, each step and its time).
    pub fn details(&self) -> String {
        let mut out = String::new();
        for d in &self.devices {
            let _ = writeln!(out, "{} ({} {}, {})", d.name, d.kind, d.model, d.mac);
            if !d.options.is_empty() {
                let _ = writeln!(out, "    options: {}", d.options);
            }
            if let Some(f) = &d.firmware {
                let _ = writeln!(out, "    firmware: {f}");
            }
            if let Some(p) = &d.provisioning {
                let label = if d.via.as_deref() == Some("160") {
                    "option 160"
                } else {
                    "option 43"
                };
                let _ = writeln!(out, "    {label}: {p}");
            }
            if let Some(s) = &d.sip_servers {
                let _ = writeln!(out, "    SIP servers (option 120): {s}");
            }
            if let Some(u) = d.utc_offset_s {
                let _ = writeln!(out, "    UTC offset (option 2): {u:+} s");
            }
            for s in &d.steps {
                let _ = writeln!(
                    out,
                    "    {:<12} {:>8.1} ms  {}{}",
                    s.name,
                    s.ms,
                    if s.ok { "" } else { "FAILED: " },
                    s.detail
                );
            }
        }
        out
    }
}

/// `1.2 KiB`-style sizes.
pub(crate) fn human_bytes(b: u64) -> String {
    if b < 1024 {
        format!("{b} B")
    } else if b < 1 << 20 {
        format!("{:.1} KiB", b as f64 / 1024.0)
    } else {
        format!("{:.1} MiB", b as f64 / f64::from(1 << 20))
    }
}
