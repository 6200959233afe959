//! `pty = yes`: the program's stdio is the slave side of a pseudo-terminal,
//! the connection moves bytes through the master (stunnel's
//! `pty_allocate`). The line discipline stays in its default (cooked) mode,
//! as stunnel leaves it: the terminal echoes input and turns `\n` into
//! `\r\n`, which is what programs expecting a terminal want.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::connection::fd_io;
use crate::log::DEBUG;

/// The master side, non-blocking, driven by tokio's reactor.
pub struct Pty {
    master: AsyncFd<OwnedFd>,
}

impl Pty {
    /// Open a pty pair: our master and the slave for the child. Both are
    /// close-on-exec (openpty does not set it) so other children never
    /// inherit them; `dup2` in the child clears it on its stdio copies.
    pub fn open() -> io::Result<(Pty, OwnedFd)> {
        let pair = nix::pty::openpty(None, None).map_err(io::Error::from)?;
        for fd in [&pair.master, &pair.slave] {
            nix::fcntl::fcntl(
                fd.as_raw_fd(),
                nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
            )
            .map_err(io::Error::from)?;
        }
        if let Ok(name) = nix::unistd::ttyname(&pair.slave) {
            crate::slog!(DEBUG, "TTY={} allocated", name.display());
        }
        let master = fd_io::register(pair.master)?;
        Ok((Pty { master }, pair.slave))
    }

    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        self.master.get_ref().as_raw_fd()
    }
}

impl AsyncRead for Pty {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match std::task::ready!(fd_io::poll_read(&self.master, cx, buf)) {
            // Linux reports "every slave descriptor closed" (the program
            // exited) as EIO on the master: that is the EOF.
            Err(e) if e.raw_os_error() == Some(libc::EIO) => Poll::Ready(Ok(())),
            other => Poll::Ready(other.map(|_| ())),
        }
    }
}

impl AsyncWrite for Pty {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        match std::task::ready!(fd_io::poll_write(&self.master, cx, data)) {
            // The program is gone: the peer of a closed pipe.
            Err(e) if e.raw_os_error() == Some(libc::EIO) => {
                Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()))
            }
            other => Poll::Ready(other),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    /// A terminal has no half-close: the program sees the end only when
    /// the connection closes the master (stunnel's `shutdown()` on a pty
    /// fails with ENOTSOCK and changes nothing either).
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
