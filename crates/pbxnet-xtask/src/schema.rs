//! The configuration schema, read from the serde derives themselves.
//!
//! Each raw config struct (`#[derive(Deserialize)]`) is driven with a
//! recording deserializer: serde's derive passes the full list of a struct's
//! field names to `deserialize_struct`, and an enum's variant names to
//! `deserialize_enum`. To learn what lies under a field, the type is
//! deserialized again from the top, this time feeding only the keys on the
//! path to that field. Nothing is parsed from source text and nothing is
//! listed by hand, so the key list is the schema the daemons really accept.
//!
//! Limits: a type that deserializes through `deserialize_any` (untagged or
//! internally tagged enums, free-form values) is a leaf whose inner keys are
//! not listed; a map with free keys (`BTreeMap<String, _>`) is a [`Shape::Map`].

use std::cell::RefCell;
use std::fmt;

use serde::de::value::{BorrowedStrDeserializer, U64Deserializer};
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor,
};

/// `toml::Spanned<T>` deserializes as this private struct.
const SPANNED: &str = "$__serde_spanned_private_Spanned";
const SPANNED_START: &str = "$__serde_spanned_private_start";
const SPANNED_END: &str = "$__serde_spanned_private_end";
const SPANNED_VALUE: &str = "$__serde_spanned_private_value";

/// What sits at a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shape {
    /// A table with these keys.
    Table(Vec<&'static str>),
    /// One of these strings.
    Enum(Vec<&'static str>),
    /// A table with free keys.
    Map,
    /// A value (string, number, boolean, or anything read with `deserialize_any`).
    Value,
}

/// One key of a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    /// Dotted path; an array of tables adds `[]` (`pool[].range`).
    pub path: String,
    /// The path's parts (field names only).
    pub parts: Vec<&'static str>,
    /// True when the value is an array (of values or of tables).
    pub array: bool,
    /// What the value is.
    pub shape: Shape,
}

/// One configuration file and its raw struct.
#[derive(Debug, Clone, Copy)]
pub struct File {
    /// File name in /etc/pbxnet.
    pub name: &'static str,
    walk: fn() -> Vec<Key>,
    parse: fn(&str) -> Result<String, String>,
}

impl File {
    /// Every key of the file, depth first in the struct's field order.
    pub fn keys(&self) -> Vec<Key> {
        (self.walk)()
    }

    /// Deserializes `text` into the file's raw struct (serde only, no
    /// semantic checks) and returns its `Debug` form with spans blanked, so
    /// that two texts meaning the same settings compare equal.
    pub fn parse_debug(&self, text: &str) -> Result<String, String> {
        (self.parse)(text)
    }
}

fn parse_debug<T: DeserializeOwned + fmt::Debug>(text: &str) -> Result<String, String> {
    toml::from_str::<T>(text)
        .map(|v| strip_spans(&format!("{v:?}")))
        .map_err(|e| e.to_string())
}

