//! What a commit hands back, for both backends: a ticket that resolves
//! when the commit is durable, and its outcome (the addresses another
//! server won).

use std::net::Ipv4Addr;

/// A commit in flight: resolves once its changes (and every earlier one)
/// are durable, or failed.
pub type CommitTicket = tokio::sync::oneshot::Receiver<Result<Committed, String>>;

/// A durable commit's outcome: the addresses whose write lost to another
/// server sharing the store (always none for SQLite). A reply granting one
/// of them must not leave.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Committed {
    /// Addresses another server holds (compare-and-swap lost).
    pub lost: Vec<Ipv4Addr>,
}

impl Committed {
    /// Whether the encoded reply `bytes` may leave: it grants no address
    /// (`yiaddr`, RFC 2131 §2) whose write lost.
    pub fn keeps(&self, bytes: &[u8]) -> bool {
        match reply_address(bytes) {
            Some(ip) => !self.lost.contains(&ip),
            None => true,
        }
    }
}

/// The address a reply grants: its `yiaddr` (bytes 16..20).
pub fn reply_address(bytes: &[u8]) -> Option<Ipv4Addr> {
    let b: [u8; 4] = bytes.get(16..20)?.try_into().ok()?;
    Some(Ipv4Addr::from(b)).filter(|ip| !ip.is_unspecified())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_granting_a_lost_address_is_withheld() {
        let mut ack = vec![0u8; 240];
        ack[16..20].copy_from_slice(&[10, 0, 0, 7]);
        let mut nak = vec![0u8; 240];
        nak[16..20].copy_from_slice(&[0, 0, 0, 0]);
        let c = Committed {
            lost: vec![Ipv4Addr::new(10, 0, 0, 7)],
        };
        assert_eq!(reply_address(&ack), Some(Ipv4Addr::new(10, 0, 0, 7)));
        assert!(!c.keeps(&ack));
        assert!(c.keeps(&nak), "a NAK grants nothing");
        assert!(Committed::default().keeps(&ack));
    }
}
