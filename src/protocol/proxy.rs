//! `protocol = proxy`, server mode only (stunnel-reference §4.10): after TLS
//! and the remote connection, write HAProxy's PROXY protocol v1 line to the
//! remote, exactly as 5.68 does:
//! `PROXY TCP4 <client-ip> <local-ip> <client-port> <local-port>\r\n`.
//!
//! The family word comes from stunnel's accepting socket (`TCP4`/`TCP6`);
//! addresses are numeric (`getnameinfo` with `NI_NUMERICHOST`, IPv6 without
//! brackets). Without IP addresses (Unix socket, pipes) stunnel's
//! getnameinfo fails and the connection is reset; so do we.
//!
//! With `proxyVersion = v2` (rstunnel extension; 5.68 has no v2) the binary
//! header of `proxy_v2.rs` goes instead, with the TLS TLVs; a peer without
//! an IP address is then sent as a LOCAL header without addresses (the
//! backend uses the real endpoints, as when HAProxy relays such a client)
//! rather than reset. Not here: reading PROXY headers (`proxy_in.rs`).

use super::hook::{Abort, Ctx, HookResult, Outcome, Streams};
use super::line::Wire;
use crate::config::model::ProxyVersion;
use crate::log::{DEBUG, ERR};
use std::net::SocketAddr;

/// The line without CRLF, or `None` if an address is not IP.
pub(super) fn header(peer: Option<SocketAddr>, local: Option<SocketAddr>) -> Option<String> {
    let (src, dst) = (peer?, local?);
    let proto = match dst {
        SocketAddr::V4(_) => "TCP4",
        SocketAddr::V6(_) => "TCP6",
    };
    Some(format!(
        "PROXY {proto} {} {} {} {}",
        src.ip(),
        dst.ip(),
        src.port(),
        dst.port()
    ))
}

pub(super) async fn server_late<'a>(ctx: &'a Ctx<'a>, s: Streams<'a>) -> HookResult {
    let (_, remote) = s.both()?;
    if ctx.settings.proxy_version == ProxyVersion::V2 {
        let header = super::proxy_v2::encode(ctx.peer, ctx.local_addr, ctx.tls);
        Wire::plain(remote, &ctx.busy).write_all(&header).await?;
        slog!(DEBUG, " -> PROXY v2 header of {} bytes", header.len());
        return Ok(Outcome::default());
    }
    let Some(line) = header(ctx.peer, ctx.local_addr) else {
        slog!(ERR, "getnameinfo: ai_family not supported");
        return Err(Abort::Reset);
    };
    Wire::plain(remote, &ctx.busy).write_str(&line).await?;
    Ok(Outcome::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_is_stunnels() {
        let p = "127.0.0.1:56086".parse().ok();
        let l = "127.0.0.1:21080".parse().ok();
        assert_eq!(
            header(p, l).as_deref(),
            Some("PROXY TCP4 127.0.0.1 127.0.0.1 56086 21080")
        );
        let p6 = "[::ffff:10.0.0.1]:5".parse().ok();
        let l6 = "[::1]:443".parse().ok();
        assert_eq!(
            header(p6, l6).as_deref(),
            Some("PROXY TCP6 ::ffff:10.0.0.1 ::1 5 443")
        );
        assert_eq!(header(None, l), None);
    }
}
