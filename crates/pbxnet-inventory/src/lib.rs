//! pbxnet-inventory: the site's event schema and its device inventory.
//!
//! A sans-IO core for the management daemon (issue 17): no sockets, no
//! tokio, no clock reads. The daemons publish [`Envelope`]s (JSON lines,
//! schema version 1, [`event`]); the management daemon applies them in
//! order to an [`Inventory`] and asks it questions at a time it passes in
//! (`now`, Unix ms): [`Inventory::devices`] (filters, cursor pagination in
//! MAC order), [`Inventory::site`] (counts by [`Verdict`]),
//! [`Inventory::device`]. The model is described in docs/inventory.md.
//!
//! ```
//! use pbxnet_inventory::{Daemon, DhcpEvent, DhcpMessage, Envelope, Event, Inventory, InventoryConfig, Mac};
//!
//! let mac: Mac = "00:e0:b1:70:00:01".parse().unwrap();
//! let line = r#"{"v":1,"daemon":"dhcpd","at":1000,"event":{"type":"dhcp","message":"discover","mac":"00:e0:b1:70:00:01"}}"#;
//! let mut inv = Inventory::new(InventoryConfig::default());
//! inv.apply(&Envelope::from_json_line(line).unwrap());
//! assert_eq!(inv.site(2000).by_verdict[&pbxnet_inventory::Verdict::Booting], 1);
//! assert!(inv.device(mac).is_some());
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod chain;
mod dhcp;
pub mod event;
mod inventory;
mod mac;
mod names;
mod query;
mod record;
mod vendor;
mod verdict;

pub use chain::{ChainNames, Step, StepSet};
pub use event::{
    AuthResult, CounterChange, Daemon, DhcpEvent, DhcpMessage, Envelope, Event, LicenseEvent,
    LostEvent, NtpRequestEvent, NtpSourceEvent, Outcome, Protocol, SchemaError, SourceState,
    TransferEvent, UnixMillis, SCHEMA_VERSION,
};
pub use inventory::{Inventory, Unattributed};
pub use mac::{Mac, MacParseError};
pub use query::{DeviceFilter, DevicePage, DeviceSummary, QueryError, SiteSummary, MAX_PAGE};
pub use record::{Boot, Device, FileFetch, Lease, LeaseState, NtpSeen};
pub use vendor::{
    from_image_name, from_user_agent, kind_of, model_from_dhcp, vendor_of, DeviceKind,
};
pub use verdict::{boot_verdict, device_verdict, missing_steps, InventoryConfig, Verdict};
