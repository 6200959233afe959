//! Binding a service's `accept` addresses, before the runtime exists (so
//! privileged ports can be bound before `setuid`, stunnel-reference §5.1).

use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::os::unix::net::UnixListener;

use nix::sys::socket::{self, AddressFamily, SockFlag, SockType, SockaddrIn, SockaddrIn6};

use crate::config::model::Service;
use crate::connection::address::{self, Address};
use crate::log::{Logged, ERR, INFO, NOTICE};
use crate::os::{activation, errno};

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

/// Whether this process binds its TCP addresses alone, or as one of the
/// `workers` that each bind every address with `SO_REUSEPORT`, so that the
/// kernel spreads new connections over their sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharing {
    Alone,
    ReusePort,
}

impl Sharing {
    /// How a process of a configuration with `workers = N` binds.
    pub fn for_workers(workers: u32) -> Sharing {
        if workers > 1 {
            Sharing::ReusePort
        } else {
            Sharing::Alone
        }
    }
}

/// Bind every address of every `accept` line. An address that fails is
/// logged at notice and skipped; a service with none bound fails, as in
/// stunnel (`Binding service [NAME] failed`).
pub fn bind_service(service: &Service, sharing: Sharing) -> Result<Vec<(Address, Bound)>, Logged> {
    let bound: Vec<(Address, Bound)> = addresses(service)
        .into_iter()
        .filter_map(|addr| bind_address(service, &addr, sharing).map(|b| (addr, b)))
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
                service.options.name
            ),
        }
    }
    out
}

/// Bind one address of the service; stunnel's `bound to` line, or its
/// notice when binding fails (`None`).
pub fn bind_address(service: &Service, addr: &Address, sharing: Sharing) -> Option<Bound> {
    match bind_one(service, addr, sharing) {
        Ok(b) => {
            log_bound(&service.options.name, b.fd(), &b.address());
            Some(b)
        }
        Err(e) => {
            crate::slog!(
                NOTICE,
                "Binding service [{}] to {addr}: {e}",
                service.options.name
            );
            None
        }
    }
}

/// Another worker's sockets for the addresses `first` holds: a new
/// `SO_REUSEPORT` socket for a TCP address bound with it, else the same
/// socket shared (a Unix path, or a socket systemd passed without
/// `ReusePort=`), whose connections the workers then take turns to accept.
pub fn for_another_worker(
    service: &Service,
    first: &[(Address, Bound)],
) -> std::io::Result<Vec<(Address, Bound)>> {
    let mut out = Vec::with_capacity(first.len());
    for (addr, bound) in first {
        // The address the first socket got: `accept = :0` must not pick
        // another ephemeral port for each worker.
        let own = match bound {
            Bound::Tcp(l) if socket::getsockopt(l, socket::sockopt::ReusePort) == Ok(true) => {
                let actual = Address::Inet(l.local_addr()?);
                bind_address(service, &actual, Sharing::ReusePort)
            }
            _ => None,
        };
        let socket = match (own, bound) {
            (Some(own), _) => own,
            (None, Bound::Tcp(l)) => Bound::Tcp(l.try_clone()?),
            (None, Bound::Unix(l, path)) => Bound::Unix(l.try_clone()?, path.clone()),
        };
        out.push((addr.clone(), socket));
    }
    Ok(out)
}

/// `Service [NAME] (FD=N) bound to ADDR`, logged for every listening
/// address after a start or a reload (kept sockets too).
pub fn log_bound(service: &str, fd: i32, address: &str) {
    crate::slog!(INFO, "Service [{service}] (FD={fd}) bound to {address}");
}

/// stunnel's line for a service that could bind nothing.
pub fn failed(service: &Service) -> Logged {
    crate::slog!(ERR, "Binding service [{}] failed", service.options.name);
    Logged
}

fn bind_one(service: &Service, addr: &Address, sharing: Sharing) -> Result<Bound, String> {
    if let Some((passed, from)) = passed_socket(addr) {
        crate::slog!(
            INFO,
            "Service [{}] uses the listening socket passed by {} (FD={})",
            service.options.name,
            from.describe(),
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
                &service.options.socket_options.accept,
            )?;
            if sharing == Sharing::ReusePort {
                socket::setsockopt(&fd, socket::sockopt::ReusePort, &true)
                    .map_err(|e| errno::text(e as i32))?;
            }
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

/// The socket passed for `addr` (socket activation, binary upgrade), made
/// non-blocking for tokio, and who passed it.
fn passed_socket(addr: &Address) -> Option<(Bound, activation::Origin)> {
    let (bound, from) = match addr {
        Address::Inet(sa) => {
            let (l, from) = activation::take_inet(sa)?;
            (Bound::Tcp(l), from)
        }
        Address::Unix(path) => {
            let (l, from) = activation::take_unix(path)?;
            (Bound::Unix(l, path.clone()), from)
        }
    };
    let nonblocking = match &bound {
        Bound::Tcp(l) => l.set_nonblocking(true),
        Bound::Unix(l, _) => l.set_nonblocking(true),
    };
    nonblocking.ok().map(|()| (bound, from))
}

/// A section's `setuid`/`setgid` give its Unix `accept` socket an owner
/// (stunnel 5.24+), so a client running as that user may connect.
fn set_socket_owner(service: &Service, path: &std::path::Path) -> Result<(), String> {
    let (uid, gid) = (service.options.socket_owner, service.options.socket_group);
    if uid.is_none() && gid.is_none() {
        return Ok(());
    }
    nix::unistd::chown(path, uid, gid).map_err(|e| errno::text(e as i32))
}
