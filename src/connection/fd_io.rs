//! Non-blocking reads and writes on a raw descriptor registered with tokio,
//! shared by the streams that are not sockets tokio wraps for us: stdin/
//! stdout in inetd mode and the pseudo-terminal of `exec` with `pty = yes`.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::task::{Context, Poll};

use tokio::io::unix::AsyncFd;
use tokio::io::ReadBuf;

/// `fd` in non-blocking mode, registered with tokio's reactor.
pub fn register(fd: OwnedFd) -> io::Result<AsyncFd<OwnedFd>> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let flags = fcntl(fd.as_raw_fd(), FcntlArg::F_GETFL).map_err(io::Error::from)?;
    let flags = OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK;
    fcntl(fd.as_raw_fd(), FcntlArg::F_SETFL(flags)).map_err(io::Error::from)?;
    // SAFETY: `fd` is moved into the AsyncFd, which owns it for its whole
    // life, so the descriptor stays open and unchanged while registered.
    Ok(unsafe { AsyncFd::register(fd) }?)
}

/// Read once into `buf`; `Ok(n)` bytes were added (0 = EOF).
pub fn poll_read(
    fd: &AsyncFd<OwnedFd>,
    cx: &mut Context<'_>,
    buf: &mut ReadBuf<'_>,
) -> Poll<io::Result<usize>> {
    loop {
        let mut guard = std::task::ready!(fd.poll_read_ready(cx))?;
        let unfilled = buf.initialize_unfilled();
        match guard.try_io(|fd| {
            nix::unistd::read(fd.get_ref().as_raw_fd(), unfilled).map_err(io::Error::from)
        }) {
            Ok(Ok(n)) => {
                buf.advance(n);
                return Poll::Ready(Ok(n));
            }
            Ok(Err(e)) => return Poll::Ready(Err(e)),
            Err(_would_block) => continue,
        }
    }
}

/// Write once from `data`.
pub fn poll_write(
    fd: &AsyncFd<OwnedFd>,
    cx: &mut Context<'_>,
    data: &[u8],
) -> Poll<io::Result<usize>> {
    loop {
        let mut guard = std::task::ready!(fd.poll_write_ready(cx))?;
        match guard.try_io(|fd| nix::unistd::write(fd.get_ref(), data).map_err(io::Error::from)) {
            Ok(result) => return Poll::Ready(result),
            Err(_would_block) => continue,
        }
    }
}
