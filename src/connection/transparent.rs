//! `transparent = source|destination|both` on Linux (stunnel-reference
//! §5.13).
//!
//! * **destination**: the backend is the accepted socket's original
//!   destination before an iptables `REDIRECT`/`DNAT` rule rewrote it
//!   (`SO_ORIGINAL_DST`, IPv4). Needs no privilege at run time, only the
//!   NAT rule (root sets it up). Without a rule there is no original
//!   destination and the connection is reset (`No remote host resolved`)
//!   rather than looping back into rstunnel.
//! * **source**: the outgoing socket is bound to the *client's* address so
//!   the backend sees the real client. This uses `IP_TRANSPARENT`, which
//!   needs `CAP_NET_ADMIN` (run as root, or grant the capability, e.g.
//!   systemd `AmbientCapabilities=CAP_NET_ADMIN`; note that `setuid` drops
//!   it), plus policy routing so the backend's replies to the client's
//!   address come back to this host and are delivered to the transparent
//!   socket, as in stunnel's manual:
//!   ```text
//!   iptables -t mangle -N DIVERT
//!   iptables -t mangle -A PREROUTING -p tcp -m socket -j DIVERT
//!   iptables -t mangle -A DIVERT -j MARK --set-mark 1
//!   iptables -t mangle -A DIVERT -j ACCEPT
//!   ip rule add fwmark 1 lookup 100
//!   ip route add local 0.0.0.0/0 dev lo table 100
//!   ```
//!   The client's own port is tried first when it is 1024 or above, then
//!   an ephemeral port. The local side must be a socket (`Transparent
//!   source needs a socket` otherwise). With `exec`, stunnel preloads its
//!   `libstunnel.so` into the program; rstunnel does not ship it and
//!   refuses that combination in the configuration.
//! * **both**: the two together.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

use tokio::net::TcpSocket;

use crate::config::model::Transparent;
use crate::log::{DEBUG, ERR, INFO};
use crate::os::errno;

pub fn source(mode: Transparent) -> bool {
    matches!(mode, Transparent::Source | Transparent::Both)
}

pub fn destination(mode: Transparent) -> bool {
    matches!(mode, Transparent::Destination | Transparent::Both)
}

/// Bind `socket` to the client's address (stunnel's `local_bind` with
/// `transparent = source`). A failing `IP_TRANSPARENT` is logged and the
/// bind attempted anyway (it then fails for a foreign address).
pub fn bind_source(socket: &TcpSocket, client: SocketAddr) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: setsockopt on a socket we own, with a c_int option value.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_IP,
            libc::IP_TRANSPARENT,
            &on as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        crate::slog!(DEBUG, "IP_TRANSPARENT socket option set");
    } else {
        let e = io::Error::last_os_error();
        crate::slog!(ERR, "setsockopt IP_TRANSPARENT: {}", errno::of_io(&e));
    }
    if client.port() >= 1024 {
        match socket.bind(client) {
            Ok(()) => {
                crate::slog!(INFO, "bind succeeded on the original port");
                return Ok(());
            }
            Err(e) if e.raw_os_error() == Some(libc::EADDRINUSE) => {}
            Err(e) => {
                crate::slog!(ERR, "bind (original port): {}", errno::of_io(&e));
                return Err(e);
            }
        }
    }
    match socket.bind(SocketAddr::new(client.ip(), 0)) {
        Ok(()) => {
            crate::slog!(INFO, "bind succeeded on an ephemeral port");
            Ok(())
        }
        Err(e) => {
            crate::slog!(ERR, "bind (ephemeral port): {}", errno::of_io(&e));
            Err(e)
        }
    }
}
