//! The event schema the daemons publish (version 1), one JSON object per
//! line: `{"v":1,"daemon":"dhcpd","at":1733443200123,"event":{"type":"dhcp",…}}`.
//!
//! Each field says which daemon fills it and why the inventory needs it.
//! Optional fields are left out of the JSON when absent, so a line carries
//! only what the daemon knew. A new field is added as optional within
//! version 1 and readers ignore fields they do not know (a daemon upgraded
//! before the management daemon restarts must not break the stream);
//! renaming a field or changing its meaning is version 2, which readers
//! refuse.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::mac::Mac;

/// The schema version this crate writes and reads.
pub const SCHEMA_VERSION: u32 = 1;

/// Wall-clock time as Unix milliseconds (UTC). Events carry the time the
/// daemon handled the packet; the inventory reads no clock of its own.
pub type UnixMillis = u64;

/// One published event: the envelope every line has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// Schema version, [`SCHEMA_VERSION`]; a reader refuses others rather
    /// than misreading them.
    pub v: u32,
    /// The publishing daemon.
    pub daemon: Daemon,
    /// When the daemon handled it (its wall clock, Unix ms).
    pub at: UnixMillis,
    /// What happened.
    pub event: Event,
}

/// The daemons that publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Daemon {
    /// pbxnet-dhcpd.
    Dhcpd,
    /// pbxnet-tftpd (TFTP and HTTP(S) provisioning).
    Tftpd,
    /// pbxnet-ntpd.
    Ntpd,
    /// pbxnet-licd.
    Licd,
}

/// What happened, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Event {
    /// A DHCP message received or sent (dhcpd).
    Dhcp(DhcpEvent),
    /// A file transfer ended (tftpd: TFTP, HTTP or HTTPS).
    Transfer(TransferEvent),
    /// An NTP client request answered or refused (ntpd's server side).
    NtpRequest(NtpRequestEvent),
    /// An upstream source changed state (ntpd's client side).
    NtpSource(NtpSourceEvent),
    /// The licence mode or a counter changed (licd).
    License(LicenseEvent),
    /// The publisher dropped events for this subscriber (its buffer was
    /// full): the subscriber's view has a gap of `count` events. Written by
    /// the publishing daemon in place of what it could not deliver, so the
    /// loss is counted where it is seen, never silent.
    Lost(LostEvent),
}

/// A gap in the stream, filled by the publishing daemon's event socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LostEvent {
    /// Events not delivered to this subscriber since the previous line.
    pub count: u64,
}

/// The DHCP message types the inventory follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DhcpMessage {
    /// Received: a device starts (or restarts) looking for an address.
    Discover,
    /// Sent: an address offered (not yet held).
    Offer,
    /// Sent: a lease committed (after the lease store's fsync).
    Ack,
    /// Sent: a request refused; the device holds no lease.
    Nak,
    /// Received: the device found the address in use.
    Decline,
    /// Received: the device gave its lease back.
    Release,
}

/// A DHCP message, filled by pbxnet-dhcpd.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DhcpEvent {
    /// Which message.
    pub message: DhcpMessage,
    /// chaddr: the device's key in the inventory.
    pub mac: Mac,
    /// Offer/ack: yiaddr; release/decline: ciaddr or option 50. The address
    /// the file and NTP events are attributed through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<Ipv4Addr>,
    /// Option 60 as text, or `hex:00:0d:…` when not printable (the
    /// spelling of `pbxnet-dhcpd leases`): model and kind of device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor_class: Option<String>,
    /// Option 77 (RFC 3004 payload or raw ASCII, as text): AudioCodes
    /// phones send their model here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_class: Option<String>,
    /// Option 55, the codes in the device's order: a fingerprint of its
    /// DHCP client, and which options it can use.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameter_request: Vec<u8>,
    /// Option 12.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// giaddr when relayed: which relay (and so which remote LAN) it came through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relay: Option<Ipv4Addr>,
    /// The `[[class]]` that matched (offer/ack).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    /// The `[[profile]]` applied (offer/ack).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// Option 67 or the `file` field sent (offer/ack): the file a generic
    /// SIP phone's chain waits for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_file: Option<String>,
    /// Ack: when the lease expires (Unix ms); past it the address no longer
    /// attributes transfers to this device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_expires: Option<UnixMillis>,
}

/// How a file was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    /// TFTP (RFC 1350).
    Tftp,
    /// Plain HTTP.
    Http,
    /// HTTPS.
    Https,
}

