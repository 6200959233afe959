//! [`FdStream`]: a byte stream over descriptors tokio has no type for, the
//! process's stdin/stdout in inetd mode ([`super::stdio`]) and the
//! pseudo-terminal master of `exec` with `pty = yes` ([`super::local::pty`]).

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The descriptors in non-blocking mode, driven by tokio's reactor. Pipes,
/// sockets and ttys work; regular files cannot be polled and are refused.
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

    fn is_pty(&self) -> bool {
        self.output.is_none()
    }

    fn output(&self) -> &AsyncFd<OwnedFd> {
        self.output.as_ref().unwrap_or(&self.input)
    }
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
