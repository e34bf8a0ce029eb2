//! The two identities every key names: its kind (Main `.msl` / CTI `.csl`)
//! and the CPU serial it is bound to. Shared by the catalogue, the key
//! format, the validator and the configuration (a leaf module: it imports
//! none of them).

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

/// Main (`.msl`) or CTI (`.csl`) key.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum KeyKind {
    /// System functions, `<SERIAL>.msl`, 42–138 characters.
    Main,
    /// CTI functions, `<SERIAL>.csl`, 17–161 characters.
    Cti,
}

impl KeyKind {
    /// Both kinds.
    pub const ALL: [KeyKind; 2] = [KeyKind::Main, KeyKind::Cti];

    /// File extension (lower case, as in the seed's example `000068DA.msl`).
    pub fn extension(self) -> &'static str {
        match self {
            KeyKind::Main => "msl",
            KeyKind::Cti => "csl",
        }
    }

    /// Seed length limits in characters.
    pub fn length_limits(self) -> (usize, usize) {
        match self {
            KeyKind::Main => (42, 138),
            KeyKind::Cti => (17, 161),
        }
    }

    /// Largest payload in bytes that keeps the key within its length limit.
    pub fn max_payload(self) -> usize {
        match self {
            KeyKind::Main => 29,
            KeyKind::Cti => 44,
        }
    }

    pub(crate) fn tag(self) -> u8 {
        match self {
            KeyKind::Main => b'M',
            KeyKind::Cti => b'C',
        }
    }

    pub(crate) fn bit(self) -> u32 {
        match self {
            KeyKind::Main => 0,
            KeyKind::Cti => 1,
        }
    }

    /// File name of this key for a serial.
    pub fn file_name(self, serial: Serial) -> String {
        format!("{serial}.{}", self.extension())
    }
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyKind::Main => "main",
            KeyKind::Cti => "cti",
        })
    }
}

/// Bad key type text.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown key type {text:?}: expected \"main\" or \"cti\"")]
pub struct KeyKindError {
    /// The text given.
    pub text: String,
}

impl FromStr for KeyKind {
    type Err = KeyKindError;
    fn from_str(s: &str) -> Result<Self, KeyKindError> {
        match s.to_ascii_lowercase().as_str() {
            "main" | "msl" => Ok(KeyKind::Main),
            "cti" | "csl" => Ok(KeyKind::Cti),
            _ => Err(KeyKindError { text: s.into() }),
        }
    }
}

/// CPU hardware number: 8 hex digits (seed example `000068DA`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Serial(pub u32);

impl fmt::Display for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08X}", self.0)
    }
}

/// Bad serial text.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("serial {text:?} is not 8 hexadecimal digits (e.g. 000068DA)")]
pub struct SerialError {
    /// The text given.
    pub text: String,
}

impl FromStr for Serial {
    type Err = SerialError;
    fn from_str(s: &str) -> Result<Self, SerialError> {
        if s.len() == 8 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            u32::from_str_radix(s, 16)
                .map(Serial)
                .map_err(|_| SerialError { text: s.into() })
        } else {
            Err(SerialError { text: s.into() })
        }
    }
}

impl serde::Serialize for Serial {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Serial {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}
