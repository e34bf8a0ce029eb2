//! What one licence is: its value domain, role and unit, and how a value is
//! checked, stored as a payload index and read back.

use crate::bits::width_for;

/// How a field's value is constrained and encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Domain {
    /// closed (0) / open (1).
    Flag,
    /// `min, min + step, …, max`. `min` is the limited-mode level: a key
    /// cannot grant less than the default state.
    Counter { min: u32, step: u32, max: u32 },
    /// One of a fixed list (ACD agents 0/5/10/20/32).
    Choice(&'static [u32]),
    /// Active deprecated licence: absent → default, present → `fixed`.
    Fixed { fixed: u32 },
    /// Compatibility level: any raw value 0..=101 can be carried; only
    /// 0, 1, 2 and 101 mean something, anything else is read as 0 (§2.2.1.6).
    CompatLevel,
    /// Free number `0..=max` (eLP fields, release numbers).
    Raw { max: u32 },
    /// Inactive deprecated or internal: always 0, no bits in the payload.
    Zero,
}

/// Whether the system uses the field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Opens a service.
    Active,
    /// "Active deprecated": fixed value, always tested (§2.2.1 note).
    ActiveDeprecated,
    /// eLP field: "ignored by the system", carried and shown only.
    Ignored,
    /// "Inactive deprecated": never contributes, shown as 0.
    Inactive,
}

/// Unit used for display.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Unit {
    /// A count (users, channels, ports…).
    Count,
    /// closed / open.
    OnOff,
    /// Minutes.
    Minutes,
    /// Days since 2000-01-01 (0 = none).
    Date,
    /// A code or release number.
    Code,
}

/// One licence.
#[derive(Debug, Clone, Copy)]
pub struct Service {
    /// Stable identifier (TOML order key, config key, JSON key).
    pub id: &'static str,
    /// Name as printed in the seed.
    pub name: &'static str,
    /// Table heading / application in the seed.
    pub group: &'static str,
    /// Default (limited-mode / no-key) level.
    pub default: u32,
    /// Value domain.
    pub domain: Domain,
    /// Role.
    pub role: Role,
    /// Display unit.
    pub unit: Unit,
    /// "Hardware extension: Yes" in the seed: capped by site hardware.
    pub hardware: bool,
    /// A change of this service needs a warm restart to take effect
    /// (seed §2.2.1.21: "in the case of an upgrade, a reset is necessary").
    pub restart: bool,
}

impl Service {
    /// Largest index stored in the payload.
    pub fn max_index(&self) -> u32 {
        match self.domain {
            Domain::Flag | Domain::Fixed { .. } => 1,
            Domain::Counter { min, step, max } => (max - min) / step,
            Domain::Choice(list) => list.len() as u32 - 1,
            Domain::CompatLevel => 101,
            Domain::Raw { max } => max,
            Domain::Zero => 0,
        }
    }

    /// Payload width in bits.
    pub fn width(&self) -> u32 {
        width_for(self.max_index())
    }

    /// Largest value a key may carry.
    pub fn max_value(&self) -> u32 {
        match self.domain {
            Domain::Flag => 1,
            Domain::Fixed { fixed } => fixed,
            Domain::Counter { max, .. } => max,
            Domain::Choice(list) => list.iter().copied().max().unwrap_or(0),
            Domain::CompatLevel => 101,
            Domain::Raw { max } => max,
            Domain::Zero => 0,
        }
    }

    /// Index of a value, or why it is not allowed.
    pub fn index_of(&self, value: u32) -> Result<u32, ValueError> {
        let bad = |reason| {
            Err(ValueError {
                id: self.id,
                value,
                reason,
            })
        };
        match self.domain {
            Domain::Flag => match value {
                0 | 1 => Ok(value),
                _ => bad(ValueReason::AboveMax { max: 1 }),
            },
            Domain::Fixed { fixed } => {
                if value == fixed {
                    Ok(1)
                } else if value == self.default {
                    Ok(0)
                } else {
                    bad(ValueReason::NotFixed {
                        default: self.default,
                        fixed,
                    })
                }
            }
            Domain::Counter { min, step, max } => {
                if value > max {
                    bad(ValueReason::AboveMax { max })
                } else if value < min {
                    bad(ValueReason::BelowMin { min })
                } else if (value - min) % step != 0 {
                    bad(ValueReason::OffGranularity { min, step })
                } else {
                    Ok((value - min) / step)
                }
            }
            Domain::Choice(list) => match list.iter().position(|&v| v == value) {
                Some(i) => Ok(i as u32),
                None => bad(ValueReason::NotInList { allowed: list }),
            },
            Domain::CompatLevel => {
                if value <= 101 {
                    Ok(value)
                } else {
                    bad(ValueReason::AboveMax { max: 101 })
                }
            }
            Domain::Raw { max } => {
                if value <= max {
                    Ok(value)
                } else {
                    bad(ValueReason::AboveMax { max })
                }
            }
            Domain::Zero => {
                if value == 0 {
                    Ok(0)
                } else {
                    bad(ValueReason::Inactive)
                }
            }
        }
    }

    /// Value of a payload index; `None` if the index is out of range.
    pub fn value_of(&self, index: u32) -> Option<u32> {
        if index > self.max_index() {
            return None;
        }
        Some(match self.domain {
            Domain::Flag | Domain::CompatLevel | Domain::Raw { .. } => index,
            Domain::Fixed { fixed } => {
                if index == 1 {
                    fixed
                } else {
                    self.default
                }
            }
            Domain::Counter { min, step, .. } => min + index * step,
            Domain::Choice(list) => list[index as usize],
            Domain::Zero => 0,
        })
    }

    /// The level the system really uses for a carried value: the
    /// compatibility-level rule (0/1/2/101, anything else → 0) and inactive
    /// fields (always 0). Ignored eLP fields keep their value for display.
    pub fn effective(&self, value: u32) -> u32 {
        match self.domain {
            Domain::CompatLevel => match value {
                0 | 1 | 2 | 101 => value,
                _ => 0,
            },
            Domain::Zero => 0,
            _ => value,
        }
    }
}

/// Why a value is refused for a service.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{id} = {value}: {reason}")]
pub struct ValueError {
    /// Service id.
    pub id: &'static str,
    /// Offending value.
    pub value: u32,
    /// Reason.
    pub reason: ValueReason,
}

/// Reason a value is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValueReason {
    /// Above the seed's maximum.
    #[error("above the maximum {max}")]
    AboveMax { max: u32 },
    /// Below the default (limited-mode) level.
    #[error("below the minimum {min} (the default level)")]
    BelowMin { min: u32 },
    /// Not `min + k * step`.
    #[error("not on the granularity: {min} + k * {step}")]
    OffGranularity { min: u32, step: u32 },
    /// Not one of the allowed values.
    #[error("not one of {allowed:?}")]
    NotInList { allowed: &'static [u32] },
    /// Active deprecated licence: only the default or the fixed value.
    #[error("an active deprecated licence is either {default} (absent) or {fixed}")]
    NotFixed { default: u32, fixed: u32 },
    /// Inactive deprecated / internal field.
    #[error("inactive deprecated or internal field: always 0")]
    Inactive,
    /// Cross-field rule (MyIC Social Networks max 25 without TAPI 2.1 server).
    #[error("at most {max} because {because}")]
    Conditional { max: u32, because: &'static str },
}
