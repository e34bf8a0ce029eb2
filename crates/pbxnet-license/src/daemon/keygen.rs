//! `pbxnet-keygen`: the vendor side. `keypair` makes a signing key pair,
//! `issue` signs a key from a TOML order, `inspect` decodes any key.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::SigningKey;
use serde_json::json;

use crate::{catalogue, decode, issue, KeyKind, Order, Serial};

#[derive(Debug, Parser)]
#[command(
    name = "pbxnet-keygen",
    version,
    about = "Issue and inspect pbxnet software keys (vendor side)"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Make a signing key pair: PREFIX.key.pem (private, mode 0600) and PREFIX.pub.pem.
    Keypair {
        /// Path prefix of the two files.
        prefix: PathBuf,
        /// Replace existing files.
        #[arg(long)]
        force: bool,
    },
    /// Issue a key from a TOML order (serial, type, version, edition, ack code, services).
    Issue {
        /// The order file.
        order: PathBuf,
        /// Private key (PEM PKCS#8, mode 0600).
        #[arg(long, short = 'k')]
        signing_key: PathBuf,
        /// Write `<SERIAL>.msl|.csl` into this directory (atomically) instead of printing the key.
        #[arg(long)]
        out_dir: Option<PathBuf>,
    },
    /// Decode a key (a file, or the key text) and show every field.
    Inspect {
        /// Key file path or key text.
        key: String,
        /// Key type when it cannot be told from the file extension.
        #[arg(long = "type")]
        kind: Option<KeyKind>,
        /// Vendor public key: also verify the signature.
        #[arg(long)]
        public_key: Option<PathBuf>,
        /// Serial to verify for (default: the file name's).
        #[arg(long)]
        serial: Option<Serial>,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
}

/// The `pbxnet-keygen` command line (for man pages: pbxnet-xtask).
pub fn keygen_cli() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

