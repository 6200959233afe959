//! `proxyIn` (rstunnel extension): a load balancer's PROXY header, read
//! before anything else on connections from the `proxyFrom` balancers. The
//! client it names becomes the connection's peer everywhere stunnel uses
//! the peer's address: the `accepted connection from` line (and so
//! fail2ban), `protocol = proxy` towards the backend, `transparent =
//! source`, `exec`'s REMOTE_HOST (a configuration with `ident`, which would
//! ask the balancer, is refused). A connection from anyone else is a direct client and no
//! header is read: a header is only honoured where it cannot be forged.
//!
//! A missing, malformed or oversized header, or none within `TIMEOUTbusy`,
//! resets the connection with one line naming the balancer and why.

use std::time::Duration;

use tokio::io::AsyncReadExt;

use super::stream::Stream;
use crate::config::model::ProxyIn;
use crate::log::{ERR, INFO};
use crate::protocol::proxy_in::{self, Parsed};
use crate::protocol::{in_network, Abort};

/// Read the header if `local` comes from a trusted balancer; the bytes read
/// past it (the client's first bytes), to be read again by what follows.
pub(super) async fn read(
    service: &str,
    settings: &ProxyIn,
    local: &mut Stream,
    busy: Option<Duration>,
) -> Result<Vec<u8>, Abort> {
    let Some(balancer) = local.peer_addr() else {
        return Ok(Vec::new());
    };
    let trusted = settings
        .from
        .iter()
        .any(|(net, prefix)| in_network(*net, balancer.ip(), *prefix));
    if !trusted {
        return Ok(Vec::new());
    }
    let refuse = |why: &str| {
        crate::slog!(
            ERR,
            "Service [{service}]: PROXY header from {}: {why}; resetting",
            super::address::fmt_inet(&balancer)
        );
        Abort::Reset
    };
    let mut buf = vec![0u8; proxy_in::V2_MAX];
    let mut filled = 0;
    let deadline = busy.map(|limit| tokio::time::Instant::now() + limit);
    loop {
        let read = local.read(&mut buf[filled..]);
        let n = match deadline {
            Some(at) => match tokio::time::timeout_at(at, read).await {
                Ok(r) => r,
                Err(_) => return Err(refuse("none within TIMEOUTbusy")),
            },
            None => read.await,
        };
        match n {
            Ok(0) => return Err(refuse("the connection closed before a whole header")),
            Ok(n) => filled += n,
            Err(e) => return Err(refuse(&crate::os::errno::of_io(&e))),
        }
        match proxy_in::parse(&buf[..filled], settings.accept) {
            Parsed::Incomplete if filled < buf.len() => continue,
            Parsed::Incomplete => return Err(refuse("header too long")),
            Parsed::Invalid(why) => return Err(refuse(&why)),
            Parsed::Header { len, addresses } => {
                if let Some((client, reached)) = addresses {
                    crate::slog!(
                        INFO,
                        "Service [{service}]: PROXY header from {}: client {}",
                        super::address::fmt_inet(&balancer),
                        super::address::fmt_inet(&client)
                    );
                    local.set_carried(client, reached);
                }
                return Ok(buf[len..filled].to_vec());
            }
        }
    }
}
