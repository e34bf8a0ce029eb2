//! Helpers shared by integration tests.

// Each test crate that includes this module uses a part of it.
#[allow(dead_code)]
pub(crate) mod cluster;
#[allow(dead_code)]
pub(crate) mod pg_cluster;
#[allow(dead_code)]
pub(crate) mod pg_net;
#[allow(dead_code)]
pub(crate) mod pg_servers;
