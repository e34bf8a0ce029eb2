//! The four daemons admind follows, by their envelope name and binary name.

use pbxnet_inventory::Daemon;

/// Every publishing daemon, in the order status and the API list them.
pub const ALL_DAEMONS: [Daemon; 4] = [Daemon::Dhcpd, Daemon::Tftpd, Daemon::Ntpd, Daemon::Licd];

/// The envelope's name (`dhcpd`), used in the API's errors and status.
pub fn short_name(d: Daemon) -> &'static str {
    match d {
        Daemon::Dhcpd => "dhcpd",
        Daemon::Tftpd => "tftpd",
        Daemon::Ntpd => "ntpd",
        Daemon::Licd => "licd",
    }
}

/// The binary, which is also the stem of its sockets (`pbxnet-dhcpd.sock`).
pub fn binary_name(d: Daemon) -> &'static str {
    match d {
        Daemon::Dhcpd => "pbxnet-dhcpd",
        Daemon::Tftpd => "pbxnet-tftpd",
        Daemon::Ntpd => "pbxnet-ntpd",
        Daemon::Licd => "pbxnet-licd",
    }
}
