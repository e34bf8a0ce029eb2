//! Value types shared by every daemon's schema. Each parses strictly and, when
//! it refuses a value, says what it found and what would be valid. Messages
//! use the form "what is wrong; expected what is valid" so that diagnostics can
//! split them into a message and a hint. One file per kind of value; each is
//! written as a string in TOML (`serde_str`).

mod hex;
mod ipv4;
mod mac;
mod quantity;
mod serde_str;

#[cfg(test)]
mod tests;

pub use hex::HexData;
pub use ipv4::{parse_ipv4, AddrRange, Ipv4, Ipv4Net};
pub use mac::{MacAddr, MacPattern};
pub use quantity::{ByteSize, HumanDuration};
