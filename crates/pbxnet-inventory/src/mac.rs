//! The device key: a 48-bit MAC address, written `aa:bb:cc:dd:ee:ff` in
//! events and on the API (the spelling `pbxnet-dhcpd leases` prints).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A MAC address. Ordered by its bytes, which is the inventory's stable
/// pagination order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mac(pub [u8; 6]);

/// A text that is not a MAC address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a MAC address: {text:?} (expected aa:bb:cc:dd:ee:ff, aa-bb-… or 12 hex digits)")]
pub struct MacParseError {
    /// What was given.
    pub text: String,
}

impl Mac {
    /// The vendor's organisationally unique identifier (first three bytes).
    pub fn oui(&self) -> [u8; 3] {
        [self.0[0], self.0[1], self.0[2]]
    }

    /// 12 lower-case hex digits, no separators: the `<MAC>` of AudioCodes
    /// file names (`00908f61a022.cfg`) and the pagination cursor.
    pub fn compact(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl FromStr for Mac {
    type Err = MacParseError;

    /// Accepts `00:90:8f:61:a0:22`, `00-90-8F-61-A0-22` and `00908f61a022`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = || MacParseError { text: text.into() };
        let digits: String = text.chars().filter(|c| *c != ':' && *c != '-').collect();
        let separators = text.len() - digits.len();
        if digits.len() != 12 || !(separators == 0 || separators == 5) {
            return Err(err());
        }
        let mut mac = [0u8; 6];
        for (i, byte) in mac.iter_mut().enumerate() {
            let pair = digits.get(2 * i..2 * i + 2).ok_or_else(err)?;
            *byte = u8::from_str_radix(pair, 16).map_err(|_| err())?;
        }
        Ok(Mac(mac))
    }
}

impl Serialize for Mac {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Mac {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_three_spellings() {
        let want = Mac([0x00, 0x90, 0x8f, 0x61, 0xa0, 0x22]);
        for text in ["00:90:8f:61:a0:22", "00-90-8F-61-A0-22", "00908f61a022"] {
            assert_eq!(text.parse::<Mac>().unwrap(), want, "{text}");
        }
        assert_eq!(want.to_string(), "00:90:8f:61:a0:22");
        assert_eq!(want.compact(), "00908f61a022");
    }

    #[test]
    fn rejects_short_long_and_non_hex() {
        for text in [
            "00:90:8f:61:a0",
            "00908f61a0223",
            "00:90:8f:61:a0:zz",
            "0:090:8f:61:a0:22x",
            "é0908f61a02",
        ] {
            assert!(text.parse::<Mac>().is_err(), "{text}");
        }
    }
}
