//! Section-5 man pages of the configuration files (`pbxnet-dhcp.toml(5)`,
//! …), rendered from docs/config-reference.md ([`crate::reference`]): the
//! same rows the reference test checks against the serde schema, so a key,
//! a default or an allowed value cannot differ between `man` and the
//! reference. The pages are named after the package (`pbxnet-site.toml`,
//! not `site.toml`) so that they cannot collide with another package's.

use std::fmt::Write as _;

use crate::man::Rendered;
use crate::reference::{self, Section};

/// The daemon that reads each file (`None`: all of them).
fn reader(file: &str) -> Option<&'static str> {
    match file {
        "dhcp.toml" => Some("pbxnet-dhcpd"),
        "tftp.toml" => Some("pbxnet-tftpd"),
        "ntp.toml" => Some("pbxnet-ntpd"),
        "license.toml" => Some("pbxnet-licd"),
        _ => None,
    }
}

/// Page name of a configuration file: `pbxnet-<file>`.
pub fn page_name(file: &str) -> String {
    format!("pbxnet-{file}")
}

/// One page per `## <file>.toml` section of `text` (the reference).
pub fn render_all(text: &str) -> Vec<Rendered> {
    let preamble = reference::preamble(text);
    reference::sections(text)
        .iter()
        .map(|s| render(s, &preamble))
        .collect()
}

/// The page of one file.
pub fn render(section: &Section, preamble: &[String]) -> Rendered {
    let name = page_name(&section.file);
    let path = format!("/etc/pbxnet/{}", section.file);
    let mut t = String::new();
    let what = match reader(&section.file) {
        Some(daemon) => format!("configuration of {daemon}"),
        None => "settings shared by every pbxnet daemon".to_string(),
    };
    let _ = write!(
        t,
        ".TH {} 5 \"\" \"pbxnet {}\" \"pbxnet\"\n.SH NAME\n{} \\- {}\n.SH SYNOPSIS\n\\fI{}\\fR\n.SH DESCRIPTION\n",
        quote(&name.to_uppercase()),
        env!("CARGO_PKG_VERSION"),
        escape(&name),
        escape(&what),
        escape(&path),
    );
    for (i, p) in section.intro.iter().chain(preamble).enumerate() {
        if i > 0 {
            t.push_str(".PP\n");
        }
        t.push_str(&inline(p));
        t.push('\n');
    }
    t.push_str(".SH KEYS\n");
    for row in &section.rows {
        let _ = write!(
            t,
            ".TP\n\\fB{}\\fR\n{}\n.br\nDefault: {}.\n",
            escape(&row.key),
            inline(&row.meaning),
            inline(&row.default),
        );
    }
    let _ = write!(
        t,
        ".SH FILES\n.TP\n\\fI{}\\fR\nThis file. The package installs the example site there.\n\
         .TP\n\\fI/usr/share/doc/pbxnet/config\\-reference.md\\fR\nThe same reference as one page; value syntax and diagnostics in \\fIconfiguration.md\\fR beside it.\n\
         .SH \"SEE ALSO\"\n",
        escape(&path)
    );
    let mut see_also: Vec<String> = match reader(&section.file) {
        Some(daemon) => vec![format!("\\fB{}\\fR(8)", escape(daemon))],
        None => ["pbxnet-dhcpd", "pbxnet-tftpd", "pbxnet-ntpd", "pbxnet-licd"]
            .iter()
            .map(|d| format!("\\fB{}\\fR(8)", escape(d)))
            .collect(),
    };
    if section.file != "site.toml" {
        see_also.push(format!("\\fB{}\\fR(5)", escape(&page_name("site.toml"))));
    }
    t.push_str(&see_also.join(",\n"));
    t.push('\n');
    Rendered {
        file_name: format!("{name}.5"),
        text: t,
    }
}

/// A `.TH` argument in double quotes.
fn quote(s: &str) -> String {
    format!("\"{}\"", escape(s))
}

/// Plain text for roff: backslashes and hyphens escaped, characters beyond
/// ASCII as `\[uXXXX]` (troff reads bytes; man-db's preconv is not always
/// in the pipeline).
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\e"),
            '-' => out.push_str("\\-"),
            c if c.is_ascii() => out.push(c),
            c => {
                let _ = write!(out, "\\[u{:04X}]", u32::from(c));
            }
        }
    }
    out
}

/// Markdown of one cell or paragraph as roff: `code` and **strong** in
/// bold, links as their text with the documentation path, `\|` as `|`.
fn inline(md: &str) -> String {
    let md = md.replace("\\|", "|");
    let mut out = String::new();
    let mut rest = md.as_str();
    while let Some(c) = rest.chars().next() {
        if let Some(after) = rest.strip_prefix("**") {
            if let Some(end) = after.find("**") {
                let _ = write!(out, "\\fB{}\\fR", escape(&after[..end]));
                rest = &after[end + 2..];
                continue;
            }
        }
        if let Some((code, after)) = code_span(rest) {
            let _ = write!(out, "\\fB{}\\fR", escape(code));
            rest = after;
            continue;
        }
        if let Some(link) = link_at(rest) {
            let _ = write!(
                out,
                "{} (\\fI/usr/share/doc/pbxnet/{}\\fR)",
                escape(link.text),
                escape(link.target)
            );
            rest = &rest[link.len..];
            continue;
        }
        let next = rest[c.len_utf8()..]
            .find(['*', '`', '['])
            .map_or(rest.len(), |i| i + c.len_utf8());
        out.push_str(&escape(&rest[..next]));
        rest = &rest[next..];
    }
    // A line starting with `.` or `'` would be a roff request.
    if out.starts_with('.') || out.starts_with('\'') {
        out.insert_str(0, "\\&");
    }
    out
}

/// A code span at the start of `s` (`` `x` `` or ``` `` x `` ```): its text
/// and what follows it.
fn code_span(s: &str) -> Option<(&str, &str)> {
    if let Some(after) = s.strip_prefix("`` ") {
        let end = after.find(" ``")?;
        return Some((&after[..end], &after[end + 3..]));
    }
    let after = s.strip_prefix('`')?;
    let end = after.find('`')?;
    Some((&after[..end], &after[end + 1..]))
}

/// A Markdown link `[text](target)` at the start of `s`.
struct Link<'a> {
    text: &'a str,
    target: &'a str,
    len: usize,
}

fn link_at(s: &str) -> Option<Link<'_>> {
    let body = s.strip_prefix('[')?;
    let close = body.find("](")?;
    let target_end = body[close + 2..].find(')')?;
    let target = &body[close + 2..close + 2 + target_end];
    let target = target.split('#').next().unwrap_or(target);
    Some(Link {
        text: &body[..close],
        target,
        len: 1 + close + 2 + target_end + 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_becomes_roff() {
        assert_eq!(inline("a `x-y` b"), "a \\fBx\\-y\\fR b");
        assert_eq!(inline("**required**"), "\\fBrequired\\fR");
        assert_eq!(
            inline("see [dhcp](dhcp.md#pools)."),
            "see dhcp (\\fI/usr/share/doc/pbxnet/dhcp.md\\fR)."
        );
        assert_eq!(inline("(`` `\"30s\"` ``)"), "(\\fB`\"30s\"`\\fR)");
        assert_eq!(inline("a \\| b"), "a | b");
        assert_eq!(inline(".dot"), "\\&.dot");
        assert_eq!(inline("C:\\x"), "C:\\ex");
        assert_eq!(inline("5 µs – 2"), "5 \\[u00B5]s \\[u2013] 2");
    }
}
