//! Raw bytes written in hex.

use std::fmt;
use std::str::FromStr;

use super::serde_str::string_serde;

/// Raw bytes written in hex ("data-string" in the seed): `01:02:0a`,
/// `01 02 0a`, `01020a` or `0x01020a`. The server-address macro is refused:
/// hex is raw bytes, and the seed forbids the macro there too.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct HexData(pub Vec<u8>);

const HEX_EXPECTED: &str = "expected hex bytes such as 01:02:0a, 01 02 0a or 0x01020a";

impl FromStr for HexData {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.contains("${") {
            return Err(format!(
                "the server-address macro is not allowed inside hex data (`{s}`): hex values are raw bytes and are never expanded; expected hex bytes only — use an `ip` typed value to send the server's address"
            ));
        }
        let text = s.trim();
        let text = text
            .strip_prefix("0x")
            .or_else(|| text.strip_prefix("0X"))
            .unwrap_or(text);
        let has_separators = text.contains([':', ' ', '-']);
        let mut bytes = Vec::new();
        if has_separators {
            for group in text.split([':', ' ', '-']).filter(|g| !g.is_empty()) {
                if group.len() > 2 {
                    return Err(format!("invalid hex data `{s}`: group `{group}` has more than two digits; {HEX_EXPECTED}"));
                }
                bytes.push(u8::from_str_radix(group, 16).map_err(|_| {
                    format!("invalid hex data `{s}`: `{group}` is not hex; {HEX_EXPECTED}")
                })?);
            }
        } else {
            if text.len() % 2 != 0 {
                return Err(format!(
                    "invalid hex data `{s}`: odd number of hex digits ({}); {HEX_EXPECTED}",
                    text.len()
                ));
            }
            for i in (0..text.len()).step_by(2) {
                let pair = text.get(i..i + 2).unwrap_or("");
                bytes.push(u8::from_str_radix(pair, 16).map_err(|_| {
                    format!("invalid hex data `{s}`: `{pair}` is not hex; {HEX_EXPECTED}")
                })?);
            }
        }
        Ok(HexData(bytes))
    }
}

impl fmt::Display for HexData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

string_serde!(HexData, "hex bytes such as 01:02:0a");
