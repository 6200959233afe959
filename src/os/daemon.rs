//! Going to the background (stunnel-reference §5.1 step 7): fds 0/1/2 onto
//! /dev/null, then `daemon(0, 1)`: fork, the parent `_exit(0)`s, the child
//! calls `setsid()` and `chdir("/")`.
//!
//! **Must run before any thread exists** — in particular before the tokio
//! runtime is built: `fork()` copies only the calling thread, so a runtime's
//! worker threads (and any lock they held) would be lost in the child.
//! [`daemonize`] checks the thread count and refuses otherwise.
//!
//! stunnel opens /dev/null at start-up, before `chroot`, because the jail
//! usually has no /dev; [`DevNull::open`] is that early step and
//! [`daemonize_with`] the late one.

use std::fs::OpenOptions;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

/// /dev/null opened read-write, kept for [`daemonize_with`].
#[derive(Debug)]
pub struct DevNull(OwnedFd);

impl DevNull {
    pub fn open() -> io::Result<DevNull> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/null")?;
        Ok(DevNull(file.into()))
    }
}

/// [`daemonize_with`] opening /dev/null now (fine without a chroot).
pub fn daemonize() -> io::Result<()> {
    daemonize_with(DevNull::open()?)
}

/// Detach from the terminal; returns in the child only. Errors come back
/// before anything changed (thread check, dup2) or from `daemon()` itself.
pub fn daemonize_with(null: DevNull) -> io::Result<()> {
    let threads = thread_count()?;
    if threads != 1 {
        return Err(io::Error::other(format!(
            "daemon: refusing to fork a process with {threads} threads"
        )));
    }
    let fd = null.0.as_raw_fd();
    for target in 0..=2 {
        // SAFETY: dup2 onto the standard descriptors; `fd` is open.
        if unsafe { libc::dup2(fd, target) } == -1 {
            return Err(io::Error::last_os_error());
        }
    }
    drop(null);
    // SAFETY: single-threaded (checked above); daemon() forks and the
    // parent leaves with _exit(0) without running Rust destructors.
    if unsafe { libc::daemon(0, 1) } == -1 {
        return Err(io::Error::last_os_error());
    }
    crate::log::set_main_id("main");
    Ok(())
}

/// Threads of this process, from /proc/self/status.
pub(super) fn thread_count() -> io::Result<usize> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .ok_or_else(|| io::Error::other("daemon: cannot count threads"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_to_fork_a_threaded_process() {
        // The test harness runs this on its own thread: at least two exist.
        let other = std::thread::spawn(std::thread::park);
        let err = daemonize().unwrap_err();
        assert!(
            err.to_string()
                .starts_with("daemon: refusing to fork a process with"),
            "{err}"
        );
        assert!(thread_count().unwrap() >= 2);
        other.thread().unpark();
        other.join().unwrap();
    }
}
