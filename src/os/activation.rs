//! systemd socket activation: the listening sockets a `.socket` unit (or
//! `systemd-socket-activate`) passes as descriptors 3… with `LISTEN_FDS`
//! and `LISTEN_PID`. [`adopt`] takes them once at start-up; binding then
//! uses a passed socket for the `accept` address it is bound to instead of
//! binding a new one ([`take_inet`], [`take_unix`]), so connections queued
//! before rstunnel started, or while it restarts, are served.
//!
//! A passed socket keeps the options systemd gave it (the `.socket` unit's
//! `Backlog=`, `ReusePort=`…); `socket = a:…` lines do not apply to it.

use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::sync::Mutex;

use nix::sys::socket::{getsockname, SockaddrLike, SockaddrStorage};

/// Passed sockets not yet used by a service.
static PASSED: Mutex<Vec<OwnedFd>> = Mutex::new(Vec::new());

/// Take the sockets passed to this process (checks `LISTEN_PID`, unsets
/// the variables so programs started by `exec` do not see them, and marks
/// the descriptors close-on-exec). Call once, early; later calls find none.
pub fn adopt() -> usize {
    let Ok(fds) = sd_notify::listen_fds() else {
        return 0;
    };
    let mut passed = PASSED.lock().unwrap_or_else(|p| p.into_inner());
    for fd in fds {
        // SAFETY: systemd hands these descriptors to this process to own
        // (sd_listen_fds); nothing else in the process refers to them.
        passed.push(unsafe { OwnedFd::from_raw_fd(fd as RawFd) });
    }
    passed.len()
}

/// The passed socket bound to `addr`, if any, as a listener.
pub fn take_inet(addr: &SocketAddr) -> Option<std::net::TcpListener> {
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
    .map(std::net::TcpListener::from)
}

/// The passed Unix socket bound to `path`, if any, as a listener.
pub fn take_unix(path: &Path) -> Option<std::os::unix::net::UnixListener> {
    take(|bound| bound.as_unix_addr().and_then(|u| u.path()) == Some(path))
        .map(std::os::unix::net::UnixListener::from)
}

fn take(matches: impl Fn(&SockaddrStorage) -> bool) -> Option<OwnedFd> {
    let mut passed = PASSED.lock().unwrap_or_else(|p| p.into_inner());
    let at = passed.iter().position(|fd| {
        getsockname::<SockaddrStorage>(fd.as_raw_fd()).is_ok_and(|bound| {
            // A family without an address (unnamed socket) never matches.
            bound.family().is_some() && matches(&bound)
        })
    })?;
    Some(passed.remove(at))
}

/// Descriptors of passed sockets that no `accept` line matched.
pub fn unused() -> Vec<RawFd> {
    let passed = PASSED.lock().unwrap_or_else(|p| p.into_inner());
    passed.iter().map(|fd| fd.as_raw_fd()).collect()
}
