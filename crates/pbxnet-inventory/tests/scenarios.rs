//! Scenario tests: each device kind booting (or failing to), driven from
//! the events the daemons would publish, judged at chosen times.

mod common;

use common::*;
use pbxnet_inventory::{
    device_verdict, DeviceFilter, DeviceKind, Inventory, InventoryConfig, LeaseState, Outcome,
    Step, Verdict,
};

fn inventory(events: &[pbxnet_inventory::Envelope]) -> Inventory {
    let mut inv = Inventory::new(InventoryConfig::default());
    events.iter().for_each(|e| inv.apply(e));
    inv
}

fn verdict_at(inv: &Inventory, m: &str, now: u64) -> Verdict {
    inv.verdict(inv.device(mac(m)).unwrap(), now)
}

const PHONE: &str = "00:90:8f:61:a0:22";
const SWITCH: &str = "00:e0:b1:70:00:01";
const AP: &str = "34:e7:0b:70:00:01";

#[test]
fn audiocodes_phone_provisioned_with_model_firmware_and_time() {
    let p = mac(PHONE);
    let inv = inventory(&[
        discover(T0, p, "450HD"),
        ack(
            T0 + 10,
            p,
            ip(20),
            "audiocodes-450hd",
            Some("ThirdParty_Devices/400HD.img"),
        ),
        fetch(
            T0 + 2 * SECOND,
            ip(20),
            "ThirdParty_Devices/400HD.img",
            Outcome::Aborted,
        ),
        fetch_ua(
            T0 + 3 * SECOND,
            ip(20),
            "/00908f61a022.cfg",
            Outcome::Ok,
            Some("AUDC-IPPhone/3.4.8.229 (450HD-Rev2; 00908F61A022)"),
        ),
        ntp(T0 + 4 * SECOND, ip(20)),
    ]);
    let d = inv.device(p).unwrap();
    assert_eq!(d.kind, DeviceKind::Audiocodes);
    assert_eq!(d.vendor, Some("AudioCodes"));
    assert_eq!(d.model.as_deref(), Some("450HD"));
    assert_eq!(d.firmware.as_deref(), Some("3.4.8.229"));
    assert_eq!(d.lease.as_ref().unwrap().state, LeaseState::Bound);
    let boot = d.current_boot().unwrap();
    assert_eq!(boot.files.len(), 2);
    assert!(boot.done.contains(Step::Config) && !boot.done.contains(Step::Image));
    assert_eq!(
        verdict_at(&inv, PHONE, T0 + 5 * SECOND),
        Verdict::Provisioned
    );
    assert_eq!(d.last_contact, T0 + 4 * SECOND);
}

#[test]
fn phone_whose_config_is_missing_is_a_file_error() {
    let p = mac(PHONE);
    let inv = inventory(&[
        discover(T0, p, "450HD"),
        ack(T0 + 10, p, ip(20), "audiocodes-450hd", None),
        fetch(T0 + SECOND, ip(20), "00908f61a022.cfg", Outcome::NotFound),
    ]);
    assert_eq!(verdict_at(&inv, PHONE, T0 + 2 * SECOND), Verdict::FileError);
    assert_eq!(
        verdict_at(&inv, PHONE, T0 + 3600 * SECOND),
        Verdict::FileError
    );
    let failed: Vec<_> = inv
        .device(p)
        .unwrap()
        .current_boot()
        .unwrap()
        .failed
        .steps()
        .collect();
    assert_eq!(failed, [Step::Config]);
}

#[test]
fn a_retried_fetch_that_succeeds_clears_the_file_error() {
    let p = mac(PHONE);
    let inv = inventory(&[
        discover(T0, p, "450HD"),
        ack(T0 + 10, p, ip(20), "audiocodes-450hd", None),
        fetch(T0 + SECOND, ip(20), "00908f61a022.cfg", Outcome::NotFound),
        fetch(T0 + 9 * SECOND, ip(20), "00908f61a022.cfg", Outcome::Ok),
        ntp(T0 + 10 * SECOND, ip(20)),
    ]);
    assert_eq!(
        verdict_at(&inv, PHONE, T0 + 11 * SECOND),
        Verdict::Provisioned
    );
}

