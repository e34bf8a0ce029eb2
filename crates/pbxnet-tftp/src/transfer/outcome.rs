//! What a transfer reports: how it ended ([`Outcome`], [`SourceError`]),
//! its [`Event`]s and its counters ([`TransferStats`]). Uploads report in the
//! same terms.

use std::time::Duration;

use crate::wire::ErrorCode;

/// How a transfer ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The client acknowledged the last block.
    Complete,
    /// The client sent an ERROR (phones do this after reading a firmware header).
    ClientError {
        /// Code sent.
        code: ErrorCode,
        /// Message sent (sanitised).
        message: String,
    },
    /// No ACK after `max_retries` retransmissions.
    TimedOut,
    /// The client is unreachable (ICMP error reported by the shell).
    Unreachable,
    /// The server's side failed (reading the content, storing an upload);
    /// an ERROR was sent to the client.
    SourceError(SourceError),
    /// The server aborted the transfer (shutdown); an ERROR was sent.
    Aborted,
}

impl Outcome {
    /// Short label for logs and counters.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Complete => "complete",
            Outcome::ClientError { .. } => "client-error",
            Outcome::TimedOut => "timed-out",
            Outcome::Unreachable => "unreachable",
            Outcome::SourceError(_) => "source-error",
            Outcome::Aborted => "aborted",
        }
    }
}

/// What failed on the server's side of a transfer (its file, its disk,
/// its limits): the client was sent an ERROR saying so.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// Reading the served content failed.
    #[error("read error: {kind}")]
    Read {
        /// The system's error.
        kind: std::io::ErrorKind,
    },
    /// Writing an upload's data failed.
    #[error("write error: {kind}")]
    Write {
        /// The system's error.
        kind: std::io::ErrorKind,
    },
    /// Moving a finished upload into place failed.
    #[error("store error: {kind}")]
    Store {
        /// The system's error.
        kind: std::io::ErrorKind,
    },
    /// The upload's name was taken while it ran (another upload of the
    /// same name finished first): ERROR 6.
    #[error("file already exists")]
    Exists,
    /// The upload passed its size limit: ERROR 3.
    #[error("upload larger than {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
}

/// Counters of one transfer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransferStats {
    /// DATA packets sent (including retransmissions).
    pub data_sent: u64,
    /// DATA packets sent again.
    pub retransmits: u64,
    /// Payload bytes acknowledged by the client.
    pub bytes_acked: u64,
    /// Duplicate / stale ACKs ignored.
    pub duplicate_acks: u64,
    /// Datagrams that did not decode or made no sense in this state.
    pub ignored: u64,
    /// Timer expiries that caused a resend.
    pub timeouts: u64,
}

/// Outputs other than datagrams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The transfer ended; it is now `Done` and may be dropped.
    Finished {
        /// Why.
        outcome: Outcome,
        /// Duration from creation.
        duration: Duration,
    },
}
