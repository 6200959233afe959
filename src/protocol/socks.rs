//! `protocol = socks` (stunnel-reference §4.11): SOCKS running *inside* TLS.
//!
//! * server middle (after the handshake, on the TLS side): SOCKS 4, 4a and
//!   5 with CONNECT and Tor's RESOLVE; no authentication, no BIND. The
//!   target goes back to the connection in `Outcome::target`; the section
//!   needs no `connect`. Loopback targets are refused. As in 5.68 the
//!   success reply is sent before the connection is attempted;
//! * client late (after the handshake, on the TLS side): SOCKS5 CONNECT to
//!   the accepted socket's original destination (`SO_ORIGINAL_DST`, given by
//!   the connection). 5.68 has no `protocolHost` form.
//!
//! Replies are built in a 22-byte buffer laid out as stunnel's
//! `SOCKS5_UNION`, so the echoed fields match its bytes, quirks included.

use super::destination;
use super::hook::{Abort, Ctx, HookResult, Outcome, Streams, Target};
use super::line::Wire;
use crate::log::{DEBUG, ERR, INFO};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

pub(super) async fn client_late<'a>(ctx: &'a Ctx<'a>, s: Streams<'a>) -> HookResult {
    let (_, remote) = s.both()?;
    let mut tls = Wire::tls(remote, &ctx.busy);
    // method negotiation: NO AUTHENTICATION REQUIRED only
    tls.write_all(&[5, 1, 0]).await?;
    let mut resp = [0u8; 2];
    tls.read_exact(&mut resp).await?;
    if resp[0] != 5 {
        slog!(ERR, "Invalid SOCKS5 message version 0x{:02x}", resp[0]);
        return Err(Abort::Close);
    }
    if resp[1] != 0 {
        slog!(ERR, "No supported SOCKS5 authentication method received");
        return Err(Abort::Close);
    }

    let Some(dst) = ctx.original_dst else {
        slog!(
            ERR,
            "getsockopt SO_ORIGINAL_DST: No such file or directory (2)"
        );
        return Err(Abort::Close);
    };
    let mut req = vec![5, 1, 0];
    match dst {
        SocketAddr::V4(a) => {
            req.push(1);
            req.extend_from_slice(&a.ip().octets());
            slog!(INFO, "Sending SOCKS5 IPv4 address");
        }
        SocketAddr::V6(a) => {
            req.push(4);
            req.extend_from_slice(&a.ip().octets());
            slog!(INFO, "Sending SOCKS5 IPv6 address");
        }
    }
    req.extend_from_slice(&dst.port().to_be_bytes());
    tls.write_all(&req).await?;

    let mut head = [0u8; 4];
    tls.read_exact(&mut head).await?;
    let mut rest = [0u8; 18];
    let n = if head[3] == 4 { 18 } else { 6 };
    tls.read_exact(&mut rest[..n]).await?;
    if head[0] != 5 {
        slog!(ERR, "Invalid SOCKS5 message version 0x{:02x}", head[0]);
        return Err(Abort::Close);
    }
    let why = match head[1] {
        0 => {
            slog!(INFO, "SOCKS5 request succeeded");
            return Ok(Outcome::default());
        }
        1 => "General SOCKS server failure".to_string(),
        2 => "Connection not allowed by ruleset".to_string(),
        3 => "Network unreachable".to_string(),
        4 => "Host unreachable".to_string(),
        5 => "Connection refused".to_string(),
        6 => "TTL expired".to_string(),
        7 => "Command not supported".to_string(),
        8 => "Address type not supported".to_string(),
        x => format!("Unknown error 0x{x:02x}"),
    };
    slog!(ERR, "SOCKS5 request failed: {why}");
    Err(Abort::Close)
}

pub(super) async fn server_middle<'a>(ctx: &'a Ctx<'a>, s: Streams<'a>) -> HookResult {
    let mut tls = Wire::tls(s.local, &ctx.busy);
    slog!(DEBUG, "Waiting for the SOCKS request");
    match tls.read_u8().await? {
        4 => socks4(ctx, &mut tls).await,
        5 => {
            socks5_method(&mut tls).await?;
            socks5(ctx, &mut tls).await
        }
        v => {
            slog!(ERR, "Unsupported SOCKS version 0x{v:02x}");
            Err(Abort::Reset)
        }
    }
}

