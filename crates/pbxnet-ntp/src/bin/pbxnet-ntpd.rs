//! pbxnet-ntpd: see `pbxnet_ntp::daemon`.
fn main() -> std::process::ExitCode {
    pbxnet_ntp::daemon::main()
}
