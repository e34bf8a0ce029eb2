//! Why a reply was not used, in words an operator can act on.

use crate::mac::Key;
use crate::packet::Packet;
use std::fmt;

/// Why a reply was not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reject {
    /// Undecodable.
    Malformed,
    /// Not a mode-4 reply.
    NotServer,
    /// No request outstanding (late or unsolicited).
    Unsolicited,
    /// Same transmit timestamp as the previous reply (test 1).
    Duplicate,
    /// Origin does not match our nonce (test 2).
    BogusOrigin,
    /// Receive or transmit timestamp zero (test 3).
    ZeroTimestamp,
    /// The reply to a keyed request failed authentication (test 4).
    Auth(AuthFailure),
    /// LI=3 or stratum ≥ 16 (test 5).
    Unsynchronized,
    /// Root distance above 16 s (test 6).
    RootDistance,
    /// Kiss-o'-death (honoured).
    Kod([u8; 4]),
}

/// Which authentication check a reply to a keyed request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthFailure {
    /// No MAC at all: the server answered without authenticating.
    MissingMac,
    /// A crypto-NAK: the server could not verify our request (it does not
    /// know our key id, or holds another secret for it).
    CryptoNak,
    /// Signed with another key id than the one we sent.
    WrongKeyId {
        /// The key id in the reply.
        got: u32,
    },
    /// Our key id, but the digest does not match: another secret or type.
    BadMac,
}

/// The MAC checks on a reply to a request signed with `key`.
pub(super) fn check_mac(key: &Key, p: &Packet<'_>) -> Result<(), AuthFailure> {
    let mac = p.mac.ok_or(AuthFailure::MissingMac)?;
    if mac.is_crypto_nak() {
        return Err(AuthFailure::CryptoNak);
    }
    if mac.key_id != key.id() {
        return Err(AuthFailure::WrongKeyId { got: mac.key_id });
    }
    if !key.verify(p.authenticated, mac.digest) {
        return Err(AuthFailure::BadMac);
    }
    Ok(())
}

impl fmt::Display for AuthFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthFailure::MissingMac => f.write_str("no MAC in the reply to a keyed request"),
            AuthFailure::CryptoNak => f.write_str(
                "crypto-NAK: the server does not accept our key (unknown key id or another secret)",
            ),
            AuthFailure::WrongKeyId { got } => {
                write!(f, "reply signed with key id {got}, not ours")
            }
            AuthFailure::BadMac => f.write_str("bad MAC (another secret or key type)"),
        }
    }
}

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reject::Malformed => f.write_str("malformed reply"),
            Reject::NotServer => f.write_str("not a server reply (mode)"),
            Reject::Unsolicited => {
                f.write_str("no request outstanding (late or unsolicited reply)")
            }
            Reject::Duplicate => f.write_str("duplicate reply"),
            Reject::BogusOrigin => f.write_str("bogus origin timestamp"),
            Reject::ZeroTimestamp => f.write_str("zero receive or transmit timestamp"),
            Reject::Auth(a) => write!(f, "authentication failed: {a}"),
            Reject::Unsynchronized => f.write_str("server unsynchronised (LI=3 or stratum 0/16)"),
            Reject::RootDistance => f.write_str("server root distance above 16 s"),
            Reject::Kod(code) => write!(f, "kiss-o'-death {}", kiss_code(code)),
        }
    }
}

/// A kiss code as text (printable ASCII, else hex).
pub fn kiss_code(code: &[u8; 4]) -> String {
    if code.iter().all(|b| b.is_ascii_graphic()) {
        code.iter().map(|&b| char::from(b)).collect()
    } else {
        code.iter().map(|b| format!("{b:02x}")).collect()
    }
}
