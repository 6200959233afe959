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
        let flags = nix::fcntl::fcntl(pair.master.as_raw_fd(), nix::fcntl::FcntlArg::F_GETFL)
            .map_err(io::Error::from)?;
        let flags = nix::fcntl::OFlag::from_bits_truncate(flags) | nix::fcntl::OFlag::O_NONBLOCK;
        nix::fcntl::fcntl(
            pair.master.as_raw_fd(),
            nix::fcntl::FcntlArg::F_SETFL(flags),
        )
        .map_err(io::Error::from)?;
        // SAFETY: the master is a fresh descriptor this AsyncFd owns for its
        // whole life, so it stays open and unchanged while registered.
        let master = unsafe { AsyncFd::register(pair.master) }?;
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
        loop {
            let mut guard = std::task::ready!(self.master.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            match guard.try_io(|fd| {
                nix::unistd::read(fd.get_ref().as_raw_fd(), unfilled).map_err(io::Error::from)
            }) {
                Ok(Ok(n)) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                // Linux reports "every slave descriptor closed" (the
                // program exited) as EIO on the master: that is the EOF.
                Ok(Err(e)) if e.raw_os_error() == Some(libc::EIO) => return Poll::Ready(Ok(())),
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => continue,
            }
        }
    }
}

impl AsyncWrite for Pty {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            let mut guard = std::task::ready!(self.master.poll_write_ready(cx))?;
            match guard.try_io(|fd| nix::unistd::write(fd.get_ref(), data).map_err(io::Error::from))
            {
                // The program is gone: the peer of a closed pipe.
                Ok(Err(e)) if e.raw_os_error() == Some(libc::EIO) => {
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
    /// A terminal has no half-close: the program sees the end only when
    /// the connection closes the master (stunnel's `shutdown()` on a pty
    /// fails with ENOTSOCK and changes nothing either).
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