#[test]
fn switch_that_never_fetches_os_conf_is_stuck_after_the_timeout() {
    let s = mac(SWITCH);
    let cfg = InventoryConfig::default();
    let inv = inventory(&[
        discover(T0, s, "alcatel-lucent.omniswitch.OS6450"),
        ack(T0 + 10, s, ip(5), "omniswitch", Some("os_ins.alu")),
        fetch(T0 + SECOND, ip(5), "os_ins.alu", Outcome::Ok),
    ]);
    assert_eq!(
        verdict_at(&inv, SWITCH, T0 + 10 + cfg.stuck_after_ms - 1),
        Verdict::Booting
    );
    assert_eq!(
        verdict_at(&inv, SWITCH, T0 + 10 + cfg.stuck_after_ms),
        Verdict::StuckAfterLease
    );
    let d = inv.device(s).unwrap();
    assert_eq!(
        (d.kind, d.model.as_deref()),
        (DeviceKind::Omniswitch, Some("OS6450"))
    );
}

#[test]
fn aos8_switch_chain_and_switch_needs_no_time() {
    let s = mac(SWITCH);
    let inv = inventory(&[
        discover(T0, s, "alcatel-lucent.omniswitch.OS6360"),
        ack(T0 + 10, s, ip(6), "omniswitch", Some("os_ins.alu")),
        fetch(T0 + SECOND, ip(6), "os8_ins.alu", Outcome::Ok),
        fetch(T0 + 2 * SECOND, ip(6), "os8_conf", Outcome::Ok),
        fetch(T0 + 3 * SECOND, ip(6), "os_script", Outcome::Ok),
    ]);
    assert_eq!(
        verdict_at(&inv, SWITCH, T0 + 3600 * SECOND),
        Verdict::Provisioned
    );
}

#[test]
fn phone_that_never_asks_for_time_is_no_time_after_the_timeout() {
    let p = mac("00:04:13:70:00:01");
    let cfg = InventoryConfig::default();
    let cfg_file = "/tftpboot/ThirdParty_Devices/sip-phone.cfg";
    let inv = inventory(&[
        discover(T0, p, "SIP-T46"),
        ack(T0 + 10, p, ip(40), "generic-sip", Some(cfg_file)),
        fetch(
            T0 + SECOND,
            ip(40),
            "ThirdParty_Devices/other.cfg",
            Outcome::Ok,
        ),
        fetch(
            T0 + 2 * SECOND,
            ip(40),
            "ThirdParty_Devices/sip-phone.cfg",
            Outcome::Ok,
        ),
    ]);
    let done = T0 + 2 * SECOND;
    let m = "00:04:13:70:00:01";
    assert_eq!(
        verdict_at(&inv, m, done + cfg.no_time_after_ms - 1),
        Verdict::Booting
    );
    assert_eq!(
        verdict_at(&inv, m, done + cfg.no_time_after_ms),
        Verdict::NoTime
    );
    assert_eq!(inv.device(p).unwrap().model.as_deref(), Some("T46"));
}

#[test]
fn stellar_ap_provisioned_through_secured_config() {
    let a = mac(AP);
    let inv = inventory(&[
        discover(T0, a, "OAW-AP1221"),
        ack(
            T0 + 10,
            a,
            ip(10),
            "stellar-ap",
            Some("hap_instruction.ini"),
        ),
        fetch(T0 + SECOND, ip(10), "hap_instruction.ini", Outcome::Ok),
        fetch(
            T0 + 2 * SECOND,
            ip(10),
            "Secured_Config/hap_conf.ini",
            Outcome::Ok,
        ),
        ntp(T0 + 3 * SECOND, ip(10)),
    ]);
    assert_eq!(verdict_at(&inv, AP, T0 + 4 * SECOND), Verdict::Provisioned);
}

#[test]
fn ip_reused_by_another_mac_attributes_files_to_the_holder_at_the_time() {
    let (first, second) = (mac(PHONE), mac("00:90:8f:70:00:07"));
    let inv = inventory(&[
        discover(T0, first, "450HD"),
        ack(T0 + 10, first, ip(20), "audiocodes-450hd", None),
        fetch(T0 + SECOND, ip(20), "00908f61a022.cfg", Outcome::Ok),
        release(T0 + 2 * SECOND, first, ip(20)),
        fetch(T0 + 3 * SECOND, ip(20), "late.cfg", Outcome::Ok),
        discover(T0 + 4 * SECOND, second, "420HD"),
        ack(T0 + 5 * SECOND, second, ip(20), "audiocodes-4xxhd", None),
        fetch(T0 + 6 * SECOND, ip(20), "00908f700007.cfg", Outcome::Ok),
    ]);
    let files = |m| -> Vec<String> {
        let boot = inv.device(m).unwrap().current_boot().unwrap();
        boot.files.iter().map(|f| f.path.clone()).collect()
    };
    assert_eq!(files(first), ["00908f61a022.cfg"]);
    assert_eq!(files(second), ["00908f700007.cfg"]);
    assert_eq!(inv.unattributed_count(), 1);
    assert_eq!(
        inv.unattributed().next().unwrap().path.as_deref(),
        Some("late.cfg")
    );
    assert_eq!(
        inv.device(first).unwrap().lease.as_ref().unwrap().state,
        LeaseState::Released
    );
}