/// Replaces `span: 12..34` (from `Spanned`'s Debug) by `span: _`.
pub fn strip_spans(debug: &str) -> String {
    let mut out = String::with_capacity(debug.len());
    let mut rest = debug;
    while let Some(i) = rest.find("span: ") {
        out.push_str(&rest[..i + 6]);
        rest = &rest[i + 6..];
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        out.push('_');
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// The five configuration files.
pub fn files() -> Vec<File> {
    vec![
        File {
            name: "site.toml",
            walk: walk::<pbxnet_config::RawSite>,
            parse: parse_debug::<pbxnet_config::RawSite>,
        },
        File {
            name: "dhcp.toml",
            walk: walk::<pbxnet_dhcp::config::RawDhcp>,
            parse: parse_debug::<pbxnet_dhcp::config::RawDhcp>,
        },
        File {
            name: "tftp.toml",
            walk: walk::<pbxnet_tftp::RawTftpConfig>,
            parse: parse_debug::<pbxnet_tftp::RawTftpConfig>,
        },
        File {
            name: "ntp.toml",
            walk: walk::<pbxnet_ntp::RawNtpConfig>,
            parse: parse_debug::<pbxnet_ntp::RawNtpConfig>,
        },
        File {
            name: "license.toml",
            walk: walk::<pbxnet_license::RawLicenseConfig>,
            parse: parse_debug::<pbxnet_license::RawLicenseConfig>,
        },
    ]
}

/// Every key of `T`, depth first. A table whose keys are those of a table
/// above it (a recursive type, such as DHCP sub-options) is listed but not
/// descended into again.
pub fn walk<T: DeserializeOwned>() -> Vec<Key> {
    let mut out = Vec::new();
    let Some((_, Shape::Table(fields))) = probe::<T>(&[]) else {
        return out;
    };
    type Entry = (Vec<&'static str>, String, Vec<Vec<&'static str>>);
    let ancestors = vec![fields.clone()];
    let mut stack: Vec<Entry> = fields
        .iter()
        .rev()
        .map(|f| (vec![*f], (*f).to_string(), ancestors.clone()))
        .collect();
    while let Some((parts, path, ancestors)) = stack.pop() {
        let Some((array, shape)) = probe::<T>(&parts) else {
            continue;
        };
        if let Shape::Table(fields) = &shape {
            if !ancestors.contains(fields) {
                let prefix = if array {
                    format!("{path}[]")
                } else {
                    path.clone()
                };
                let mut inner = ancestors.clone();
                inner.push(fields.clone());
                for f in fields.iter().rev() {
                    let mut p = parts.clone();
                    p.push(f);
                    stack.push((p, format!("{prefix}.{f}"), inner.clone()));
                }
            }
        }
        out.push(Key {
            path,
            parts,
            array,
            shape,
        });
    }
    out
}

/// What lies at `path` in `T`: (is an array, shape).
fn probe<T: DeserializeOwned>(path: &[&'static str]) -> Option<(bool, Shape)> {
    let found = RefCell::new(None);
    let _ = T::deserialize(Recorder {
        target: path,
        found: &found,
        array: false,
    });
    found.into_inner()
}

/// The error that ends a probe (found, or not on this path).
#[derive(Debug)]
struct Stop(String);

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for Stop {}
impl de::Error for Stop {
    fn custom<M: fmt::Display>(msg: M) -> Self {
        Stop(msg.to_string())
    }
}

#[derive(Clone, Copy)]
struct Recorder<'a> {
    target: &'a [&'static str],
    found: &'a RefCell<Option<(bool, Shape)>>,
    array: bool,
}

impl Recorder<'_> {
    fn record(&self, shape: Shape) -> Stop {
        if self.target.is_empty() {
            *self.found.borrow_mut() = Some((self.array, shape));
            Stop("found".into())
        } else {
            Stop(format!(
                "cannot descend into a value towards {:?}",
                self.target
            ))
        }
    }
}

macro_rules! leaf {
    ($($method:ident)*) => {
        $(fn $method<V: Visitor<'static>>(self, _visitor: V) -> Result<V::Value, Stop> {
            Err(self.record(Shape::Value))
        })*
    };
}

impl<'a> Deserializer<'static> for Recorder<'a> {
    type Error = Stop;

    leaf! {
        deserialize_any deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32
        deserialize_i64 deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32
        deserialize_u64 deserialize_u128 deserialize_f32 deserialize_f64 deserialize_char
        deserialize_str deserialize_string deserialize_bytes deserialize_byte_buf
        deserialize_unit deserialize_identifier deserialize_ignored_any
    }

    fn deserialize_option<V: Visitor<'static>>(self, visitor: V) -> Result<V::Value, Stop> {
        visitor.visit_some(self)
    }

    fn deserialize_unit_struct<V: Visitor<'static>>(
        self,
        _name: &'static str,
        _visitor: V,
    ) -> Result<V::Value, Stop> {
        Err(self.record(Shape::Value))
    }

    fn deserialize_newtype_struct<V: Visitor<'static>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Stop> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'static>>(self, visitor: V) -> Result<V::Value, Stop> {
        visitor.visit_seq(OneElement {
            recorder: Some(Recorder {
                array: true,
                ..self
            }),
        })
    }

    fn deserialize_tuple<V: Visitor<'static>>(
        self,
        _len: usize,
        _visitor: V,
    ) -> Result<V::Value, Stop> {
        Err(self.record(Shape::Value))
    }

    fn deserialize_tuple_struct<V: Visitor<'static>>(
        self,
        _name: &'static str,
        _len: usize,
        _visitor: V,
    ) -> Result<V::Value, Stop> {
        Err(self.record(Shape::Value))
    }

    fn deserialize_map<V: Visitor<'static>>(self, _visitor: V) -> Result<V::Value, Stop> {
        Err(self.record(Shape::Map))
    }

    fn deserialize_struct<V: Visitor<'static>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Stop> {
        if name == SPANNED {
            return visitor.visit_map(SpannedMap {
                recorder: self,
                step: 0,
            });
        }
        match self.target.split_first() {
            None => Err(self.record(Shape::Table(fields.to_vec()))),
            Some((first, rest)) => {
                if !fields.contains(first) {
                    return Err(Stop(format!("no field {first}")));
                }
                visitor.visit_map(OneField {
                    key: Some(first),
                    value: Some(Recorder {
                        target: rest,
                        found: self.found,
                        array: false,
                    }),
                })
            }
        }
    }

    fn deserialize_enum<V: Visitor<'static>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Stop> {
        Err(self.record(Shape::Enum(variants.to_vec())))
    }
}

