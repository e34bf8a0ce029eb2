//! What a connection runs over: plain TCP (file bodies with sendfile(2),
//! driven by the socket's writable readiness: no copy through user space,
//! as nginx `sendfile on`) or TLS (file bodies read in 64 KiB chunks and
//! encrypted).

use std::fs::File;
use std::future::Future;
use std::io;
use std::os::fd::AsFd;

use rustls::ProtocolVersion;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, Interest};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

/// TLS chunk size for file bodies.
const CHUNK: usize = 64 * 1024;

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

impl Transport for TlsStream<TcpStream> {
    fn protocol(&self) -> &'static str {
        "https"
    }

    fn tls_version(&self) -> Option<&'static str> {
        match self.get_ref().1.protocol_version() {
            Some(ProtocolVersion::TLSv1_3) => Some("1.3"),
            Some(ProtocolVersion::TLSv1_2) => Some("1.2"),
            _ => Some("other"),
        }
    }

    async fn send_file(
        &mut self,
        file: &File,
        offset: u64,
        len: u64,
        sent: &mut u64,
    ) -> io::Result<()> {
        copy_file(self, file, offset, len, sent).await
    }
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

/// Read-and-write body sending, for streams that cannot take sendfile.
async fn copy_file<S: AsyncWrite + Unpin>(
    stream: &mut S,
    file: &File,
    offset: u64,
    len: u64,
    sent: &mut u64,
) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; CHUNK.min(len as usize)];
    let mut off = offset;
    let end = offset + len;
    while off < end {
        let want = ((end - off) as usize).min(buf.len());
        let n = file.read_at(&mut buf[..want], off)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file shorter than announced",
            ));
        }
        stream.write_all(&buf[..n]).await?;
        off += n as u64;
        *sent += n as u64;
    }
    Ok(())
}
