//! What a read serves: the configuration in force with its root
//! ([`Active`]), and the content for a request: a file beneath the root
//! (exact, then case folded; quotas; `${server_ip}` in macro files), a
//! configured device's `<mac>.cfg` rendered from its template, or a
//! generated file.

use std::sync::Arc;

use pbxnet_config::Loaded;

use super::files::{self, Content, OpenError, Root};
use crate::server::RefuseReason;
use crate::wire::ErrorCode;
use crate::TftpConfig;

/// Everything derived from one loaded configuration.
#[derive(Clone)]
pub(super) struct Active {
    pub(super) loaded: Arc<Loaded<TftpConfig>>,
    pub(super) root: Option<Arc<Root>>,
}

impl Active {
    pub(super) fn new(loaded: Arc<Loaded<TftpConfig>>) -> Active {
        let root = match Root::open(&loaded.daemon.root) {
            Ok(r) => Some(Arc::new(r)),
            Err(e) => {
                tracing::warn!(root = %loaded.daemon.root.display(), error = %e, "root not available: serving generated files only");
                None
            }
        };
        Active { loaded, root }
    }
    pub(super) fn cfg(&self) -> &TftpConfig {
        &self.loaded.daemon
    }
}

/// Why a read is refused: the counted reason, the ERROR code and message
/// the client gets.
pub(super) type Refusal = (RefuseReason, ErrorCode, String);

/// Render a configured device's `<mac>.cfg` from its template.
fn render_device(
    cfg: &TftpConfig,
    root: &Root,
    device: &crate::Device,
    server_ip: std::net::Ipv4Addr,
) -> Result<(String, Content, u64), Refusal> {
    let candidates = crate::template_candidates(&cfg.device_template_folder, device);
    let (rel, file) = match root.open_first(&candidates) {
        Ok(v) => v,
        Err(_) => {
            tracing::warn!(mac = %device.mac, folder = %cfg.device_template_folder, "no template for a configured device");
            return Err((
                RefuseReason::NotFound,
                ErrorCode::FileNotFound,
                "file not found".into(),
            ));
        }
    };
    let mut text = String::new();
    let read = std::io::Read::read_to_string(
        &mut std::io::Read::take(&file, cfg.macro_max_size),
        &mut text,
    );
    let rendered = read.map_err(|e| e.to_string()).and_then(|_| {
        crate::render_device_template(&text, device, server_ip).map_err(|e| e.to_string())
    });
    match rendered {
        Ok(body) => {
            let len = body.len() as u64;
            Ok((
                format!("{}.cfg (from {rel})", device.mac),
                Content::Memory(Arc::from(body.into_bytes())),
                len,
            ))
        }
        Err(e) => {
            tracing::warn!(mac = %device.mac, template = %rel, error = %e, "device template error; run `pbxnet-tftpd check`");
            Err((
                RefuseReason::ConfigError,
                ErrorCode::NotDefined,
                "server configuration error".into(),
            ))
        }
    }
}

/// Find the content for a read: a file beneath the root (exact, then case
/// folded) takes precedence over the generated one. Quotas and macros are
/// applied here. One function for TFTP and HTTP(S): `serve_secured` says
/// whether a file that resolves inside Secured_Config may be served (TFTP:
/// `files.serve-secured-config`; HTTPS: yes; plain HTTP: never).
pub(super) fn open_content(
    active: &Active,
    plan: &crate::ReadPlan,
    serve_secured: bool,
) -> Result<(String, Content, u64), Refusal> {
    let cfg = active.cfg();
    let server_ip = active.loaded.site.server_address;
    let mac = crate::mac_of_request(plan.path.file_name());
    let found = match &active.root {
        Some(root) => find(root, &candidates(cfg, plan, mac.as_ref()), serve_secured)?,
        None => None,
    };
    let found = match (found, &mac, &active.root) {
        (None, Some(m), Some(root)) => match cfg.device(m) {
            Some(device) => {
                return render_device(cfg, root, device, server_ip);
            }
            None => None,
        },
        (f, _, _) => f,
    };
    match found {
        Some((rel, file)) => read_file(cfg, rel, file, server_ip),
        None => generated(plan),
    }
}