#[test]
fn a_lease_change_to_a_new_address_frees_the_old_one() {
    let p = mac(PHONE);
    let inv = inventory(&[
        discover(T0, p, "450HD"),
        ack(T0 + 10, p, ip(20), "audiocodes-450hd", None),
        ack(T0 + 20, p, ip(21), "audiocodes-450hd", None),
        fetch(T0 + SECOND, ip(20), "x.cfg", Outcome::Ok),
        fetch(T0 + SECOND, ip(21), "00908f61a022.cfg", Outcome::Ok),
    ]);
    assert_eq!(inv.unattributed_count(), 1);
    assert_eq!(
        inv.device(p).unwrap().current_boot().unwrap().files.len(),
        1
    );
}

#[test]
fn lease_shows_expired_after_its_expiry_and_an_offer_may_then_replace_it() {
    let p = mac(PHONE);
    let mut inv = inventory(&[
        discover(T0, p, "450HD"),
        ack(T0 + 10, p, ip(20), "audiocodes-450hd", None),
    ]);
    let state = |inv: &Inventory, now| {
        let page = inv.devices(&DeviceFilter::default(), None, 1, now).unwrap();
        page.devices[0].lease.unwrap()
    };
    assert_eq!(state(&inv, T0 + 9 + 3600 * SECOND), LeaseState::Bound);
    assert_eq!(state(&inv, T0 + 10 + 3600 * SECOND), LeaseState::Expired);
    inv.apply(&offer(T0 + 30 * SECOND, p, ip(21)));
    assert_eq!(inv.device(p).unwrap().lease.as_ref().unwrap().ip, ip(20));
    inv.apply(&offer(T0 + 3700 * SECOND, p, ip(21)));
    let lease = inv.device(p).unwrap().lease.clone().unwrap();
    assert_eq!((lease.ip, lease.state), (ip(21), LeaseState::Offered));
}

#[test]
fn transfer_after_lease_expiry_is_unattributed() {
    let p = mac(PHONE);
    let inv = inventory(&[
        discover(T0, p, "450HD"),
        ack(T0 + 10, p, ip(20), "audiocodes-450hd", None),
        fetch(
            T0 + 10 + 3600 * SECOND,
            ip(20),
            "00908f61a022.cfg",
            Outcome::Ok,
        ),
    ]);
    assert_eq!(inv.unattributed_count(), 1);
}

#[test]
fn no_lease_then_a_new_boot_after_a_completed_chain() {
    let p = mac(PHONE);
    let cfg = InventoryConfig::default();
    let mut inv = inventory(&[
        discover(T0, p, "450HD"),
        discover(T0 + 4 * SECOND, p, "450HD"),
    ]);
    assert_eq!(inv.device(p).unwrap().boots.len(), 1);
    assert_eq!(
        verdict_at(&inv, PHONE, T0 + cfg.no_lease_after_ms),
        Verdict::NoLease
    );
    let later = T0 + 100 * SECOND;
    for e in [
        ack(later, p, ip(20), "audiocodes-450hd", None),
        fetch(later + SECOND, ip(20), "00908f61a022.cfg", Outcome::Ok),
        ntp(later + 2 * SECOND, ip(20)),
        discover(later + 900 * SECOND, p, "450HD"),
    ] {
        inv.apply(&e);
    }
    let d = inv.device(p).unwrap();
    assert_eq!(d.boots.len(), 2);
    assert_eq!(inv.verdict(d, later + 901 * SECOND), Verdict::Booting);
    assert_eq!(
        pbxnet_inventory::boot_verdict(&d.boots[0], d.kind, &cfg, later + 901 * SECOND),
        Verdict::Provisioned
    );
}

