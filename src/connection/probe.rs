//! `logProbes = no` (rstunnel extension): load balancers and orchestrators
//! check a port by connecting and closing, thousands of times a day; under
//! stunnel each check logs `accepted connection`, `SSL_accept: …unexpected
//! eof while reading` and `Connection reset/closed`. With the option, the
//! connection first waits for the client's first byte (peeked, so the
//! handshake still reads it); a client that closes or resets before
//! sending one is a probe: one debug line and the `probes` counter, nothing
//! else. A client still silent after `TIMEOUTbusy` is served as usual.
//! Only server-mode services whose client speaks first take the option
//! (checked in `config::resolve`).

use std::io;

use tokio::io::Interest;

use super::stream::Kind;
use crate::config::model::Service;

/// Whether the client on `local` closed before sending a byte (logged
/// here, at debug level).
pub(super) async fn is_probe(service: &Service, local: &Kind) -> bool {
    let wait = first_byte(local);
    let closed = match service.options.timeouts.busy {
        Some(limit) => tokio::time::timeout(limit, wait).await.unwrap_or(false),
        None => wait.await,
    };
    if closed {
        let from = match local {
            Kind::Tcp(s) => s
                .peer_addr()
                .map(|a| super::address::fmt_inet(&a))
                .unwrap_or_default(),
            _ => "a local socket".to_string(),
        };
        crate::slog!(
            crate::log::DEBUG,
            "Service [{}]: probe from {from} closed before sending any byte",
            service.options.name
        );
    }
    closed
}

/// `true` when the peer closed (EOF or an error such as a reset) before
/// any byte arrived, `false` once one is waiting to be read.
async fn first_byte(local: &Kind) -> bool {
    loop {
        let peeked = match local {
            Kind::Tcp(s) => match s.readable().await {
                Ok(()) => s.try_io(Interest::READABLE, || peek(s)),
                Err(e) => Err(e),
            },
            Kind::Unix(s) => match s.readable().await {
                Ok(()) => s.try_io(Interest::READABLE, || peek(s)),
                Err(e) => Err(e),
            },
            // Not a socket (inetd's stdin, a pty): nothing to peek at.
            Kind::Stdio(_) | Kind::Pty(_) => return false,
        };
        match peeked {
            Ok(n) => return n == 0,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return true,
        }
    }
}

/// One byte with MSG_PEEK: the handshake reads it again.
fn peek(s: &impl std::os::fd::AsRawFd) -> io::Result<usize> {
    let mut byte = [0u8; 1];
    // SAFETY: a valid socket descriptor and a 1-byte buffer we own.
    let n = unsafe {
        libc::recv(
            s.as_raw_fd(),
            byte.as_mut_ptr().cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}
