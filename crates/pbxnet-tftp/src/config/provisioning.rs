//! `[omniswitch]` (the file names in the generated instruction files) and
//! `[stellar]` (the values of the generated `hap_conf.ini`).

use std::net::Ipv4Addr;

use pbxnet_config::{Diagnostic, Diagnostics, Severity, Source, Spanned};

use super::names::valid_plain_name;
use super::raw::{RawOmniswitch, RawStellar};
use crate::generated::{Stellar, OS8_INS, OS_INS};

/// The validated `[omniswitch]` file names.
pub(super) struct OmniswitchFiles {
    pub(super) config_file: String,
    pub(super) aos8_config_file: String,
    pub(super) script_file: String,
}

pub(super) fn validate_omniswitch(
    o: &RawOmniswitch,
    src: &Source,
    diags: &mut Diagnostics,
) -> OmniswitchFiles {
    for (key, v, ins) in [
        ("omniswitch.config-file", &o.config_file, OS_INS),
        ("omniswitch.aos8-config-file", &o.aos8_config_file, OS8_INS),
        ("omniswitch.script-file", &o.script_file, OS_INS),
    ] {
        let name = v.get_ref();
        if !valid_plain_name(name) {
            diags
                .error(
                    src,
                    v.span(),
                    key,
                    format!("`{name}` is not a valid file name"),
                )
                .set_hint("no space, no special characters (seed §4.3): letters, digits, _ - .");
        } else if name.eq_ignore_ascii_case(OS_INS) || name.eq_ignore_ascii_case(OS8_INS) {
            diags
                .error(src, v.span(), key, format!("`{name}` is the name of the instruction file"))
                .set_hint(format!("the config file name must differ from the instruction file name ({ins}); the default is os_conf / os8_conf"));
        }
    }
    if o.config_file.get_ref() == o.script_file.get_ref() {
        diags
            .error(
                src,
                o.script_file.span(),
                "omniswitch.script-file",
                "script file and config file have the same name",
            )
            .set_hint("the default script file is os_script");
    }
    OmniswitchFiles {
        config_file: o.config_file.get_ref().clone(),
        aos8_config_file: o.aos8_config_file.get_ref().clone(),
        script_file: o.script_file.get_ref().clone(),
    }
}

/// Shortest and longest WPA2 passphrase (IEEE 802.11i: 8 to 63 printable
/// ASCII characters); the AP admin password is held to the same rule.
const SECRET_LENGTH: std::ops::RangeInclusive<usize> = 8..=63;

pub(super) fn validate_stellar(
    s: &RawStellar,
    serve_secured: bool,
    src: &Source,
    diags: &mut Diagnostics,
) -> Stellar {
    let virtual_ip = match s.virtual_ip.get_ref().parse::<Ipv4Addr>() {
        Ok(a) => a,
        Err(_) => {
            diags
                .error(
                    src,
                    s.virtual_ip.span(),
                    "stellar.virtual-ip",
                    format!("`{}` is not an IPv4 address", s.virtual_ip.get_ref()),
                )
                .set_hint("expected dotted decimal such as 192.168.92.134");
            Ipv4Addr::UNSPECIFIED
        }
    };
    let cc = s.country_code.get_ref();
    if cc.len() != 2 || !cc.bytes().all(|b| b.is_ascii_uppercase()) {
        diags
            .error(
                src,
                s.country_code.span(),
                "stellar.country-code",
                format!("`{cc}` is not an ISO 3166 country code"),
            )
            .set_hint("expected two upper-case letters such as FR");
    }
    for (key, v) in [
        ("stellar.employee-ssid", &s.employee_ssid),
        ("stellar.guest-ssid", &s.guest_ssid),
        ("stellar.voice-ssid", &s.voice_ssid),
    ] {
        if v.contains(['\n', '\r']) || v.len() > 63 {
            diags.push(Diagnostic::file(
                Severity::Error,
                src.path.clone(),
                format!("{key}: at most 63 characters on one line"),
            ));
        }
    }
    check_secrets(s, serve_secured, src, diags);
    let secret =
        |v: &Option<Spanned<String>>| v.as_ref().map(|s| s.get_ref().clone()).unwrap_or_default();
    Stellar {
        employee_ssid: s.employee_ssid.clone(),
        employee_passphrase: secret(&s.employee_passphrase),
        guest_ssid: s.guest_ssid.clone(),
        guest_passphrase: secret(&s.guest_passphrase),
        voice_ssid: s.voice_ssid.clone(),
        voice_passphrase: secret(&s.voice_passphrase),
        country_code: cc.clone(),
        virtual_ip,
        admin_password: secret(&s.admin_password),
    }
}

/// Each secret set is usable; unset ones are said when Stellar APs are
/// served (their configuration file is then not generated).
fn check_secrets(s: &RawStellar, serve_secured: bool, src: &Source, diags: &mut Diagnostics) {
    let secrets = [
        ("stellar.employee-passphrase", &s.employee_passphrase),
        ("stellar.guest-passphrase", &s.guest_passphrase),
        ("stellar.voice-passphrase", &s.voice_passphrase),
        ("stellar.admin-password", &s.admin_password),
    ];
    let mut unset = Vec::new();
    for (key, v) in secrets {
        match v {
            Some(v) => check_secret(key, v, src, diags),
            None => unset.push(key),
        }
    }
    if serve_secured && !unset.is_empty() {
        diags.push(
            Diagnostic::file(
                Severity::Warning,
                src.path.clone(),
                format!("{} not set: the Stellar configuration file is not generated, Stellar APs get \"file not found\"", unset.join(", ")),
            )
            .with_hint("set every passphrase and the admin password in [stellar] (8 to 63 printable ASCII characters), or place your own Secured_Config/hap_conf.ini"),
        );
    }
}

/// A set secret must be 8 to 63 printable ASCII characters. The message
/// says what is wrong with it, never what it is.
fn check_secret(key: &str, v: &Spanned<String>, src: &Source, diags: &mut Diagnostics) {
    let text = v.get_ref();
    let problem = if let Some(bad) = text.chars().position(|c| !(' '..='~').contains(&c)) {
        Some(format!("character {} is not printable ASCII", bad + 1))
    } else if !SECRET_LENGTH.contains(&text.len()) {
        Some(format!("{} characters", text.len()))
    } else {
        None
    };
    if let Some(problem) = problem {
        // Line and column, but no quoted source line: the line holds the
        // secret, and diagnostics are logged on reload.
        let at = Diagnostic::at(Severity::Error, src, v.span(), key, "");
        let mut d = Diagnostic::file(
            Severity::Error,
            src.path.clone(),
            format!("{key} is not usable: {problem}"),
        )
        .with_hint("expected 8 to 63 printable ASCII characters (a WPA2 passphrase); an empty value is refused, leave the key out to not generate hap_conf.ini");
        d.line = at.line;
        d.column = at.column;
        d.key = key.to_string();
        diags.push(d);
    }
}
