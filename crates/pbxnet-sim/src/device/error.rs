//! How a device's provisioning fails: one variant per thing that went
//! wrong, each carrying what the device looked at.

use std::net::Ipv4Addr;
use std::time::Duration;

use crate::dhcp::DhcpDecodeError;
use crate::http::HttpError;
use crate::net::NetError;
use crate::provision::ProvisionError;
use crate::spec::AUDIOCODES_FAMILY;
use crate::tftp::TftpError;

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
    /// HTTP(S): the connection or the response.
    #[error("{url}: {source}")]
    Http {
        /// The URL requested.
        url: String,
        /// Cause.
        source: HttpError,
    },
    /// HTTP(S): a status other than 200.
    #[error("{url}: HTTP status {status}")]
    HttpStatus {
        /// The URL requested.
        url: String,
        /// The status code.
        status: u16,
    },
    /// The device's own kernel interface (for TCP) could not be set up.
    #[error("interface for TCP: {0}")]
    Iface(std::io::Error),
    /// Content of a received file or option.
    #[error(transparent)]
    Provision(#[from] ProvisionError),
    /// An option of the lease has the wrong length for its type (an
    /// address list that is not a multiple of 4 bytes).
    #[error(transparent)]
    BadOption(#[from] DhcpDecodeError),
    /// The lease names no TFTP server where this kind of device looks.
    #[error("no TFTP server ({looked_in})")]
    NoTftpServer {
        /// Where the device looked, in its order (`150, 66 or siaddr`).
        looked_in: &'static str,
    },
    /// ALE phone: no call server / TFTP address in option 66 nor siaddr.
    #[error("no call server / TFTP address (66 or siaddr)")]
    NoCallServer,
    /// No NTP server in option 42 nor option 4.
    #[error("no NTP server (option 42 or 4)")]
    NoTimeServer,
    /// SIP phone: no config file name in option 67 nor the `file` field.
    #[error("no config file name (67 or file)")]
    NoConfigFileName,
    /// Stellar AP: no instruction file name in option 67.
    #[error("no option 67 (instruction file)")]
    NoInstructionFile,
    /// AudioCodes: no server in option 160, option 66 nor siaddr.
    #[error("neither option 160 nor 66 nor siaddr")]
    NoProvisioningServer,
    /// AudioCodes in recovery mode: no server in option 66 nor siaddr.
    #[error("recovery: no option 66 nor siaddr")]
    NoRecoveryServer,
    /// AudioCodes in Lync mode: no option 43.
    #[error("Lync mode: no option 43")]
    NoLyncOption43,
    /// Option 160 contains a NUL byte (it is a string without NUL).
    #[error("option 160 contains a NUL byte")]
    NulInOption160,
    /// Option 160 names FTP, which is not simulated.
    #[error("option 160 {url:?}: ftp is not simulated")]
    Ftp {
        /// Option 160 as received.
        url: String,
    },
    /// A server is given by host name, and the lab has no DNS.
    #[error("option {option} host {host:?} is not an address (no DNS in the lab)")]
    HostName {
        /// The option code (66, 160).
        option: u8,
        /// The host as given.
        host: String,
    },
    /// A firmware image for another device family.
    #[error("{file}: firmware for {family}, not {}", AUDIOCODES_FAMILY)]
    WrongFirmware {
        /// The image's path.
        file: String,
        /// The family its header names.
        family: String,
    },
    /// A received file is empty.
    #[error("{file} is empty")]
    EmptyFile {
        /// Its path.
        file: String,
    },
    /// A received file still holds a `${…}` macro the server should have
    /// expanded.
    #[error("{file}: unexpanded macro")]
    UnexpandedMacro {
        /// Its path.
        file: String,
    },
    /// SNTP.
    #[error("SNTP to {server}: {why}")]
    Sntp {
        /// Server.
        server: Ipv4Addr,
        /// Cause.
        why: String,
    },
}

impl DeviceError {
    /// The server has no such file (TFTP error 1, HTTP 404).
    pub(crate) fn is_not_found(&self) -> bool {
        matches!(
            self,
            DeviceError::Tftp {
                source: TftpError::Server { code: 1, .. },
                ..
            } | DeviceError::HttpStatus { status: 404, .. }
        )
    }
}
