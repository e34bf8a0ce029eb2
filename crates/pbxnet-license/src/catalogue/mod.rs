//! The services catalogue: every licence of seed 000 §2.2.1 (Main key) and
//! §2.2.2 (CTI key), as data: one row per licence in [`table`], declared
//! once. The encoder, the decoder, the issuing tool, the
//! validator and the status display all read these two tables and nothing
//! else, so a field exists in exactly one place.
//!
//! Values are stored in the payload as an index: `(value - min) / step` for
//! counters, the position in the list for choices, one bit for flags and for
//! active deprecated licences (present → the fixed value). Each field takes
//! the width its largest index needs. Fields marked [`Role::Inactive`] take no
//! bits (the seed: "their value is set to 0, the system does not test them").

mod table;

use crate::bits::width_for;
use crate::kind::KeyKind;

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

/// Main key services, seed 000 §2.2.1 (table order), then the active
/// deprecated licences, then the eLP fields. SWL version / edition /
/// acknowledgement code are the key header, not services.
pub static MAIN: &[Service] = table::MAIN;

/// CTI key services, seed 000 §2.2.2.
pub static CTI: &[Service] = table::CTI;

/// The catalogue for a key kind.
pub fn services(kind: KeyKind) -> &'static [Service] {
    match kind {
        KeyKind::Main => MAIN,
        KeyKind::Cti => CTI,
    }
}

/// Looks a service up by id.
pub fn find(kind: KeyKind, id: &str) -> Option<(usize, &'static Service)> {
    services(kind).iter().enumerate().find(|(_, s)| s.id == id)
}

/// Default values (limited mode, no key) in catalogue order.
pub fn defaults(kind: KeyKind) -> Vec<u32> {
    services(kind).iter().map(|s| s.default).collect()
}

/// Largest values in catalogue order (a "fully loaded" key).
pub fn maxima(kind: KeyKind) -> Vec<u32> {
    services(kind).iter().map(|s| s.max_value()).collect()
}

/// Cross-field rules. COUNTER7 (MyIC Social Networks): "25 (with TAPI
/// desktop), 200 (with TAPI 2.1 server)".
pub(crate) fn check_cross_fields(kind: KeyKind, values: &[u32]) -> Result<(), ValueError> {
    if kind == KeyKind::Cti {
        let (i7, _) = find(kind, "counter7").expect("catalogue has counter7");
        let (i6, _) = find(kind, "csta6-sessions").expect("catalogue has csta6");
        let v = values.get(i7).copied().unwrap_or(0);
        let tapi21 = values.get(i6).copied().unwrap_or(0);
        if tapi21 == 0 && v > 25 {
            return Err(ValueError {
                id: "counter7",
                value: v,
                reason: ValueReason::Conditional {
                    max: 25,
                    because: "no TAPI 2.1 server session (csta6-sessions = 0)",
                },
            });
        }
    }
    Ok(())
}

/// Payload bits used by the services of a kind.
pub(crate) fn service_bits(kind: KeyKind) -> u32 {
    services(kind).iter().map(Service::width).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_defaults_valid() {
        for kind in [KeyKind::Main, KeyKind::Cti] {
            let svcs = services(kind);
            for (i, s) in svcs.iter().enumerate() {
                assert!(svcs[..i].iter().all(|o| o.id != s.id), "duplicate {}", s.id);
                let idx = s
                    .index_of(s.default)
                    .unwrap_or_else(|e| panic!("default of {}: {e}", s.id));
                assert_eq!(s.value_of(idx), Some(s.default));
                let idx = s.index_of(s.max_value()).unwrap();
                assert_eq!(s.value_of(idx), Some(s.max_value()));
                assert!(s.value_of(s.max_index() + 1).is_none());
            }
        }
    }

    #[test]
    fn seed_table_values() {
        let get = |kind, id| find(kind, id).unwrap().1;
        let utl = get(KeyKind::Main, "utl");
        assert_eq!((utl.default, utl.max_value(), utl.width()), (2, 300, 9));
        assert_eq!(get(KeyKind::Main, "open-sip-phones").max_value(), 300);
        assert_eq!(get(KeyKind::Main, "voip-trunk-channels").max_value(), 82);
        assert_eq!(get(KeyKind::Main, "voice-mail-ports").max_value(), 8);
        let vms = get(KeyKind::Main, "voice-mail-storage");
        assert_eq!((vms.default, vms.max_value()), (60, 200 * 60));
        assert!(vms.index_of(65).is_err());
        assert!(vms.index_of(70).is_ok());
        let agents = get(KeyKind::Main, "acd-agents");
        assert!(
            agents.index_of(5).is_ok()
                && agents.index_of(6).is_err()
                && agents.index_of(32).is_ok()
        );
        let greet = get(KeyKind::Main, "greetings");
        assert_eq!(greet.index_of(8), Ok(1));
        assert!(matches!(
            greet.index_of(6),
            Err(ValueError {
                reason: ValueReason::OffGranularity { .. },
                ..
            })
        ));
        assert!(matches!(
            greet.index_of(24),
            Err(ValueError {
                reason: ValueReason::AboveMax { max: 20 },
                ..
            })
        ));
        let moh = get(KeyKind::Main, "moh-length");
        assert_eq!((moh.default, moh.max_value()), (2, 10));
        let cl = get(KeyKind::Main, "compatibility-level");
        for (raw, eff) in [
            (0, 0),
            (1, 1),
            (2, 2),
            (101, 101),
            (3, 0),
            (57, 0),
            (100, 0),
        ] {
            assert_eq!(cl.effective(raw), eff);
        }
        let lang = get(KeyKind::Main, "languages");
        assert_eq!((lang.default, lang.value_of(1)), (2, Some(4)));
        assert!(lang.index_of(3).is_err());
        assert_eq!(get(KeyKind::Cti, "csta7-monitors").max_value(), 500);
        assert_eq!(get(KeyKind::Cti, "counter10").max_value(), 300);
    }

    #[test]
    fn payloads_fit_the_length_budget() {
        // The figures of docs/license-keys.md.
        assert_eq!(service_bits(KeyKind::Main), 116 + 7 + 51);
        assert_eq!(service_bits(KeyKind::Cti), 53 + 90);
        // 40 header bits + services within 29 bytes (main) / 44 bytes (CTI).
        assert!(
            40 + service_bits(KeyKind::Main) <= 29 * 8,
            "main uses {}",
            service_bits(KeyKind::Main)
        );
        assert!(
            40 + service_bits(KeyKind::Cti) <= 44 * 8,
            "cti uses {}",
            service_bits(KeyKind::Cti)
        );
    }

    #[test]
    fn myic_limit_depends_on_tapi21() {
        let mut v = defaults(KeyKind::Cti);
        let (i7, _) = find(KeyKind::Cti, "counter7").unwrap();
        let (i6, _) = find(KeyKind::Cti, "csta6-sessions").unwrap();
        v[i7] = 26;
        assert!(check_cross_fields(KeyKind::Cti, &v).is_err());
        v[i6] = 1;
        assert!(check_cross_fields(KeyKind::Cti, &v).is_ok());
    }
}
