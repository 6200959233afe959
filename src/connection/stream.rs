//! The plain byte streams a connection moves data between: TCP, Unix or the
//! process's stdin/stdout (inetd mode) or an `exec` program's pty, behind one `AsyncRead + AsyncWrite`.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};

use super::fd_io::FdStream;
use super::stdio;

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
    /// The TLS side of the connection: once a fatal alert went either way
    /// (the flag is set by the TLS layer's observer), close with FIN so the
    /// alert reaches the peer, even when the stream is dropped inside a
    /// failed handshake (stunnel 5.68+, stunnel-reference §5.7.4).
    fin_after_alert: Option<Arc<AtomicBool>>,
    /// The client and the address it reached, as a load balancer's PROXY
    /// header carried them (`proxyIn`): what every use of the peer's
    /// address sees instead of the balancer's.
    carried: Option<(SocketAddr, SocketAddr)>,
}

pub enum Kind {
    Tcp(TcpStream),
    Unix(UnixStream),
    /// inetd mode: read stdin, write stdout.
    Stdio(FdStream),
    /// `exec` with `pty = yes`: the master side of the program's terminal.
    Pty(FdStream),
}

impl Drop for Stream {
    fn drop(&mut self) {
        let alerted = self
            .fin_after_alert
            .as_ref()
            .is_some_and(|a| a.load(Ordering::Relaxed));
        if self.reset_on_drop && !alerted {
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
            fin_after_alert: None,
            carried: None,
        }
    }

    /// This stream carries TLS: `alert` tells whether a fatal alert went
    /// either way (see the field).
    pub fn fin_after_alert(&mut self, alert: Arc<AtomicBool>) {
        self.fin_after_alert = Some(alert);
    }

    /// The connection ended normally: close with FIN.
    pub fn close_cleanly(&mut self) {
        self.reset_on_drop = false;
    }

    pub fn kind(&self) -> &Kind {
        &self.kind
    }

    /// A PROXY header named the real client and the address it reached.
    pub fn set_carried(&mut self, client: SocketAddr, reached: SocketAddr) {
        self.carried = Some((client, reached));
    }

    /// Whether the peer address came from a PROXY header.
    pub fn is_carried(&self) -> bool {
        self.carried.is_some()
    }

    /// The inet peer (also of an inetd socket on stdin); `None` for
    /// Unix-domain peers and pipes.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        if let Some((client, _)) = self.carried {
            return Some(client);
        }
        match &self.kind {
            Kind::Tcp(s) => s.peer_addr().ok(),
            Kind::Stdio(s) => stdio::peer(s).ok(),
            Kind::Unix(_) | Kind::Pty(_) => None,
        }
    }

    /// The peer as `accepted connection from …` names it: `ADDR:PORT`,
    /// a socket path or `unnamed socket` for Unix-domain peers (also a
    /// socketpair on stdin, as socat's EXEC gives), `None` when the local
    /// side is not a socket at all (pipes).
    pub fn peer_text(&self) -> Option<String> {
        if let Some((client, _)) = self.carried {
            return Some(super::address::fmt_inet(&client));
        }
        match &self.kind {
            Kind::Tcp(s) => s.peer_addr().ok().map(|a| super::address::fmt_inet(&a)),
            Kind::Unix(s) => Some(
                s.peer_addr()
                    .ok()
                    .and_then(|a| a.as_pathname().map(|p| p.display().to_string()))
                    .unwrap_or_else(|| "unnamed socket".into()),
            ),
            Kind::Stdio(s) => match stdio::peer(s) {
                Ok(a) => Some(super::address::fmt_inet(&a)),
                Err(text) => text,
            },
            // exec+connect: the program is the local side, not a peer.
            Kind::Pty(_) => None,
        }
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        if let Some((_, reached)) = self.carried {
            return Some(reached);
        }
        match &self.kind {
            Kind::Tcp(s) => s.local_addr().ok(),
            Kind::Stdio(s) => stdio::local(s),
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
            Kind::Pty(p) => Some(p.input_fd()),
            Kind::Stdio(_) => None,
        }
    }
}

/// `$e` on the stream `$s` this one is, whatever its kind.
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

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    /// What the peer sees when a `reset = yes` stream is dropped with the
    /// alert flag `alerted`: EOF (FIN) or ECONNRESET (RST).
    async fn peer_sees(alerted: bool) -> std::io::Result<usize> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (mut peer, _) = listener.accept().await.unwrap();
        let mut stream = Stream::new(Kind::Tcp(client), true);
        stream.fin_after_alert(Arc::new(AtomicBool::new(alerted)));
        drop(stream);
        peer.read(&mut [0u8; 8]).await
    }

    #[tokio::test]
    async fn error_exits_reset_unless_a_fatal_alert_went_out() {
        let reset = peer_sees(false).await.expect_err("RST expected");
        assert_eq!(reset.kind(), std::io::ErrorKind::ConnectionReset);
        assert_eq!(peer_sees(true).await.expect("FIN expected"), 0);
    }
}
