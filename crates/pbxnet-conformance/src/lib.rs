//! Test-only crate: its `tests/` hold the conformance tests that need every
//! daemon's configuration schema at once (see `tests/examples.rs`). It has
//! no library code.
