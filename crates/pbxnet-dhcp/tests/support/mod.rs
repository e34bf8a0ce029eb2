//! Helpers shared by integration tests.
pub(crate) mod pg_cluster;
