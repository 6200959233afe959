//! stdin/stdout as one duplex stream, for inetd mode (stunnel-reference §5.1
//! item 8: `local_rfd = 0`, `local_wfd = 1`).

use std::io;
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Both descriptors in non-blocking mode, driven by tokio's reactor. Pipes,
/// sockets and ttys work; regular files cannot be polled and are refused.
pub struct Stdio {
    input: tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>,
    output: tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>,
}

impl Stdio {
    /// Take over descriptors 0 and 1 (duplicated, so 0/1 stay valid).
    pub fn new() -> io::Result<Stdio> {
        Ok(Stdio {
            input: watch(0)?,
            output: watch(1)?,
        })
    }
}

impl Stdio {
    /// The peer of stdin when it is a socket (inetd started us on an
    /// accepted connection): an inet address, or `Err(Some(text))` with
    /// stunnel's name for a Unix-domain peer; `Err(None)` for pipes/ttys.
    pub fn peer(&self) -> Result<std::net::SocketAddr, Option<String>> {
        use nix::sys::socket::{getpeername, SockaddrLike, SockaddrStorage};
        let fd = self.input.get_ref().as_raw_fd();
        let addr = getpeername::<SockaddrStorage>(fd).map_err(|_| None)?;
        if let Some(inet) = inet(&addr) {
            return Ok(inet);
        }
        match addr.as_unix_addr().and_then(|u| u.path()) {
            Some(path) => Err(Some(path.display().to_string())),
            None if addr.family().is_some() => Err(Some("unnamed socket".into())),
            None => Err(None),
        }
    }

    /// Our side of stdin when it is an inet socket (for the PROXY line).
    pub fn local(&self) -> Option<std::net::SocketAddr> {
        let fd = self.input.get_ref().as_raw_fd();
        inet(&nix::sys::socket::getsockname(fd).ok()?)
    }
}

fn inet(addr: &nix::sys::socket::SockaddrStorage) -> Option<std::net::SocketAddr> {
    if let Some(v4) = addr.as_sockaddr_in() {
        return Some(std::net::SocketAddrV4::from(*v4).into());
    }
    addr.as_sockaddr_in6()
        .map(|v6| std::net::SocketAddrV6::from(*v6).into())
}

fn watch(fd: i32) -> io::Result<tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>> {
    use std::os::fd::{AsFd, BorrowedFd};
    // SAFETY: 0 and 1 are open for the life of the process.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    super::fd_io::register(borrowed.as_fd().try_clone_to_owned()?)
}

impl AsyncRead for Stdio {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        super::fd_io::poll_read(&self.input, cx, buf).map_ok(|_| ())
    }
}

impl AsyncWrite for Stdio {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        super::fd_io::poll_write(&self.output, cx, data)
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    /// stunnel shuts the write side of stdout down; for a pipe that means
    /// closing it, which we do by shutting down a socket or doing nothing
    /// for pipes (the process exit closes them).
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        let fd = self.output.get_ref().as_raw_fd();
        // SAFETY: shutdown on a valid descriptor; ENOTSOCK for pipes is fine.
        unsafe { libc::shutdown(fd, libc::SHUT_WR) };
        Poll::Ready(Ok(()))
    }
}
