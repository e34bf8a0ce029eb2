//! Request admission: what the listening socket does with a datagram.
//!
//! [`decide`] turns one datagram into a [`Decision`]: ignore it (not a
//! request, counted), refuse it with a TFTP ERROR, or serve it from a list
//! of candidate paths (the shell opens the first that exists beneath the
//! root) with generated content as the fallback. [`Admission`] enforces the
//! global and per-client concurrency caps. Request → reply style: no state
//! besides the counters.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::generated::{self, Provisioning};
use crate::path::{self, PathError, RequestPath};
use crate::wire::{self, DecodeError, ErrorCode, Mode, Packet};

/// Request policy from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Longest accepted file name in bytes.
    pub max_name_len: usize,
    /// Serve `Secured_Config/`.
    pub serve_secured: bool,
    /// Folders searched after the root, in order.
    pub search_folders: Vec<String>,
    /// Accept WRQ (into the upload folder only).
    pub uploads: Option<UploadPolicy>,
}

/// Where and how uploads are accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadPolicy {
    /// Root-relative folder (single component).
    pub folder: String,
    /// Largest upload in bytes.
    pub max_size: u64,
    /// Replace an existing file.
    pub overwrite: bool,
    /// Most bytes the upload folder may hold (finished files plus the room
    /// reserved by uploads in progress).
    pub folder_quota: u64,
}

/// Why a request was refused (bounded label set for counters and logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RefuseReason {
    /// Path policy.
    BadPath,
    /// `Secured_Config` without permission.
    Secured,
    /// WRQ while uploads are off, or outside the upload folder.
    WriteRefused,
    /// `mail` mode.
    MailMode,
    /// Global concurrency cap.
    ServerBusy,
    /// Per-client concurrency cap.
    ClientBusy,
    /// No such file.
    NotFound,
    /// Over the configured quota.
    OverQuota,
    /// A request that did not decode.
    Malformed,
    /// The server's configuration or served tree is wrong for this file (a
    /// device template or macro error, a macro file too large to expand):
    /// ERROR 0 "server configuration error".
    ConfigError,
}

impl RefuseReason {
    /// Label for logs and counters.
    pub fn label(self) -> &'static str {
        match self {
            RefuseReason::BadPath => "bad-path",
            RefuseReason::Secured => "secured",
            RefuseReason::WriteRefused => "write-refused",
            RefuseReason::MailMode => "mail-mode",
            RefuseReason::ServerBusy => "server-busy",
            RefuseReason::ClientBusy => "client-busy",
            RefuseReason::NotFound => "not-found",
            RefuseReason::OverQuota => "over-quota",
            RefuseReason::Malformed => "malformed-request",
            RefuseReason::ConfigError => "config-error",
        }
    }
}

/// Outcome of a datagram on the listening socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Not a request: drop it (count it).
    Ignore(IgnoreReason),
    /// Send this ERROR and forget the request.
    Refuse {
        /// Why.
        reason: RefuseReason,
        /// TFTP code.
        code: ErrorCode,
        /// Message sent to the client.
        message: String,
        /// Requested name (lossy, for the log line).
        name: String,
    },
    /// Serve a read.
    Read(ReadPlan),
    /// Accept an upload.
    Write(WritePlan),
}

/// Why a datagram on the listening port is dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IgnoreReason {
    /// Did not decode.
    Malformed(DecodeError),
    /// Decoded, but not RRQ/WRQ (stray DATA/ACK/ERROR to port 69).
    NotARequest,
}

/// How to serve a read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadPlan {
    /// Normalised request path.
    pub path: RequestPath,
    /// Root-relative paths to try in order.
    pub candidates: Vec<String>,
    /// Built-in content if no file is found.
    pub generated: Option<Vec<u8>>,
    /// Mode.
    pub mode: Mode,
    /// Options as requested.
    pub options: Vec<(String, String)>,
}

