//! The plain byte streams a connection moves data between, behind one
//! `AsyncRead + AsyncWrite`: TCP, Unix, or an [`FdStream`] over descriptors
//! tokio has no type for, the process's stdin/stdout in inetd mode
//! ([`super::stdio`]) and the pseudo-terminal master of `exec` with
//! `pty = yes` ([`super::local::pty`]).

use std::io;
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use nix::sys::socket::{getpeername, getsockname, SockaddrLike, SockaddrStorage};
use tokio::io::unix::AsyncFd;
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
            Kind::Stdio(s) => s.peer().ok(),
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
            Kind::Stdio(s) => match s.peer() {
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
            Kind::Stdio(s) => s.local(),
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

    pub fn raw_fd(&self) -> Option<RawFd> {
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

/// A byte stream over descriptors tokio has no type for: inetd mode's
/// stdin/stdout, or a pty master. The descriptors are in non-blocking mode,
/// driven by tokio's reactor; pipes, sockets and ttys work, regular files
/// cannot be polled and are refused.
pub struct FdStream {
    input: AsyncFd<OwnedFd>,
    /// Where writes go: stdout; `None` for a pty master, which is read and
    /// written through `input`.
    output: Option<AsyncFd<OwnedFd>>,
}

impl FdStream {
    /// Read `input`, write `output` (inetd mode: stdin and stdout).
    pub fn duplex(input: OwnedFd, output: OwnedFd) -> io::Result<FdStream> {
        Ok(FdStream {
            input: register(input)?,
            output: Some(register(output)?),
        })
    }

    /// Read and write the master side of a pseudo-terminal.
    pub fn pty_master(master: OwnedFd) -> io::Result<FdStream> {
        Ok(FdStream {
            input: register(master)?,
            output: None,
        })
    }

    /// The descriptor reads come from (stdin, or the pty master).
    pub fn input_fd(&self) -> RawFd {
        self.input.get_ref().as_raw_fd()
    }

    /// The peer of the input when it is a socket (inetd started us on an
    /// accepted connection): an inet address, or `Err(Some(text))` with
    /// stunnel's name for a Unix-domain peer; `Err(None)` for pipes/ttys.
    pub fn peer(&self) -> Result<SocketAddr, Option<String>> {
        let addr = getpeername::<SockaddrStorage>(self.input_fd()).map_err(|_| None)?;
        if let Some(inet) = inet(&addr) {
            return Ok(inet);
        }
        match addr.as_unix_addr().and_then(|u| u.path()) {
            Some(path) => Err(Some(path.display().to_string())),
            None if addr.family().is_some() => Err(Some("unnamed socket".into())),
            None => Err(None),
        }
    }

    /// Our side of the input when it is an inet socket (for the PROXY line).
    pub fn local(&self) -> Option<SocketAddr> {
        inet(&getsockname(self.input_fd()).ok()?)
    }

    fn is_pty(&self) -> bool {
        self.output.is_none()
    }

    fn output(&self) -> &AsyncFd<OwnedFd> {
        self.output.as_ref().unwrap_or(&self.input)
    }
}

/// An IPv4/IPv6 address out of `getpeername`/`getsockname`.
fn inet(addr: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = addr.as_sockaddr_in() {
        return Some(SocketAddrV4::from(*v4).into());
    }
    addr.as_sockaddr_in6()
        .map(|v6| SocketAddrV6::from(*v6).into())
}

/// `fd` in non-blocking mode, registered with tokio's reactor.
fn register(fd: OwnedFd) -> io::Result<AsyncFd<OwnedFd>> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let flags = fcntl(fd.as_raw_fd(), FcntlArg::F_GETFL).map_err(io::Error::from)?;
    let flags = OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK;
    fcntl(fd.as_raw_fd(), FcntlArg::F_SETFL(flags)).map_err(io::Error::from)?;
    // SAFETY: `fd` is moved into the AsyncFd, which owns it for its whole
    // life, so the descriptor stays open and unchanged while registered.
    Ok(unsafe { AsyncFd::register(fd) }?)
}

/// Linux reports "every slave descriptor closed" (the program exited) as
/// EIO on a pty master.
fn is_pty_hangup(stream: &FdStream, e: &io::Error) -> bool {
    stream.is_pty() && e.raw_os_error() == Some(libc::EIO)
}

impl AsyncRead for FdStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            let mut guard = ready!(self.input.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            match guard.try_io(|fd| {
                nix::unistd::read(fd.get_ref().as_raw_fd(), unfilled).map_err(io::Error::from)
            }) {
                Ok(Ok(n)) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                // The program behind the pty is gone: that is the EOF.
                Ok(Err(e)) if is_pty_hangup(&self, &e) => return Poll::Ready(Ok(())),
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => continue,
            }
        }
    }
}

impl AsyncWrite for FdStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            let mut guard = ready!(self.output().poll_write_ready(cx))?;
            match guard.try_io(|fd| nix::unistd::write(fd.get_ref(), data).map_err(io::Error::from))
            {
                // The program behind the pty is gone: the peer of a
                // closed pipe.
                Ok(Err(e)) if is_pty_hangup(&self, &e) => {
                    return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()))
                }
                Ok(result) => return Poll::Ready(result),
                Err(_would_block) => continue,
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// stunnel shuts the write side down; that half-closes a socket on
    /// stdout. Pipes and terminals have no half-close (`ENOTSOCK`, ignored
    /// as stunnel does): the other side sees the end when the descriptor is
    /// closed, a pipe at process exit, a pty when the connection drops the
    /// master.
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        use nix::sys::socket::{shutdown, Shutdown};
        let _ = shutdown(self.output().get_ref().as_raw_fd(), Shutdown::Write);
        Poll::Ready(Ok(()))
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
