//! pbxnet-license: the software keys of a PBX site and their validator.
//!
//! The library is a sans-IO core (no sockets, no clock reads, no RNG, no
//! filesystem): the key alphabet and text encoding, the bit-packed payload,
//! Ed25519 signing and verification, the services catalogue of seed 000
//! chapter 2, the validator state machine driven by injected wall time and
//! monotonic elapsed time, and the persisted state format. The shell
//! (`daemon` feature) watches the key directory, writes the state file and
//! serves the control socket.
#![forbid(unsafe_code)]
#![warn(unreachable_pub)]

mod alphabet;
mod bits;
mod catalogue;
mod key;
mod kind;

pub use alphabet::{
    chars_for_bytes, decode as base42_decode, encode as base42_encode, Base42Error, ALPHABET,
};
pub use bits::BitsError;
pub use catalogue::{
    defaults, find as find_service, maxima, services, Domain, Role, Service, Unit, ValueError,
    ValueReason, CTI, MAIN,
};
pub use key::{
    decode, issue, key_text_from_file, syntax_check, DecodeError, DecodedKey, EncodeError, License,
    SignatureError, SyntaxError, MAX_MAJOR_VERSION, SCHEMA,
};
pub use kind::{KeyKind, KeyKindError, Serial, SerialError};
mod persist;
mod rules;
mod time;
mod validator;

pub use persist::{
    choose_start_state, AnchorError, AnchorKey, AnchorRecord, BodyProblem, ClockBack, KeyRecord,
    PersistError, PersistedState, StartFinding, StartInputs, StateKey, StoredState, ANCHOR_LEN,
    STATE_FORMAT,
};
pub use rules::{try_and_buy_grants, CHECKPOINT_SECS, GRACE_SECS, TRY_AND_BUY_SECS};
pub use time::{format_date, format_datetime, Now};
pub use validator::{
    ClockBackStatus, Event, Grant, KeyStatus, Mode, SerialOrigin, ServiceStatus, Status,
    TryAndBuyStatus, Validator, ValidatorConfig, Verdict,
};
mod config;

pub use config::{
    serial_from_machine, serial_from_machine_id, LicenseConfig, MachineIdentity, RawLicenseConfig,
    SerialSource, TpmSetting,
};
mod order;

pub use order::{AckCode, Order, OrderError, RawOrder};

#[cfg(feature = "daemon")]
pub mod daemon;
