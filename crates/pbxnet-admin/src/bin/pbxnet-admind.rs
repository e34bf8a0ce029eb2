//! pbxnet-admind: the site's management daemon.
fn main() -> std::process::ExitCode {
    pbxnet_admin::admind_main()
}
