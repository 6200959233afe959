//! `pty = yes`: the program's stdio is the slave side of a pseudo-terminal,
//! the connection moves bytes through the master (stunnel's
//! `pty_allocate`). The line discipline stays in its default (cooked) mode,
//! as stunnel leaves it: the terminal echoes input and turns `\n` into
//! `\r\n`, which is what programs expecting a terminal want.
//!
//! The master is an [`FdStream`]: a program that exited reads as EOF and
//! refuses writes as a closed pipe would, and a shutdown changes nothing (a
//! terminal has no half-close; the program sees the end only when the
//! connection closes the master).

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

use crate::connection::stream::FdStream;
use crate::log::DEBUG;

/// Open a pty pair: our master, non-blocking, and the slave for the child.
/// Both are close-on-exec (openpty does not set it) so other children never
/// inherit them; `dup2` in the child clears it on its stdio copies.
pub fn open() -> io::Result<(FdStream, OwnedFd)> {
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
    Ok((FdStream::pty_master(pair.master)?, pair.slave))
}
