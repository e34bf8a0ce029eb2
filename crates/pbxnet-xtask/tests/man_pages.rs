//! Man pages rendered with clap_mangen from the binaries' own clap
//! definitions.

use pbxnet_xtask::{man, pages};

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
    let written = pages::write_all(dir.path(), false).unwrap();
    for page in man::pages() {
        let main = format!("{}.{}", page.binary, page.section);
        assert!(
            written.iter().any(|w| w.ends_with(&main)),
            "{main} not written"
        );
    }
    let packaged = tempfile::tempdir().unwrap();
    let shipped = pages::write_all(packaged.path(), true).unwrap();
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

/// `groff` renders the page with every warning on and prints nothing, and
/// `lexgrog` (what man-db and lintian read) finds its whatis line.
fn assert_renders_cleanly(file_name: &str, text: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(file_name);
    std::fs::write(&path, text).unwrap();
    let groff = std::process::Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .arg(&path)
        .output()
        .expect("groff (groff-base; tests/install-deps.sh installs it)");
    assert!(
        groff.status.success() && groff.stderr.is_empty(),
        "{file_name}: groff: {}",
        String::from_utf8_lossy(&groff.stderr)
    );
    let lexgrog = std::process::Command::new("lexgrog")
        .arg(&path)
        .output()
        .expect("lexgrog (man-db; tests/install-deps.sh installs it)");
    assert!(
        lexgrog.status.success(),
        "{file_name}: no whatis entry: {}",
        String::from_utf8_lossy(&lexgrog.stdout)
    );
}

/// Roff of a key name as the pages write it (`\-` for every hyphen).
fn roff(s: &str) -> String {
    s.replace('-', "\\-")
}

#[test]
fn every_configuration_file_has_a_section_5_page_with_every_key_of_its_schema() {
    use pbxnet_xtask::{config_man, reference, schema};
    let pages = config_man::render_all(reference::TEXT);
    let names: Vec<&str> = pages.iter().map(|p| p.file_name.as_str()).collect();
    let files = schema::files();
    let expected: Vec<String> = files
        .iter()
        .map(|f| format!("pbxnet-{}.5", f.name))
        .collect();
    assert_eq!(names, expected);
    for (file, page) in files.iter().zip(&pages) {
        let text = &page.text;
        assert!(text.starts_with(".TH "), "{}", page.file_name);
        assert!(
            text.contains(&format!(
                ".SH NAME\n{} \\- ",
                roff(&config_man::page_name(file.name))
            )),
            "{}: NAME",
            page.file_name
        );
        assert!(
            text.contains(&format!("\\fI/etc/pbxnet/{}\\fR", file.name)),
            "{}: SYNOPSIS",
            page.file_name
        );
        // Every key the daemon accepts, read from its serde derives (plain
        // `[tables]` are headings, as in the reference).
        let keys_section = &text[text.find(".SH KEYS").expect("KEYS")..];
        for key in file.keys() {
            let heading = matches!(key.shape, schema::Shape::Table(_)) && !key.array;
            if !heading {
                assert!(
                    keys_section.contains(&format!(".TP\n\\fB{}\\fR\n", roff(&key.path))),
                    "{}: key `{}` missing",
                    page.file_name,
                    key.path
                );
            }
        }
        assert_renders_cleanly(&page.file_name, text);
    }
    // The defaults are the reference's: one checked by hand.
    let dhcp = &pages[1].text;
    assert!(
        dhcp.contains(".TP\n\\fBflood.ban\\fR\nhow long a MAC over the limit is ignored\n.br\nDefault: \\fB\"10s\"\\fR.\n"),
        "{dhcp}"
    );
    // Same input, same bytes (the package is reproducible).
    assert_eq!(config_man::render_all(reference::TEXT), pages);
}

#[test]
fn the_daemon_pages_point_at_their_configuration_pages_and_all_are_packaged() {
    for page in man::pages() {
        let Some(file) = page.config_file else {
            continue;
        };
        let main = &man::render(&page).unwrap()[0];
        assert!(
            main.text.contains(&format!("\\fBpbxnet-{file}\\fR(5)")),
            "{}: SEE ALSO pbxnet-{file}(5)",
            page.binary
        );
        assert_renders_cleanly(&main.file_name, &main.text);
    }
    let dir = tempfile::tempdir().unwrap();
    let shipped = pages::write_all(dir.path(), true).unwrap();
    for file in pbxnet_xtask::schema::files() {
        let name = format!("pbxnet-{}.5", file.name);
        assert!(
            shipped.iter().any(|p| p.ends_with(&name)),
            "{name} not in the package's pages"
        );
    }
}
