//! `pbxnet-licd check`: the configuration, then what the validator would
//! do with the public key and the keys present. It succeeds only when the
//! daemon would start in normal mode with both keys valid: a missing public
//! key, a rejected key or limited mode is an error, named in the text and,
//! with `--json`, as diagnostic objects (the same shape as configuration
//! diagnostics).

use std::path::PathBuf;
use std::process::ExitCode;

use pbxnet_config::DaemonConfig;
use pbxnet_runtime::{CheckArgs, Invocation};
use serde_json::{json, Value};

use super::inputs::offline_validator;
use crate::config::LicenseConfig;

/// One licence problem, as a diagnostic.
struct Problem {
    severity: &'static str,
    file: PathBuf,
    key: String,
    message: String,
    hint: Option<&'static str>,
}

impl Problem {
    fn to_json(&self) -> Value {
        let mut v = json!({
            "severity": self.severity,
            "file": self.file,
            "line": 0,
            "column": 0,
            "key": self.key,
            "message": self.message,
        });
        if let Some(h) = self.hint {
            v["hint"] = json!(h);
        }
        v
    }

    fn to_text(&self) -> String {
        let hint = self
            .hint
            .map(|h| format!("\n  hint: {h}"))
            .unwrap_or_default();
        format!(
            "{}: {}: {}: {}{hint}\n",
            self.severity,
            self.file.display(),
            self.key,
            self.message
        )
    }
}

/// What the keys present would give, and every problem with it.
fn evaluate(invocation: &Invocation, cfg: &LicenseConfig) -> (String, Vec<Problem>) {
    let (v, clock) = match offline_validator(invocation) {
        Ok(x) => x,
        Err(e) => {
            let problem = Problem {
                severity: "error",
                file: cfg.public_key.clone(),
                key: "public-key".into(),
                message: format!("the validator cannot start: {e:#}"),
                hint: Some(
                    "install the vendor public key (PEM) and make the machine's serial readable",
                ),
            };
            return (String::new(), vec![problem]);
        }
    };
    let st = v.status(clock.now());
    let mut lines = String::new();
    let mut problems = Vec::new();
    for k in &st.keys {
        lines.push_str(&format!(
            "{}: {} ({}) → {}\n",
            k.file, k.verdict, k.detail, k.state
        ));
        if k.verdict != "valid" {
            problems.push(Problem {
                severity: "error",
                file: cfg.key_directory.join(&k.file),
                key: format!("{}-key", k.kind),
                message: format!("{}: {} → {}", k.verdict, k.detail, k.state),
                hint: Some("`pbxnet-licd serial` prints the serial to order keys for"),
            });
        }
    }
    if st.system_mode == "limited" {
        problems.push(Problem {
            severity: "error",
            file: cfg.state_file(),
            key: "system-mode".into(),
            message: "the system would be in limited mode: only the operator group works".into(),
            hint: None,
        });
    }
    if let Some(w) = &st.lab_serial_warning {
        problems.push(Problem {
            severity: "warning",
            file: PathBuf::from("license.toml"),
            key: "serial".into(),
            message: w.clone(),
            hint: None,
        });
    }
    (lines, problems)
}

pub(super) fn check(invocation: &Invocation, args: &CheckArgs) -> ExitCode {
    let paths = invocation.paths_for(LicenseConfig::FILE_NAME);
    let loaded = match pbxnet_config::load_paths::<LicenseConfig>(&paths) {
        Ok(l) => l,
        // Configuration errors: the runtime reports them (text or JSON).
        Err(_) => return pbxnet_runtime::check_paths::<LicenseConfig>(&paths, args),
    };
    let (lines, problems) = evaluate(invocation, &loaded.daemon);
    let failed = problems.iter().any(|p| p.severity == "error");
    let out = if args.json {
        let mut all: Vec<Value> = serde_json::to_value(&loaded.warnings)
            .ok()
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default();
        all.extend(problems.iter().map(Problem::to_json));
        serde_json::to_string_pretty(&all).unwrap_or_else(|_| "[]".into()) + "\n"
    } else {
        let code = pbxnet_runtime::check_paths::<LicenseConfig>(&paths, args);
        if code != ExitCode::SUCCESS {
            return code;
        }
        let problems: String = problems.iter().map(Problem::to_text).collect();
        format!("{lines}{problems}")
    };
    let _ = pbxnet_runtime::output::print(&out);
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
