//! The validator state machine (sans-IO).
//!
//! Inputs (`handle_*`), each with a [`Now`](crate::Now) reading taken by the shell:
//! - [`Validator::handle_key`]: the content of `<SERIAL>.msl` / `.csl`
//!   changed (or the file disappeared);
//! - [`Validator::handle_try_and_buy_use`]: a CTI application used a
//!   Try-and-Buy licence (starts the 60-day countdown once);
//! - [`Validator::handle_timeout`]: the deadline from `poll_timeout` passed;
//! - [`Validator::handle_restart_done`]: the PBX did the warm restart asked for.
//!
//! Outputs (`poll_*`), drained after every input:
//! - [`Validator::poll_event`]: mode changes, warm-restart requests, clock
//!   went back, and `Persist(state)` that the shell writes atomically;
//! - [`Validator::poll_timeout`]: the monotonic time of the next deadline
//!   (grace end, Try-and-Buy end, state checkpoint).
//!
//! Time that matters is *elapsed* time: the persisted elapsed seconds plus
//! the monotonic time of this run, plus, at start-up, the wall-clock time
//! spent stopped (wall now − persisted wall high-water mark, never negative).
//! Setting the wall clock back therefore shortens nothing and extends
//! nothing; it is detected (wall < high-water mark) and reported.
//!
//! [`state_machine`] holds the [`Validator`], [`config`] what it is told
//! about the system, [`verdict`] what one key file is worth and [`status`]
//! the snapshot for the control socket.

mod config;
mod state_machine;
mod status;
mod verdict;

pub use config::{SerialOrigin, ValidatorConfig};
pub use state_machine::{Event, Validator};
pub use status::{ClockBackStatus, KeyStatus, ServiceStatus, Status, TryAndBuyStatus};
pub use verdict::{Grant, Mode, Verdict};
