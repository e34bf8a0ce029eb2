//! `/metrics` of pbxnet-licd, from the validator's status: the system
//! mode (as a state set: one sample per mode, 1 for the current one), each
//! key's state, the grace days left, and per service the levels the key
//! authorises and those really activated.

use pbxnet_runtime::metrics::Snapshot;

use crate::{KeyKind, Status};

/// The modes `system_mode` takes.
const MODES: [&str; 3] = ["normal", "grace", "limited"];
/// The states a key takes.
const KEY_STATES: [&str; 3] = ["valid", "grace", "limited"];

/// Fills `out` from the validator's status (pure: tested below).
pub(super) fn fill(s: &Status, out: &mut Snapshot) {
    for mode in MODES {
        out.gauge(
            "pbxnet_license_mode",
            "Licence system mode (from the Main key): 1 for the current mode, 0 for the others",
            &[("mode", mode)],
            s.system_mode == mode,
        );
    }
    if let Some(left) = s.grace_seconds_left {
        out.gauge(
            "pbxnet_license_grace_days_left",
            "Counted days until the grace period ends and limited mode starts (only in grace mode)",
            &[],
            left as f64 / 86_400.0,
        );
    }
    for key in &s.keys {
        let kind = match key.kind {
            KeyKind::Main => "main",
            KeyKind::Cti => "cti",
        };
        for state in KEY_STATES {
            out.gauge(
                "pbxnet_license_key_state",
                "State of each licence key (main, cti): 1 for the current state",
                &[("key", kind), ("state", state)],
                key.state == state,
            );
        }
        for service in &key.services {
            let labels = [("key", kind), ("service", service.id)];
            out.gauge(
                "pbxnet_license_service_authorized",
                "Level of each service the key authorises",
                &labels,
                service.authorized,
            );
            out.gauge(
                "pbxnet_license_service_activated",
                "Level of each service really activated (the key's, capped by the hardware)",
                &labels,
                service.activated,
            );
        }
    }
    out.gauge(
        "pbxnet_license_warm_restart_required",
        "1 when a warm restart is needed for a licence change to take effect",
        &[],
        !s.warm_restart_required.is_empty(),
    );
    out.gauge(
        "pbxnet_license_counted_seconds",
        "Time counted by the licence clock since the state was created",
        &[],
        s.elapsed_secs,
    );
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use super::*;
    use crate::{
        License, Now, PersistedState, Serial, SerialOrigin, Validator, ValidatorConfig, GRACE_SECS,
    };

    const T0: i64 = 1_780_000_000;

    /// A validator whose main key is genuine but for another serial (a
    /// replaced CPU): grace mode from T0.
    fn in_grace(counted: u64) -> Status {
        let serial = Serial(0x0000_68DA);
        let vendor = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let other = crate::issue(
            &License::defaults(KeyKind::Main, 3),
            Serial(0x1234_5678),
            &vendor,
        )
        .unwrap()
            + "\n";
        let cfg = ValidatorConfig {
            serial,
            major_version: 3,
            public_key: vendor.verifying_key(),
            hardware_limits: BTreeMap::new(),
            serial_origin: SerialOrigin::Machine,
            previous_serials: Vec::new(),
        };
        let now = Now::new(T0, Duration::from_secs(1000));
        let state = PersistedState::fresh(serial, T0);
        let mut v = Validator::new(cfg, state, now, [Some(&other), None]);
        let later = Now::new(T0 + counted as i64, Duration::from_secs(1000 + counted));
        v.handle_timeout(later);
        v.status(later)
    }

    #[test]
    fn grace_mode_is_one_sample_of_the_state_set_with_the_days_left() {
        let status = in_grace(86_400);
        assert_eq!(status.system_mode, "grace");
        let mut s = Snapshot::new();
        fill(&status, &mut s);
        let text = s.render(false);
        let days = (GRACE_SECS - 86_400) as f64 / 86_400.0;
        for line in [
            "pbxnet_license_mode{mode=\"normal\"} 0\n".to_string(),
            "pbxnet_license_mode{mode=\"grace\"} 1\n".to_string(),
            "pbxnet_license_mode{mode=\"limited\"} 0\n".to_string(),
            "pbxnet_license_key_state{key=\"main\",state=\"grace\"} 1\n".to_string(),
            format!("pbxnet_license_grace_days_left {days:?}\n"),
        ] {
            assert!(text.contains(&line), "{line} not in\n{text}");
        }
    }
}
