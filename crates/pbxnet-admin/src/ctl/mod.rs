//! `pbxnetctl`: the site in a terminal. Asks admind's API (token from
//! `--token-file` or `PBXNET_TOKEN`); when admind does not answer, asks
//! the daemons' control sockets itself and rebuilds the inventory from
//! admind's event log (read-only), so an operator still sees the site while
//! admind is down. `--json` prints what the API returns (the same shape in
//! the fallback).

mod cli;
mod http;
mod local;
mod render;

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use pbxnet_runtime::exit::{EX_NOPERM, EX_SOFTWARE, EX_UNAVAILABLE, EX_USAGE};
use serde_json::Value;

pub use cli::{Cli, Command};
use http::{BaseUrl, HttpError};

/// The clap command (man page).
pub fn ctl_cli() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

/// `pbxnetctl` entry point.
pub fn ctl_main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(text) => {
            let _ = pbxnet_runtime::output::print(&text);
            ExitCode::SUCCESS
        }
        Err((code, message)) => {
            eprintln!("pbxnetctl: {message}");
            ExitCode::from(code)
        }
    }
}

type Failed = (u8, String);

fn run(cli: &Cli) -> Result<String, Failed> {
    let base = BaseUrl::parse(&cli.url).map_err(|e| (EX_USAGE, e.to_string()))?;
    let auth = token(cli)?.map(|t| format!("Bearer {t}"));
    let value = match from_api(cli, &base, auth.as_deref()) {
        Ok(v) => v,
        Err(Fallback::No(failed)) => return Err(failed),
        Err(Fallback::Yes(why)) if !cli.no_fallback => {
            eprintln!(
                "pbxnetctl: {why}; asking the daemons' sockets and admind's event log directly"
            );
            local::answer(cli.config.as_deref(), &cli.command).map_err(|e| (EX_UNAVAILABLE, e))?
        }
        Err(Fallback::Yes(why)) => return Err((EX_UNAVAILABLE, why)),
    };
    if cli.json {
        serde_json::to_string_pretty(&value).map_err(|e| (EX_SOFTWARE, e.to_string()))
    } else {
        Ok(render::text(&cli.command, &value))
    }
}

fn token(cli: &Cli) -> Result<Option<String>, Failed> {
    if let Some(path) = &cli.token_file {
        let text = std::fs::read_to_string(path).map_err(|e| {
            (
                EX_NOPERM,
                format!("reading the token file {}: {e}", path.display()),
            )
        })?;
        return Ok(Some(text.trim().to_string()));
    }
    Ok(std::env::var("PBXNET_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty()))
}

enum Fallback {
    /// admind is not there: the sockets may answer.
    Yes(String),
    /// admind answered with a refusal or an error: shown as is.
    No(Failed),
}

fn get(base: &BaseUrl, path: &str, auth: Option<&str>) -> Result<Value, Fallback> {
    match http::request(base, "GET", path, auth, Duration::from_secs(10)) {
        Ok((200, v)) => Ok(v),
        Ok((status, v)) => {
            let message = v["error"].as_str().unwrap_or("no message").to_string();
            let code = match status {
                401 | 403 => EX_NOPERM,
                503 => EX_UNAVAILABLE,
                400..=499 => EX_USAGE,
                _ => EX_SOFTWARE,
            };
            let hint = if status == 401 {
                " (give a token: --token-file FILE or PBXNET_TOKEN)"
            } else {
                ""
            };
            Err(Fallback::No((code, format!("{status}: {message}{hint}"))))
        }
        Err(HttpError::Unreachable(at, e)) => Err(Fallback::Yes(format!(
            "admind does not answer at {at} ({e})"
        ))),
        Err(e) => Err(Fallback::No((EX_SOFTWARE, e.to_string()))),
    }
}

/// The query string of the device filters.
fn device_query(command: &Command) -> Vec<(String, String)> {
    let mut q = Vec::new();
    if let Command::Devices {
        stuck,
        verdict,
        class,
        model,
        firmware,
        search,
    } = command
    {
        if *stuck {
            q.push(("verdict".into(), "stuck-after-lease".into()));
        }
        for (k, v) in [
            ("verdict", verdict),
            ("class", class),
            ("model", model),
            ("firmware", firmware),
            ("q", search),
        ] {
            if let Some(v) = v {
                q.push((k.into(), v.clone()));
            }
        }
    }
    if let Command::Leases { search: Some(s) } = command {
        q.push(("q".into(), s.clone()));
    }
    q
}

fn encode(pairs: &[(String, String)]) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b':' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Every page of a list resource, joined under `key`.
fn all_pages(
    base: &BaseUrl,
    path: &str,
    key: &str,
    query: &[(String, String)],
    auth: Option<&str>,
) -> Result<Value, Fallback> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut q = query.to_vec();
        q.push(("limit".into(), "1000".into()));
        if let Some(c) = &cursor {
            q.push(("cursor".into(), c.clone()));
        }
        let page = get(base, &format!("{path}?{}", encode(&q)), auth)?;
        items.extend(page[key].as_array().cloned().unwrap_or_default());
        match page["next"].as_str() {
            Some(n) => cursor = Some(n.to_string()),
            None => return Ok(serde_json::json!({ key: items })),
        }
    }
}

fn from_api(cli: &Cli, base: &BaseUrl, auth: Option<&str>) -> Result<Value, Fallback> {
    match &cli.command {
        Command::Site => get(base, "/api/v1/site", auth),
        Command::Devices { .. } => all_pages(
            base,
            "/api/v1/devices",
            "devices",
            &device_query(&cli.command),
            auth,
        ),
        Command::Device { mac } => {
            let mac: pbxnet_inventory::Mac =
                mac.parse().map_err(|e: pbxnet_inventory::MacParseError| {
                    Fallback::No((EX_USAGE, e.to_string()))
                })?;
            get(base, &format!("/api/v1/devices/{}", mac.compact()), auth)
        }
        Command::Leases { .. } => all_pages(
            base,
            "/api/v1/leases",
            "leases",
            &device_query(&cli.command),
            auth,
        ),
        Command::Ntp => {
            let tracking = get(base, "/api/v1/ntp/tracking", auth)?;
            let sources = get(base, "/api/v1/ntp/sources", auth)?;
            Ok(serde_json::json!({ "tracking": tracking, "sources": sources["sources"] }))
        }
        Command::License => get(base, "/api/v1/license", auth),
    }
}
