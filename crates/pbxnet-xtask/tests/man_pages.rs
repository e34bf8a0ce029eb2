//! Man pages rendered with clap_mangen from the binaries' own clap
//! definitions.

use pbxnet_xtask::man;

#[test]
fn every_exposed_command_renders_a_page_per_binary_and_subcommand() {
    for page in man::pages() {
        let command = (page.command)();
        assert_eq!(
            command.get_name(),
            page.binary,
            "{}: clap name",
            page.provider
        );
        let pages = man::render(&page).expect("renders");
        let main = &pages[0];
        assert_eq!(main.file_name, format!("{}.{}", page.binary, page.section));
        assert!(main.text.contains(".SH NAME"), "{}", main.file_name);
        assert!(main.text.contains(page.binary), "{}", main.file_name);
        let subs: Vec<String> = command
            .get_subcommands()
            .map(|s| s.get_name().to_string())
            .filter(|s| s != "help")
            .collect();
        for sub in &subs {
            let name = format!("{}-{sub}.{}", page.binary, page.section);
            assert!(
                pages.iter().any(|p| p.file_name == name),
                "{name} not rendered"
            );
            assert!(
                main.text
                    .contains(&format!("\\fB{}-{sub}\\fR", page.binary)),
                "SEE ALSO {name}"
            );
        }
        if page.config_file.is_some() {
            // Every daemon has the same command line (README).
            assert!(subs.iter().any(|s| s == "run"), "{}: no `run`", page.binary);
            assert!(
                subs.iter().any(|s| s == "check"),
                "{}: no `check`",
                page.binary
            );
            assert!(main.text.contains("config"), "{}: no --config", page.binary);
            assert!(main.text.contains(".SH FILES"), "{}", page.binary);
            assert!(main.text.contains("78"), "{}: exit status 78", page.binary);
        }
        // Same input, same bytes (the package is reproducible).
        assert_eq!(man::render(&page).unwrap(), pages);
    }
}

#[test]
fn write_all_writes_every_page_and_packages_only_the_shipped_ones() {
    let dir = tempfile::tempdir().unwrap();
    let written = man::write_all(dir.path(), false).unwrap();
    for page in man::pages() {
        let main = format!("{}.{}", page.binary, page.section);
        assert!(
            written.iter().any(|w| w.ends_with(&main)),
            "{main} not written"
        );
    }
    let packaged = tempfile::tempdir().unwrap();
    let shipped = man::write_all(packaged.path(), true).unwrap();
    assert!(
        !shipped
            .iter()
            .any(|p| p.to_string_lossy().contains("pbxnet-sim")),
        "the simulator is not packaged"
    );
    for path in &written {
        let text = std::fs::read_to_string(path).unwrap();
        assert!(
            text.starts_with(".ie") || text.contains(".TH"),
            "{}",
            path.display()
        );
    }
}
