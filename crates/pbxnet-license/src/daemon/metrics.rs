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
