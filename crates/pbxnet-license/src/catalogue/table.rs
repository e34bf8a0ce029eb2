//! The two services tables, one row per licence, in payload order (the
//! order is the key's wire format: a row never moves, a new licence is a new
//! schema version). Columns: id, name as printed in the seed, seed group,
//! default (limited-mode) level, value domain, role, display unit, and
//! whether the site hardware caps it / a change needs a warm restart.
//!
//! `tests::main_table_matches_the_seed` reads seed 000 §2.2.1 (its table as
//! text, `seed-2.2.1.txt` beside this file) and checks every default,
//! granularity and maximum against these rows.

use super::service::{Domain, Role, Service, Unit};

const UUT: &str = "Universal User Terminals";
const MOBILITY: &str = "Mobility";
const SYSTEM: &str = "System Services";
const NETWORKING: &str = "Networking";
const OVER_IP: &str = "Services over IP";
const VOICE_MAIL: &str = "Voice Mail & Automated Attendant";
const MOH: &str = "Greetings & MOH";
const ACD: &str = "ACD";
const ELP: &str = "eLP";
const NON_CSTA: &str = "Non-CSTA applications";

const FLAG: Domain = Domain::Flag;
const COMPAT: Domain = Domain::CompatLevel;
const ZERO: Domain = Domain::Zero;
const fn counter(min: u32, step: u32, max: u32) -> Domain {
    Domain::Counter { min, step, max }
}
const fn fixed(fixed: u32) -> Domain {
    Domain::Fixed { fixed }
}
const fn raw(max: u32) -> Domain {
    Domain::Raw { max }
}

const ACTIVE: Role = Role::Active;
const DEPRECATED: Role = Role::ActiveDeprecated;
const IGNORED: Role = Role::Ignored;
const INACTIVE: Role = Role::Inactive;

const COUNT: Unit = Unit::Count;
const ON_OFF: Unit = Unit::OnOff;
const MINUTES: Unit = Unit::Minutes;
const DATE: Unit = Unit::Date;
const CODE: Unit = Unit::Code;

/// (capped by site hardware, a change needs a warm restart)
type Extra = (bool, bool);
const NONE: Extra = (false, false);
const HW: Extra = (true, false);
const RESTART: Extra = (false, true);

#[allow(clippy::too_many_arguments)] // one argument per table column
const fn row(
    id: &'static str,
    name: &'static str,
    group: &'static str,
    default: u32,
    domain: Domain,
    role: Role,
    unit: Unit,
    (hardware, restart): Extra,
) -> Service {
    Service {
        id,
        name,
        group,
        default,
        domain,
        role,
        unit,
        hardware,
        restart,
    }
}