/// The names to look for: the request's candidates, and for `<mac>.cfg` in
/// any spelling the canonical file name too (in every search folder).
fn candidates(
    cfg: &TftpConfig,
    plan: &crate::ReadPlan,
    mac: Option<&impl std::fmt::Display>,
) -> Vec<String> {
    let mut candidates = plan.candidates.clone();
    if let Some(m) = mac {
        let canonical = format!("{m}.cfg");
        if canonical != plan.path.file_name() {
            candidates.push(canonical.clone());
            for f in &cfg.policy.search_folders {
                candidates.push(format!("{f}/{canonical}"));
            }
        }
    }
    candidates
}

/// The first candidate beneath the root; a denied path or a read error
/// refuses the request.
/// Secured_Config is refused by where the opened file resolves, not only by
/// the requested name (a symlink must not reach it).
fn find(
    root: &Root,
    candidates: &[String],
    serve_secured: bool,
) -> Result<Option<(String, std::fs::File)>, Refusal> {
    match root.open_first(candidates) {
        Ok((_, file)) if !serve_secured && root.is_secured(&file) => Err((
            RefuseReason::Secured,
            ErrorCode::AccessViolation,
            crate::PathError::Secured.to_string(),
        )),
        Ok(v) => Ok(Some(v)),
        Err(OpenError::NotFound) => Ok(None),
        Err(OpenError::Denied(why)) => Err((
            RefuseReason::BadPath,
            ErrorCode::AccessViolation,
            format!("access violation: {why}"),
        )),
        Err(OpenError::Io(e)) => Err((
            RefuseReason::NotFound,
            ErrorCode::NotDefined,
            format!("read error: {}", e.kind()),
        )),
    }
}

/// The generated file the request names, if any.
fn generated(plan: &crate::ReadPlan) -> Result<(String, Content, u64), Refusal> {
    match &plan.generated {
        Some(g) => {
            let len = g.len() as u64;
            Ok((
                format!("{} (generated)", plan.path.joined()),
                Content::Memory(Arc::from(g.clone())),
                len,
            ))
        }
        None => Err((
            RefuseReason::NotFound,
            ErrorCode::FileNotFound,
            "file not found".into(),
        )),
    }
}

/// A file found beneath the root: its quota, then macro expansion for
/// macro files, else read ahead from disk.
fn read_file(
    cfg: &TftpConfig,
    rel: String,
    file: std::fs::File,
    server_ip: std::net::Ipv4Addr,
) -> Result<(String, Content, u64), Refusal> {
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    if let Some(q) = cfg.file_quota(&rel) {
        if len > q {
            return Err((
                RefuseReason::OverQuota,
                ErrorCode::DiskFull,
                format!("{rel} exceeds the {q}-byte quota"),
            ));
        }
    }
    if cfg.is_macro_file(&rel) && len > cfg.macro_max_size {
        // Served as is it could reach a device with a literal ${server_ip}:
        // refused, and said (check reports it too).
        tracing::warn!(file = %rel, bytes = len, macro_max_size = cfg.macro_max_size, "macro file over files.macro-max-size refused (its ${{server_ip}} cannot be expanded); run `pbxnet-tftpd check`");
        return Err((
            RefuseReason::ConfigError,
            ErrorCode::NotDefined,
            "server configuration error".into(),
        ));
    }
    if cfg.is_macro_file(&rel) {
        return expand_file(cfg, rel, &file, len, server_ip);
    }
    Ok((rel, Content::File(files::ReadAhead::new(file)), len))
}

/// A macro file, read whole and with `${server_ip}` expanded.
fn expand_file(
    cfg: &TftpConfig,
    rel: String,
    file: &std::fs::File,
    len: u64,
    server_ip: std::net::Ipv4Addr,
) -> Result<(String, Content, u64), Refusal> {
    let mut bytes = Vec::with_capacity(len as usize);
    std::io::Read::read_to_end(
        &mut std::io::Read::take(file, cfg.macro_max_size + 1),
        &mut bytes,
    )
    .map_err(|e| {
        (
            RefuseReason::NotFound,
            ErrorCode::NotDefined,
            format!("read error: {}", e.kind()),
        )
    })?;
    match crate::expand_macros(&bytes, server_ip) {
        Ok(Some(expanded)) => {
            let l = expanded.len() as u64;
            Ok((rel, Content::Memory(Arc::from(expanded)), l))
        }
        Ok(None) => {
            let l = bytes.len() as u64;
            Ok((rel, Content::Memory(Arc::from(bytes)), l))
        }
        Err(e) => {
            tracing::warn!(file = %rel, error = %e, "macro error in served file; run `pbxnet-tftpd check`");
            Err((
                RefuseReason::ConfigError,
                ErrorCode::NotDefined,
                "server configuration error".into(),
            ))
        }
    }
}
