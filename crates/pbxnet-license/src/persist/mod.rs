//! Persisted validator state: the format only (the shell does the I/O).
//!
//! [`state`] holds what is remembered ([`PersistedState`], a [`KeyRecord`]
//! per key kind). File text ([`text`]): a header line `pbxnet-licd-state 2
//! <HMAC-SHA256 hex of the body>`, then the body, a JSON object. The HMAC
//! key ([`StateKey`]) is derived from a random secret the shell keeps outside
//! the state directory and from this machine's serial: a plain hash anyone
//! could recompute, a MAC needs the secret. A file whose header, MAC or JSON
//! is wrong is *corrupt*: the validator then starts from
//! [`PersistedState::after_corruption`], which never grants more than the
//! keys say (no grace left, Try-and-Buy over).
//!
//! [`anchor`] is the small record kept in a TPM NV index where there is one;
//! [`start`] decides, from the two state copies, the anchor, and whether the
//! state secret is there, which state the validator starts from
//! (deleted state is detected, not taken for a first start).

mod anchor;
mod start;
mod state;
mod text;

pub use anchor::{AnchorError, AnchorKey, AnchorRecord, ANCHOR_LEN};
pub use start::{choose_start_state, StartFinding, StartInputs, StoredState};
pub(crate) use state::MAX_KNOWN_SERIALS;
pub use state::{ClockBack, KeyRecord, PersistedState};
pub use text::{BodyProblem, PersistError, StateKey, STATE_FORMAT};