#[rustfmt::skip]
pub(super) static MAIN: &[Service] = &[
    row("utl",                            "Number of UTL",                                              UUT,                    2, counter(2, 1, 300), ACTIVE, COUNT, NONE),
    row("hot-desking-users",              "Number of Hot Desking users",                                UUT,                    0, counter(0, 1, 200), ACTIVE, COUNT, NONE),
    row("otcv",                           "Number of OTCV applications",                                MOBILITY,               0, counter(0, 1, 50), ACTIVE, COUNT, NONE),
    row("isvpn",                          "ISVPN ISDN (Need ARS)",                                      SYSTEM,                 0, FLAG, ACTIVE, ON_OFF, NONE),
    row("qsig-plus",                      "QSIG + (Need ARS)",                                          SYSTEM,                 0, FLAG, ACTIVE, ON_OFF, NONE),
    row("meet-me-conferences",            "Number of Meet-me Conferences",                              SYSTEM,                 0, counter(0, 1, 1), ACTIVE, COUNT, NONE),
    row("metering-tickets",               "Metering tickets for NMC",                                   SYSTEM,                 0, counter(0, 1000, 30000), ACTIVE, COUNT, HW),
    row("fax-switching",                  "Fax switching",                                              SYSTEM,                 0, FLAG, ACTIVE, ON_OFF, NONE),
    row("compatibility-level",            "CL (C_L, compatibility level)",                              SYSTEM,                 0, COMPAT, ACTIVE, CODE, RESTART),
    row("b-channels-private",             "Number of B channels (private netw.)",                       NETWORKING,             0, counter(0, 1, 120), ACTIVE, COUNT, NONE),
    row("b-channels-mix",                 "Number of B channels on MIX boards (public netw.)",          NETWORKING,             0, counter(0, 2, 120), ACTIVE, COUNT, NONE),
    row("voip-channels",                  "Number of VoIP channels (R2.0 to R2.2)",                     OVER_IP,                0, counter(0, 1, 82), ACTIVE, COUNT, HW),
    row("voip-trunk-channels",            "Number of VoIP trunks channels",                             OVER_IP,                0, counter(0, 1, 82), ACTIVE, COUNT, HW),
    row("open-sip-phones",                "Number of Open SIP phones",                                  OVER_IP,                0, counter(0, 1, 300), ACTIVE, COUNT, NONE),
    row("voice-mail-ports",               "Number of Voice Mail ports",                                 VOICE_MAIL,             0, counter(0, 1, 8), ACTIVE, COUNT, NONE),
    row("voice-mail-storage",             "Voice mail Storage capability",                              VOICE_MAIL,             60, counter(60, 10, 12000), ACTIVE, MINUTES, NONE),
    row("automated-attendant",            "Automated Attendant",                                        VOICE_MAIL,             0, FLAG, ACTIVE, ON_OFF, NONE),
    row("enhanced-automated-attendant",   "Enhanced Automated Attendant",                               VOICE_MAIL,             0, counter(0, 1, 5), ACTIVE, COUNT, NONE),
    row("audiotext",                      "Audiotext",                                                  VOICE_MAIL,             0, FLAG, ACTIVE, ON_OFF, NONE),
    row("distribution-lists",             "Distribution lists",                                         VOICE_MAIL,             0, FLAG, ACTIVE, ON_OFF, NONE),
    row("record-on-line",                 "Record on Line",                                             VOICE_MAIL,             0, FLAG, ACTIVE, ON_OFF, NONE),
    row("greetings",                      "Number of greetings msg (16\")",                             MOH,                    4, counter(4, 4, 20), ACTIVE, COUNT, NONE),
    row("moh-length",                     "Length of customized MOH",                                   MOH,                    2, counter(2, 2, 10), ACTIVE, MINUTES, NONE),
    row("moh-entities",                   "MOH : number of entities",                                   MOH,                    1, counter(1, 1, 4), ACTIVE, COUNT, NONE),
    row("acd-groups",                     "ACD number of groups",                                       ACD,                    0, counter(0, 8, 8), ACTIVE, COUNT, RESTART),
    row("acd-agents",                     "ACD number of active agents",                                ACD,                    0, Domain::Choice(&[0, 5, 10, 20, 32]), ACTIVE, COUNT, RESTART),
    row("acd-statistics",                 "ACD statistic module",                                       ACD,                    0, FLAG, ACTIVE, ON_OFF, RESTART),
    row("acd-pc-agents",                  "ACD number of PC agent (DAM)",                               ACD,                    0, Domain::Choice(&[0, 10, 20, 32]), ACTIVE, COUNT, RESTART),
    row("acd-supervisors",                "ACD number of supervisor applications",                      ACD,                    0, counter(0, 1, 4), ACTIVE, COUNT, RESTART),
    row("scr",                            "SCR (Smart Call Routing)",                                   ACD,                    0, FLAG, ACTIVE, ON_OFF, RESTART),
    // Active deprecated licences (§2.2.1 note): fixed value, always tested.
    row("ars",                            "ARS",                                                        SYSTEM,                 0, fixed(1), DEPRECATED, COUNT, NONE),
    row("disa",                           "DISA / DISA Transit",                                        SYSTEM,                 0, fixed(1), DEPRECATED, COUNT, NONE),
    row("languages",                      "Number of languages",                                        SYSTEM,                 2, fixed(4), DEPRECATED, COUNT, NONE),
    row("ldap",                           "LDAP service",                                               SYSTEM,                 0, fixed(1), DEPRECATED, COUNT, NONE),
    row("call-accounting-over-ip",        "Call accounting over IP",                                    OVER_IP,                0, fixed(1), DEPRECATED, COUNT, NONE),
    row("mailbox-greetings",              "Mailbox greetings",                                          VOICE_MAIL,             0, fixed(1), DEPRECATED, COUNT, NONE),
    row("remote-customization",           "Remote customization",                                       VOICE_MAIL,             0, fixed(1), DEPRECATED, COUNT, NONE),
    // eLP: "ignored by the system", carried and shown.
    row("elp-engine",                     "Engine",                                                     ELP,                    0, raw(15), IGNORED, CODE, NONE),
    row("elp-engine-bis",                 "EngineBis",                                                  ELP,                    0, raw(15), IGNORED, CODE, NONE),
    row("elp-checker-syst-solution",      "Checker_syst_solution",                                      ELP,                    0, raw(15), IGNORED, CODE, NONE),
    row("elp-checker-cs-type",            "Checker_cs_type",                                            ELP,                    0, raw(15), IGNORED, CODE, NONE),
    row("elp-checker-oxo-01",             "Checker_oxo_01",                                             ELP,                    0, raw(15), IGNORED, CODE, NONE),
    row("elp-product",                    "Product",                                                    ELP,                    0, raw(63), IGNORED, CODE, NONE),
    row("elp-cloud-solution-status",      "Cloud Solution status",                                      ELP,                    0, raw(3), IGNORED, CODE, NONE),
    row("elp-service-assurance-period",   "Serv. Assurance period (months)",                            ELP,                    0, raw(120), IGNORED, COUNT, NONE),
    row("elp-service-assurance-validity", "Serv. Assurance validity date",                              ELP,                    0, raw(65535), IGNORED, DATE, NONE),
];