/// How a transfer ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Sent completely.
    Ok,
    /// No such file (TFTP ERROR 1, HTTP 404).
    NotFound,
    /// Refused by policy (TFTP ERROR 2, HTTP 401/403, Secured_Config).
    Denied,
    /// Failed on our side or the network's (timeouts, I/O, bad macro file).
    Error,
    /// The client stopped it (an AudioCodes phone reading only an image's
    /// header when its firmware is current).
    Aborted,
}

/// A finished transfer, filled by pbxnet-tftpd (TFTP and HTTP(S)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferEvent {
    /// The peer's address: mapped to a MAC through the lease held now.
    pub client_ip: Ipv4Addr,
    /// The path as the client asked for it (after URL decoding): the
    /// chain step it completes, and the model when it names an image.
    pub path: String,
    /// TFTP, HTTP or HTTPS.
    pub protocol: Protocol,
    /// Bytes sent (or received for an upload).
    pub bytes: u64,
    /// How it ended: a not-found or denied chain file is a `file error`.
    pub outcome: Outcome,
    /// HTTP(S) `User-Agent`: phones name model and firmware in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// HTTPS client certificate subject, when the client showed one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cert: Option<String>,
}

/// What the server made of a request's MAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthResult {
    /// No MAC in the request.
    None,
    /// MAC verified.
    Ok,
    /// MAC did not verify.
    BadMac,
    /// Key id not in the key file (or not trusted).
    UnknownKey,
}

/// One client request to the NTP server, filled by pbxnet-ntpd.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NtpRequestEvent {
    /// The client: mapped to a MAC through the lease held now (the `no
    /// time` verdict waits for this).
    pub client_ip: Ipv4Addr,
    /// NTP version of the request (1–4).
    pub version: u8,
    /// Key id of the request's MAC, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<u32>,
    /// Authentication result.
    pub auth: AuthResult,
    /// Kiss code sent instead of time (`RATE`, `DENY`, `RSTR`, `CRYP`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kod: Option<String>,
}

/// An upstream source's new state (chronyc's `sources` symbols).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceState {
    /// Combined into the system time (`*`/`+`).
    Selected,
    /// Usable but not selected (`-`).
    Candidate,
    /// Outside the majority (`x`).
    Falseticker,
    /// Pruned by clustering.
    Outlier,
    /// No answers (`?`).
    Unreachable,
    /// Stopped by a DENY or RSTR kiss code.
    Denied,
}

/// A source state change, filled by pbxnet-ntpd's client side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NtpSourceEvent {
    /// The source as configured (name or address).
    pub source: String,
    /// Its new state.
    pub state: SourceState,
    /// Its stratum, when it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stratum: Option<u8>,
    /// Its offset (ns, positive = source ahead), when measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset_ns: Option<i64>,
}

/// A licence change, filled by pbxnet-licd.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LicenseEvent {
    /// The mode now (`valid`, `grace`, `limited`, `try-and-buy`).
    pub mode: String,
    /// Days left of a grace or trial period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days_left: Option<u32>,
    /// The counter that changed, if this is a counter change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counter: Option<CounterChange>,
}

/// A licensed counter's new value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterChange {
    /// The service's name as in the services catalogue.
    pub name: String,
    /// Used now.
    pub used: u32,
    /// Granted.
    pub limit: u32,
}

/// A line that is not a version-1 event.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SchemaError {
    /// Not JSON, or not the schema's shape.
    #[error("not an event: {0}")]
    Malformed(#[from] serde_json::Error),
    /// Another schema version.
    #[error("event schema version {got}, this reader knows {SCHEMA_VERSION}")]
    Version {
        /// The line's `v`.
        got: u32,
    },
}

impl Envelope {
    /// A version-1 event.
    pub fn new(daemon: Daemon, at: UnixMillis, event: Event) -> Self {
        Envelope {
            v: SCHEMA_VERSION,
            daemon,
            at,
            event,
        }
    }

    /// One JSON line, without the newline.
    pub fn to_json_line(&self) -> String {
        // A derived Serialize of plain data into a String cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads one line; the version is checked before the body so that a
    /// version-2 line is reported as such, not as malformed.
    pub fn from_json_line(line: &str) -> Result<Self, SchemaError> {
        #[derive(Deserialize)]
        struct VersionOnly {
            v: u32,
        }
        let VersionOnly { v } = serde_json::from_str(line)?;
        if v != SCHEMA_VERSION {
            return Err(SchemaError::Version { got: v });
        }
        Ok(serde_json::from_str(line)?)
    }
}
