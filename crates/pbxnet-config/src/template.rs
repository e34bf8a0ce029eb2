//! The server-address macro.
//!
//! The seed calls it `OXO_IP`: a placeholder for the server's own address in
//! option values and provisioning files, so that when the address changes
//! every value that uses it follows. pbxnet spells it `${server_ip}`.
//!
//! Rules (shared by DHCP option values and TFTP file templates):
//! - `${server_ip}` expands to the site's `server-address` (dotted decimal);
//! - `$${` is a literal `${` (for a file that must contain the characters);
//! - any other `${name}` is an error, naming the known macros;
//! - a `$` not followed by `{` is literal text;
//! - macros are refused inside hex data values ([`crate::HexData`]) and
//!   literal-address values ([`crate::Ipv4`]).

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The macro's spelling.
pub const MACRO_SERVER_IP: &str = "${server_ip}";

/// What macros expand to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MacroContext {
    /// The server's own address (`site.toml` `server-address`).
    pub server_ip: Ipv4Addr,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Piece {
    Text(String),
    ServerIp,
}

/// A string that may contain the server-address macro.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Template {
    raw: String,
    pieces: Vec<Piece>,
}

/// Why a template did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TemplateError {
    /// `${name}` with a name that is not a known macro.
    #[error("unknown macro `${{{name}}}` at byte {offset}; expected {MACRO_SERVER_IP} (the only macro), or `$${{` for a literal `${{`")]
    UnknownMacro {
        /// The name inside the braces.
        name: String,
        /// Byte offset of the `$`.
        offset: usize,
    },
    /// `${` with no closing `}`.
    #[error("unterminated macro at byte {offset}: `${{` without `}}`; expected {MACRO_SERVER_IP}")]
    Unterminated {
        /// Byte offset of the `$`.
        offset: usize,
    },
}

impl Template {
    /// Parses a template.
    pub fn parse(raw: &str) -> Result<Self, TemplateError> {
        let mut pieces = Vec::new();
        let mut text = String::new();
        let mut rest = raw;
        let mut offset = 0;
        while let Some(pos) = rest.find('$') {
            text.push_str(&rest[..pos]);
            let after = &rest[pos..];
            if let Some(tail) = after.strip_prefix("$${") {
                text.push_str("${");
                offset += pos + 3;
                rest = tail;
            } else if let Some(tail) = after.strip_prefix("${") {
                let close = tail.find('}').ok_or(TemplateError::Unterminated {
                    offset: offset + pos,
                })?;
                let name = &tail[..close];
                if name.trim() != "server_ip" {
                    return Err(TemplateError::UnknownMacro {
                        name: name.to_string(),
                        offset: offset + pos,
                    });
                }
                if !text.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                }
                pieces.push(Piece::ServerIp);
                offset += pos + 2 + close + 1;
                rest = &tail[close + 1..];
            } else {
                text.push('$');
                offset += pos + 1;
                rest = &after[1..];
            }
        }
        text.push_str(rest);
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        Ok(Template {
            raw: raw.to_string(),
            pieces,
        })
    }

    /// A template holding literal text only.
    pub fn literal(text: &str) -> Self {
        Template {
            raw: text.replace("${", "$${"),
            pieces: if text.is_empty() {
                Vec::new()
            } else {
                vec![Piece::Text(text.to_string())]
            },
        }
    }

    /// The text as written in the configuration.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// True when the template refers to the server address.
    pub fn uses_server_ip(&self) -> bool {
        self.pieces.iter().any(|p| matches!(p, Piece::ServerIp))
    }

    /// Expands the macros.
    pub fn expand(&self, ctx: &MacroContext) -> String {
        let mut out = String::with_capacity(self.raw.len() + 8);
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::ServerIp => out.push_str(&ctx.server_ip.to_string()),
            }
        }
        out
    }
}

impl FromStr for Template {
    type Err = TemplateError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Template::parse(s)
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl<'de> Deserialize<'de> for Template {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Template::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl Serialize for Template {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> MacroContext {
        MacroContext {
            server_ip: Ipv4Addr::new(192, 168, 92, 246),
        }
    }

    #[test]
    fn expands_the_server_address() {
        let t = Template::parse("tftp://${server_ip}/;<MAC>.cfg").unwrap();
        assert!(t.uses_server_ip());
        assert_eq!(t.expand(&ctx()), "tftp://192.168.92.246/;<MAC>.cfg");
    }

    #[test]
    fn keeps_literal_dollars_and_escapes() {
        let t = Template::parse("cost $5, literal $${server_ip}").unwrap();
        assert!(!t.uses_server_ip());
        assert_eq!(t.expand(&ctx()), "cost $5, literal ${server_ip}");
        assert_eq!(Template::literal("a ${b}").expand(&ctx()), "a ${b}");
    }

    #[test]
    fn rejects_unknown_and_unterminated_macros() {
        let e = Template::parse("x ${server}").unwrap_err();
        assert!(e.to_string().contains("unknown macro `${server}`"), "{e}");
        assert!(e.to_string().contains("${server_ip}"), "{e}");
        assert!(matches!(
            Template::parse("${server_ip"),
            Err(TemplateError::Unterminated { offset: 0 })
        ));
    }
}
