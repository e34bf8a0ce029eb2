//! pbxnet-dhcpd: see `pbxnet_dhcp::daemon`.
fn main() -> std::process::ExitCode {
    pbxnet_dhcp::daemon::main()
}
