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

mod service;
mod table;

pub use service::{Domain, Role, Service, Unit, ValueError, ValueReason};

use crate::kind::KeyKind;

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
