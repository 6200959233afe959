//! The plain byte streams a connection moves data between: TCP, Unix or the
//! process's stdin/stdout (inetd mode) or an `exec` program's pty, behind one `AsyncRead + AsyncWrite`.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};

/// One end of a connection before TLS is layered on it.
///
/// A stream closes with an RST unless the connection marked it clean:
/// stunnel resets the sockets on every error exit (`reset = yes`,
/// stunnel-reference §5.7.4), and "reset unless proven clean" also covers
/// the streams a failed TLS handshake drops on its own.
pub struct Stream {
    kind: Kind,
    /// Set SO_LINGER {on, 0} before closing (see the type doc).
    reset_on_drop: bool,
}

pub enum Kind {
    Tcp(TcpStream),
    Unix(UnixStream),
    /// inetd mode: read stdin, write stdout.
    Stdio(crate::connection::stdio::Stdio),
    /// `exec` with `pty = yes`: the master side of the program's terminal.
    Pty(crate::connection::local::pty::Pty),
}

impl Drop for Stream {
    fn drop(&mut self) {
        if self.reset_on_drop {
            self.arm_reset();
        }
    }
}

impl Stream {
    /// `reset`: the service's `reset` option.
    pub fn new(kind: Kind, reset: bool) -> Stream {
        Stream {
            kind,
            reset_on_drop: reset,
        }
    }

    /// The connection ended normally: close with FIN.
    pub fn close_cleanly(&mut self) {
        self.reset_on_drop = false;
    }

    pub fn kind(&self) -> &Kind {
        &self.kind
    }

    /// The peer as stunnel prints it; `None` for Unix sockets and pipes.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        match &self.kind {
            Kind::Tcp(s) => s.peer_addr().ok(),
            // inetd: stdin may be the accepted TCP socket (stunnel's
            // `getpeername(local_rfd)`).
            Kind::Stdio(_) => inet_name(nix::sys::socket::getpeername(0)),
            _ => None,
        }
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        match &self.kind {
            Kind::Tcp(s) => s.local_addr().ok(),
            Kind::Stdio(_) => inet_name(nix::sys::socket::getsockname(0)),
            _ => None,
        }
    }

    /// `reset = yes`: make the close an RST (SO_LINGER {on, 0}).
    fn arm_reset(&self) {
        // Linger {on, 0} never blocks: close() discards queued data and
        // sends RST at once, which is exactly the point here.
        if let Kind::Tcp(s) = &self.kind {
            let off = libc::linger {
                l_onoff: 1,
                l_linger: 0,
            };
            let _ = nix::sys::socket::setsockopt(s, nix::sys::socket::sockopt::Linger, &off);
        }
    }

    pub fn raw_fd(&self) -> Option<std::os::fd::RawFd> {
        use std::os::fd::AsRawFd;
        match &self.kind {
            Kind::Tcp(s) => Some(s.as_raw_fd()),
            Kind::Unix(s) => Some(s.as_raw_fd()),
            Kind::Pty(p) => Some(p.raw_fd()),
            Kind::Stdio(_) => None,
        }
    }
}

/// An IPv4/IPv6 address out of `getpeername`/`getsockname`.
fn inet_name(name: nix::Result<nix::sys::socket::SockaddrStorage>) -> Option<SocketAddr> {
    let name = name.ok()?;
    if let Some(v4) = name.as_sockaddr_in() {
        return Some(SocketAddr::from(std::net::SocketAddrV4::from(*v4)));
    }
    name.as_sockaddr_in6()
        .map(|v6| SocketAddr::from(std::net::SocketAddrV6::from(*v6)))
}

macro_rules! delegate {
    ($self:ident, $s:ident => $e:expr) => {
        match &mut $self.get_mut().kind {
            Kind::Tcp($s) => $e,
            Kind::Unix($s) => $e,
            Kind::Stdio($s) => $e,
            Kind::Pty($s) => $e,
        }
    };
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        delegate!(self, s => Pin::new(s).poll_read(cx, buf))
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        delegate!(self, s => Pin::new(s).poll_write(cx, buf))
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, s => Pin::new(s).poll_flush(cx))
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, s => Pin::new(s).poll_shutdown(cx))
    }
}
