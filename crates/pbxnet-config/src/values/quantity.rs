//! Quantities with units: durations (`90s`, `1h30m`) and byte sizes
//! (`512KiB`, `20MB`).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::serde_str::{string_serde, StringOrOther};

/// A duration written with units: `90s`, `12h`, `30d`, `1h30m`, `250ms`.
/// A bare number is refused: `3600` could mean seconds or milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct HumanDuration(pub Duration);

const DURATION_EXPECTED: &str =
    "expected a number with a unit (ms, s, m, h, d, w) such as 90s, 12h, 30d or 1h30m";

impl HumanDuration {
    /// The duration.
    pub fn get(&self) -> Duration {
        self.0
    }
}

impl FromStr for HumanDuration {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let text = s.trim();
        if text.is_empty() {
            return Err(format!("empty duration; {DURATION_EXPECTED}"));
        }
        let mut total: u128 = 0;
        let mut rest = text;
        while !rest.is_empty() {
            let digits = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            if digits == 0 {
                return Err(format!("invalid duration `{s}`: expected a number before `{rest}`; {DURATION_EXPECTED}"));
            }
            let number: u128 = rest[..digits].parse().map_err(|_| {
                format!("invalid duration `{s}`: number too large; {DURATION_EXPECTED}")
            })?;
            rest = &rest[digits..];
            let unit_len = rest
                .find(|c: char| c.is_ascii_digit())
                .unwrap_or(rest.len());
            let unit = rest[..unit_len].trim();
            let millis: u128 = match unit {
                "ms" => 1,
                "s" | "sec" => 1_000,
                "m" | "min" => 60_000,
                "h" => 3_600_000,
                "d" => 86_400_000,
                "w" => 604_800_000,
                "" => {
                    return Err(format!(
                        "invalid duration `{s}`: `{number}` has no unit; {DURATION_EXPECTED}"
                    ));
                }
                other => {
                    return Err(format!(
                        "invalid duration `{s}`: unknown unit `{other}`; {DURATION_EXPECTED}"
                    ));
                }
            };
            total = total
                .checked_add(number.saturating_mul(millis))
                .filter(|t| *t <= u128::from(u64::MAX))
                .ok_or_else(|| format!("invalid duration `{s}`: too large; {DURATION_EXPECTED}"))?;
            rest = &rest[unit_len..];
        }
        Ok(HumanDuration(Duration::from_millis(total as u64)))
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        for (unit, size) in [
            ("w", 604_800_000u128),
            ("d", 86_400_000),
            ("h", 3_600_000),
            ("m", 60_000),
            ("s", 1_000),
        ] {
            if ms != 0 && ms % size == 0 {
                return write!(f, "{}{unit}", ms / size);
            }
        }
        write!(f, "{ms}ms")
    }
}

string_serde!(HumanDuration, "a duration such as 90s, 12h or 30d");

/// A size in bytes: `512KiB`, `20MB`, `0.5MB`, or a plain integer of bytes.
/// `kB`/`MB`/`GB` are powers of 1000, `KiB`/`MiB`/`GiB` of 1024.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ByteSize(pub u64);

const SIZE_EXPECTED: &str = "expected a size such as 512KiB, 20MB, 0.5MB or a number of bytes";

impl FromStr for ByteSize {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let text = s.trim();
        let split = text
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        if number.is_empty() {
            return Err(format!("invalid size `{s}`: no number; {SIZE_EXPECTED}"));
        }
        let multiplier: u64 = match unit.trim() {
            "" | "B" => 1,
            "kB" | "KB" | "k" | "K" => 1_000,
            "KiB" => 1 << 10,
            "MB" | "M" => 1_000_000,
            "MiB" => 1 << 20,
            "GB" | "G" => 1_000_000_000,
            "GiB" => 1 << 30,
            other => {
                return Err(format!(
                    "invalid size `{s}`: unknown unit `{other}`; {SIZE_EXPECTED}"
                ))
            }
        };
        let value: f64 = number.parse().map_err(|_| {
            format!("invalid size `{s}`: `{number}` is not a number; {SIZE_EXPECTED}")
        })?;
        let bytes = value * multiplier as f64;
        if !(0.0..=u64::MAX as f64).contains(&bytes) || bytes.fract() != 0.0 {
            return Err(format!(
                "invalid size `{s}`: not a whole number of bytes; {SIZE_EXPECTED}"
            ));
        }
        Ok(ByteSize(bytes as u64))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (unit, size) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
            if self.0 != 0 && self.0 % size == 0 {
                return write!(f, "{}{unit}", self.0 / size);
            }
        }
        write!(f, "{}", self.0)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match StringOrOther::deserialize(deserializer).map_err(serde::de::Error::custom)? {
            StringOrOther::Integer(i) if i >= 0 => Ok(ByteSize(i as u64)),
            StringOrOther::String(s) => s.parse().map_err(serde::de::Error::custom),
            other => Err(serde::de::Error::custom(
                other
                    .into_string("a size")
                    .err()
                    .unwrap_or_else(|| format!("negative size; {SIZE_EXPECTED}")),
            )),
        }
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}
