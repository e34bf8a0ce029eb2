//! `pbxnet-dhcpd check --config <bad file>`: every error at once, each with
//! file:line:column, the key, what was wrong and what is valid; exit 1.
//! `run` on the same file refuses to start with exit 78.

use std::path::Path;
use std::process::Command;

const BAD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/bad-dhcp.toml");

fn check(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_pbxnet-dhcpd"))
        .args(args)
        .env_remove("PBXNET_CONFIG")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// The 1-based line of the first line of the fixture containing `needle`.
fn line_of(needle: &str) -> usize {
    let text = std::fs::read_to_string(BAD).unwrap();
    text.lines().position(|l| l.contains(needle)).unwrap() + 1
}

#[test]
fn check_prints_every_error_with_its_position() {
    // A scratch copy so that no site.toml of the developer is picked up.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dhcp.toml");
    std::fs::copy(BAD, &file).unwrap();
    // pbxnet-tftpd with its defaults beside it: the fixture's option 66
    // names this server, which then serves TFTP (no warning about it).
    std::fs::write(dir.path().join("tftp.toml"), "").unwrap();
    let (code, out) = check(&["check", "--config", file.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    let at = |needle: &str, col: usize| format!("{}:{}:{col}", file.display(), line_of(needle));
    let expectations: [(&str, String, &str); 6] = [
        // unknown key, with a suggestion
        (
            "unknown key `authoritativ`",
            at("authoritativ =", 1),
            "did you mean `authoritative`?",
        ),
        // a range outside its subnet
        (
            "is not inside the subnet 192.168.92.0/24",
            at("192.168.93.10", 9),
            "expected a range between 192.168.92.1 and 192.168.92.254",
        ),
        // start > end
        (
            "starts at 192.168.92.9, after its end 192.168.92.5",
            at("192.168.92.9..", 9),
            "lower address first",
        ),
        // a malformed MAC
        (
            "invalid MAC address `00:80:9f:12:34:5g`",
            at("34:5g", 7),
            "00:90:8f:61:a0:22",
        ),
        // the server-address macro inside hex data
        (
            "not allowed inside hex data",
            at("01:04:${server_ip}", 11),
            "use an `ip` typed value",
        ),
        // a duplicate key
        (
            "duplicate key `value`",
            at("192.168.92.247", 3),
            "defined only once",
        ),
    ];
    for (message, position, hint) in &expectations {
        let block = out
            .split("\nerror: ")
            .find(|b| b.contains(message))
            .unwrap_or_else(|| panic!("no error {message:?} in:\n{out}"));
        assert!(
            block.contains(&format!("--> {position}")),
            "{message}: expected at {position}:\n{out}"
        );
        assert!(
            block.contains(hint),
            "{message}: hint {hint:?} missing:\n{out}"
        );
        assert!(block.contains('^'), "{message}: no caret:\n{out}");
    }
    // Each problem once: no cascade such as "class has no matcher" after
    // its bad MAC was reported.
    assert!(out.contains("\n6 errors, 0 warnings"), "{out}");
    assert!(out.contains("= key: pool[0].range"), "{out}");
    assert!(out.contains("= key: class[0].mac"), "{out}");
    assert!(out.contains("= key: profile[0].option[1].value"), "{out}");
}

#[test]
fn check_json_lists_the_same_errors() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dhcp.toml");
    std::fs::copy(BAD, &file).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_pbxnet-dhcpd"))
        .args(["check", "--json", "--config", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let diags: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let items = diags.as_array().unwrap();
    let errors: Vec<&serde_json::Value> =
        items.iter().filter(|d| d["severity"] == "error").collect();
    assert!(errors.len() >= 6, "{diags:#}");
    for e in &errors {
        assert!(e["line"].as_u64().unwrap() > 0, "{e}");
        assert!(e["column"].as_u64().unwrap() > 0, "{e}");
        assert!(
            Path::new(e["file"].as_str().unwrap()).ends_with("dhcp.toml"),
            "{e}"
        );
    }
}

#[test]
fn run_refuses_to_start_on_the_bad_file_with_exit_78() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dhcp.toml");
    std::fs::copy(BAD, &file).unwrap();
    let (code, out) = check(&["run", "--config", file.to_str().unwrap()]);
    assert_eq!(code, 78, "{out}");
    assert!(out.contains("unknown key `authoritativ`"), "{out}");
}

#[test]
fn check_accepts_the_example_site() {
    let etc = concat!(env!("CARGO_MANIFEST_DIR"), "/../../etc");
    let (code, out) = check(&["check", "--config", etc]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("configuration OK"), "{out}");
    // The Lync profile's certificate provisioning server is another host:
    // said, not checked, and not an error.
    assert!(
        out.contains("`https://lyncpool.example.lan:443/CertProv/CertProvisioningService.svc` names lyncpool.example.lan"),
        "{out}"
    );
    assert!(out.contains("which pbxnet cannot check"), "{out}");
}

/// `check` judges the configuration against this host's interfaces, as
/// `run` does: an interface that does not exist is an error at its
/// position (it was found only at `run`, exit 71, before), and a server
/// address no interface holds is a warning.
#[test]
fn check_refuses_an_interface_this_host_lacks_and_warns_on_a_foreign_server_address() {
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site.toml");
    let dhcp = dir.path().join("dhcp.toml");
    std::fs::write(
        &site,
        "server-address = \"192.0.2.77\"\ninterfaces = [\"lo\", \"pbxnet-none0\"]\n",
    )
    .unwrap();
    std::fs::write(
        &dhcp,
        "[[subnet]]\nname = \"lan\"\nnetwork = \"192.0.2.0/24\"\ninterface = \"pbxnet-none1\"\n",
    )
    .unwrap();
    let (code, out) = check(&["check", "--config", dir.path().to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    for (file, line, col, key, message) in [
        (
            &site,
            2,
            21,
            "interfaces[1]",
            "interface `pbxnet-none0` does not exist on this host",
        ),
        (
            &dhcp,
            4,
            13,
            "subnet[0].interface",
            "interface `pbxnet-none1` does not exist on this host",
        ),
    ] {
        let block = out
            .split("\nerror: ")
            .find(|b| b.contains(message))
            .unwrap_or_else(|| panic!("no error {message:?} in:\n{out}"));
        assert!(
            block.contains(&format!("--> {}:{line}:{col}", file.display())),
            "{out}"
        );
        assert!(block.contains(&format!("= key: {key}")), "{out}");
        assert!(block.contains("interfaces here: "), "{out}");
    }
    assert!(
        out.contains("server-address 192.0.2.77 is not an address of any interface of this host"),
        "{out}"
    );
    assert!(out.contains("2 errors, 1 warning"), "{out}");
    // The same configuration with interfaces this host has: exit 0, the
    // warning stays.
    std::fs::write(
        &site,
        "server-address = \"192.0.2.77\"\ninterfaces = [\"lo\"]\n",
    )
    .unwrap();
    std::fs::write(
        &dhcp,
        "[[subnet]]\nname = \"lan\"\nnetwork = \"192.0.2.0/24\"\ninterface = \"lo\"\n",
    )
    .unwrap();
    let (code, out) = check(&["check", "--config", dir.path().to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("warning: server-address 192.0.2.77 is not an address"),
        "{out}"
    );
}

/// `check` judges the provisioning URLs of the profiles against the
/// tftp.toml beside dhcp.toml: option 160 `https://` while [https] is off
/// is a warning at the value's position naming the URL and what to do
/// (exit 0: warnings do not refuse the configuration); a host other than
/// this server is said to be not checked.
#[test]
fn check_warns_on_a_url_no_pbxnet_service_answers() {
    let dir = tempfile::tempdir().unwrap();
    let dhcp = dir.path().join("dhcp.toml");
    let tftp = dir.path().join("tftp.toml");
    let text = r#"[[subnet]]
name = "site"
network = "192.168.92.0/24"
[[pool]]
name = "phones"
range = "192.168.92.10..192.168.92.69"
[[profile]]
name = "audiocodes"
  [[profile.option]]
  code = 160
  value = "https://${server_ip}/;<MAC>.cfg"
  [[profile.option]]
  code = 114
  type = "string"
  value = "http://provisioning.example.net/"
[[class]]
name = "all"
any-device = true
profile = "audiocodes"
"#;
    std::fs::write(&dhcp, text).unwrap();
    std::fs::write(&tftp, "[http]\nenabled = true\n").unwrap();
    let dir_arg = dir.path().to_str().unwrap();
    let (code, out) = check(&["check", "--config", dir_arg]);
    assert_eq!(code, 0, "{out}");
    let block = out
        .split("warning: ")
        .find(|b| b.starts_with("option 160"))
        .unwrap_or_else(|| panic!("no option 160 warning in:\n{out}"));
    assert!(
        block.starts_with(&format!(
            "option 160 `https://${{server_ip}}/;<MAC>.cfg` names https, which no pbxnet service \
             on this site answers: [https] is off in {}",
            tftp.display()
        )),
        "{out}"
    );
    assert!(
        block.contains(&format!("--> {}:11:11", dhcp.display())),
        "{out}"
    );
    assert!(block.contains("= key: profile[0].option[0].value"), "{out}");
    assert!(
        block.contains(&format!(
            "= help: set `enabled = true` under [https] in {}",
            tftp.display()
        )),
        "{out}"
    );
    assert!(
        out.contains("option 114 `http://provisioning.example.net/` names provisioning.example.net, which is neither"),
        "{out}"
    );
    assert!(out.contains("configuration OK"), "{out}");
    // [https] on: the option 160 warning goes, the other host's stays.
    std::fs::write(&tftp, "[https]\nenabled = true\n").unwrap();
    let (code, out) = check(&["check", "--config", dir_arg]);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("option 160"), "{out}");
    assert!(out.contains("option 114"), "{out}");
    // No tftp.toml beside dhcp.toml: nothing here serves https.
    std::fs::remove_file(&tftp).unwrap();
    let (code, out) = check(&["check", "--config", dir_arg]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!(
            "names https on this server, but no pbxnet service answers it: there is no {}",
            tftp.display()
        )),
        "{out}"
    );
}
