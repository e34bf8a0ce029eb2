//! The licence periods and what Try-and-Buy opens (seed 000 §2.1.1, §2.1.3):
//! the rules both the validator and the persisted state format count with.

/// Grace period for a wrong-serial or older-edition key: 30 days.
pub const GRACE_SECS: u64 = 30 * 86_400;
/// Try-and-Buy period: 60 days from the first use.
pub const TRY_AND_BUY_SECS: u64 = 60 * 86_400;
/// The state is persisted at least this often (elapsed seconds).
pub const CHECKPOINT_SECS: u64 = 600;
/// Wall clock further behind the high-water mark than this is "went back".
pub(crate) const CLOCK_BACK_TOLERANCE_SECS: i64 = 2;

/// What Try-and-Buy opens (seed §2.1.1: PIMphony Pro and PIMphony Team for
/// every user, and the integrated TAPI 2.0), at the catalogue maxima.
pub fn try_and_buy_grants() -> [(&'static str, u32); 5] {
    [
        ("counter1", 200),
        ("counter2", 200),
        ("csta1-sessions", 25),
        ("csta1-monitors", 50),
        ("csta1-features", 1),
    ]
}