#[rustfmt::skip]
pub(super) static CTI: &[Service] = &[
    row("counter1",                       "COUNTER1 PIMphony Pro/PIMphony Touch",                       NON_CSTA,               0, counter(0, 1, 200), ACTIVE, COUNT, NONE),
    row("counter2",                       "COUNTER2 PIMphony Team",                                     NON_CSTA,               0, counter(0, 1, 200), ACTIVE, COUNT, NONE),
    row("counter3",                       "COUNTER3 inactive deprecated (Nomadic)",                     NON_CSTA,               0, ZERO, INACTIVE, COUNT, NONE),
    row("counter4",                       "COUNTER4 PIMphony release (50 = 5.0)",                       NON_CSTA,               0, raw(255), ACTIVE, CODE, NONE),
    row("counter5",                       "COUNTER5 PIMphony Attendant",                                NON_CSTA,               0, counter(0, 1, 10), ACTIVE, COUNT, NONE),
    row("counter6",                       "COUNTER6 inactive deprecated (PPU)",                         NON_CSTA,               0, ZERO, INACTIVE, COUNT, NONE),
    row("counter7",                       "COUNTER7 MyIC Social Networks",                              NON_CSTA,               0, counter(0, 1, 200), ACTIVE, COUNT, NONE),
    row("counter8",                       "COUNTER8 MyIC Social Networks release",                      NON_CSTA,               0, raw(255), ACTIVE, CODE, NONE),
    row("counter9",                       "COUNTER9 inactive deprecated (OBFM)",                        NON_CSTA,               0, ZERO, INACTIVE, COUNT, NONE),
    row("counter10",                      "COUNTER10 IP Desktop Softphone",                             NON_CSTA,               0, counter(0, 1, 300), ACTIVE, COUNT, NONE),
    row("csta1-sessions",                 "INTEGRATED TAPI 2.0 or TAPI desktop: number of sessions",    "CSTA application 1",   0, counter(0, 1, 25), ACTIVE, COUNT, NONE),
    row("csta1-monitors",                 "INTEGRATED TAPI 2.0 or TAPI desktop: number of monitors",    "CSTA application 1",   0, counter(0, 1, 50), ACTIVE, COUNT, NONE),
    row("csta1-features",                 "INTEGRATED TAPI 2.0 or TAPI desktop: features (none / all)", "CSTA application 1",   0, FLAG, ACTIVE, ON_OFF, NONE),
    row("csta2",                          "CSTA 2 inactive deprecated (OmniTouch Call Center Office)",  "CSTA application 2",   0, ZERO, INACTIVE, COUNT, NONE),
    row("csta3-sessions",                 "CSTA DESKTOP CLIENT: number of sessions",                    "CSTA application 3",   0, counter(0, 1, 25), ACTIVE, COUNT, NONE),
    row("csta3-monitors",                 "CSTA DESKTOP CLIENT: number of monitors",                    "CSTA application 3",   0, counter(0, 1, 50), ACTIVE, COUNT, NONE),
    row("csta3-features",                 "CSTA DESKTOP CLIENT: features (none / all)",                 "CSTA application 3",   0, FLAG, ACTIVE, ON_OFF, NONE),
    row("csta4",                          "CSTA 4 inactive deprecated (Central Services)",              "CSTA application 4",   0, ZERO, INACTIVE, COUNT, NONE),
    row("csta5-sessions",                 "CSTA Server: number of sessions",                            "CSTA application 5",   0, counter(0, 1, 25), ACTIVE, COUNT, NONE),
    row("csta5-monitors",                 "CSTA Server: number of monitors",                            "CSTA application 5",   0, counter(0, 1, 300), ACTIVE, COUNT, NONE),
    row("csta5-features",                 "CSTA Server: features (none / all)",                         "CSTA application 5",   0, FLAG, ACTIVE, ON_OFF, NONE),
    row("csta6-sessions",                 "TAPI 2.1 SERVER: number of sessions",                        "CSTA application 6",   0, counter(0, 1, 25), ACTIVE, COUNT, NONE),
    row("csta6-monitors",                 "TAPI 2.1 SERVER: number of monitors",                        "CSTA application 6",   0, counter(0, 1, 300), ACTIVE, COUNT, NONE),
    row("csta6-features",                 "TAPI 2.1 SERVER: features (none / all)",                     "CSTA application 6",   0, FLAG, ACTIVE, ON_OFF, NONE),
    row("csta7-sessions",                 "Busy Lamp field: number of sessions",                        "CSTA application 7",   0, counter(0, 1, 200), ACTIVE, COUNT, NONE),
    row("csta7-monitors",                 "Busy Lamp field: number of monitors",                        "CSTA application 7",   0, counter(0, 1, 500), ACTIVE, COUNT, NONE),
    row("csta7-features",                 "Busy Lamp field: features (none / all)",                     "CSTA application 7",   0, FLAG, ACTIVE, ON_OFF, NONE),
    row("csta8",                          "CSTA 8 inactive deprecated (old OTS or XML server)",         "CSTA application 8",   0, ZERO, INACTIVE, COUNT, NONE),
    row("csta9-sessions",                 "Extended Busy Lamp field: number of sessions",               "CSTA application 9",   0, counter(0, 1, 200), ACTIVE, COUNT, NONE),
    row("csta9-monitors",                 "Extended Busy Lamp field: number of monitors",               "CSTA application 9",   0, counter(0, 1, 500), ACTIVE, COUNT, NONE),
    row("csta9-features",                 "Extended Busy Lamp field: features (none / all)",            "CSTA application 9",   0, FLAG, ACTIVE, ON_OFF, NONE),
    row("csta10",                         "CSTA 10 inactive deprecated (PIMphony Unified)",             "CSTA application 10",  0, ZERO, INACTIVE, COUNT, NONE),
    row("csta11",                         "CSTA 11 Gateway SIP phone (not a licence, internal use)",    "CSTA application 11",  0, ZERO, INACTIVE, COUNT, NONE),
    row("csta12",                         "CSTA 12 inactive deprecated (ECS)",                          "CSTA application 12",  0, ZERO, INACTIVE, COUNT, NONE),
    row("csta33",                         "CSTA 33 OTS (not a licence, internal use)",                  "CSTA application 33",  0, ZERO, INACTIVE, COUNT, NONE),
    // COUNTER11..16 and CSTA 13..32 are "available for future use": a
    // future schema version adds them.
    row("counter11-16",                   "COUNTER11..16 available for future use",                     NON_CSTA,               0, ZERO, INACTIVE, COUNT, NONE),
    row("csta13-32",                      "CSTA 13..32 available for future use",                       "CSTA applications 13..32", 0, ZERO, INACTIVE, COUNT, NONE),
];

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = include_str!("seed-2.2.1.txt");

    /// The catalogue row a seed row names: same name, the name followed by
    /// a parenthesis, or the name after the group prefix ("ACD number of groups").
    fn row_named(seed_name: &str) -> &'static Service {
        let want = seed_name.to_ascii_lowercase();
        MAIN.iter()
            .find(|s| {
                let name = s.name.to_ascii_lowercase();
                name == want
                    || name.starts_with(&format!("{want} ("))
                    || name.ends_with(&format!(" {want}"))
            })
            .unwrap_or_else(|| panic!("no catalogue row for seed row {seed_name:?}"))
    }

    fn leading_number(text: &str) -> Option<u32> {
        let digits: String = text
            .trim_start_matches(['+', ' '])
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().ok()
    }

    /// A default as printed: "closed" is 0, "4 msg" is 4, "60'" is 60 minutes.
    fn seed_default(text: &str) -> u32 {
        if text.eq_ignore_ascii_case("closed") {
            0
        } else {
            leading_number(text).unwrap_or_else(|| panic!("default {text:?}"))
        }
    }

    /// A maximum as printed: "200 h" is in hours, the catalogue counts minutes.
    fn seed_max(text: &str) -> u32 {
        let n = leading_number(text).unwrap_or_else(|| panic!("max {text:?}"));
        if text.ends_with(" h") {
            n * 60
        } else {
            n
        }
    }

    fn check_main_row(cols: &[&str]) -> &'static str {
        let s = row_named(cols[0]);
        let (default, granularity, max, hw) = (cols[2], cols[3], cols[4], cols[5]);
        assert_eq!(s.default, seed_default(default), "{}: default", s.id);
        assert_eq!(s.max_value(), seed_max(max), "{}: max", s.id);
        assert_eq!(s.hardware, hw == "Yes", "{}: hardware extension", s.id);
        match s.domain {
            Domain::Counter { step, .. } if !granularity.is_empty() => {
                assert_eq!(
                    Some(step),
                    leading_number(granularity),
                    "{}: granularity",
                    s.id
                )
            }
            Domain::Choice(list) => {
                // "5,10, 20 or 32 agents" after the default 0, or "0,10, 20 or 32".
                let mut listed: Vec<u32> = granularity
                    .split([',', ' '])
                    .filter_map(|w| w.parse().ok())
                    .collect();
                if listed.first() != Some(&s.default) {
                    listed.insert(0, s.default);
                }
                assert_eq!(list, listed.as_slice(), "{}: choices", s.id);
            }
            // No granularity printed: open/closed, the CL code, or channels.
            _ => assert!(
                granularity.is_empty(),
                "{}: granularity {granularity:?}",
                s.id
            ),
        }
        s.id
    }

    fn check_deprecated_row(cols: &[&str]) -> &'static str {
        let s = row_named(cols[0]);
        assert_eq!(s.role, Role::ActiveDeprecated, "{}", s.id);
        assert_eq!(s.default, seed_default(cols[2]), "{}: default", s.id);
        assert_eq!(s.domain, fixed(seed_max(cols[3])), "{}: fixed value", s.id);
        s.id
    }

    #[test]
    fn main_table_matches_the_seed() {
        let mut seen = Vec::new();
        let mut deprecated_table = false;
        for line in SEED.lines().skip(1) {
            let cols: Vec<&str> = line.split('\t').collect();
            if cols[0].starts_with("Service controlled") {
                deprecated_table = cols.last() == Some(&"Fixed value");
                continue;
            }
            let is_heading = cols[1..].iter().all(|c| c.is_empty());
            let not_a_service =
                cols[0].starts_with("SWL ") || line.contains("IGNORED BY THE SYSTEM");
            if cols.len() < 4 || is_heading || not_a_service {
                continue;
            }
            seen.push(if deprecated_table {
                check_deprecated_row(&cols)
            } else {
                check_main_row(&cols)
            });
        }
        for s in MAIN
            .iter()
            .filter(|s| matches!(s.role, Role::Active | Role::ActiveDeprecated))
        {
            assert!(seen.contains(&s.id), "{} is in no seed row", s.id);
        }
        assert_eq!(seen.len(), 37);
    }
}
