//! The HTTP/1.1 front end's sans-IO core (issue 16): the same tree as TFTP,
//! the same bytes, over HTTP and HTTPS.
//!
//! - [`request`]: the request head (limits, methods, keep-alive, Host,
//!   bodies);
//! - [`target`]: the request target, decoded once and mapped onto the tree
//!   through the TFTP path policy;
//! - [`conditional`]: ETags, If-None-Match, If-Modified-Since, Range,
//!   If-Range;
//! - [`response`]: response heads and content types;
//! - [`date`]: HTTP dates;
//! - [`digest`]: digest authentication (RFC 7616) with stateless nonces.
//!
//! No sockets, clocks or files: the shell (`daemon::http`) passes the time
//! and the content's metadata in.

pub mod conditional;
pub mod date;
pub mod digest;
pub mod request;
pub mod response;
pub mod target;
