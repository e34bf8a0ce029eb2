//! pbxnetctl: the pbxnet site in a terminal.
fn main() -> std::process::ExitCode {
    pbxnet_admin::ctl::ctl_main()
}
