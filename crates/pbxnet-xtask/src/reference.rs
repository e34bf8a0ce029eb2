//! docs/config-reference.md read as data: one section per configuration file
//! (`## dhcp.toml`), its introduction and its key rows. The reference test
//! checks these rows against the schema ([`crate::schema`]); the section-5
//! man pages ([`crate::config_man`]) are rendered from them, so the page an
//! operator reads with `man` and the reference are one text.

/// The reference as built into this crate (the man pages ship this text).
pub const TEXT: &str = include_str!("../../../docs/config-reference.md");

/// One key row: `| `key` | default | meaning |`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// Key path as the schema writes it (`subnet[].name`).
    pub key: String,
    /// The default cell, Markdown.
    pub default: String,
    /// The meaning cell, Markdown.
    pub meaning: String,
}

/// The section of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// File name (`dhcp.toml`).
    pub file: String,
    /// Paragraphs before the table, each joined into one line, Markdown.
    pub intro: Vec<String>,
    /// Key rows in document order.
    pub rows: Vec<Row>,
}

/// Paragraphs of the text before the first `## ` heading (what every
/// section shares: where files live, how key paths are written).
pub fn preamble(text: &str) -> Vec<String> {
    let head = text.split("\n## ").next().unwrap_or_default();
    paragraphs(head.lines().filter(|l| !l.starts_with("# ")))
}

/// Every `## <file>.toml` section of `text`, in document order.
pub fn sections(text: &str) -> Vec<Section> {
    let mut out: Vec<Section> = Vec::new();
    let mut prose: Vec<&str> = Vec::new();
    let mut in_file = false;
    for line in text.lines() {
        if let Some(heading) = line.strip_prefix("## ") {
            flush(&mut out, &mut prose);
            let name = heading.trim().trim_matches('`');
            in_file = name.ends_with(".toml");
            if in_file {
                out.push(Section {
                    file: name.to_string(),
                    intro: Vec::new(),
                    rows: Vec::new(),
                });
            }
            continue;
        }
        if !in_file {
            continue;
        }
        if let Some(row) = parse_row(line) {
            flush(&mut out, &mut prose);
            if let Some(section) = out.last_mut() {
                section.rows.push(row);
            }
        } else if !line.starts_with('|') && out.last().is_some_and(|s| s.rows.is_empty()) {
            prose.push(line);
        }
    }
    flush(&mut out, &mut prose);
    out
}

/// Moves the prose gathered so far into the last section's introduction.
fn flush(out: &mut [Section], prose: &mut Vec<&str>) {
    if let Some(section) = out.last_mut() {
        section.intro.extend(paragraphs(prose.drain(..)));
    }
    prose.clear();
}

/// Blank-line separated paragraphs, each joined into one line.
fn paragraphs<'a>(lines: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    for line in lines.chain(std::iter::once("")) {
        if line.trim().is_empty() {
            if !current.is_empty() {
                out.push(current.join(" "));
                current.clear();
            }
        } else {
            current.push(line.trim());
        }
    }
    out
}

/// A key row, or `None` for any other line (the header row names no key in
/// backquotes; the separator row has none either).
fn parse_row(line: &str) -> Option<Row> {
    let row = line.strip_prefix("| `")?;
    let cells: Vec<&str> = row.split(" | ").collect();
    if cells.len() < 3 {
        return None;
    }
    let meaning = cells[2..]
        .join(" | ")
        .trim_end_matches('|')
        .trim()
        .to_string();
    Some(Row {
        key: cells[0].trim_end_matches('`').to_string(),
        default: cells[1].trim().to_string(),
        meaning,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "# Title\n\nWhere files live.\n\nKey paths: `a.b`\nis key b.\n\n\
        ## site.toml\n\nRead by all.\n\n| key | default | meaning |\n|---|---|---|\n\
        | `user` | none | a user |\n| `log.level` | `\"info\"` | `error` \\| `info` |\n\n\
        ## Notes\n\nNot a file.\n\n## ntp.toml\n\nRead by ntpd:\nthe server.\n\n\
        | key | default | meaning |\n|---|---|---|\n| `keys.file` | none | the key file |\n";

    #[test]
    fn reads_sections_rows_and_introductions() {
        let s = sections(SAMPLE);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].file, "site.toml");
        assert_eq!(s[0].intro, ["Read by all."]);
        assert_eq!(s[0].rows.len(), 2);
        assert_eq!(s[0].rows[1].key, "log.level");
        assert_eq!(s[0].rows[1].default, "`\"info\"`");
        assert_eq!(s[0].rows[1].meaning, "`error` \\| `info`");
        assert_eq!(s[1].file, "ntp.toml");
        assert_eq!(s[1].intro, ["Read by ntpd: the server."]);
        assert_eq!(s[1].rows[0].key, "keys.file");
        assert_eq!(
            preamble(SAMPLE),
            ["Where files live.", "Key paths: `a.b` is key b."]
        );
    }

    #[test]
    fn the_built_in_reference_has_the_five_files() {
        let files: Vec<String> = sections(TEXT).into_iter().map(|s| s.file).collect();
        assert_eq!(
            files,
            [
                "site.toml",
                "dhcp.toml",
                "tftp.toml",
                "ntp.toml",
                "license.toml"
            ]
        );
    }
}
