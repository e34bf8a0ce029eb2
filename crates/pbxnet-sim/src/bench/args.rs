//! `pbxnet-sim bench-site`'s command line.

use std::path::PathBuf;

/// `pbxnet-sim bench-site` options.
#[derive(Debug, clap::Args)]
pub(crate) struct BenchArgs {
    /// The site configuration to start from.
    #[arg(long, default_value = "etc")]
    pub config: PathBuf,
    /// AudioCodes 400HD phones.
    #[arg(long, default_value_t = 200)]
    pub audiocodes: usize,
    /// ALE IP phones.
    #[arg(long, default_value_t = 50)]
    pub ale: usize,
    /// Generic SIP phones.
    #[arg(long, default_value_t = 50)]
    pub sip: usize,
    /// OmniSwitches.
    #[arg(long, default_value_t = 16)]
    pub switches: usize,
    /// Stellar APs.
    #[arg(long, default_value_t = 64)]
    pub aps: usize,
    /// Power-on window, ms.
    #[arg(long, default_value_t = 1000)]
    pub window_ms: u64,
    /// Firmware image size, KiB (phones due for an upgrade fetch it whole).
    #[arg(long, default_value_t = 2048)]
    pub firmware_kib: usize,
    /// Rounds (each runs both stacks, alternating which goes first).
    #[arg(long, default_value_t = 5)]
    pub rounds: usize,
    /// Firmware day: every AudioCodes phone ignores option 160 and runs old
    /// firmware, so each pulls the whole image.
    #[arg(long)]
    pub upgrade_all: bool,
    /// How AudioCodes phones (option 160) and Stellar APs provision. `tftp`:
    /// option 160 `tftp://`, hap_instruction.ini without `https_server`,
    /// both stacks. `http`/`https`: option 160 over that protocol (with
    /// `--upgrade-all` it names the firmware too, and the phones follow it
    /// instead of 66/67), APs fetch hap_conf.ini over HTTPS; pbxnet only
    /// (tftpd-hpa serves no HTTP).
    #[arg(long, value_enum, default_value_t = Provisioning::Tftp)]
    pub provisioning: Provisioning,
    /// Append the result table to this markdown file.
    #[arg(long)]
    pub append_to: Option<PathBuf>,
}

/// The protocol phones and APs fetch their files with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Provisioning {
    /// TFTP everywhere (both stacks).
    Tftp,
    /// Option 160 `http://` (pbxnet only).
    Http,
    /// Option 160 `https://` (pbxnet only).
    Https,
}

impl Provisioning {
    /// The URL scheme.
    pub(crate) fn scheme(self) -> &'static str {
        match self {
            Provisioning::Tftp => "tftp",
            Provisioning::Http => "http",
            Provisioning::Https => "https",
        }
    }

    /// Option 160 for the bench's phones: on firmware day over HTTP(S) it
    /// names the image too.
    pub(crate) fn option_160(self, upgrade_all: bool) -> String {
        let s = self.scheme();
        if upgrade_all && self != Provisioning::Tftp {
            format!("{s}://${{server_ip}}/ThirdParty_Devices/400HD.img;<MAC>.cfg")
        } else {
            format!("{s}://${{server_ip}}/;<MAC>.cfg")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Provisioning;

    #[test]
    fn bench_option_160() {
        assert_eq!(
            Provisioning::Tftp.option_160(true),
            "tftp://${server_ip}/;<MAC>.cfg"
        );
        assert_eq!(
            Provisioning::Http.option_160(true),
            "http://${server_ip}/ThirdParty_Devices/400HD.img;<MAC>.cfg"
        );
        assert_eq!(
            Provisioning::Https.option_160(false),
            "https://${server_ip}/;<MAC>.cfg"
        );
    }
}
