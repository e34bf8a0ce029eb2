//! DHCPv4 client side, sans-IO: a strict message codec and the
//! DISCOVER → OFFER → REQUEST → ACK state machine of one device.
//!
//! Written independently of `pbxnet-dhcp` on purpose: the simulator is a
//! second opinion on the wire format. Time (`Instant`) and randomness (a
//! seeded `StdRng`) are inputs.
//!
//! Call order for [`DhcpClient`]: [`DhcpClient::poll_transmit`] after
//! creation and after every `handle_*`; [`DhcpClient::handle_message`] for
//! every BOOTREPLY seen with this client's `xid`; [`DhcpClient::handle_timeout`]
//! once [`DhcpClient::poll_timeout`] has passed; [`DhcpClient::lease`] is
//! `Some` once bound.
//!
//! `message` is the codec, `client` the state machine, `code` the option
//! numbers the devices use.

mod client;
pub(crate) mod code;
mod message;

#[cfg(test)]
mod tests;

pub(crate) use client::{Backoff, ClientIdentity, DhcpClient, Lease};
pub(crate) use message::DhcpDecodeError;
