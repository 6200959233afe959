//! stdin/stdout as one duplex stream, for inetd mode (stunnel-reference §5.1
//! item 8: `local_rfd = 0`, `local_wfd = 1`), and what stdin tells about
//! the client when inetd handed us an accepted socket.

use std::io;
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::AsFd;

use nix::sys::socket::{getpeername, getsockname, SockaddrLike, SockaddrStorage};

use super::fd_io::FdStream;

/// Read stdin, write stdout, through duplicates (so 0 and 1 stay valid).
pub fn open() -> io::Result<FdStream> {
    FdStream::duplex(
        io::stdin().as_fd().try_clone_to_owned()?,
        io::stdout().as_fd().try_clone_to_owned()?,
    )
}

/// The peer of stdin when it is a socket (inetd started us on an accepted
/// connection): an inet address, or `Err(Some(text))` with stunnel's name
/// for a Unix-domain peer; `Err(None)` for pipes/ttys.
pub fn peer(stdio: &FdStream) -> Result<SocketAddr, Option<String>> {
    let addr = getpeername::<SockaddrStorage>(stdio.input_fd()).map_err(|_| None)?;
    if let Some(inet) = inet(&addr) {
        return Ok(inet);
    }
    match addr.as_unix_addr().and_then(|u| u.path()) {
        Some(path) => Err(Some(path.display().to_string())),
        None if addr.family().is_some() => Err(Some("unnamed socket".into())),
        None => Err(None),
    }
}

/// Our side of stdin when it is an inet socket (for the PROXY line).
pub fn local(stdio: &FdStream) -> Option<SocketAddr> {
    inet(&getsockname(stdio.input_fd()).ok()?)
}

/// An IPv4/IPv6 address out of `getpeername`/`getsockname`.
fn inet(addr: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = addr.as_sockaddr_in() {
        return Some(SocketAddrV4::from(*v4).into());
    }
    addr.as_sockaddr_in6()
        .map(|v6| SocketAddrV6::from(*v6).into())
}
