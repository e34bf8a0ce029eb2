//! Every example configuration in `etc/` is the documentation installers copy:
//! each must load and validate with its daemon's schema, and each table of it
//! must refuse an unknown key (with the key's position), so that no table can
//! silently turn a typo into a default. (After hickory-dns's
//! `test_reject_unknown_fields`.)

mod common;

use pbxnet_config::{load, DaemonConfig, Diagnostic};
use toml_edit::{DocumentMut, Item, Table};

use common::copy_etc;

const STRAY: &str = "pbxnet-stray-key";

/// Key paths of every table in the document (array-of-tables elements with
/// their index), in document order.
fn table_paths(
    table: &Table,
    out: &mut Vec<Vec<(String, Option<usize>)>>,
    path: &mut Vec<(String, Option<usize>)>,
) {
    for (key, item) in table.iter() {
        match item {
            Item::Table(sub) => {
                path.push((key.to_string(), None));
                out.push(path.clone());
                table_paths(sub, out, path);
                path.pop();
            }
            Item::ArrayOfTables(array) => {
                for (i, sub) in array.iter().enumerate() {
                    path.push((key.to_string(), Some(i)));
                    out.push(path.clone());
                    table_paths(sub, out, path);
                    path.pop();
                }
            }
            _ => {}
        }
    }
}

fn table_at<'a>(doc: &'a mut DocumentMut, path: &[(String, Option<usize>)]) -> &'a mut Table {
    let mut table = doc.as_table_mut();
    for (key, index) in path {
        let item = table.get_mut(key).unwrap();
        table = match index {
            None => item.as_table_mut().unwrap(),
            Some(i) => item.as_array_of_tables_mut().unwrap().get_mut(*i).unwrap(),
        };
    }
    table
}

fn display(path: &[(String, Option<usize>)]) -> String {
    path.iter()
        .map(|(k, i)| match i {
            Some(i) => format!("{k}[{i}]"),
            None => k.clone(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

fn assert_example<D: DaemonConfig>() {
    let file = D::FILE_NAME;
    let scratch = copy_etc();
    let path = scratch.path().join(file);
    assert!(
        path.exists(),
        "etc/{file} is missing: every daemon ships an example"
    );
    if let Err(report) = load::<D>(Some(&path)) {
        panic!("etc/{file} does not validate:\n{report}");
    }
    let text = std::fs::read_to_string(&path).unwrap();
    let original: DocumentMut = text.parse().unwrap();
    let mut paths = vec![Vec::new()];
    table_paths(original.as_table(), &mut paths, &mut Vec::new());
    for table_path in paths {
        let mut doc = original.clone();
        table_at(&mut doc, &table_path).insert(STRAY, toml_edit::value(1));
        let mutated = doc.to_string();
        std::fs::write(&path, &mutated).unwrap();
        let where_ = if table_path.is_empty() {
            "the top level".to_string()
        } else {
            display(&table_path)
        };
        let report = match load::<D>(Some(&path)) {
            Ok(_) => panic!("etc/{file}: a stray key in {where_} was accepted"),
            Err(report) => report,
        };
        let stray: Vec<&Diagnostic> = report
            .diagnostics
            .iter()
            .filter(|d| d.message == format!("unknown key `{STRAY}`"))
            .collect();
        assert_eq!(
            stray.len(),
            1,
            "etc/{file}, stray key in {where_}:\n{report}"
        );
        let line = mutated
            .lines()
            .position(|l| l.trim_start().starts_with(STRAY))
            .map(|i| i + 1);
        assert_eq!(
            Some(stray[0].line),
            line,
            "etc/{file}, stray key in {where_}:\n{report}"
        );
        let expected_key = if table_path.is_empty() {
            STRAY.to_string()
        } else {
            format!("{}.{STRAY}", display(&table_path))
        };
        assert_eq!(stray[0].key, expected_key, "etc/{file}:\n{report}");
    }
    std::fs::write(&path, text).unwrap();
}

#[test]
fn site_example_validates_and_refuses_stray_keys() {
    // site.toml is read with every daemon; the DHCP loader stands in.
    let scratch = copy_etc();
    let site = scratch.path().join("site.toml");
    let text = std::fs::read_to_string(&site).unwrap();
    let original: DocumentMut = text.parse().unwrap();
    let mut paths = vec![Vec::new()];
    table_paths(original.as_table(), &mut paths, &mut Vec::new());
    for table_path in paths {
        let mut doc = original.clone();
        table_at(&mut doc, &table_path).insert(STRAY, toml_edit::value(1));
        std::fs::write(&site, doc.to_string()).unwrap();
        let report = load::<pbxnet_ntp::NtpConfig>(Some(scratch.path()))
            .expect_err("stray key accepted in site.toml");
        assert!(
            report
                .diagnostics
                .iter()
                .any(|d| d.file.ends_with("site.toml") && d.message.contains(STRAY)),
            "{report}"
        );
    }
}

#[test]
fn dhcp_example_validates_and_refuses_stray_keys() {
    assert_example::<pbxnet_dhcp::DhcpConfig>();
}

#[test]
fn tftp_example_validates_and_refuses_stray_keys() {
    assert_example::<pbxnet_tftp::TftpConfig>();
}

#[test]
fn ntp_example_validates_and_refuses_stray_keys() {
    assert_example::<pbxnet_ntp::NtpConfig>();
}

#[test]
fn license_example_validates_and_refuses_stray_keys() {
    assert_example::<pbxnet_license::LicenseConfig>();
}

#[test]
fn admin_example_validates_and_refuses_stray_keys() {
    assert_example::<pbxnet_admin::AdminConfig>();
}