/// A sequence of exactly one element, probed.
struct OneElement<'a> {
    recorder: Option<Recorder<'a>>,
}

impl SeqAccess<'static> for OneElement<'_> {
    type Error = Stop;
    fn next_element_seed<S: DeserializeSeed<'static>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, Stop> {
        match self.recorder.take() {
            Some(r) => seed.deserialize(r).map(Some),
            None => Ok(None),
        }
    }
}

/// A table holding only the next key of the path.
struct OneField<'a> {
    key: Option<&'static str>,
    value: Option<Recorder<'a>>,
}

impl MapAccess<'static> for OneField<'_> {
    type Error = Stop;
    fn next_key_seed<K: DeserializeSeed<'static>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Stop> {
        match self.key.take() {
            Some(k) => seed.deserialize(BorrowedStrDeserializer::new(k)).map(Some),
            None => Ok(None),
        }
    }
    fn next_value_seed<S: DeserializeSeed<'static>>(&mut self, seed: S) -> Result<S::Value, Stop> {
        match self.value.take() {
            Some(r) => seed.deserialize(r),
            None => Err(Stop("value asked twice".into())),
        }
    }
}

/// `Spanned<T>`: span 0..0, then the value, probed.
struct SpannedMap<'a> {
    recorder: Recorder<'a>,
    step: u8,
}

impl MapAccess<'static> for SpannedMap<'_> {
    type Error = Stop;
    fn next_key_seed<K: DeserializeSeed<'static>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Stop> {
        let key = match self.step {
            0 => SPANNED_START,
            1 => SPANNED_END,
            2 => SPANNED_VALUE,
            _ => return Ok(None),
        };
        seed.deserialize(BorrowedStrDeserializer::new(key))
            .map(Some)
    }
    fn next_value_seed<S: DeserializeSeed<'static>>(&mut self, seed: S) -> Result<S::Value, Stop> {
        self.step += 1;
        if self.step <= 2 {
            seed.deserialize(U64Deserializer::new(0))
        } else {
            seed.deserialize(self.recorder)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[allow(dead_code)]
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "kebab-case")]
    struct Outer {
        plain: u32,
        #[serde(default)]
        opt: Option<String>,
        spanned: toml::Spanned<Inner>,
        #[serde(default)]
        list: Vec<Inner>,
        mode: Mode,
        map: std::collections::BTreeMap<String, u32>,
    }

    #[allow(dead_code)]
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "kebab-case")]
    struct Inner {
        deep_key: u8,
        #[serde(default)]
        children: Vec<Inner>,
    }

    #[allow(dead_code)]
    #[derive(Deserialize)]
    #[serde(rename_all = "kebab-case")]
    enum Mode {
        Crypto,
        SilentDrop,
    }

    #[test]
    fn blanks_spans_only() {
        assert_eq!(
            strip_spans("Spanned { span: 0..12, value: 3 } x span: 7..9"),
            "Spanned { span: _, value: 3 } x span: _"
        );
    }

    #[test]
    fn lists_every_key_with_its_shape() {
        let keys = walk::<Outer>();
        let paths: Vec<&str> = keys.iter().map(|k| k.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "plain",
                "opt",
                "spanned",
                "spanned.deep-key",
                "spanned.children",
                "list",
                "list[].deep-key",
                "list[].children",
                "mode",
                "map"
            ]
        );
        let shape = |p: &str| {
            keys.iter()
                .find(|k| k.path == p)
                .map(|k| (k.array, k.shape.clone()))
        };
        assert_eq!(shape("plain"), Some((false, Shape::Value)));
        assert_eq!(
            shape("list"),
            Some((true, Shape::Table(vec!["deep-key", "children"])))
        );
        assert_eq!(
            shape("list[].children"),
            Some((true, Shape::Table(vec!["deep-key", "children"])))
        );
        assert_eq!(
            shape("mode"),
            Some((false, Shape::Enum(vec!["crypto", "silent-drop"])))
        );
        assert_eq!(shape("map"), Some((false, Shape::Map)));
    }
}
