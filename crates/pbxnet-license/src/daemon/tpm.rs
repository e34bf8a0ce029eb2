//! The TPM 2.0 anchor: one 64-byte NV index (owner read/write) holding
//! [`AnchorRecord`](crate::AnchorRecord), through tss-esapi. The index survives the deletion of
//! every file, so editions, grace and Try-and-Buy survive it too.

use anyhow::Result;

use crate::config::TpmSetting;

/// The NV index (owner range; "PL" = pbxnet licence).
#[cfg(feature = "tpm")]
pub(crate) const NV_INDEX: u32 = 0x0150_504C;
/// The device a real TPM is reached through (the kernel's resource manager).
const DEVICE: &str = "/dev/tpmrm0";

/// The TCTI to use, if any: `auto` means the device when it exists.
pub(crate) fn tcti_for(setting: &TpmSetting) -> Option<String> {
    match setting {
        TpmSetting::Off => None,
        TpmSetting::Auto => std::path::Path::new(DEVICE)
            .exists()
            .then(|| format!("device:{DEVICE}")),
        TpmSetting::Tcti(t) => Some(t.clone()),
    }
}

#[cfg(feature = "tpm")]
mod imp {
    use std::str::FromStr;

    use anyhow::{Context as _, Result};
    use tss_esapi::abstraction::nv;
    use tss_esapi::attributes::NvIndexAttributesBuilder;
    use tss_esapi::handles::{NvIndexHandle, NvIndexTpmHandle};
    use tss_esapi::interface_types::algorithm::HashingAlgorithm;
    use tss_esapi::interface_types::resource_handles::{NvAuth, Provision};
    use tss_esapi::structures::{MaxNvBuffer, NvPublicBuilder};
    use tss_esapi::{Context, TctiNameConf};

    use super::NV_INDEX;
    use crate::{AnchorRecord, ANCHOR_LEN};

    /// An open TPM.
    pub(crate) struct Tpm {
        ctx: Context,
        index: NvIndexTpmHandle,
        tcti: String,
    }

    impl std::fmt::Debug for Tpm {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "Tpm({})", self.tcti)
        }
    }

    impl Tpm {
        pub(crate) fn open(tcti: &str) -> Result<Self> {
            let conf = TctiNameConf::from_str(tcti)
                .with_context(|| format!("TPM TCTI {tcti:?} is not valid"))?;
            let ctx = Context::new(conf).with_context(|| format!("opening the TPM at {tcti}"))?;
            Ok(Self {
                ctx,
                index: NvIndexTpmHandle::new(NV_INDEX).context("NV index handle")?,
                tcti: tcti.to_string(),
            })
        }

        pub(crate) fn describe(&self) -> &str {
            &self.tcti
        }

        fn defined(&mut self) -> Result<bool> {
            let index = self.index;
            let all = nv::list(&mut self.ctx).context("listing TPM NV indexes")?;
            Ok(all.iter().any(|(p, _)| p.nv_index() == index))
        }

        /// The anchor, `None` when the index was never written.
        pub(crate) fn read_anchor(&mut self) -> Result<Option<AnchorRecord>> {
            if !self.defined()? {
                return Ok(None);
            }
            let index = self.index;
            let bytes = self
                .ctx
                .execute_with_nullauth_session(|ctx| nv::read_full(ctx, NvAuth::Owner, index));
            match bytes {
                Ok(b) => Ok(AnchorRecord::from_bytes(&b).ok()),
                // Defined but never written (TPM_RC_NV_UNINITIALIZED).
                Err(e) if e.to_string().contains("not been initialized") => Ok(None),
                Err(e) => Err(e).context("reading the TPM NV anchor"),
            }
        }

        fn define(&mut self) -> Result<NvIndexHandle> {
            let attributes = NvIndexAttributesBuilder::new()
                .with_owner_write(true)
                .with_owner_read(true)
                .build()?;
            let public = NvPublicBuilder::new()
                .with_nv_index(self.index)
                .with_index_name_algorithm(HashingAlgorithm::Sha256)
                .with_index_attributes(attributes)
                .with_data_area_size(ANCHOR_LEN)
                .build()?;
            self.ctx
                .execute_with_nullauth_session(|ctx| {
                    ctx.nv_define_space(Provision::Owner, None, public)
                })
                .context("defining the TPM NV anchor index")
        }

        pub(crate) fn write_anchor(&mut self, anchor: &AnchorRecord) -> Result<()> {
            let handle = if self.defined()? {
                let object = self
                    .ctx
                    .tr_from_tpm_public(self.index.into())
                    .context("opening the TPM NV anchor index")?;
                NvIndexHandle::from(object)
            } else {
                self.define()?
            };
            let data = MaxNvBuffer::try_from(anchor.to_bytes().to_vec())?;
            let result = self
                .ctx
                .execute_with_nullauth_session(|ctx| ctx.nv_write(NvAuth::Owner, handle, data, 0));
            let mut object = handle.into();
            let _ = self.ctx.tr_close(&mut object);
            result.context("writing the TPM NV anchor")
        }
    }
}

#[cfg(not(feature = "tpm"))]
mod imp {
    use anyhow::{bail, Result};

    use crate::AnchorRecord;

    /// Built without TPM support (`--no-default-features`).
    #[derive(Debug)]
    pub(crate) struct Tpm;

    impl Tpm {
        pub(crate) fn open(tcti: &str) -> Result<Self> {
            bail!("this pbxnet-licd was built without TPM support (feature \"tpm\"); set tpm = \"off\" (TCTI {tcti})")
        }
        pub(crate) fn describe(&self) -> &str {
            "none"
        }
        pub(crate) fn read_anchor(&mut self) -> Result<Option<AnchorRecord>> {
            Ok(None)
        }
        pub(crate) fn write_anchor(&mut self, _: &AnchorRecord) -> Result<()> {
            Ok(())
        }
    }
}

pub(crate) use imp::Tpm;

/// Opens the TPM the setting names, if any.
pub(crate) fn open(setting: &TpmSetting) -> Result<Option<Tpm>> {
    tcti_for(setting).map(|t| Tpm::open(&t)).transpose()
}
