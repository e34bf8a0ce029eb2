//! Transfer ends as published events ([`pbxnet_inventory::TransferEvent`]):
//! how TFTP's outcomes, its refusals and HTTP statuses map onto the
//! event's outcomes (what the inventory's boot verdict reads: a chain file
//! `not-found` or `denied` is a `file error`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use pbxnet_inventory::{Event, Outcome, Protocol, TransferEvent};
use pbxnet_runtime::events::Events;

use crate::server::RefuseReason;

/// A transfer that ended (or was refused), for the event socket.
pub(super) struct Ended<'a> {
    pub(super) client: SocketAddr,
    pub(super) path: &'a str,
    pub(super) protocol: Protocol,
    pub(super) bytes: u64,
    pub(super) outcome: Outcome,
    pub(super) user_agent: Option<&'a str>,
    pub(super) client_cert: Option<&'a str>,
}

/// Publishes `ended` (built only when someone subscribes). The inventory
/// keys on IPv4 clients; a transfer from an IPv6 peer is not published.
pub(super) fn publish(events: &Events, ended: Ended<'_>) {
    let Some(client_ip) = ipv4(ended.client.ip()) else {
        return;
    };
    events.publish(|| {
        Event::Transfer(TransferEvent {
            client_ip,
            path: ended.path.to_string(),
            protocol: ended.protocol,
            bytes: ended.bytes,
            outcome: ended.outcome,
            user_agent: ended.user_agent.map(str::to_string),
            client_cert: ended.client_cert.map(str::to_string),
        })
    });
}

fn ipv4(ip: IpAddr) -> Option<Ipv4Addr> {
    match ip {
        IpAddr::V4(v4) => Some(v4),
        IpAddr::V6(v6) => v6.to_ipv4_mapped(),
    }
}

/// A TFTP transfer's end, from the label its task reported
/// (`complete`, `client-error 0 "…"`, `timed-out`, `unreachable`,
/// `source-error`, `server-error`, `aborted`).
pub(super) fn tftp_outcome(label: &str) -> Outcome {
    match label.split(' ').next().unwrap_or("") {
        "complete" => Outcome::Ok,
        // The client stopped it (a phone reading only an image's header).
        "client-error" => Outcome::Aborted,
        _ => Outcome::Error,
    }
}

/// A refused TFTP request.
pub(super) fn refusal_outcome(reason: RefuseReason) -> Outcome {
    match reason {
        RefuseReason::NotFound => Outcome::NotFound,
        RefuseReason::BadPath
        | RefuseReason::Secured
        | RefuseReason::WriteRefused
        | RefuseReason::MailMode => Outcome::Denied,
        RefuseReason::ServerBusy
        | RefuseReason::ClientBusy
        | RefuseReason::OverQuota
        | RefuseReason::Malformed
        | RefuseReason::ConfigError => Outcome::Error,
    }
}

/// An HTTP(S) answer: its status, and whether the body was cut short by
/// the client going away.
pub(super) fn http_outcome(status: u16, cut_short: bool) -> Outcome {
    match status {
        200..=399 if cut_short => Outcome::Aborted,
        200..=399 => Outcome::Ok,
        404 | 410 => Outcome::NotFound,
        401 | 403 => Outcome::Denied,
        _ => Outcome::Error,
    }
}

#[cfg(test)]
mod tests {
    use super::{http_outcome, refusal_outcome, tftp_outcome};
    use crate::server::RefuseReason;
    use pbxnet_inventory::Outcome;

    #[test]
    fn tftp_labels_map_to_event_outcomes() {
        assert_eq!(tftp_outcome("complete"), Outcome::Ok);
        assert_eq!(
            tftp_outcome("client-error 0 \"header read\""),
            Outcome::Aborted
        );
        for label in [
            "timed-out",
            "unreachable",
            "source-error",
            "server-error",
            "aborted",
        ] {
            assert_eq!(tftp_outcome(label), Outcome::Error, "{label}");
        }
        assert_eq!(refusal_outcome(RefuseReason::NotFound), Outcome::NotFound);
        assert_eq!(refusal_outcome(RefuseReason::Secured), Outcome::Denied);
        assert_eq!(refusal_outcome(RefuseReason::ServerBusy), Outcome::Error);
    }

    #[test]
    fn http_statuses_map_to_event_outcomes() {
        assert_eq!(http_outcome(200, false), Outcome::Ok);
        assert_eq!(http_outcome(206, false), Outcome::Ok);
        assert_eq!(http_outcome(304, false), Outcome::Ok);
        assert_eq!(http_outcome(200, true), Outcome::Aborted);
        assert_eq!(http_outcome(404, false), Outcome::NotFound);
        assert_eq!(http_outcome(401, false), Outcome::Denied);
        assert_eq!(http_outcome(403, false), Outcome::Denied);
        assert_eq!(http_outcome(408, false), Outcome::Error);
        assert_eq!(http_outcome(500, false), Outcome::Error);
    }
}
