//! `protocol = connect` (stunnel-reference §4.9): HTTP CONNECT.
//!
//! * client middle: ask the proxy given by `connect` to tunnel to
//!   `protocolHost`, with Basic or NTLM (`protocolAuthentication = ntlm`)
//!   proxy authentication and the `protocolHeader` lines; TLS then runs
//!   through the tunnel;
//! * server early (plaintext, before TLS): read the client's
//!   `CONNECT host:port HTTP/x`, resolve the target with the `connect`
//!   parser and answer `HTTP/1.0 200 OK`; the target goes back to the
//!   connection in `Outcome::target` (the configured `connect` is ignored).

use super::hook::{base64, Abort, Ctx, HookResult, Outcome, Streams, Target};
use super::line::{starts, Wire};
use super::{destination, ntlm};
use crate::log::{ERR, INFO};
use crate::version::STUNNEL_VERSION;
use std::path::PathBuf;

/// Answer the CONNECT request with `status`, the Server line and a blank line.
async fn reply(local: &mut Wire<'_>, status: &str) -> Result<(), Abort> {
    local.write_str(status).await?;
    local
        .write_str(&format!("Server: stunnel/{STUNNEL_VERSION}"))
        .await?;
    local.write_str("").await
}

pub(super) async fn server_early<'a>(ctx: &'a Ctx<'a>, s: Streams<'a>) -> HookResult {
    let mut local = Wire::plain(s.local, &ctx.busy);
    let request = local.read_line().await?;
    if !starts(&request, "CONNECT ") {
        reply(&mut local, "HTTP/1.0 400 Bad Request Method").await?;
        return Err(Abort::Reset);
    }
    let after = &request[8..];
    let target = match after.iter().position(|&b| b == b' ') {
        Some(i) if starts(&after[i..], " HTTP/") => after[..i].to_vec(),
        _ => {
            reply(&mut local, "HTTP/1.0 400 Bad Request Protocol").await?;
            return Err(Abort::Reset);
        }
    };
    loop {
        // ignore any headers
        if local.read_line().await?.is_empty() {
            break;
        }
    }
    let target = String::from_utf8_lossy(&target).into_owned();
    let Some(target) = resolve(ctx, &target).await else {
        reply(&mut local, "HTTP/1.0 404 Not Found").await?;
        return Err(Abort::Reset);
    };
    match destination::permitted(&ctx.settings.destinations, target) {
        Some(t) => {
            reply(&mut local, "HTTP/1.0 200 OK").await?;
            Ok(Outcome {
                target: Some(t),
                ..Outcome::default()
            })
        }
        None => {
            reply(&mut local, "HTTP/1.0 403 Forbidden").await?;
            Err(Abort::Reset)
        }
    }
}

/// stunnel's `name2addrlist`: `/path` is a Unix socket, otherwise split at
/// the last `:`; without one the whole text is the port on the loopback.
async fn resolve(ctx: &Ctx<'_>, name: &str) -> Option<Target> {
    if name.starts_with('/') {
        return Some(Target::Unix(PathBuf::from(name)));
    }
    let (host, port) = match name.rfind(':') {
        Some(i) => (Some(&name[..i]), &name[i + 1..]),
        None => (None, name),
    };
    let addrs = ctx.net.resolve(host, port).await;
    (!addrs.is_empty()).then_some(Target::Addrs(addrs))
}

pub(super) async fn client_middle<'a>(ctx: &'a Ctx<'a>, s: Streams<'a>) -> HookResult {
    let p = ctx.settings;
    let (_, remote) = s.both()?;
    let mut remote = Wire::plain(remote, &ctx.busy);
    let Some(host) = p.host.as_deref() else {
        // refused at configuration time by `protocol::check`; kept for 5.68
        slog!(ERR, "protocolHost not specified");
        return Err(Abort::Reset);
    };
    remote
        .write_str(&format!("CONNECT {host} HTTP/1.1"))
        .await?;
    remote.write_str(&format!("Host: {host}")).await?;
    if let (Some(user), Some(pass)) = (&p.username, &p.password) {
        let is_ntlm = p
            .authentication
            .as_deref()
            .is_some_and(|a| a.eq_ignore_ascii_case("ntlm"));
        if is_ntlm {
            let domain = p.domain.as_deref().unwrap_or("");
            ntlm::negotiate(&mut remote, host, domain, user, pass).await?;
        } else {
            let token = base64(format!("{user}:{pass}").as_bytes());
            remote
                .write_str(&format!("Proxy-Authorization: basic {token}"))
                .await?;
        }
    }
    for header in &p.headers {
        remote.write_str(header).await?;
    }
    remote.write_str("").await?;

    let status = remote.read_line().await?;
    let accepted = starts(&status, "HTTP/1.0 2") || starts(&status, "HTTP/1.1 2");
    if accepted {
        slog!(INFO, "CONNECT request accepted");
    } else {
        slog!(ERR, "CONNECT request rejected");
    }
    loop {
        // read all headers
        if remote.read_line().await?.is_empty() {
            break;
        }
    }
    if accepted {
        Ok(Outcome::default())
    } else {
        Err(Abort::Reset)
    }
}
