//! Key orders for `pbxnet-keygen issue`: a TOML file naming the serial, the
//! key type, the software major version, edition, acknowledgement code and
//! the services. Every problem is reported, not just the first.
//!
//! ```toml
//! serial = "000068DA"
//! type = "main"                 # or "cti"
//! software-major-version = 3
//! edition = 1
//! ack-code = "BEEF"             # hex text, or an integer
//! [services]
//! utl = 120
//! voice-mail-storage = 600      # minutes, step 10
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;
use thiserror::Error;

use crate::catalogue;
use crate::key::{EncodeError, License};
use crate::kind::{KeyKind, KeyKindError, Serial, SerialError};

/// The order as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawOrder {
    /// CPU serial.
    pub serial: String,
    /// `main` or `cti`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Software major version.
    pub software_major_version: u32,
    /// Edition number.
    #[serde(default)]
    pub edition: u32,
    /// Acknowledgement code (hex text or integer).
    #[serde(default = "default_ack")]
    pub ack_code: AckCode,
    /// Services by id; absent ones get their default.
    #[serde(default)]
    pub services: BTreeMap<String, u32>,
}

fn default_ack() -> AckCode {
    AckCode::Int(0)
}

/// Acknowledgement code, as hex text or as an integer.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum AckCode {
    /// `ack-code = 48879`.
    Int(u32),
    /// `ack-code = "BEEF"`: the text as written (input, not an error;
    /// [`OrderError::AckCodeNotHex`] when it is not hexadecimal).
    Hex(String),
}

/// A problem with an order.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum OrderError {
    /// Not TOML for an order (syntax, unknown or mistyped field).
    #[error("order file, line {line} column {column}: {problem}")]
    Toml {
        /// Line (1-based; 0 when the parser gives no position).
        line: usize,
        /// Column (1-based).
        column: usize,
        /// The TOML parser's explanation.
        problem: String,
    },
    /// `serial` is not 8 hexadecimal digits.
    #[error("serial: {0}")]
    Serial(SerialError),
    /// `type` is neither main nor cti.
    #[error("type: {0}")]
    Kind(KeyKindError),
    /// `edition` does not fit 16 bits.
    #[error("edition: {value} is above FFFF")]
    Edition {
        /// The value given.
        value: u32,
    },
    /// `ack-code` integer does not fit 16 bits.
    #[error("ack-code: {value} is above FFFF")]
    AckCodeTooLarge {
        /// The value given.
        value: u32,
    },
    /// `ack-code` text is not 1 to 4 hexadecimal digits.
    #[error("ack-code: {text:?} is not 1 to 4 hexadecimal digits")]
    AckCodeNotHex {
        /// The text given.
        text: String,
    },
    /// A `[services]` key that is no service of this key type.
    #[error("services.{id}: not a {kind} key service{}", did_you_mean.as_ref().map(|m| format!("; did you mean `{m}`?")).unwrap_or_default())]
    UnknownService {
        /// Key type of the order.
        kind: KeyKind,
        /// The id given.
        id: String,
        /// The closest service id, if any is close.
        did_you_mean: Option<String>,
    },
    /// Catalogue refusal.
    #[error("services.{0}")]
    Value(EncodeError),
}

/// A parsed, fully checked order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    /// Serial the key is for.
    pub serial: Serial,
    /// Licence content.
    pub license: License,
}

fn toml_error(e: &toml::de::Error, text: &str) -> OrderError {
    let (line, column) = match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            (line, column)
        }
        None => (0, 0),
    };
    OrderError::Toml {
        line,
        column,
        problem: e.message().to_string(),
    }
}

impl Order {
    /// Parses and checks an order; returns every problem.
    pub fn parse(text: &str) -> Result<Order, Vec<OrderError>> {
        let raw: RawOrder = toml::from_str(text).map_err(|e| vec![toml_error(&e, text)])?;
        let mut errs = Vec::new();
        let serial = raw
            .serial
            .parse::<Serial>()
            .map_err(|e| errs.push(OrderError::Serial(e)))
            .ok();
        let kind = raw
            .kind
            .parse::<KeyKind>()
            .map_err(|e| errs.push(OrderError::Kind(e)))
            .ok();
        let major = u8::try_from(raw.software_major_version).unwrap_or(u8::MAX);
        let edition = u16::try_from(raw.edition)
            .map_err(|_| errs.push(OrderError::Edition { value: raw.edition }))
            .unwrap_or(0);
        let ack_code = match &raw.ack_code {
            AckCode::Int(v) => {
                u16::try_from(*v).map_err(|_| OrderError::AckCodeTooLarge { value: *v })
            }
            AckCode::Hex(s) => u16::from_str_radix(s.trim_start_matches("0x"), 16)
                .map_err(|_| OrderError::AckCodeNotHex { text: s.clone() }),
        }
        .map_err(|e| errs.push(e))
        .unwrap_or(0);
        let Some(kind) = kind else { return Err(errs) };
        let mut license = License::defaults(kind, major);
        license.edition = edition;
        license.ack_code = ack_code;
        let ids: Vec<String> = catalogue::services(kind)
            .iter()
            .map(|s| s.id.to_string())
            .collect();
        for (id, &value) in &raw.services {
            if !license.set(id, value) {
                errs.push(OrderError::UnknownService {
                    kind,
                    id: id.clone(),
                    did_you_mean: pbxnet_config::did_you_mean(id, &ids).map(str::to_owned),
                });
            }
        }
        errs.extend(license.check().into_iter().map(OrderError::Value));
        match (serial, errs.is_empty()) {
            (Some(serial), true) => Ok(Order { serial, license }),
            _ => Err(errs),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_an_order() {
        let o = Order::parse(
            "serial = \"000068DA\"\ntype = \"main\"\nsoftware-major-version = 3\nedition = 2\nack-code = \"BEEF\"\n\
             [services]\nutl = 120\nvoice-mail-storage = 600\n",
        )
        .unwrap();
        assert_eq!(o.serial, Serial(0x68DA));
        assert_eq!((o.license.edition, o.license.ack_code), (2, 0xBEEF));
        assert_eq!(o.license.get("utl"), Some(120));
        assert_eq!(o.license.get("voice-mail-storage"), Some(600));
        assert_eq!(
            o.license.get("greetings"),
            Some(4),
            "absent services get their default"
        );
    }

    #[test]
    fn refuses_off_granularity_above_max_and_unknown() {
        let errs = Order::parse(
            "serial = \"000068DA\"\ntype = \"main\"\nsoftware-major-version = 11\nedition = 70000\n\
             [services]\nutl = 301\ngreetings = 6\nb-channels-mix = 3\nvoice-mail-ports = 9\nutll = 3\n",
        )
        .unwrap_err();
        let text: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(errs.len(), 7, "{text:#?}");
        assert!(
            text.iter()
                .any(|t| t.contains("utl = 301: above the maximum 300")),
            "{text:#?}"
        );
        assert!(
            text.iter()
                .any(|t| t.contains("greetings = 6: not on the granularity")),
            "{text:#?}"
        );
        assert!(
            text.iter().any(|t| t.contains("did you mean `utl`")),
            "{text:#?}"
        );
        assert!(
            text.iter().any(|t| t.contains("major version 11")),
            "{text:#?}"
        );
        assert!(text.iter().any(|t| t.starts_with("edition")), "{text:#?}");
    }

    #[test]
    fn refuses_unknown_keys() {
        assert!(Order::parse(
            "serial = \"000068DA\"\ntype = \"cti\"\nsoftware-major-version = 3\nbogus = 1\n"
        )
        .is_err());
    }
}