/// How to receive an upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WritePlan {
    /// Root-relative destination path (`<upload folder>/<name>`).
    pub destination: String,
    /// Mode.
    pub mode: Mode,
    /// Options as requested.
    pub options: Vec<(String, String)>,
    /// Size cap.
    pub max_size: u64,
    /// Replace an existing file.
    pub overwrite: bool,
}

fn lossy(b: &[u8]) -> String {
    b.iter()
        .take(128)
        .map(|&c| {
            if (0x20..0x7f).contains(&c) {
                c as char
            } else {
                '?'
            }
        })
        .collect()
}

fn refuse_path(e: PathError, name: String) -> Decision {
    let (reason, code) = match e {
        PathError::Secured => (RefuseReason::Secured, ErrorCode::AccessViolation),
        _ => (RefuseReason::BadPath, ErrorCode::AccessViolation),
    };
    Decision::Refuse {
        reason,
        code,
        message: e.to_string(),
        name,
    }
}

/// Decide what to do with a datagram received on the listening socket.
pub fn decide(datagram: &[u8], policy: &Policy, prov: &Provisioning) -> Decision {
    let packet = match wire::decode(datagram) {
        Ok(p) => p,
        // A broken RRQ/WRQ gets an answer (the client is waiting for one);
        // anything else is dropped and counted.
        Err(e) if matches!(datagram.get(..2), Some([0, 1]) | Some([0, 2])) => {
            return Decision::Refuse {
                reason: RefuseReason::Malformed,
                code: ErrorCode::IllegalOperation,
                message: format!("malformed request: {e}"),
                name: lossy(datagram.get(2..).unwrap_or_default()),
            }
        }
        Err(e) => return Decision::Ignore(IgnoreReason::Malformed(e)),
    };
    let (req, write) = match packet {
        Packet::Rrq(r) => (r, false),
        Packet::Wrq(r) => (r, true),
        _ => return Decision::Ignore(IgnoreReason::NotARequest),
    };
    let name = lossy(&req.filename);
    if req.mode == Mode::Mail {
        return Decision::Refuse {
            reason: RefuseReason::MailMode,
            code: ErrorCode::IllegalOperation,
            message: "mail mode is not supported".into(),
            name,
        };
    }
    let path = match path::parse_request_path(
        &req.filename,
        policy.max_name_len,
        policy.serve_secured && !write,
    ) {
        Ok(p) => p,
        Err(e) => return refuse_path(e, name),
    };
    if write {
        let Some(up) = &policy.uploads else {
            return Decision::Refuse {
                reason: RefuseReason::WriteRefused,
                code: ErrorCode::AccessViolation,
                message: "uploads are disabled".into(),
                name,
            };
        };
        // Uploads land in the upload folder, by file name only.
        let c = path.components();
        let inside = c.len() == 1 || (c.len() == 2 && c[0] == up.folder);
        if !inside {
            return Decision::Refuse {
                reason: RefuseReason::WriteRefused,
                code: ErrorCode::AccessViolation,
                message: format!("uploads go to {}/<file> only", up.folder),
                name,
            };
        }
        return Decision::Write(WritePlan {
            destination: format!("{}/{}", up.folder, path.file_name()),
            mode: req.mode,
            options: req.options,
            max_size: up.max_size,
            overwrite: up.overwrite,
        });
    }
    Decision::Read(read_plan(path, policy, prov, req.mode, req.options))
}

/// How to serve a read of `path`: the candidates in the tree and the
/// generated fallback. One plan for TFTP and HTTP (mode octet, no
/// options), so both serve the same bytes.
pub fn read_plan(
    path: RequestPath,
    policy: &Policy,
    prov: &Provisioning,
    mode: Mode,
    options: Vec<(String, String)>,
) -> ReadPlan {
    let candidates = path::candidates(&path, &policy.search_folders);
    let generated = generated::generated(&path, prov);
    ReadPlan {
        path,
        candidates,
        generated,
        mode,
        options,
    }
}

