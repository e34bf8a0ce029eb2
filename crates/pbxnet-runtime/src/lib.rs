//! Work in progress: being written now.
