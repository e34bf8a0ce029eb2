//! pbxnet-keygen: vendor-side key pair generation, key issuing and inspection.
fn main() -> std::process::ExitCode {
    pbxnet_license::daemon::keygen_main()
}
