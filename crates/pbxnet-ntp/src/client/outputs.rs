//! What the client hands out: requests to send, events for the clock's
//! owner, and the last selection.

use crate::packet::LeapIndicator;
use std::net::SocketAddr;

/// A request to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Id of the source.
    pub source: usize,
    /// The request's transmit timestamp (the nonce its reply must echo).
    pub nonce: u64,
    /// Destination.
    pub addr: SocketAddr,
    /// Bytes.
    pub bytes: Vec<u8>,
}

/// What the clock owner must do, and what happened.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    /// Set the clock's frequency correction (ppm, positive = run faster).
    SetFrequency(f64),
    /// Step the clock by this many seconds (log it).
    Step(f64),
    /// First synchronisation done (the offset measured).
    Synchronized(f64),
    /// No source answered the first polls.
    Unreachable,
    /// A source (id) was stopped by a kiss code.
    SourceStopped(usize, [u8; 4]),
    /// Leap indicator to pass to the kernel.
    Leap(LeapIndicator),
}

/// Result of selection, for status.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Selection {
    /// Combined offset (s).
    pub offset: f64,
    /// Id of the system peer (lowest root distance among the kept).
    pub peer: usize,
    /// Root distance of the system peer.
    pub distance: f64,
    /// Sources in the majority clique (their intervals share the
    /// intersection): the votes for this offset.
    pub agreeing: usize,
}
