//! `ntp.toml`: the serde mirror ([`RawNtpConfig`], in `raw`) and the
//! validated [`NtpConfig`], checked table by table: `[server]` and
//! `[local]` (`server`), the access lists (`access`), `[keys]` (`keys`),
//! `[[source]]` (`sources`) and `[clock]` (`clock`).
//!
//! The key file named in `[keys] file` is read by the configuration loader
//! (pbxnet-config, run by the shell at start-up, on reload and by
//! `pbxnet-ntpd check`) and reaches validation as data: its text, mode and
//! owner. Validation parses it and checks its mode, so key-file syntax
//! errors, unknown trusted key ids and unsafe permissions are reported with
//! the rest of the config problems, and the core never opens a file.

mod access;
mod clock;
mod keys;
mod raw;
mod server;
mod sources;

pub use clock::ClockSettings;
pub use raw::{ClockMode, RawNtpConfig};
pub use sources::SourceSpec;

use crate::mac::KeyStore;
use crate::server::ServerConfig;
use pbxnet_config::{CompanionFiles, DaemonConfig, Diagnostics, ValidateCtx};
use std::net::SocketAddr;
use std::path::PathBuf;

/// The validated configuration of pbxnet-ntpd.
#[derive(Debug, Clone)]
pub struct NtpConfig {
    /// Listen addresses.
    pub listen: Vec<SocketAddr>,
    /// Worker sockets per address (0 = one per CPU).
    pub workers: usize,
    /// SO_RCVBUF size.
    pub receive_buffer: usize,
    /// sendmmsg per receive batch.
    pub send_batching: bool,
    /// Wait under load before the next receive batch (0 = off).
    pub coalesce: std::time::Duration,
    /// Server core config (policy, keys, rate limit).
    pub server: ServerConfig,
    /// Local-stratum mode.
    pub local_stratum: Option<u8>,
    /// Key file used (for status).
    pub key_file: Option<PathBuf>,
    /// Upstream sources (empty: no client side).
    pub sources: Vec<SourceSpec>,
    /// Clock settings.
    pub clock: ClockSettings,
    /// Where `/metrics` listens (`[metrics]`); `None`: off.
    pub metrics: Option<SocketAddr>,
}

impl DaemonConfig for NtpConfig {
    const FILE_NAME: &'static str = "ntp.toml";
    type Raw = RawNtpConfig;

    /// Without the loader's companion files: a key file counts as unread.
    fn validate(raw: RawNtpConfig, ctx: &ValidateCtx<'_>, diags: &mut Diagnostics) -> Option<Self> {
        Self::validate_with_files(raw, ctx, &CompanionFiles::default(), diags)
    }

    fn companion_files(raw: &RawNtpConfig) -> Vec<PathBuf> {
        raw.keys.file.iter().map(|f| f.get_ref().clone()).collect()
    }

    fn validate_with_files(
        raw: RawNtpConfig,
        ctx: &ValidateCtx<'_>,
        files: &CompanionFiles,
        diags: &mut Diagnostics,
    ) -> Option<Self> {
        let listen = server::listen(&raw.server, ctx, diags);
        let policy = access::policy(&raw.server, ctx, diags);
        let rate_limit = server::rate_limit(&raw.server.rate_limit, ctx, diags);
        let local_stratum = server::local_stratum(&raw.local, ctx, diags);
        let keys = keys::keys(&raw.keys, ctx, files, diags);
        access::check_auth_required(&policy, &keys.trusted, ctx, diags);
        let sources = sources::sources(&raw.source, &keys, ctx, diags);
        let clock = clock::clock(&raw.clock, ctx, diags);
        let metrics = raw
            .metrics
            .validate(pbxnet_config::NTPD_METRICS_PORT, ctx, diags);
        if diags.has_errors() {
            return None;
        }
        let s = &raw.server;
        Some(NtpConfig {
            listen,
            workers: *s.workers.get_ref() as usize,
            receive_buffer: s.receive_buffer.0.min(1 << 30) as usize,
            send_batching: s.send_batching,
            coalesce: std::time::Duration::from_micros(u64::from(*s.coalesce_us.get_ref())),
            server: ServerConfig {
                policy,
                keys: KeyStore::new(keys.keys, keys.trusted),
                rate_limit,
            },
            local_stratum,
            key_file: keys.file,
            sources,
            clock,
            metrics,
        })
    }
}

#[cfg(test)]
mod tests;