/// Concurrency caps: global and per client address.
#[derive(Debug, Clone, Default)]
pub struct Admission {
    max_total: usize,
    max_per_client: usize,
    total: usize,
    per_client: HashMap<IpAddr, usize>,
}

impl Admission {
    /// New, with both caps.
    pub fn new(max_total: usize, max_per_client: usize) -> Self {
        Admission {
            max_total,
            max_per_client,
            ..Default::default()
        }
    }

    /// Change the caps (reload); running transfers are kept.
    pub fn set_caps(&mut self, max_total: usize, max_per_client: usize) {
        self.max_total = max_total;
        self.max_per_client = max_per_client;
    }

    /// Take a slot for `client`, or say which cap is hit.
    pub fn try_admit(&mut self, client: IpAddr) -> Result<(), RefuseReason> {
        if self.total >= self.max_total {
            return Err(RefuseReason::ServerBusy);
        }
        let n = self.per_client.entry(client).or_insert(0);
        if *n >= self.max_per_client {
            return Err(RefuseReason::ClientBusy);
        }
        *n += 1;
        self.total += 1;
        Ok(())
    }

    /// Give the slot back.
    pub fn release(&mut self, client: IpAddr) {
        if let Some(n) = self.per_client.get_mut(&client) {
            *n -= 1;
            if *n == 0 {
                self.per_client.remove(&client);
            }
            self.total -= 1;
        }
    }

    /// Transfers running.
    pub fn active(&self) -> usize {
        self.total
    }
}

/// Picks transfer source ports from a configured range, in a random order
/// drawn from a seeded RNG (the shell seeds it from the OS; tests from a
/// constant), so that ports are not predictable from one transfer to the next.
#[derive(Debug)]
pub struct PortPicker {
    rng: rand::rngs::StdRng,
    first: u16,
    last: u16,
}

impl PortPicker {
    /// New picker over `first..=last`.
    pub fn new(seed: u64, first: u16, last: u16) -> Self {
        use rand::SeedableRng;
        PortPicker {
            rng: rand::rngs::StdRng::seed_from_u64(seed),
            first,
            last: last.max(first),
        }
    }

