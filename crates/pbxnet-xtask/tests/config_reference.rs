//! docs/config-reference.md against the schema, so that it cannot drift:
//!
//! - every key the raw config structs accept (read from their serde derives,
//!   `pbxnet_xtask::schema`) has a row, except plain `[tables]`, which are
//!   section headings;
//! - every row names a key the schema accepts;
//! - every key of the shipped examples (`etc/*.toml`) has a row;
//! - a default written as a TOML value (`` `"30s"` ``, `` `true` ``) is the
//!   default: the file with just that key set deserializes to the same raw
//!   struct as the empty file (keys inside arrays of tables are not checked
//!   this way: there is no table to compare without one);
//! - every allowed value of an enumerated key appears in its row.

use std::collections::BTreeMap;

use pbxnet_xtask::reference;
use pbxnet_xtask::schema::{self, Key, Shape};

/// One table row: key → (default cell, meaning cell).
type Rows = BTreeMap<String, (String, String)>;

/// Rows of the reference, by file (`## site.toml` headings), read by the
/// same parser the section-5 man pages are rendered from.
fn parse_reference(text: &str) -> BTreeMap<String, Rows> {
    reference::sections(text)
        .into_iter()
        .map(|s| {
            let rows = s
                .rows
                .into_iter()
                .map(|r| (r.key, (r.default, r.meaning)))
                .collect();
            (s.file, rows)
        })
        .collect()
}

/// A default cell holding exactly one code span: its text.
fn literal(cell: &str) -> Option<&str> {
    let inner = cell.strip_prefix('`')?.strip_suffix('`')?;
    (!inner.contains('`')).then_some(inner)
}

/// The TOML text setting `key` to `value` (no array of tables on the path).
fn setting(key: &Key, value: &str) -> String {
    let (last, tables) = key.parts.split_last().expect("a key has a name");
    if tables.is_empty() {
        format!("{last} = {value}\n")
    } else {
        format!("[{}]\n{last} = {value}\n", tables.join("."))
    }
}

/// Key paths of an example file (as schema paths), descending only where
/// the schema has a table. `prefix` is the schema path of `table`; a table
/// whose keys are those of the table holding it (a recursive type: DHCP
/// sub-options) maps back onto that table's schema path.
fn example_keys(
    table: &toml::Table,
    prefix: &str,
    schema: &BTreeMap<String, Key>,
    out: &mut Vec<String>,
) {
    for (k, v) in table {
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        if !out.contains(&path) {
            out.push(path.clone());
        }
        let Some(Key {
            shape: Shape::Table(fields),
            array,
            ..
        }) = schema.get(&path)
        else {
            continue;
        };
        let holder = prefix.strip_suffix("[]").unwrap_or(prefix);
        let recursive = matches!(
            schema.get(holder),
            Some(Key { shape: Shape::Table(f), .. }) if f == fields
        );
        let inner = if recursive {
            prefix.to_string()
        } else if *array {
            format!("{path}[]")
        } else {
            path.clone()
        };
        match v {
            toml::Value::Table(t) => example_keys(t, &inner, schema, out),
            toml::Value::Array(items) if *array => {
                for item in items {
                    if let toml::Value::Table(t) = item {
                        example_keys(t, &inner, schema, out);
                    }
                }
            }
            _ => {}
        }
    }
}

/// Every problem of `reference` against the schema and the examples.
fn problems(reference: &str) -> Vec<String> {
    let docs = parse_reference(reference);
    let mut problems = Vec::new();
    for file in schema::files() {
        let keys = file.keys();
        assert!(
            !keys.is_empty(),
            "{}: the schema walk found no key",
            file.name
        );
        let by_path: BTreeMap<String, Key> =
            keys.iter().map(|k| (k.path.clone(), k.clone())).collect();
        let empty = BTreeMap::new();
        let rows = docs.get(file.name).unwrap_or(&empty);
        if rows.is_empty() {
            problems.push(format!(
                "{}: no `## {}` section with key rows",
                file.name, file.name
            ));
        }
        for key in &keys {
            let heading_only = matches!(key.shape, Shape::Table(_)) && !key.array;
            if !heading_only && !rows.contains_key(&key.path) {
                problems.push(format!("{}: `{}` is not documented", file.name, key.path));
            }
        }
        for (path, (default, meaning)) in rows {
            let Some(key) = by_path.get(path) else {
                problems.push(format!(
                    "{}: `{path}` is documented but the schema has no such key",
                    file.name
                ));
                continue;
            };
            if default.is_empty() {
                problems.push(format!("{}: `{path}` has no default cell", file.name));
            }
            if let Shape::Enum(variants) = &key.shape {
                for v in variants {
                    if !meaning.contains(&format!("`{v}`")) && !default.contains(v) {
                        problems.push(format!(
                            "{}: `{path}`: allowed value `{v}` is not mentioned",
                            file.name
                        ));
                    }
                }
            }
            let Some(value) = literal(default) else {
                continue;
            };
            if path.contains("[]") || matches!(key.shape, Shape::Table(_)) {
                continue;
            }
            let baseline = file.parse_debug("").expect("the empty file deserializes");
            match file.parse_debug(&setting(key, value)) {
                Ok(with) if with == baseline => {}
                Ok(_) => problems.push(format!(
                    "{}: `{path}`: the documented default {value} is not the built-in default",
                    file.name
                )),
                Err(e) => problems.push(format!(
                    "{}: `{path}`: the documented default {value} does not parse: {e}",
                    file.name
                )),
            }
        }
        let example = pbxnet_xtask::workspace_root().join("etc").join(file.name);
        if let Ok(text) = std::fs::read_to_string(&example) {
            let table: toml::Table = text.parse().expect("shipped example is TOML");
            let mut found = Vec::new();
            example_keys(&table, "", &by_path, &mut found);
            for path in found {
                let table_heading = matches!(
                    by_path.get(&path),
                    Some(Key {
                        shape: Shape::Table(_),
                        array: false,
                        ..
                    })
                );
                if !table_heading && !rows.contains_key(&path) {
                    problems.push(format!(
                        "etc/{}: `{path}` is used in the example but not documented",
                        file.name
                    ));
                }
            }
        }
    }
    problems
}

fn reference() -> String {
    std::fs::read_to_string(pbxnet_xtask::workspace_root().join("docs/config-reference.md"))
        .expect("docs/config-reference.md")
}

#[test]
fn reference_documents_every_key_with_its_real_default() {
    let p = problems(&reference());
    assert!(p.is_empty(), "docs/config-reference.md:\n{}", p.join("\n"));
}

#[test]
fn a_missing_row_is_reported() {
    let text = reference();
    let without: String = text
        .lines()
        .filter(|l| !l.starts_with("| `flood.ban`"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(
        text.len(),
        without.len(),
        "the reference has a `flood.ban` row"
    );
    let p = problems(&without);
    assert!(
        p.iter()
            .any(|m| m.contains("`flood.ban` is not documented")),
        "{p:?}"
    );
}

#[test]
fn a_wrong_default_is_reported() {
    let text = reference().replace("| `flood.ban` | `\"10s\"` |", "| `flood.ban` | `\"11s\"` |");
    let p = problems(&text);
    assert!(
        p.iter()
            .any(|m| m.contains("`flood.ban`: the documented default")),
        "{p:?}"
    );
}

#[test]
fn an_unknown_key_is_reported() {
    let text = reference().replace("| `flood.ban` |", "| `flood.banned` |");
    let p = problems(&text);
    assert!(
        p.iter()
            .any(|m| m.contains("`flood.banned` is documented but")),
        "{p:?}"
    );
}
