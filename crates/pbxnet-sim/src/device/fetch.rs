//! Fetching a file over TFTP, HTTP or HTTPS, whichever the device was told
//! to use: one [`Source`] per server, holding the HTTP keep-alive
//! connection (and the device's kernel interface) between files.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddrV4, TcpStream};
use std::time::{Duration, Instant};

use crate::dhcp::{code, Lease};
use crate::http::{HttpConnection, HttpError, Request, Response};
use crate::kernel_tcp::{prefix_len, DeviceIface};
use crate::provision;
use crate::report::FileReport;
use crate::sntp;
use crate::tls::{self, TlsInfo, TlsStream};

use super::error::DeviceError;
use super::session::{Device, HeaderCheck};

/// The protocol a file is fetched with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FileProto {
    /// TFTP (blksize asked by the caller).
    Tftp,
    /// HTTP, port 80.
    Http,
    /// HTTPS, port 443.
    Https,
}

impl FileProto {
    fn scheme(self) -> &'static str {
        match self {
            FileProto::Tftp => "tftp",
            FileProto::Http => "http",
            FileProto::Https => "https",
        }
    }

    fn port(self) -> u16 {
        match self {
            FileProto::Tftp => 69,
            FileProto::Http => 80,
            FileProto::Https => 443,
        }
    }
}

/// Plain TCP or TLS over it.
enum Transport {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Read for Transport {
    fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Transport::Plain(s) => s.read(b),
            Transport::Tls(s) => s.read(b),
        }
    }
}

impl Write for Transport {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        match self {
            Transport::Plain(s) => s.write(b),
            Transport::Tls(s) => s.write(b),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Transport::Plain(s) => s.flush(),
            Transport::Tls(s) => s.flush(),
        }
    }
}

/// The HTTP side of a source: the device's interface and its connection.
struct HttpSide {
    iface: DeviceIface,
    conn: Option<(HttpConnection<Transport>, Option<TlsInfo>)>,
}

/// Where a device fetches its files from, and how.
pub(super) struct Source {
    /// The server.
    pub server: Ipv4Addr,
    /// The protocol.
    pub proto: FileProto,
    http: Option<HttpSide>,
}

impl Source {
    /// A source; the HTTP interface and connection are opened on the first
    /// fetch.
    pub(super) fn new(server: Ipv4Addr, proto: FileProto) -> Source {
        Source {
            server,
            proto,
            http: None,
        }
    }

    /// `https://192.168.92.246/<path>` (what the device asks for).
    pub(super) fn url(&self, path: &str) -> String {
        provision::file_url(self.proto.scheme(), &self.server.to_string(), path)
    }
}

impl Device<'_> {
    /// Fetches `path` from `src`: the whole file, or its beginning when
    /// `stop_after_header` says it is enough (the second value is then
    /// true). `blksize` is the TFTP block size asked for.
    pub(super) fn fetch(
        &mut self,
        src: &mut Source,
        path: &str,
        blksize: Option<u16>,
        max_size: usize,
        stop_after_header: Option<&HeaderCheck>,
    ) -> Result<(Vec<u8>, bool), DeviceError> {
        if src.proto == FileProto::Tftp {
            return self.tftp(src.server, path, blksize, max_size, stop_after_header);
        }
        let t = Instant::now();
        let (resp, tls) = self.http_get(src, path, max_size, stop_after_header)?;
        if resp.head.status != 200 {
            return Err(DeviceError::HttpStatus {
                url: src.url(path),
                status: resp.head.status,
            });
        }
        self.report.files.push(FileReport {
            path: path.to_string(),
            server: src.server.to_string(),
            bytes: resp.body.len() as u64,
            ms: sntp::millis(t.elapsed()),
            blksize: 0,
            note: if resp.aborted {
                "header only, connection closed".into()
            } else {
                String::new()
            },
            protocol: src.proto.scheme().into(),
            tls: tls.as_ref().map(|i| i.version.clone()),
            tls_fingerprint: tls.map(|i| i.fingerprint),
        });
        Ok((resp.body, resp.aborted))
    }

    /// One GET on the source's keep-alive connection (opened, or opened
    /// again, as needed); gives the response and the connection's TLS
    /// parameters.
    fn http_get(
        &mut self,
        src: &mut Source,
        path: &str,
        max_size: usize,
        stop_after_header: Option<&HeaderCheck>,
    ) -> Result<(Response, Option<TlsInfo>), DeviceError> {
        if src.http.is_none() {
            let prefix = self.lease_prefix.unwrap_or(24);
            let iface = DeviceIface::create(self.stack.iface(), &self.mac, self.ip, prefix)
                .map_err(DeviceError::Iface)?;
            src.http = Some(HttpSide { iface, conn: None });
        }
        let url = src.url(path);
        let http_err = |source| DeviceError::Http {
            url: url.clone(),
            source,
        };
        let user_agent = format!(
            "{}/{} ({})",
            self.spec.kind.label(),
            self.spec.firmware_version.as_deref().unwrap_or("1.0"),
            self.spec.model
        );
        let host = src.server.to_string();
        let req = Request {
            host: &host,
            path: path.trim_start_matches('/'),
            if_none_match: None,
            user_agent: &user_agent,
        };
        let timeout = self
            .deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(100));
        let side = src.http.as_mut().expect("opened above");
        // A kept-alive connection the server has since closed fails on the
        // first read: one new connection, as a client retries an idempotent GET.
        let mut attempts = 0;
        let (resp, tls) = loop {
            attempts += 1;
            let fresh = side.conn.as_ref().is_none_or(|(c, _)| !c.reusable());
            if fresh {
                side.conn =
                    Some(open(&side.iface, src.server, src.proto, timeout).map_err(http_err)?);
            }
            let (conn, tls) = side.conn.as_mut().expect("opened above");
            match conn.get(&req, max_size, stop_after_header) {
                Ok(r) => break (r, tls.clone()),
                Err(HttpError::Io(_) | HttpError::Closed(0)) if !fresh && attempts == 1 => {
                    side.conn = None;
                }
                Err(e) => {
                    side.conn = None;
                    return Err(http_err(e));
                }
            }
        };
        Ok((resp, tls))
    }
}

/// Opens a connection from the device's interface (TLS handshake included).
fn open(
    iface: &DeviceIface,
    server: Ipv4Addr,
    proto: FileProto,
    timeout: Duration,
) -> Result<(HttpConnection<Transport>, Option<TlsInfo>), HttpError> {
    let tcp = iface.connect(SocketAddrV4::new(server, proto.port()), timeout)?;
    tcp.set_read_timeout(Some(timeout))?;
    tcp.set_write_timeout(Some(timeout))?;
    Ok(match proto {
        FileProto::Https => {
            let (s, info) = tls::connect(tcp, IpAddr::V4(server))?;
            (HttpConnection::new(Transport::Tls(Box::new(s))), Some(info))
        }
        _ => (HttpConnection::new(Transport::Plain(tcp)), None),
    })
}

/// Prefix length of the lease's subnet mask (option 1), if any.
pub(super) fn lease_prefix(lease: &Lease) -> Option<u8> {
    let m = lease.options.get(code::SUBNET_MASK)?;
    let m: [u8; 4] = m.try_into().ok()?;
    Some(prefix_len(Ipv4Addr::from(m)))
}
