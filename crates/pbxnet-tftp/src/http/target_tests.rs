use proptest::prelude::*;

use super::*;

fn path(target: &str, secure: bool) -> Result<Vec<String>, String> {
    let t = decode_target(target).map_err(|e| format!("target: {e}"))?;
    request_path(&t, 255, secure)
        .map(|p| p.components().to_vec())
        .map_err(|e| format!("path: {e:?}"))
}

#[test]
fn routes_the_three_areas() {
    assert_eq!(path("/tpcfg/os_ins.alu", false).unwrap(), ["os_ins.alu"]);
    assert_eq!(
        path("/00908f61a023.cfg", false).unwrap(),
        ["00908f61a023.cfg"]
    );
    assert_eq!(
        path("/Secured_Config/hap_conf.ini", true).unwrap(),
        ["Secured_Config", "hap_conf.ini"]
    );
    assert_eq!(
        path("/securcfg/hap_conf.ini", true).unwrap(),
        ["Secured_Config", "hap_conf.ini"]
    );
    assert_eq!(decode_target("/TPCFG/x").unwrap().area, Area::Tpcfg);
    assert_eq!(path("/tpcfg", false).unwrap(), ["tpcfg"]);
}

#[test]
fn secured_config_is_https_only_in_every_area() {
    for t in [
        "/securcfg/hap_conf.ini",
        "/Secured_Config/hap_conf.ini",
        "/tpcfg/secured_config/x",
        "/secured%5Fconfig/x",
    ] {
        assert_eq!(path(t, false), Err("path: Secured".into()), "{t}");
    }
}

#[test]
fn decodes_once_and_ignores_queries() {
    assert_eq!(path("/a%20b.cfg?x=1#f", false).unwrap(), ["a b.cfg"]);
    assert_eq!(path("/caf%C3%A9.txt", false).unwrap(), ["caf\u{e9}.txt"]);
    // %2e%2e decodes to `..`, which the path policy refuses.
    assert_eq!(
        path("/%2e%2e/etc/passwd", false),
        Err("path: Parent".into())
    );
    assert_eq!(
        path("/tpcfg/a/%2E%2E/%2e%2e/x", false),
        Err("path: Parent".into())
    );
    assert_eq!(path("/securcfg/../x", true), Err("path: Parent".into()));
}

#[test]
fn refuses_smuggled_separators_double_encoding_and_controls() {
    for (t, e) in [
        ("/a%2fb", TargetError::EncodedSeparator),
        ("/a%2Fb", TargetError::EncodedSeparator),
        ("/a%5cb", TargetError::EncodedSeparator),
        ("/a\\b", TargetError::EncodedSeparator),
        ("/%252e%252e/x", TargetError::DoubleEncoding),
        ("/a%00b", TargetError::ControlChar),
        ("/a%0ab", TargetError::ControlChar),
        ("/a%7f", TargetError::ControlChar),
        ("/a%ff", TargetError::NotUtf8),
        ("/a%zz", TargetError::BadEscape),
        ("/a%4", TargetError::BadEscape),
        ("http://srv/a", TargetError::NotOriginForm),
        ("*", TargetError::NotOriginForm),
    ] {
        assert_eq!(decode_target(t), Err(e), "{t}");
    }
}

fn piece() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "/",
        ".",
        "..",
        "%2e",
        "%2E",
        "%2f",
        "%5c",
        "%25",
        "%00",
        "%",
        "a",
        "Secured_Config",
        "securcfg/",
        "tpcfg/",
        "%c3%a9",
        "\\",
        "?",
        "%2e%2e",
        "b.cfg",
    ])
    .prop_map(String::from)
}

proptest! {
    /// Whatever the target, an accepted path has no `..`, `.` or empty
    /// component, no NUL or control character, no separator inside a
    /// component, and Secured_Config only when secure.
    #[test]
    fn decoded_paths_are_always_safe(pieces in prop::collection::vec(piece(), 0..12), secure: bool) {
        let target = format!("/{}", pieces.concat());
        if let Ok(t) = decode_target(&target) {
            if let Ok(p) = request_path(&t, 255, secure) {
                for c in p.components() {
                    prop_assert!(c != ".." && c != "." && !c.is_empty(), "{target} -> {c}");
                    prop_assert!(!c.contains(['/', '\\', '\0']), "{target} -> {c}");
                    prop_assert!(!c.chars().any(char::is_control), "{target} -> {c}");
                }
                prop_assert!(secure || !p.is_secured(), "{target}");
            }
        }
    }
}
