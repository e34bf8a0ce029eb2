//! The signals a daemon reacts to: SIGHUP reloads, SIGTERM and SIGINT stop.

use tokio::signal::unix::{signal, Signal as TokioSignal, SignalKind};

/// What a signal asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGHUP: re-read the configuration.
    Reload,
    /// SIGTERM or SIGINT: stop accepting work, finish or persist in-flight work, exit 0.
    Terminate,
}

/// Signal streams, registered once at start-up (before `READY=1`, so that an
/// early SIGHUP is not fatal).
#[derive(Debug)]
pub struct Signals {
    hangup: TokioSignal,
    terminate: TokioSignal,
    interrupt: TokioSignal,
}

impl Signals {
    /// Registers the handlers. Needs a tokio runtime.
    pub fn new() -> std::io::Result<Signals> {
        Ok(Signals {
            hangup: signal(SignalKind::hangup())?,
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
        })
    }

    /// Waits for the next signal.
    pub async fn next(&mut self) -> Signal {
        tokio::select! {
            _ = self.hangup.recv() => Signal::Reload,
            _ = self.terminate.recv() => Signal::Terminate,
            _ = self.interrupt.recv() => Signal::Terminate,
        }
    }
}
