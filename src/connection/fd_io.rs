//! Non-blocking reads and writes on a raw descriptor registered with tokio,
//! shared by the streams that are not sockets tokio wraps for us: stdin/
//! stdout in inetd mode and the pseudo-terminal of `exec` with `pty = yes`.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::task::{Context, Poll};

use tokio::io::unix::AsyncFd;
use tokio::io::ReadBuf;

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
