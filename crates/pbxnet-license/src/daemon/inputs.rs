//! What the shell gives the validator: its configuration (the serial from
//! the machine or `license.toml`, the vendor public key, the hardware
//! limits) and the key files; and the validator as it would start, built
//! without a daemon for `status --offline` and `check`.

use anyhow::Result;
use pbxnet_runtime::Invocation;

use super::identity;
use super::state;
use super::store::{self, Clock};
use crate::config::{LicenseConfig, MachineIdentity};
use crate::{KeyKind, Validator, ValidatorConfig};

/// What the validator is told about this system, from `license.toml` and
/// the machine's identity (reads the public key file).
pub(super) fn validator_config(
    cfg: &LicenseConfig,
    identity: &MachineIdentity,
) -> Result<ValidatorConfig> {
    let (serial, serial_origin) = identity::resolve_serial(cfg, identity)?;
    Ok(ValidatorConfig {
        serial,
        major_version: cfg.software_major_version,
        public_key: store::read_public_key(&cfg.public_key)?,
        hardware_limits: cfg.hardware_limits.clone(),
        serial_origin,
        previous_serials: cfg.previous_serials.clone(),
    })
}

/// The content of the Main and CTI key files (`None`: no file).
pub(super) fn read_keys(cfg: &LicenseConfig, vcfg: &ValidatorConfig) -> [Option<String>; 2] {
    KeyKind::ALL.map(|k| store::read_key(&cfg.key_directory, k, vcfg.serial))
}

/// The validator as it would start, evaluated without a daemon and without
/// writing anything (no TPM: the running daemon owns it).
pub(super) fn offline_validator(invocation: &Invocation) -> Result<(Validator, Clock)> {
    let loaded = invocation
        .load_config::<LicenseConfig>()
        .map_err(|f| f.error)?;
    let cfg = &loaded.daemon;
    let vcfg = validator_config(cfg, &identity::read_identity(&cfg.dmi_directory))?;
    let clock = Clock::new();
    let key = state::state_key(cfg, vcfg.serial)?;
    let (state, _) = state::load(cfg, key.as_ref(), None, vcfg.serial, clock.now(), true)?;
    let keys = read_keys(cfg, &vcfg);
    let v = Validator::new(
        vcfg,
        state,
        clock.now(),
        [keys[0].as_deref(), keys[1].as_deref()],
    );
    Ok((v, clock))
}