/// SOCKS4/4a: `cd port(2) addr(4) userid\0 [host\0]`; reply `00 cd port addr`.
async fn socks4(ctx: &Ctx<'_>, tls: &mut Wire<'_>) -> HookResult {
    let mut r = [0u8; 8]; // vn cd port(2) addr(4)
    tls.read_exact(&mut r[1..]).await?;
    r[0] = 0; // response version 0
    tls.read_cstring().await?; // the user id is ignored
    let port = u16::from_be_bytes([r[2], r[3]]);
    let ip = Ipv4Addr::new(r[4], r[5], r[6], r[7]);
    let mut target = None;
    match r[1] {
        0x01 => {
            let addrs = if (1..256).contains(&u32::from(ip)) {
                // 0.0.0.x: SOCKS4a, a host name follows
                let host = cstr(tls.read_cstring().await?);
                let addrs = ctx.net.resolve(Some(&host), &port.to_string()).await;
                if addrs.is_empty() {
                    slog!(ERR, "SOCKS4a failed to resolve \"{host}\"");
                } else {
                    slog!(
                        INFO,
                        "SOCKS4a resolved \"{host}\" to {} host(s)",
                        addrs.len()
                    );
                }
                addrs
            } else {
                slog!(INFO, "SOCKS4 address received");
                vec![SocketAddr::new(IpAddr::V4(ip), port)]
            };
            r[1] = 91; // rejected or failed
            if !addrs.is_empty() && validate(&addrs) {
                target = destination::permitted(&ctx.settings.destinations, Target::Addrs(addrs));
                if target.is_some() {
                    r[1] = 90; // access granted
                }
            }
        }
        0xf0 => {
            // RESOLVE, a Tor extension
            let host = cstr(tls.read_cstring().await?);
            match ctx.net.resolve(Some(&host), "0").await.first() {
                Some(SocketAddr::V4(a)) => {
                    r[4..8].copy_from_slice(&a.ip().octets());
                    slog!(INFO, "SOCKS4a/TOR resolved \"{host}\"");
                    r[1] = 90;
                }
                _ => {
                    slog!(ERR, "SOCKS4a/TOR failed to resolve \"{host}\"");
                    r[1] = 91;
                }
            }
        }
        cd => {
            slog!(ERR, "Unsupported SOCKS4/SOCKS4a command 0x{cd:02x}");
            r[1] = 91;
        }
    }
    tls.write_all(&r).await?;
    match target {
        Some(t) => Ok(Outcome {
            target: Some(t),
            ..Outcome::default()
        }),
        None => Err(Abort::Close),
    }
}

async fn socks5_method(tls: &mut Wire<'_>) -> Result<(), Abort> {
    let n = tls.read_u8().await?;
    let mut methods = vec![0u8; n as usize];
    tls.read_exact(&mut methods).await?;
    let method = if methods.contains(&0) { 0 } else { 0xff };
    tls.write_all(&[5, method]).await?;
    if method != 0 {
        slog!(ERR, "No supported SOCKS5 authentication method received");
        return Err(Abort::Close);
    }
    Ok(())
}

/// Offsets in stunnel's `SOCKS5_UNION`.
const V4_ADDR: usize = 4;
const V4_PORT: usize = 8;
const V6_PORT: usize = 20;

