//! Man pages from the clap definitions (clap_mangen).
//!
//! Contract with the daemon crates (they own their `Cli` types): each exposes
//! its command line as a function returning the clap `Command`, behind its
//! `daemon` feature, so that this crate never copies a command line:
//!
//! | binary | function |
//! |---|---|
//! | `pbxnet-dhcpd` | `pbxnet_dhcp::daemon::cli() -> clap::Command` |
//! | `pbxnet-tftpd` | `pbxnet_tftp::daemon::cli() -> clap::Command` |
//! | `pbxnet-ntpd` | `pbxnet_ntp::daemon::cli() -> clap::Command` |
//! | `pbxnet-licd` | `pbxnet_license::daemon::licd_cli() -> clap::Command` |
//! | `pbxnet-keygen` | `pbxnet_license::daemon::keygen_cli() -> clap::Command` |
//! | `pbxnet-admind` | `pbxnet_admin::admind_cli() -> clap::Command` |
//! | `pbxnetctl` | `pbxnet_admin::ctl::ctl_cli() -> clap::Command` |
//! | `pbxnet-sim` | `pbxnet_sim::cli() -> clap::Command` (not packaged) |
//!
//! each implemented as `<Cli as clap::CommandFactory>::command()`.

use std::fmt::Write as _;
use std::io;

use clap::Command;

/// One man page to render.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    /// Binary name, and so the page name.
    pub binary: &'static str,
    /// Manual section: 8 for the daemons, 1 for tools.
    pub section: &'static str,
    /// The function of the contract (for messages).
    pub provider: &'static str,
    /// The command line.
    pub command: fn() -> Command,
    /// Daemon file read besides site.toml (`None` for tools).
    pub config_file: Option<&'static str>,
    /// Shipped in the Debian package.
    pub packaged: bool,
}

/// Every binary that gets a man page, in a fixed order.
pub fn pages() -> Vec<Page> {
    vec![
        Page {
            binary: "pbxnet-dhcpd",
            section: "8",
            provider: "pbxnet_dhcp::daemon::cli",
            command: pbxnet_dhcp::daemon::cli,
            config_file: Some("dhcp.toml"),
            packaged: true,
        },
        Page {
            binary: "pbxnet-tftpd",
            section: "8",
            provider: "pbxnet_tftp::daemon::cli",
            command: pbxnet_tftp::daemon::cli,
            config_file: Some("tftp.toml"),
            packaged: true,
        },
        Page {
            binary: "pbxnet-ntpd",
            section: "8",
            provider: "pbxnet_ntp::daemon::cli",
            command: pbxnet_ntp::daemon::cli,
            config_file: Some("ntp.toml"),
            packaged: true,
        },
        Page {
            binary: "pbxnet-licd",
            section: "8",
            provider: "pbxnet_license::daemon::licd_cli",
            command: pbxnet_license::daemon::licd_cli,
            config_file: Some("license.toml"),
            packaged: true,
        },
        Page {
            binary: "pbxnet-keygen",
            section: "1",
            provider: "pbxnet_license::daemon::keygen_cli",
            command: pbxnet_license::daemon::keygen_cli,
            config_file: None,
            packaged: true,
        },
        Page {
            binary: "pbxnet-admind",
            section: "8",
            provider: "pbxnet_admin::admind_cli",
            command: pbxnet_admin::admind_cli,
            config_file: Some("admin.toml"),
            packaged: true,
        },
        Page {
            binary: "pbxnetctl",
            section: "1",
            provider: "pbxnet_admin::ctl::ctl_cli",
            command: pbxnet_admin::ctl::ctl_cli,
            config_file: None,
            packaged: true,
        },
        Page {
            binary: "pbxnet-sim",
            section: "1",
            provider: "pbxnet_sim::cli",
            command: pbxnet_sim::cli,
            config_file: None,
            packaged: false,
        },
    ]
}

/// A rendered page: file name and roff text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// `pbxnet-dhcpd.8`, `pbxnet-dhcpd-check.8`, …
    pub file_name: String,
    /// roff source.
    pub text: String,
}