#[test]
fn boot_history_is_bounded() {
    let p = mac(PHONE);
    let mut inv = Inventory::new(InventoryConfig::default());
    for i in 0..100u64 {
        let at = T0 + i * 10 * SECOND;
        inv.apply(&discover(at, p, "450HD"));
        inv.apply(&ack(at + 1, p, ip(20), "audiocodes-450hd", None));
    }
    assert_eq!(inv.device(p).unwrap().boots.len(), 32);
}

#[test]
fn filters_pagination_and_site_counts() {
    let mut events = Vec::new();
    for i in 0..25u8 {
        let m = mac(&format!("00:90:8f:70:00:{i:02x}"));
        events.push(discover(T0, m, if i % 2 == 0 { "450HD" } else { "420HD" }));
        events.push(ack(T0 + 1, m, ip(100 + i), "audiocodes-4xxhd", None));
        if i % 5 == 0 {
            events.push(fetch(
                T0 + 2,
                ip(100 + i),
                &format!("00908f7000{i:02x}.cfg"),
                Outcome::Denied,
            ));
        }
    }
    let inv = inventory(&events);
    let now = T0 + SECOND;
    let all = DeviceFilter::default();
    let p1 = inv.devices(&all, None, 10, now).unwrap();
    let p2 = inv.devices(&all, p1.next.as_deref(), 10, now).unwrap();
    let p3 = inv.devices(&all, p2.next.as_deref(), 10, now).unwrap();
    assert_eq!(
        (p1.devices.len(), p2.devices.len(), p3.devices.len()),
        (10, 10, 5)
    );
    assert!(p3.next.is_none());
    let macs: Vec<_> = [p1, p2, p3]
        .iter()
        .flat_map(|p| p.devices.iter().map(|d| d.mac))
        .collect();
    assert!(macs.windows(2).all(|w| w[0] < w[1]) && macs.len() == 25);
    let errors = DeviceFilter {
        verdict: Some(Verdict::FileError),
        ..Default::default()
    };
    assert_eq!(
        inv.devices(&errors, None, 100, now).unwrap().devices.len(),
        5
    );
    let model = DeviceFilter {
        model: Some("420hd".into()),
        ..Default::default()
    };
    assert_eq!(
        inv.devices(&model, None, 100, now).unwrap().devices.len(),
        12
    );
    let search = DeviceFilter {
        search: Some("70-00-0A".into()),
        ..Default::default()
    };
    assert_eq!(
        inv.devices(&search, None, 100, now).unwrap().devices.len(),
        1
    );
    let by_ip = DeviceFilter {
        search: Some("92.124".into()),
        ..Default::default()
    };
    assert_eq!(
        inv.devices(&by_ip, None, 100, now).unwrap().devices[0].ip,
        Some(ip(124))
    );
    let site = inv.site(now);
    assert_eq!(
        (
            site.by_verdict[&Verdict::FileError],
            site.by_verdict[&Verdict::Booting]
        ),
        (5, 20)
    );
    assert!(inv.devices(&all, Some("zz"), 10, now).is_err());
    assert!(inv.devices(&all, None, 0, now).is_err());
}

/// admind reads the daemons' streams as their lines arrive: a phone's NTP
/// request and its config fetch can be applied before dhcpd's ACK that
/// came first. The ACK claims them; events from before the ACK stay
/// unattributed.
#[test]
fn an_ack_applied_late_claims_the_events_that_followed_it() {
    let mut inv = Inventory::new(InventoryConfig::default());
    let phone = mac("00:90:8f:61:a0:22");
    inv.apply(&discover(T0, phone, "450HD"));
    inv.apply(&ntp(T0 + 30, ip(20)));
    inv.apply(&fetch(T0 + 40, ip(20), "/00908f61a022.cfg", Outcome::Ok));
    inv.apply(&ntp(T0 - 5_000, ip(20)));
    assert_eq!(inv.unattributed_count(), 3);
    inv.apply(&ack(T0 + 20, phone, ip(20), "audiocodes-450hd", None));
    assert_eq!(
        inv.unattributed_count(),
        1,
        "the request from before the ACK stays unattributed"
    );
    assert_eq!(inv.unattributed().count(), 1);
    let dev = inv.device(phone).unwrap();
    assert_eq!(dev.last_ntp.as_ref().map(|n| n.at), Some(T0 + 30));
    assert_eq!(
        device_verdict(dev, &InventoryConfig::default(), T0 + 50),
        Verdict::Provisioned
    );
}