async fn socks5(ctx: &Ctx<'_>, tls: &mut Wire<'_>) -> HookResult {
    let mut u = [0u8; 22];
    tls.read_exact(&mut u[..4]).await?; // ver cmd rsv atyp
    let mut target = None;
    if u[0] != 5 {
        slog!(ERR, "Invalid SOCKS5 message version 0x{:02x}", u[0]);
        u[0] = 5;
        u[1] = 0x01; // general SOCKS server failure
    } else if u[1] == 0x01 {
        // CONNECT
        let addrs = match u[3] {
            0x01 => {
                tls.read_exact(&mut u[V4_ADDR..V4_PORT + 2]).await?;
                slog!(INFO, "SOCKS5 IPv4 address received");
                let ip = Ipv4Addr::new(u[4], u[5], u[6], u[7]);
                Some(vec![SocketAddr::new(
                    ip.into(),
                    u16::from_be_bytes([u[8], u[9]]),
                )])
            }
            0x03 => {
                let (host, port) = read_name(tls).await?;
                let addrs = ctx.net.resolve(Some(&host), &port.to_string()).await;
                if addrs.is_empty() {
                    slog!(ERR, "SOCKS5 failed to resolve \"{host}\"");
                    u[1] = 0x04; // host unreachable
                    None
                } else {
                    slog!(
                        INFO,
                        "SOCKS5 resolved \"{host}\" to {} host(s)",
                        addrs.len()
                    );
                    Some(addrs)
                }
            }
            0x04 => {
                tls.read_exact(&mut u[V4_ADDR..V6_PORT + 2]).await?;
                slog!(INFO, "SOCKS5 IPv6 address received");
                let mut o = [0u8; 16];
                o.copy_from_slice(&u[4..20]);
                let port = u16::from_be_bytes([u[20], u[21]]);
                Some(vec![SocketAddr::new(Ipv6Addr::from(o).into(), port)])
            }
            atyp => {
                slog!(ERR, "Unsupported SOCKS5 address type 0x{atyp:02x}");
                u[1] = 0x07; // address type not supported
                None
            }
        };
        if let Some(addrs) = addrs {
            target = validate(&addrs)
                .then(|| destination::permitted(&ctx.settings.destinations, Target::Addrs(addrs)))
                .flatten();
            u[1] = if target.is_some() {
                0x00 // succeeded
            } else {
                0x02 // connection not allowed by ruleset
            };
        }
    } else if u[1] == 0xf0 {
        // RESOLVE, a Tor extension
        let (host, port) = read_name(tls).await?;
        match ctx
            .net
            .resolve(Some(&host), &port.to_string())
            .await
            .first()
        {
            Some(SocketAddr::V4(a)) => {
                slog!(INFO, "SOCKS5/TOR resolved \"{host}\" to IPv4");
                u[V4_ADDR..V4_PORT].copy_from_slice(&a.ip().octets());
                u[3] = 0x01;
                u[1] = 0x00;
            }
            Some(SocketAddr::V6(a)) => {
                slog!(INFO, "SOCKS5/TOR resolved \"{host}\" to IPv6");
                u[V4_ADDR..V6_PORT].copy_from_slice(&a.ip().octets());
                u[3] = 0x04;
                u[1] = 0x00;
            }
            None => {
                slog!(ERR, "SOCKS5/TOR failed to resolve \"{host}\"");
                u[1] = 0x04;
            }
        }
    } else {
        slog!(ERR, "Unsupported SOCKS5 command 0x{:02x}", u[1]);
        u[1] = 0x07; // command not supported
    }
    // broken clients expect the same address family in the response
    if u[3] == 0x04 {
        tls.write_all(&u).await?;
    } else {
        u[3] = 0x01;
        tls.write_all(&u[..10]).await?;
    }
    match target {
        Some(t) => Ok(Outcome {
            target: Some(t),
            ..Outcome::default()
        }),
        None => Err(Abort::Close),
    }
}

/// DOMAINNAME: length byte, name, port.
async fn read_name(tls: &mut Wire<'_>) -> Result<(String, u16), Abort> {
    let len = tls.read_u8().await?;
    let mut name = vec![0u8; len as usize];
    tls.read_exact(&mut name).await?;
    let mut port = [0u8; 2];
    tls.read_exact(&mut port).await?;
    Ok((cstr(name), u16::from_be_bytes(port)))
}

/// A received name as C sees it: up to the first NUL.
fn cstr(mut bytes: Vec<u8>) -> String {
    if let Some(i) = bytes.iter().position(|&b| b == 0) {
        bytes.truncate(i);
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// stunnel's `validate`: no target may be a loopback address.
fn validate(addrs: &[SocketAddr]) -> bool {
    for a in addrs {
        match a.ip() {
            IpAddr::V6(ip) if ip == Ipv6Addr::LOCALHOST => {
                slog!(ERR, "SOCKS connection to the IPv6 loopback rejected");
                return false;
            }
            IpAddr::V4(ip) if ip.octets()[0] == 127 => {
                slog!(ERR, "SOCKS connection to the IPv4 loopback rejected");
                return false;
            }
            _ => {}
        }
    }
    true
}
