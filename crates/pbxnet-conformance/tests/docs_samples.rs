//! The sample `check` output in docs/configuration.md is what the code
//! prints: the two mistakes it describes are made in a copy of the example
//! site, and every error the DHCP loader reports must appear in the sample
//! verbatim (with the copy's directory shown as /etc/pbxnet), and no other.
//! (Issue 20: the sample named keys that do not exist.)

mod common;

use std::path::Path;

use pbxnet_config::{load, Severity};

fn sample() -> String {
    let doc = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/configuration.md"),
    )
    .unwrap();
    let errors = &doc[doc.find("## Errors").expect("an Errors section")..];
    let start = errors.find("```\n").expect("a sample block") + 4;
    let end = start + errors[start..].find("```").unwrap();
    errors[start..end].to_string()
}

#[test]
fn the_sample_check_output_in_configuration_md_is_real() {
    let site = common::copy_etc();
    let path = site.path().join("dhcp.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let broken = text
        .replacen(
            "range = \"192.168.92.5..192.168.92.9\"",
            "range = \"192.168.93.5..192.168.93.9\"",
            1,
        )
        .replacen(
            "vendor-class = \"MS-UC-Client\"",
            "vendr-class = \"MS-UC-Client\"",
            1,
        );
    assert_ne!(broken, text, "etc/dhcp.toml changed: update the sample");
    std::fs::write(&path, broken).unwrap();
    let report = load::<pbxnet_dhcp::DhcpConfig>(Some(&path)).expect_err("two errors");
    let sample = sample();
    let errors: Vec<String> = report
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| {
            d.to_string()
                .replace(site.path().to_str().unwrap(), "/etc/pbxnet")
        })
        .collect();
    assert_eq!(
        errors.len(),
        sample.matches("\nerror: ").count() + usize::from(sample.starts_with("error: ")),
        "{report}\n--- sample:\n{sample}"
    );
    for e in &errors {
        assert!(
            sample.contains(e.trim_end()),
            "not in docs/configuration.md's sample:\n{e}\n--- sample:\n{sample}"
        );
    }
}
