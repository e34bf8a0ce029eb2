//! The calibration responders, the readiness helper and the probe.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

pub(crate) fn spawn_ready(cmd: &[String], timeout_secs: u64) {
    let dir = std::env::temp_dir().join(format!("ntp-loadgen-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("notify.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&path).expect("bind notify socket");
    sock.set_read_timeout(Some(Duration::from_millis(200))).ok();
    let mut child = std::process::Command::new(&cmd[0])
        .args(&cmd[1..])
        .env("NOTIFY_SOCKET", &path)
        .stdin(std::process::Stdio::null())
        // our stdout carries only the pid (for `$(...)` in scripts)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(timeout_secs);
    let mut buf = [0u8; 1024];
    loop {
        if let Ok(n) = sock.recv(&mut buf) {
            if String::from_utf8_lossy(&buf[..n])
                .lines()
                .any(|l| l == "READY=1")
            {
                break;
            }
        }
        if let Ok(Some(st)) = child.try_wait() {
            eprintln!("{} exited before READY=1: {st}", cmd[0]);
            std::process::exit(1);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            eprintln!("{} sent no READY=1 within {timeout_secs}s", cmd[0]);
            std::process::exit(1);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!("{}", child.id());
}

pub(crate) fn probe(target: SocketAddr, timeout_secs: u64) {
    let s = UdpSocket::bind(if target.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    })
    .expect("bind");
    s.set_read_timeout(Some(Duration::from_millis(100))).ok();
    let deadline = Instant::now() + Duration::from_secs(timeout_secs);
    let mut req = [0u8; 48];
    req[0] = 0x23;
    let mut buf = [0u8; 256];
    while Instant::now() < deadline {
        let _ = s.send_to(&req, target);
        if s.recv(&mut buf).is_ok() {
            return;
        }
    }
    eprintln!("no NTP reply from {target} within {timeout_secs}s");
    std::process::exit(1);
}

pub(crate) fn respond(bind: SocketAddr, max_secs: u64) {
    let s = UdpSocket::bind(bind).expect("bind");
    s.set_read_timeout(Some(Duration::from_millis(500))).ok();
    let start = Instant::now();
    let mut buf = [0u8; 1024];
    // READY for the harness
    println!("READY");
    while start.elapsed() < Duration::from_secs(max_secs) {
        let Ok((n, from)) = s.recv_from(&mut buf) else {
            continue;
        };
        if n < 48 {
            continue;
        }
        let mut r = [0u8; 48];
        r[0] = (buf[0] & 0x38) | 4;
        r[1] = 1;
        r[24..32].copy_from_slice(&buf[40..48]);
        let _ = s.send_to(&r, from);
    }
}

/// The batched calibration responder: the same `recvmmsg`/`sendmmsg` path
/// (and SO_TIMESTAMPNS) as pbxnet-ntpd's workers, with no NTP work at all.
/// It blocks in `recvmmsg` and runs until killed.
pub(crate) fn respond_batched(bind: SocketAddr, batch: usize, hold_us: u64, rcvbuf: usize) {
    use pbxnet_ntp::daemon::mmsg::{RecvBatch, SendBatch};
    use std::os::fd::AsRawFd;
    let s = UdpSocket::bind(bind).expect("bind");
    nix::sys::socket::setsockopt(&s, nix::sys::socket::sockopt::ReceiveTimestampns, &true)
        .expect("SO_TIMESTAMPNS");
    if rcvbuf > 0 {
        nix::sys::socket::setsockopt(&s, nix::sys::socket::sockopt::RcvBufForce, &rcvbuf)
            .expect("SO_RCVBUFFORCE");
    }
    let fd = s.as_raw_fd();
    let mut rx = RecvBatch::new(batch);
    let mut tx = SendBatch::new(batch);
    if hold_us > 0 {
        let _ = nix::sys::prctl::set_timerslack(1000);
    }
    println!("READY");
    loop {
        if rx.recv(fd, libc::MSG_WAITFORONE).is_err() {
            continue;
        }
        for i in 0..rx.len() {
            let (m, req) = rx.get(i);
            let Some(from) = m.from else { continue };
            if req.len() < 48 {
                continue;
            }
            let Some(r) = tx.next_buf(from) else { break };
            r[..48].fill(0);
            r[0] = (req[0] & 0x38) | 4;
            r[1] = 1;
            r[24..32].copy_from_slice(&req[40..48]);
            tx.commit(48);
        }
        tx.flush(fd, 0);
        if hold_us > 0 && (2..batch).contains(&rx.len()) {
            std::thread::sleep(Duration::from_micros(hold_us));
        }
    }
}
