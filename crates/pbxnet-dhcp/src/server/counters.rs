//! The core's counters: plain arrays indexed by message type and drop
//! reason (cheap to bump on the hot path), shown everywhere else (`status`,
//! `status --json`, the control socket) with a name on every number.

use serde::{Deserialize, Serialize};

/// Counters (plain struct, no globals). Serialized with named fields:
/// `{"received": {"discover": 1, …}, "dropped": {"malformed": 0, …}, …}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "NamedCounters", from = "NamedCounters")]
pub struct Counters {
    /// Received per message type, index = option 53 value (0 unused).
    pub received: [u64; 9],
    /// Sent per message type, index = option 53 value.
    pub sent: [u64; 9],
    /// Drops per [`crate::DropReason`], index = `DropReason as usize`.
    pub dropped: [u64; 13],
    /// Replies that left out an option the client's maximum message size
    /// had no room for, even with overload.
    pub truncated_replies: u64,
    /// Replies that carried options in `file`/`sname` (option 52) to fit
    /// the client's maximum message size.
    pub overloaded_replies: u64,
    /// Addresses put on probation after DECLINE.
    pub declines: u64,
    /// Never-used addresses found in use by the conflict probe.
    pub conflicts: u64,
}

/// Per DHCP message type (option 53 names, RFC 2132 §9.6).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageCounts {
    /// DHCPDISCOVER.
    pub discover: u64,
    /// DHCPOFFER.
    pub offer: u64,
    /// DHCPREQUEST.
    pub request: u64,
    /// DHCPDECLINE.
    pub decline: u64,
    /// DHCPACK.
    pub ack: u64,
    /// DHCPNAK.
    pub nak: u64,
    /// DHCPRELEASE.
    pub release: u64,
    /// DHCPINFORM.
    pub inform: u64,
}

impl MessageCounts {
    fn from_array(a: &[u64; 9]) -> Self {
        let [_, discover, offer, request, decline, ack, nak, release, inform] = *a;
        Self {
            discover,
            offer,
            request,
            decline,
            ack,
            nak,
            release,
            inform,
        }
    }

    fn to_array(self) -> [u64; 9] {
        let Self {
            discover,
            offer,
            request,
            decline,
            ack,
            nak,
            release,
            inform,
        } = self;
        [
            0, discover, offer, request, decline, ack, nak, release, inform,
        ]
    }

    /// (name, count) in option 53 order, for text output.
    pub fn named(&self) -> [(&'static str, u64); 8] {
        [
            ("discover", self.discover),
            ("offer", self.offer),
            ("request", self.request),
            ("decline", self.decline),
            ("ack", self.ack),
            ("nak", self.nak),
            ("release", self.release),
            ("inform", self.inform),
        ]
    }
}

/// Drops per reason, named by [`crate::DropReason::label`], in [`crate::DropReason::ALL`]
/// order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DropCounts {
    /// [`crate::DropReason::Malformed`].
    pub malformed: u64,
    /// [`crate::DropReason::NotARequest`].
    pub not_a_request: u64,
    /// [`crate::DropReason::BadHardwareAddress`].
    pub bad_hardware_address: u64,
    /// [`crate::DropReason::OversizedRequestList`].
    pub oversized_request_list: u64,
    /// [`crate::DropReason::Flood`].
    pub flood: u64,
    /// [`crate::DropReason::NoSubnet`].
    pub no_subnet: u64,
    /// [`crate::DropReason::NoClass`].
    pub no_class: u64,
    /// [`crate::DropReason::PoolExhausted`].
    pub pool_exhausted: u64,
    /// [`crate::DropReason::NotForUs`].
    pub not_for_us: u64,
    /// [`crate::DropReason::NotAuthoritative`].
    pub not_authoritative: u64,
    /// [`crate::DropReason::Unexpected`].
    pub unexpected: u64,
    /// [`crate::DropReason::OnProbation`].
    pub on_probation: u64,
    /// [`crate::DropReason::StoreUnreachable`].
    #[serde(default)]
    pub store_unreachable: u64,
}

impl DropCounts {
    fn from_array(a: &[u64; 13]) -> Self {
        let [malformed, not_a_request, bad_hardware_address, oversized_request_list, flood, no_subnet, no_class, pool_exhausted, not_for_us, not_authoritative, unexpected, on_probation, store_unreachable] =
            *a;
        Self {
            malformed,
            not_a_request,
            bad_hardware_address,
            oversized_request_list,
            flood,
            no_subnet,
            no_class,
            pool_exhausted,
            not_for_us,
            not_authoritative,
            unexpected,
            on_probation,
            store_unreachable,
        }
    }

    fn to_array(self) -> [u64; 13] {
        let Self {
            malformed,
            not_a_request,
            bad_hardware_address,
            oversized_request_list,
            flood,
            no_subnet,
            no_class,
            pool_exhausted,
            not_for_us,
            not_authoritative,
            unexpected,
            on_probation,
            store_unreachable,
        } = self;
        [
            malformed,
            not_a_request,
            bad_hardware_address,
            oversized_request_list,
            flood,
            no_subnet,
            no_class,
            pool_exhausted,
            not_for_us,
            not_authoritative,
            unexpected,
            on_probation,
            store_unreachable,
        ]
    }
}

/// [`Counters`] as shown: every number under its name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedCounters {
    /// Requests received, per type.
    pub received: MessageCounts,
    /// Replies sent, per type.
    pub sent: MessageCounts,
    /// Datagrams dropped, per reason.
    pub dropped: DropCounts,
    /// See [`Counters::truncated_replies`].
    pub truncated_replies: u64,
    /// See [`Counters::overloaded_replies`].
    #[serde(default)]
    pub overloaded_replies: u64,
    /// See [`Counters::declines`].
    pub declines: u64,
    /// See [`Counters::conflicts`].
    pub conflicts: u64,
}

impl From<Counters> for NamedCounters {
    fn from(c: Counters) -> Self {
        NamedCounters {
            received: MessageCounts::from_array(&c.received),
            sent: MessageCounts::from_array(&c.sent),
            dropped: DropCounts::from_array(&c.dropped),
            truncated_replies: c.truncated_replies,
            overloaded_replies: c.overloaded_replies,
            declines: c.declines,
            conflicts: c.conflicts,
        }
    }
}

impl From<NamedCounters> for Counters {
    fn from(n: NamedCounters) -> Self {
        Counters {
            received: n.received.to_array(),
            sent: n.sent.to_array(),
            dropped: n.dropped.to_array(),
            truncated_replies: n.truncated_replies,
            overloaded_replies: n.overloaded_replies,
            declines: n.declines,
            conflicts: n.conflicts,
        }
    }
}
