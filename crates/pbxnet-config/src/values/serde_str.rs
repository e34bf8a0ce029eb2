//! Serde for the value types: each is written as a string and read through
//! its `FromStr`, with a message naming the type when the value is not a
//! string at all.

use serde::Deserialize;

/// Implements `Deserialize` (from a string) and `Serialize` (to its display
/// form) through `FromStr`/`Display`.
macro_rules! string_serde {
    ($ty:ty, $what:expr) => {
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text =
                    <$crate::values::serde_str::StringOrOther as serde::Deserialize>::deserialize(
                        deserializer,
                    )
                    .map_err(serde::de::Error::custom)?
                    .into_string($what)
                    .map_err(serde::de::Error::custom)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }
    };
}
pub(super) use string_serde;

/// Accepts any scalar so that "wrong type" errors can say what the value type
/// wanted (instead of serde's "invalid type: integer, expected a string").
#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum StringOrOther {
    String(String),
    Integer(i64),
    Float(f64),
    Bool(bool),
}

impl StringOrOther {
    pub(super) fn into_string(self, what: &str) -> Result<String, String> {
        match self {
            Self::String(s) => Ok(s),
            Self::Integer(i) => Err(format!(
                "found the number {i}, not a quoted string; expected {what} in quotes"
            )),
            Self::Float(f) => Err(format!(
                "found the number {f}, not a quoted string; expected {what} in quotes"
            )),
            Self::Bool(b) => Err(format!(
                "found `{b}`, not a quoted string; expected {what} in quotes"
            )),
        }
    }
}
