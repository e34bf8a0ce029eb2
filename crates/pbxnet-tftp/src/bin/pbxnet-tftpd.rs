//! The `pbxnet-tftpd` binary: everything lives in the library's shell.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    pbxnet_tftp::daemon::main()
}
