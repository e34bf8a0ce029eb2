//! pbxnet-licd: software-key validator daemon.
fn main() -> std::process::ExitCode {
    pbxnet_license::daemon::licd_main()
}