/// `pbxnet-keygen` entry point.
pub fn keygen_main() -> ExitCode {
    let cli = Cli::parse();
    let r = match cli.command {
        Cmd::Keypair { prefix, force } => keypair(&prefix, force),
        Cmd::Issue {
            order,
            signing_key,
            out_dir,
        } => issue_cmd(&order, &signing_key, out_dir.as_deref()),
        Cmd::Inspect {
            key,
            kind,
            public_key,
            serial,
            json,
        } => inspect(&key, kind, public_key.as_deref(), serial, json),
    };
    match r {
        Ok(code) => code,
        Err(e) => {
            eprintln!("pbxnet-keygen: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn with_suffix(prefix: &Path, suffix: &str) -> PathBuf {
    PathBuf::from(format!("{}{suffix}", prefix.display()))
}

fn keypair(prefix: &Path, force: bool) -> Result<ExitCode> {
    let sk = SigningKey::generate(&mut rand::rngs::OsRng);
    let private = with_suffix(prefix, ".key.pem");
    let public = with_suffix(prefix, ".pub.pem");
    let pem = sk
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| anyhow::anyhow!("encoding private key: {e}"))?;
    let mut opts = OpenOptions::new();
    opts.write(true).mode(0o600);
    if force {
        opts.create(true).truncate(true);
    } else {
        opts.create_new(true);
    }
    let mut f = opts
        .open(&private)
        .with_context(|| format!("creating {}", private.display()))?;
    f.write_all(pem.as_bytes())?;
    f.sync_all()?;
    let pubpem = sk
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| anyhow::anyhow!("encoding public key: {e}"))?;
    fs::write(&public, pubpem).with_context(|| format!("writing {}", public.display()))?;
    out!(
        "private key: {} (mode 0600, keep it at the vendor)",
        private.display()
    );
    out!(
        "public key:  {} (install on the PBX as license.toml public-key)",
        public.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn read_signing_key(path: &Path) -> Result<SigningKey> {
    pbxnet_config::check_secret_file_mode(path).map_err(|e| anyhow::anyhow!(e))?;
    let pem = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    SigningKey::from_pkcs8_pem(&pem)
        .map_err(|e| anyhow::anyhow!("{}: not an Ed25519 private key: {e}", path.display()))
}

fn issue_cmd(order_path: &Path, key_path: &Path, out_dir: Option<&Path>) -> Result<ExitCode> {
    let text = fs::read_to_string(order_path)
        .with_context(|| format!("reading {}", order_path.display()))?;
    let order = match Order::parse(&text) {
        Ok(o) => o,
        Err(errs) => {
            for e in &errs {
                eprintln!("{}: {e}", order_path.display());
            }
            eprintln!("{} error(s): no key issued", errs.len());
            return Ok(ExitCode::from(65));
        }
    };
    let sk = read_signing_key(key_path)?;
    let key = issue(&order.license, order.serial, &sk).map_err(|e| anyhow::anyhow!("{e}"))?;
    match out_dir {
        None => out!("{key}"),
        Some(dir) => {
            let name = order.license.kind.file_name(order.serial);
            let tmp = dir.join(format!(".{name}.tmp"));
            let dst = dir.join(&name);
            {
                let mut f = OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .mode(0o644)
                    .open(&tmp)
                    .with_context(|| format!("creating {}", tmp.display()))?;
                writeln!(f, "{key}")?;
                f.sync_all()?;
            }
            fs::rename(&tmp, &dst).with_context(|| format!("renaming to {}", dst.display()))?;
            out!("{}", dst.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn inspect(
    arg: &str,
    kind: Option<KeyKind>,
    public_key: Option<&Path>,
    serial: Option<Serial>,
    json_out: bool,
) -> Result<ExitCode> {
    let (content, file_kind, file_serial) = key_argument(arg)?;
    let text = crate::key_text_from_file(&content);
    let kind = kind.or(file_kind);
    let decoded = match decode(kind, text) {
        Ok(d) => d,
        Err(e) => {
            if json_out {
                out!("{}", json!({"ok": false, "error": e.to_string()}));
            } else {
                out!("REJECTED: {e}");
            }
            return Ok(ExitCode::from(2));
        }
    };
    let lic = &decoded.license;
    let verify = match (public_key, serial.or(file_serial)) {
        (Some(pk), Some(serial)) => {
            let vk = super::store::read_public_key(pk)?;
            Some((serial, decoded.verify(serial, &vk).is_ok()))
        }
        (Some(_), None) => bail!("--public-key needs --serial (or a file named <SERIAL>.msl/.csl)"),
        _ => None,
    };
    let services: Vec<_> = catalogue::services(lic.kind)
        .iter()
        .zip(&lic.values)
        .map(|(s, &v)| {
            json!({
                "id": s.id, "name": s.name, "group": s.group, "role": s.role, "unit": s.unit,
                "value": v, "effective": s.effective(v), "default": s.default, "max": s.max_value(),
            })
        })
        .collect();
    let payload_hex: String = decoded
        .payload()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let out = json!({
        "ok": true,
        "type": lic.kind,
        "length": text.len(),
        "schema": crate::SCHEMA,
        "software-major-version": lic.major_version,
        "edition": lic.edition,
        "ack-code": format!("{:04X}", lic.ack_code),
        "payload-hex": payload_hex,
        "signature": verify.map(|(s, ok)| json!({"serial": s, "valid": ok})),
        "services": services,
    });
    if json_out {
        out!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print_key_text(lic, text.len(), &payload_hex, verify);
    }
    Ok(match verify {
        Some((_, false)) => ExitCode::from(3),
        _ => ExitCode::SUCCESS,
    })
}

/// The key text of `arg` (a key file, or the key itself) and what the
/// file name says: `<SERIAL>.msl` gives the kind and the serial.
fn key_argument(arg: &str) -> Result<(String, Option<KeyKind>, Option<Serial>)> {
    let path = Path::new(arg);
    if !path.is_file() {
        return Ok((arg.to_string(), None, None));
    }
    let content =
        fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .and_then(|e| e.parse::<KeyKind>().ok());
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .and_then(|s| s.parse::<Serial>().ok());
    Ok((content, ext, stem))
}

/// The human form of `inspect`.
fn print_key_text(
    lic: &crate::License,
    length: usize,
    payload_hex: &str,
    verify: Option<(Serial, bool)>,
) {
    out!(
        "type {}  length {}  schema {}",
        lic.kind,
        length,
        crate::SCHEMA
    );
    out!(
        "software major version R{}  edition {}  ack code {:04X}",
        lic.major_version,
        lic.edition,
        lic.ack_code
    );
    out!("payload {payload_hex}");
    match verify {
        Some((s, true)) => out!("signature: VALID for serial {s}"),
        Some((s, false)) => out!("signature: INVALID for serial {s}"),
        None => out!("signature: not checked (give --public-key)"),
    }
    for (s, &v) in catalogue::services(lic.kind).iter().zip(&lic.values) {
        let eff = s.effective(v);
        let note = match s.role {
            crate::Role::Ignored => " (eLP, ignored by the system)".to_string(),
            crate::Role::Inactive => " (inactive deprecated)".to_string(),
            _ if eff != v => format!(" (effective {eff})"),
            _ => String::new(),
        };
        out!("  {:<32} {:>6}{note}", s.id, v);
    }
}