/// Renders the page of `page` and one page per subcommand
/// (`<binary>-<sub>.<section>`).
pub fn render(page: &Page) -> io::Result<Vec<Rendered>> {
    let command = (page.command)();
    // `help` is clap's, the same in every binary: no page of its own.
    let mut command = command.name(page.binary).disable_help_subcommand(true);
    command.build();
    let subcommands: Vec<Command> = command
        .get_subcommands()
        .filter(|s| s.get_name() != "help")
        .cloned()
        .collect();
    let mut out = Vec::new();

    let mut main = Vec::new();
    let man = clap_mangen::Man::new(command.clone())
        .section(page.section)
        .manual("pbxnet");
    man.render(&mut main)?;
    let mut text = String::from_utf8(main).map_err(io::Error::other)?;
    text.push_str(&extra_sections(page, &subcommands));
    out.push(Rendered {
        file_name: format!("{}.{}", page.binary, page.section),
        text,
    });

    for sub in subcommands {
        let sub_name = sub.get_name().to_string();
        let name = format!("{}-{sub_name}", page.binary);
        let sub = sub
            .name(name.clone())
            .bin_name(format!("{} {sub_name}", page.binary));
        let mut buf = Vec::new();
        clap_mangen::Man::new(sub)
            .section(page.section)
            .manual("pbxnet")
            .render(&mut buf)?;
        let mut text = String::from_utf8(buf).map_err(io::Error::other)?;
        let _ = write!(
            text,
            ".SH \"SEE ALSO\"\n\\fB{}\\fR({})\n",
            page.binary, page.section
        );
        out.push(Rendered {
            file_name: format!("{name}.{}", page.section),
            text,
        });
    }
    Ok(out)
}

/// FILES, EXIT STATUS, SIGNALS and SEE ALSO: what clap does not know.
fn extra_sections(page: &Page, subcommands: &[Command]) -> String {
    let mut s = String::new();
    if let Some(file) = page.config_file {
        let _ = write!(
            s,
            ".SH FILES\n\
             .TP\n\\fI/etc/pbxnet/site.toml\\fR\n\
             Settings shared by the four daemons: server address, interfaces, state and runtime directories, logging.\n\
             .TP\n\\fI/etc/pbxnet/{file}\\fR\n\
             This daemon's configuration. Every key: \\fBpbxnet-{file}\\fR(5), and /usr/share/doc/pbxnet/config-reference.md.\n\
             .TP\n\\fI/run/pbxnet/\\fR\n\
             Control sockets (mode 0600), used by the read-only subcommands.\n\
             .TP\n\\fI/var/lib/pbxnet/\\fR\n\
             Durable state.\n\
             .SH \"EXIT STATUS\"\n\
             .TP\n0\nSuccess; for \\fBcheck\\fR: the configuration is valid (warnings allowed).\n\
             .TP\n1\n\\fBcheck\\fR found errors.\n\
             .TP\n2\nThe command line is not valid (unknown subcommand or option).\n\
             .TP\n64\nA subcommand's argument is not valid (EX_USAGE), e.g. a malformed MAC address.\n\
             .TP\n65\nThe running daemon refused the request (EX_DATAERR), e.g. no lease to release.\n\
             .TP\n69\nNo daemon answers on the control socket (EX_UNAVAILABLE): it is not running.\n\
             .TP\n70\nThe daemon's answer was not understood (EX_SOFTWARE): client and daemon versions differ.\n\
             .TP\n71\n\\fBrun\\fR failed after start-up (EX_OSERR): a socket, an interface, a thread, the state files.\n\
             .TP\n74\nReading state or printing failed (EX_IOERR), e.g. no lease database for \\fBleases\\fR.\n\
             .TP\n77\nThe control socket refused us (EX_NOPERM): use root or the daemon's user.\n\
             .TP\n78\n\\fBrun\\fR refused a configuration it cannot honour (EX_CONFIG); systemd does not restart it. Also any subcommand that cannot read the configuration.\n\
             .SH SIGNALS\n\
             .TP\nSIGHUP\nRe-read and validate the configuration; on any error keep the running one and log every problem.\n\
             .TP\nSIGTERM, SIGINT\nStop.\n"
        );
    }
    let mut see_also: Vec<String> = subcommands
        .iter()
        .filter(|c| c.get_name() != "help")
        .map(|c| format!("\\fB{}-{}\\fR({})", page.binary, c.get_name(), page.section))
        .collect();
    if let Some(file) = page.config_file {
        see_also.push(format!("\\fBpbxnet-{file}\\fR(5)"));
        see_also.push("\\fBpbxnet-site.toml\\fR(5)".into());
        see_also.push("\\fBsystemctl\\fR(1)".into());
        see_also.push("\\fBjournalctl\\fR(1)".into());
    }
    if !see_also.is_empty() {
        let _ = write!(s, ".SH \"SEE ALSO\"\n{}\n", see_also.join(",\n"));
    }
    s
}
