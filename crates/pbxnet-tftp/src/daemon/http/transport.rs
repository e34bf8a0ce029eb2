//! What a connection runs over: plain TCP (file bodies with sendfile(2),
//! driven by the socket's writable readiness: no copy through user space,
//! as nginx `sendfile on`) or TLS (file bodies read in 64 KiB chunks and
//! encrypted).

use std::fs::File;
use std::future::Future;
use std::io;
use std::os::fd::AsFd;

use tokio::io::{AsyncRead, AsyncWrite, Interest};
use tokio::net::TcpStream;

/// A connection's byte stream and what the log line says about it.
pub(crate) trait Transport: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    /// `http` or `https`.
    fn protocol(&self) -> &'static str;
    /// `1.2` / `1.3` over TLS.
    fn tls_version(&self) -> Option<&'static str>;
    /// Send `len` bytes of `file` from `offset`; the bytes sent so far
    /// are added to `sent` as they go (a failed send still counts them).
    fn send_file<'a>(
        &'a mut self,
        file: &'a File,
        offset: u64,
        len: u64,
        sent: &'a mut u64,
    ) -> impl Future<Output = io::Result<()>> + Send + 'a;
}

impl Transport for TcpStream {
    fn protocol(&self) -> &'static str {
        "http"
    }

    fn tls_version(&self) -> Option<&'static str> {
        None
    }

    async fn send_file(
        &mut self,
        file: &File,
        offset: u64,
        len: u64,
        sent: &mut u64,
    ) -> io::Result<()> {
        let mut off = offset;
        let end = offset + len;
        while off < end {
            self.writable().await?;
            let want = (end - off).min(1 << 30) as usize;
            let r = self.try_io(Interest::WRITABLE, || {
                rustix::fs::sendfile(self.as_fd(), file, Some(&mut off), want)
                    .map_err(io::Error::from)
            });
            match r {
                // The file shrank under us: the announced length cannot be met.
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "file shorter than announced",
                    ))
                }
                Ok(n) => *sent += n as u64,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}