    /// Up to `attempts` ports to try, in order: a random start, then
    /// consecutive ports (wrapping) so a busy range is still searched fully.
    pub fn candidates(&mut self, attempts: usize) -> Vec<u16> {
        use rand::Rng;
        let size = u32::from(self.last - self.first) + 1;
        let start = self.rng.gen_range(0..size);
        (0..size.min(attempts as u32))
            .map(|i| self.first + ((start + i) % size) as u16)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generated::Stellar;
    use std::net::Ipv4Addr;

    fn policy() -> Policy {
        Policy {
            max_name_len: 255,
            serve_secured: false,
            search_folders: vec!["ThirdParty_Devices".into(), "Binary".into()],
            uploads: None,
        }
    }

    fn prov() -> Provisioning {
        Provisioning {
            server_ip: Ipv4Addr::new(192, 168, 92, 246),
            os_config_file: "os_conf".into(),
            os8_config_file: "os8_conf".into(),
            os_script_file: "os_script".into(),
            stellar: Stellar {
                employee_ssid: String::new(),
                employee_passphrase: String::new(),
                guest_ssid: String::new(),
                guest_passphrase: String::new(),
                voice_ssid: String::new(),
                voice_passphrase: String::new(),
                country_code: "FR".into(),
                virtual_ip: Ipv4Addr::new(192, 168, 92, 134),
                admin_password: String::new(),
            },
        }
    }

    fn rrq(name: &[u8]) -> Vec<u8> {
        let mut v = b"\x00\x01".to_vec();
        v.extend_from_slice(name);
        v.extend_from_slice(b"\x00octet\x00");
        v
    }

    #[test]
    fn refuses_traversal_and_secured_with_access_violation() {
        for name in [
            &b"../etc/passwd"[..],
            b"a/../../x",
            b"Secured_Config/hap_conf.ini",
            b"a\x01b",
        ] {
            match decide(&rrq(name), &policy(), &prov()) {
                Decision::Refuse { code, .. } => assert_eq!(code, ErrorCode::AccessViolation),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn refuses_writes_by_default_and_mail_mode() {
        let mut w = rrq(b"x");
        w[1] = 2;
        assert!(matches!(
            decide(&w, &policy(), &prov()),
            Decision::Refuse {
                reason: RefuseReason::WriteRefused,
                code: ErrorCode::AccessViolation,
                ..
            }
        ));
        assert!(matches!(
            decide(b"\x00\x01x\x00mail\x00", &policy(), &prov()),
            Decision::Refuse {
                reason: RefuseReason::MailMode,
                ..
            }
        ));
    }

    #[test]
    fn uploads_only_into_the_upload_folder() {
        let mut p = policy();
        p.uploads = Some(UploadPolicy {
            folder: "uploads".into(),
            max_size: 1024,
            overwrite: false,
            folder_quota: 4096,
        });
        let mut w = rrq(b"log.txt");
        w[1] = 2;
        match decide(&w, &p, &prov()) {
            Decision::Write(plan) => assert_eq!(plan.destination, "uploads/log.txt"),
            other => panic!("{other:?}"),
        }
        let mut w = rrq(b"Binary/x.img");
        w[1] = 2;
        assert!(matches!(decide(&w, &p, &prov()), Decision::Refuse { .. }));
    }

    #[test]
    fn read_plan_has_candidates_and_generated_fallback() {
        match decide(&rrq(b"/tftpboot/os_ins.alu"), &policy(), &prov()) {
            Decision::Read(plan) => {
                assert_eq!(plan.candidates[0], "os_ins.alu");
                assert!(plan.generated.is_some());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ignores_non_requests_and_garbage() {
        assert!(matches!(
            decide(b"\x00\x04\x00\x01", &policy(), &prov()),
            Decision::Ignore(IgnoreReason::NotARequest)
        ));
        assert!(matches!(
            decide(b"\xff", &policy(), &prov()),
            Decision::Ignore(IgnoreReason::Malformed(_))
        ));
        // An RRQ with a NUL inside the name: the rest becomes the mode.
        assert!(matches!(
            decide(b"\x00\x01a\x00b\x00octet\x00", &policy(), &prov()),
            Decision::Refuse {
                reason: RefuseReason::Malformed,
                code: ErrorCode::IllegalOperation,
                ..
            }
        ));
    }

    #[test]
    fn port_picker_stays_in_range_and_is_seeded() {
        let mut a = PortPicker::new(7, 40_000, 40_009);
        let mut b = PortPicker::new(7, 40_000, 40_009);
        let pa = a.candidates(100);
        assert_eq!(pa, b.candidates(100));
        assert_eq!(pa.len(), 10);
        let mut sorted = pa.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (40_000..=40_009).collect::<Vec<_>>());
        assert_eq!(PortPicker::new(1, 5000, 5000).candidates(3), vec![5000]);
    }

    #[test]
    fn admission_caps_global_and_per_client() {
        let mut a = Admission::new(3, 2);
        let c1: IpAddr = Ipv4Addr::new(192, 168, 92, 10).into();
        let c2: IpAddr = Ipv4Addr::new(192, 168, 92, 11).into();
        assert!(a.try_admit(c1).is_ok());
        assert!(a.try_admit(c1).is_ok());
        assert_eq!(a.try_admit(c1), Err(RefuseReason::ClientBusy));
        assert!(a.try_admit(c2).is_ok());
        assert_eq!(a.try_admit(c2), Err(RefuseReason::ServerBusy));
        a.release(c1);
        assert!(a.try_admit(c2).is_ok());
        assert_eq!(a.active(), 3);
        a.release(Ipv4Addr::new(1, 1, 1, 1).into());
        assert_eq!(a.active(), 3);
    }
}
