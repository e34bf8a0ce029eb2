//! pbxnet-sim: device fleet simulator, `make demo` driver, site boot-storm benchmark.
fn main() -> std::process::ExitCode {
    pbxnet_sim::main()
}
