//! Listening sockets handed over at start: by systemd socket activation
//! (a `.socket` unit or `systemd-socket-activate` passes descriptors 3…
//! with `LISTEN_FDS` and `LISTEN_PID`), or by the rstunnel this one
//! replaces in a binary upgrade (`RSTUNNEL_UPGRADE_FDS`, see
//! `app::upgrade`). [`adopt`] takes them once at start-up; binding then
//! uses a passed socket for the `accept` address it is bound to instead of
//! binding a new one ([`take_inet`], [`take_unix`]), so connections queued
//! before this process started are served.
//!
//! A passed socket keeps the options systemd gave it (the `.socket` unit's
//! `Backlog=`, `ReusePort=`…); `socket = a:…` lines do not apply to it.

use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::sync::Mutex;

use nix::sys::socket::{getsockname, SockaddrLike, SockaddrStorage};

/// Who handed a socket over, for the log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Systemd,
    PreviousProcess,
}

impl Origin {
    pub fn describe(self) -> &'static str {
        match self {
            Origin::Systemd => "systemd",
            Origin::PreviousProcess => "the process it replaces",
        }
    }
}

/// Passed sockets not yet used by a service.
static PASSED: Mutex<Vec<(OwnedFd, Origin)>> = Mutex::new(Vec::new());

/// The variable naming the listening descriptors a binary upgrade passes.
pub const UPGRADE_FDS: &str = "RSTUNNEL_UPGRADE_FDS";

/// Take the sockets passed to this process: systemd's (checks
/// `LISTEN_PID`) and an upgrade's. The variables are unset so programs
/// started by `exec` do not see them, and the descriptors marked
/// close-on-exec. Call once, early; later calls find none.
pub fn adopt() {
    let mut passed = PASSED.lock().unwrap_or_else(|p| p.into_inner());
    if let Ok(fds) = sd_notify::listen_fds() {
        for fd in fds {
            // SAFETY: systemd hands these descriptors to this process to
            // own (sd_listen_fds); nothing else in the process uses them.
            passed.push((
                unsafe { OwnedFd::from_raw_fd(fd as RawFd) },
                Origin::Systemd,
            ));
        }
    }
    for fd in inherited(UPGRADE_FDS) {
        passed.push((fd, Origin::PreviousProcess));
    }
}

/// The descriptors a comma-separated variable names, made close-on-exec;
/// the variable is removed. Numbers that are not open descriptors are
/// skipped.
pub fn inherited(variable: &str) -> Vec<OwnedFd> {
    let Some(list) = std::env::var_os(variable) else {
        return Vec::new();
    };
    std::env::remove_var(variable);
    let mut out = Vec::new();
    for fd in list
        .to_string_lossy()
        .split(',')
        .filter_map(|n| n.trim().parse::<RawFd>().ok())
    {
        // SAFETY: F_GETFD/F_SETFD on an arbitrary number only fail (EBADF)
        // when it is not open; an open one was passed to this process by
        // its parent for it to own, and nothing else refers to it.
        unsafe {
            if fd < 3 || libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) != 0 {
                continue;
            }
            out.push(OwnedFd::from_raw_fd(fd));
        }
    }
    out
}

/// The passed socket bound to `addr`, if any, as a listener, and who
/// passed it.
pub fn take_inet(addr: &SocketAddr) -> Option<(std::net::TcpListener, Origin)> {
    take(|bound| {
        let found = bound
            .as_sockaddr_in()
            .map(|a| SocketAddr::from(std::net::SocketAddrV4::from(*a)))
            .or_else(|| {
                bound
                    .as_sockaddr_in6()
                    .map(|a| SocketAddr::from(std::net::SocketAddrV6::from(*a)))
            });
        found.as_ref() == Some(addr)
    })
    .map(|(fd, from)| (std::net::TcpListener::from(fd), from))
}

/// The passed Unix socket bound to `path`, if any, as a listener, and who
/// passed it.
pub fn take_unix(path: &Path) -> Option<(std::os::unix::net::UnixListener, Origin)> {
    take(|bound| bound.as_unix_addr().and_then(|u| u.path()) == Some(path))
        .map(|(fd, from)| (std::os::unix::net::UnixListener::from(fd), from))
}

fn take(matches: impl Fn(&SockaddrStorage) -> bool) -> Option<(OwnedFd, Origin)> {
    let mut passed = PASSED.lock().unwrap_or_else(|p| p.into_inner());
    let at = passed.iter().position(|(fd, _)| {
        getsockname::<SockaddrStorage>(fd.as_raw_fd()).is_ok_and(|bound| {
            // A family without an address (unnamed socket) never matches.
            bound.family().is_some() && matches(&bound)
        })
    })?;
    Some(passed.remove(at))
}

/// Passed sockets that no `accept` line matched: their descriptor and who
/// passed them.
pub fn unused() -> Vec<(RawFd, Origin)> {
    let passed = PASSED.lock().unwrap_or_else(|p| p.into_inner());
    passed
        .iter()
        .map(|(fd, from)| (fd.as_raw_fd(), *from))
        .collect()
}
