//! What the server made of each client request, for the event socket
//! ([`pbxnet_inventory::NtpRequestEvent`]): collected by the core only
//! while the shell asks for it ([`crate::Server::report_requests`]:
//! someone subscribes), so a server nobody watches does no work for it.

use std::net::IpAddr;

use pbxnet_inventory::AuthResult;

/// One client request (NTP mode 3, or mode 0 of version 1) as handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestSeen {
    /// The client.
    pub client: IpAddr,
    /// NTP version of the request.
    pub version: u8,
    /// Key id of the request's MAC, if it had one.
    pub key_id: Option<u32>,
    /// The MAC check; `None` also when the request was refused (rate
    /// limit, access policy) before its MAC was looked at.
    pub auth: AuthResult,
    /// Kiss code sent instead of time (`RATE`, `DENY`, `CRYP` for a
    /// crypto-NAK).
    pub kod: Option<&'static str>,
}

/// Filled while a request goes through the checks.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Seen {
    /// 0 until the request is known to be a client request.
    pub(crate) version: u8,
    pub(crate) key_id: Option<u32>,
    pub(crate) auth: Option<AuthResult>,
    pub(crate) kod: Option<&'static str>,
}

impl Seen {
    /// A client request of `version`, with a MAC of `key_id` if any.
    pub(crate) fn request(version: u8, key_id: Option<u32>) -> Seen {
        Seen {
            version,
            key_id,
            ..Seen::default()
        }
    }

    /// The record, when the datagram was a client request.
    pub(crate) fn finish(self, client: IpAddr) -> Option<RequestSeen> {
        (self.version != 0).then_some(RequestSeen {
            client,
            version: self.version,
            key_id: self.key_id,
            auth: self.auth.unwrap_or(AuthResult::None),
            kod: self.kod,
        })
    }
}
