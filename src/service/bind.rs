//! Binding a service's `accept` addresses, before the runtime exists (so
//! privileged ports can be bound before `setuid`, stunnel-reference §5.1).

use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::os::unix::net::UnixListener;

use nix::sys::socket::{self, AddressFamily, SockFlag, SockType, SockaddrIn, SockaddrIn6};

use crate::config::model::Service;
use crate::connection::address::{self, Address};
use crate::log::{Logged, ERR, INFO, NOTICE};
use crate::os::errno;

/// A service and the sockets bound for it before the runtime started,
/// each with the address its `accept` line resolved to.
pub type BoundService = (
    std::sync::Arc<crate::connection::ServiceCtx>,
    Vec<(Address, Bound)>,
);

/// A bound, listening socket, not yet registered with tokio.
pub enum Bound {
    Tcp(std::net::TcpListener),
    Unix(UnixListener, std::path::PathBuf),
}

impl Bound {
    pub fn fd(&self) -> i32 {
        match self {
            Bound::Tcp(l) => l.as_raw_fd(),
            Bound::Unix(l, _) => l.as_raw_fd(),
        }
    }

    pub fn address(&self) -> String {
        match self {
            Bound::Tcp(l) => l
                .local_addr()
                .map(|a| address::fmt_inet(&a))
                .unwrap_or_default(),
            Bound::Unix(_, p) => format!("localhost:{}", p.display()),
        }
    }
}

/// Bind every address of every `accept` line. An address that fails is
/// logged at notice and skipped; a service with none bound fails, as in
/// stunnel (`Binding service [NAME] failed`).
pub fn bind_service(service: &Service) -> Result<Vec<(Address, Bound)>, Logged> {
    let bound: Vec<(Address, Bound)> = addresses(service)
        .into_iter()
        .filter_map(|addr| bind_address(service, &addr).map(|b| (addr, b)))
        .collect();
    if bound.is_empty() {
        return Err(failed(service));
    }
    Ok(bound)
}

/// What the service's `accept` lines resolve to, in order (blocking: name
/// resolution). A line that does not resolve is logged and adds nothing.
pub fn addresses(service: &Service) -> Vec<Address> {
    let mut out = Vec::new();
    for endpoint in &service.accept {
        match address::resolve_accept(endpoint) {
            Ok(addrs) => out.extend(addrs),
            Err(e) => crate::slog!(
                ERR,
                "Service [{}]: Cannot resolve accept target: {e}",
                service.name
            ),
        }
    }
    out
}

/// Bind one address of the service; stunnel's `bound to` line, or its
/// notice when binding fails (`None`).
pub fn bind_address(service: &Service, addr: &Address) -> Option<Bound> {
    match bind_one(service, addr) {
        Ok(b) => {
            log_bound(&service.name, b.fd(), &b.address());
            Some(b)
        }
        Err(e) => {
            crate::slog!(NOTICE, "Binding service [{}] to {addr}: {e}", service.name);
            None
        }
    }
}

/// `Service [NAME] (FD=N) bound to ADDR`, logged for every listening
/// address after a start or a reload (kept sockets too).
pub fn log_bound(service: &str, fd: i32, address: &str) {
    crate::slog!(INFO, "Service [{service}] (FD={fd}) bound to {address}");
}

/// stunnel's line for a service that could bind nothing.
pub fn failed(service: &Service) -> Logged {
    crate::slog!(ERR, "Binding service [{}] failed", service.name);
    Logged
}

fn bind_one(service: &Service, addr: &Address) -> Result<Bound, String> {
    if let Some(passed) = passed_socket(addr) {
        crate::slog!(
            INFO,
            "Service [{}] uses the listening socket passed by systemd (FD={})",
            service.name,
            passed.fd()
        );
        return Ok(passed);
    }
    match addr {
        Address::Unix(path) => {
            let listener = UnixListener::bind(path).map_err(|e| errno::of_io(&e))?;
            listener
                .set_nonblocking(true)
                .map_err(|e| errno::of_io(&e))?;
            set_socket_owner(service, path)?;
            Ok(Bound::Unix(listener, path.clone()))
        }
        Address::Inet(sa) => {
            let family = if sa.is_ipv4() {
                AddressFamily::Inet
            } else {
                AddressFamily::Inet6
            };
            let flags = SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK;
            let fd: OwnedFd = socket::socket(family, SockType::Stream, flags, None)
                .map_err(|e| errno::text(e as i32))?;
            crate::os::sockopt::apply_socket_options(
                fd.as_raw_fd(),
                &service.socket_options.accept,
            )?;
            match sa {
                std::net::SocketAddr::V4(v4) => {
                    socket::bind(fd.as_raw_fd(), &SockaddrIn::from(*v4))
                }
                std::net::SocketAddr::V6(v6) => {
                    socket::bind(fd.as_raw_fd(), &SockaddrIn6::from(*v6))
                }
            }
            .map_err(|e| errno::text(e as i32))?;
            socket::listen(&fd, socket::Backlog::MAXCONN).map_err(|e| errno::text(e as i32))?;
            // SAFETY: a listening TCP socket we own; ownership moves into std.
            Ok(Bound::Tcp(unsafe {
                std::net::TcpListener::from_raw_fd(fd.into_raw_fd())
            }))
        }
    }
}

/// The socket systemd passed for `addr` (socket activation), made
/// non-blocking for tokio.
fn passed_socket(addr: &Address) -> Option<Bound> {
    let bound = match addr {
        Address::Inet(sa) => Bound::Tcp(crate::os::activation::take_inet(sa)?),
        Address::Unix(path) => Bound::Unix(crate::os::activation::take_unix(path)?, path.clone()),
    };
    let nonblocking = match &bound {
        Bound::Tcp(l) => l.set_nonblocking(true),
        Bound::Unix(l, _) => l.set_nonblocking(true),
    };
    nonblocking.ok().map(|()| bound)
}

/// A section's `setuid`/`setgid` give its Unix `accept` socket an owner
/// (stunnel 5.24+), so a client running as that user may connect.
fn set_socket_owner(service: &Service, path: &std::path::Path) -> Result<(), String> {
    if service.socket_owner.is_none() && service.socket_group.is_none() {
        return Ok(());
    }
    let uid = match &service.socket_owner {
        Some(u) => Some(crate::os::privileges::resolve_user(u)?),
        None => None,
    };
    let gid = match &service.socket_group {
        Some(g) => Some(crate::os::privileges::resolve_group(g)?),
        None => None,
    };
    nix::unistd::chown(path, uid, gid).map_err(|e| errno::text(e as i32))
}
