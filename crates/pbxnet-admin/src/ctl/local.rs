//! pbxnetctl's answers without admind: the daemons' control sockets asked
//! directly (as admind does) and the inventory rebuilt from admind's event
//! log opened read-only. Same JSON shapes as the API.

use std::path::Path;

use pbxnet_config::ConfigPaths;
use pbxnet_inventory::{DeviceFilter, Envelope, Inventory, Mac, Verdict, MAX_PAGE};
use serde_json::{json, Value};

use super::cli::Command;
use crate::api::state::now_ms;
use crate::api::views::{self, LeaseFilter, SiteView, TimeView, Unavailable};
use crate::config::AdminConfig;
use crate::sources;
use crate::store::EventLog;

/// The answer to `command`, or why there is none.
pub(super) fn answer(config: Option<&Path>, command: &Command) -> Result<Value, String> {
    let paths = ConfigPaths::resolve(config, "admin.toml");
    let loaded =
        pbxnet_config::load_paths::<AdminConfig>(&paths).map_err(|report| format!("{report}"))?;
    let cfg = loaded.daemon;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(answer_with(&cfg, command))
}

/// The inventory as admind last committed it.
fn inventory(cfg: &AdminConfig) -> Result<Inventory, String> {
    let log = EventLog::open_read_only(&cfg.store_file()).map_err(|e| format!("{e:#}"))?;
    let mut inv = Inventory::new(cfg.inventory.clone());
    log.replay(|line| match Envelope::from_json_line(line) {
        Ok(env) => {
            inv.apply(&env);
            true
        }
        Err(_) => false,
    })
    .map_err(|e| format!("{e:#}"))?;
    Ok(inv)
}

fn to_json<T: serde::Serialize>(v: T) -> Result<Value, String> {
    serde_json::to_value(v).map_err(|e| e.to_string())
}

async fn answer_with(cfg: &AdminConfig, command: &Command) -> Result<Value, String> {
    let now = now_ms();
    match command {
        Command::Site => site(cfg, now).await,
        Command::Devices {
            stuck,
            verdict,
            class,
            model,
            firmware,
            search,
        } => {
            let verdict = match (stuck, verdict) {
                (true, _) => Some(Verdict::StuckAfterLease),
                (false, Some(v)) => Some(
                    Verdict::parse(v).ok_or_else(|| format!("--verdict: unknown verdict `{v}`"))?,
                ),
                (false, None) => None,
            };
            let filter = DeviceFilter {
                verdict,
                class: class.clone(),
                model: model.clone(),
                firmware: firmware.clone(),
                search: search.clone(),
            };
            devices(cfg, &filter, now)
        }
        Command::Device { mac } => {
            let mac: Mac = mac
                .parse()
                .map_err(|e: pbxnet_inventory::MacParseError| e.to_string())?;
            let inv = inventory(cfg)?;
            let detail = views::device_detail(&inv, mac, now)
                .ok_or_else(|| format!("no device {mac} in the event log"))?;
            to_json(detail)
        }
        Command::Leases { search } => {
            let leases = sources::leases(cfg).await.map_err(|e| e.to_string())?;
            // Without the log the leases still show, without verdicts.
            let inv = inventory(cfg).unwrap_or_else(|_| Inventory::new(cfg.inventory.clone()));
            let filter = LeaseFilter {
                device: DeviceFilter {
                    search: search.clone(),
                    ..DeviceFilter::default()
                },
                state: None,
            };
            to_json(views::lease_page(
                &inv,
                leases,
                &filter,
                None,
                usize::MAX,
                now,
            ))
        }
        Command::Ntp => {
            let mut tracking = sources::ntp_status(cfg).await.map_err(|e| e.to_string())?;
            let sources = tracking["client"]["sources"].take();
            if let Some(client) = tracking.get_mut("client").and_then(Value::as_object_mut) {
                client.remove("sources");
            }
            let sources = if sources.is_null() {
                json!([])
            } else {
                sources
            };
            Ok(json!({ "tracking": tracking, "sources": sources }))
        }
        Command::License => sources::license(cfg).await.map_err(|e| e.to_string()),
    }
}

async fn site(cfg: &AdminConfig, now: u64) -> Result<Value, String> {
    let inv = inventory(cfg)?;
    let (pools, ntp, licence) = tokio::join!(
        sources::pools(cfg),
        sources::ntp_status(cfg),
        sources::license(cfg)
    );
    let mut unavailable: Vec<Unavailable> = Vec::new();
    let pools = pools.map_err(|e| unavailable.push(e.into())).ok();
    let time = ntp
        .map_err(|e| unavailable.push(e.into()))
        .ok()
        .map(|v| TimeView::from_status(&v));
    let license_mode = licence
        .map_err(|e| unavailable.push(e.into()))
        .ok()
        .and_then(|v| v["system-mode"].as_str().map(str::to_string));
    to_json(SiteView {
        now,
        inventory: inv.site(now),
        events_lost: inv.events_lost(),
        pools,
        time,
        license_mode,
        unavailable,
    })
}

fn devices(cfg: &AdminConfig, filter: &DeviceFilter, now: u64) -> Result<Value, String> {
    let inv = inventory(cfg)?;
    let mut devices = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = inv
            .devices(filter, after.as_deref(), MAX_PAGE, now)
            .map_err(|e| e.to_string())?;
        devices.extend(page.devices);
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    Ok(json!({ "devices": to_json(devices)? }))
}
