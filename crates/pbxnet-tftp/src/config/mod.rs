//! `tftp.toml`: the serde mirror ([`RawTftpConfig`], in `raw`) and the
//! validated [`TftpConfig`].
//!
//! Validation is split by table: `server` (`[server]`), `transfer`
//! (`[transfer]`), `files` (`[files]` and `[uploads]`), `provisioning`
//! (`[omniswitch]` and `[stellar]`) and `devices` (`[devices]`). Each pushes
//! every problem it finds into the diagnostics, so one run reports them all.
//!
//! What the configuration names on disk (the served tree: quotas, macros,
//! device templates, the upload folder) and on the host (its addresses) is
//! checked by [`TftpConfig::check_tree`] on a [`TreeSnapshot`] and a list of
//! addresses that the shell reads at start-up, on reload and in `check`:
//! this module never touches the file system.
mod devices;
mod files;
mod http;
mod names;
mod provisioning;
mod raw;
mod raw_http;
mod server;
mod transfer;
mod tree;
mod validated;

use pbxnet_config::{DaemonConfig, Diagnostic, Diagnostics, Severity, ValidateCtx};

use crate::server::Policy;

pub use http::{
    ClientCertFolder, DigestAlgorithm, DigestFolder, DigestUser, HttpConfig, HttpsConfig,
};
pub use raw::RawTftpConfig;
pub use tree::{FolderFacts, RootFacts, TreeFile, TreeSnapshot, TREE_MAX_ENTRIES};
pub(crate) use validated::Anchors;
pub use validated::{matches_patterns, TftpConfig};

impl DaemonConfig for TftpConfig {
    const FILE_NAME: &'static str = "tftp.toml";
    type Raw = RawTftpConfig;

    fn validate(
        raw: RawTftpConfig,
        ctx: &ValidateCtx<'_>,
        diags: &mut Diagnostics,
    ) -> Option<Self> {
        let src = ctx.source;
        let server = server::validate(&raw.server, src, diags);
        let transfer = transfer::validate(&raw.transfer, src, diags);
        let files = files::validate(&raw.files, ctx, diags);
        let uploads = files::validate_uploads(&raw.uploads, &files.search_folders, src, diags);
        let omniswitch = provisioning::validate_omniswitch(&raw.omniswitch, src, diags);
        let stellar = provisioning::validate_stellar(
            &raw.stellar,
            raw.files.serve_secured_config,
            src,
            diags,
        );
        let devices = devices::validate(&raw.devices, src, diags);
        let http = http::validate_http(&raw.http, src, diags);
        let https = http::validate_https(&raw.https, &http, ctx, diags);
        let metrics = raw
            .metrics
            .validate(pbxnet_config::TFTPD_METRICS_PORT, ctx, diags);
        if !raw.files.serve_secured_config {
            files::warn_secured_not_served(ctx, diags);
        }
        let anchor = |span: std::ops::Range<usize>, key: &str| {
            Diagnostic::at(Severity::Warning, src, span, key, "")
        };
        let cfg = TftpConfig {
            listen: server.listen,
            port_range: server.port_range,
            max_transfers: server.max_transfers,
            max_transfers_per_client: server.max_transfers_per_client,
            threads: server.threads,
            limits: transfer.limits,
            blksize_within_mtu: transfer.blksize_within_mtu,
            timing: transfer.timing,
            root: files.root,
            policy: Policy {
                max_name_len: files.max_name_len,
                serve_secured: raw.files.serve_secured_config,
                search_folders: files.search_folders,
                uploads,
            },
            omniswitch_quota: raw.files.omniswitch_quota.0,
            repository_quota: raw.files.repository_quota.0,
            repository_folders: raw.files.repository_folders.clone(),
            macro_files: files.macro_files,
            macro_max_size: raw.files.macro_max_size.0,
            os_config_file: omniswitch.config_file,
            os8_config_file: omniswitch.aos8_config_file,
            os_script_file: omniswitch.script_file,
            stellar,
            device_template_folder: devices.template_folder,
            devices: devices.devices,
            http,
            https,
            metrics,
            anchors: Anchors {
                root: anchor(raw.files.root.span(), "files.root"),
                template_folder: anchor(
                    raw.devices.template_folder.span(),
                    "devices.template-folder",
                ),
                upload_folder: anchor(raw.uploads.folder.span(), "uploads.folder"),
            },
        };
        // Built even with errors, so that the shell's checks of the tree
        // run too and one `check` reports every problem (the load fails
        // on any error all the same).
        Some(cfg)
    }
}

#[cfg(test)]
mod tests;
