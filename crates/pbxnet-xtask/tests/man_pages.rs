//! Man pages rendered with clap_mangen from the binaries' own clap
//! definitions (for the crates that expose them; the others are listed).

use pbxnet_xtask::man;

#[test]
fn every_exposed_command_renders_a_page_per_binary_and_subcommand() {
    let mut rendered = 0;
    for page in man::pages() {
        let Some(cli) = page.command else {
            println!(
                "no clap Command exposed yet: {} (`{}`)",
                page.binary, page.provider
            );
            continue;
        };
        let command = cli();
        assert_eq!(
            command.get_name(),
            page.binary,
            "{}: clap name",
            page.provider
        );
        let pages = man::render(&page).expect("exposed").expect("renders");
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
        assert_eq!(man::render(&page).unwrap().unwrap(), pages);
        rendered += 1;
    }
    println!(
        "{rendered} of {} binaries have man pages",
        man::pages().len()
    );
}

#[test]
fn write_all_writes_what_renders_and_lists_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let (written, missing) = man::write_all(dir.path(), false).unwrap();
    let exposed = man::pages().iter().filter(|p| p.command.is_some()).count();
    assert_eq!(missing.len() + exposed, man::pages().len());
    let packaged = tempfile::tempdir().unwrap();
    let (shipped, _) = man::write_all(packaged.path(), true).unwrap();
    assert!(
        !shipped
            .iter()
            .any(|p| p.to_string_lossy().contains("pbxnet-sim")),
        "the simulator is not packaged"
    );
    assert!(written.len() >= exposed);
    for path in &written {
        let text = std::fs::read_to_string(path).unwrap();
        assert!(
            text.starts_with(".ie") || text.contains(".TH"),
            "{}",
            path.display()
        );
    }
}
