//! The network services a negotiation may need besides its two streams:
//! name resolution (CONNECT/SOCKS servers choose the target, with stunnel's
//! `hostport2addrlist` semantics) and one outgoing TCP connection (the LDAP
//! bind of a `capwin` server).
//!
//! The connection passes a `&dyn Net`; [`SystemNet`] is the plain
//! implementation (getaddrinfo in a blocking task, tokio TCP). Tests can pass
//! their own to map test names to addresses. Not here: failover, socket
//! options, binding: those are the connection's.

use super::hook::{BoxFuture, Io, Net};
use crate::log::{DEBUG, ERR, INFO, NOTICE};
use std::ffi::{CStr, CString};
use std::io;
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};

/// getaddrinfo + tokio TCP.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemNet;

impl Net for SystemNet {
    fn resolve<'a>(
        &'a self,
        host: Option<&'a str>,
        port: &'a str,
    ) -> BoxFuture<'a, Vec<SocketAddr>> {
        let host = host.map(str::to_string);
        let port = port.to_string();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || getaddrinfo(host.as_deref(), &port))
                .await
                .unwrap_or_default()
        })
    }

    fn connect(&self, addr: SocketAddr) -> BoxFuture<'_, io::Result<Box<dyn Io>>> {
        Box::pin(async move {
            slog!(INFO, "s_connect: connecting {}", show(addr));
            match tokio::net::TcpStream::connect(addr).await {
                Ok(s) => {
                    slog!(NOTICE, "s_connect: connected {}", show(addr));
                    Ok(Box::new(s) as Box<dyn Io>)
                }
                Err(e) => {
                    slog!(
                        ERR,
                        "s_connect: connect {}: {}",
                        show(addr),
                        crate::os::errno::of_io(&e)
                    );
                    Err(e)
                }
            }
        })
    }
}

/// stunnel prints IPv6 addresses without brackets (`::1:21002`).
pub(super) fn show(addr: SocketAddr) -> String {
    format!("{}:{}", addr.ip(), addr.port())
}

/// stunnel's `hostport2addrlist`: AF_UNSPEC, SOCK_STREAM, AI_ADDRCONFIG and a
/// retry without it.
fn getaddrinfo(host: Option<&str>, port: &str) -> Vec<SocketAddr> {
    let shown = host.unwrap_or("localhost");
    let (Ok(c_port), Ok(c_host)) = (CString::new(port), host.map(CString::new).transpose()) else {
        slog!(
            ERR,
            "Error resolving \"{shown}\": Name or service not known"
        );
        return Vec::new();
    };
    let mut flags = libc::AI_ADDRCONFIG;
    let mut retries = 0;
    loop {
        // SAFETY: hints is zeroed plain data; the out pointer is freed below.
        let mut hints: libc::addrinfo = unsafe { std::mem::zeroed() };
        hints.ai_family = libc::AF_UNSPEC;
        hints.ai_socktype = libc::SOCK_STREAM;
        hints.ai_protocol = libc::IPPROTO_TCP;
        hints.ai_flags = flags;
        let mut res: *mut libc::addrinfo = std::ptr::null_mut();
        let host_ptr = c_host.as_ref().map_or(std::ptr::null(), |h| h.as_ptr());
        // SAFETY: valid C strings and hints; res is an out pointer.
        let err = unsafe { libc::getaddrinfo(host_ptr, c_port.as_ptr(), &hints, &mut res) };
        if err == 0 {
            let addrs = collect(res);
            // SAFETY: res came from a successful getaddrinfo.
            unsafe { libc::freeaddrinfo(res) };
            return addrs;
        }
        if err == libc::EAI_SERVICE {
            slog!(ERR, "Unknown TCP service \"{port}\"");
            return Vec::new();
        }
        if err == libc::EAI_AGAIN && retries < 3 {
            retries += 1;
            slog!(DEBUG, "getaddrinfo: EAI_AGAIN received: retrying");
            std::thread::sleep(std::time::Duration::from_secs(1));
            continue;
        }
        if flags & libc::AI_ADDRCONFIG != 0 {
            flags &= !libc::AI_ADDRCONFIG;
            continue;
        }
        // SAFETY: gai_strerror returns a static string.
        let text = unsafe { CStr::from_ptr(libc::gai_strerror(err)) }.to_string_lossy();
        slog!(ERR, "Error resolving \"{shown}\": {text}");
        return Vec::new();
    }
}

fn collect(res: *mut libc::addrinfo) -> Vec<SocketAddr> {
    let mut out = Vec::new();
    let mut cur = res;
    while !cur.is_null() {
        // SAFETY: cur walks the list getaddrinfo returned.
        let ai = unsafe { &*cur };
        if !ai.ai_addr.is_null() {
            match ai.ai_family {
                libc::AF_INET => {
                    // SAFETY: family says sockaddr_in.
                    let sin = unsafe { &*(ai.ai_addr as *const libc::sockaddr_in) };
                    let ip = std::net::Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
                    out.push(SocketAddr::V4(SocketAddrV4::new(
                        ip,
                        u16::from_be(sin.sin_port),
                    )));
                }
                libc::AF_INET6 => {
                    // SAFETY: family says sockaddr_in6.
                    let sin6 = unsafe { &*(ai.ai_addr as *const libc::sockaddr_in6) };
                    out.push(SocketAddr::V6(SocketAddrV6::new(
                        sin6.sin6_addr.s6_addr.into(),
                        u16::from_be(sin6.sin6_port),
                        sin6.sin6_flowinfo,
                        sin6.sin6_scope_id,
                    )));
                }
                _ => {}
            }
        }
        cur = ai.ai_next;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn resolves_numbers_service_names_and_the_default_host() {
        let net = SystemNet;
        let a = net.resolve(Some("127.0.0.1"), "80").await;
        assert_eq!(a, vec!["127.0.0.1:80".parse().unwrap()]);
        let b = net.resolve(None, "1234").await;
        assert!(!b.is_empty() && b.iter().all(|x| x.ip().is_loopback() && x.port() == 1234));
        let c = net.resolve(Some("127.0.0.1"), "no-such-service-xyz").await;
        assert!(c.is_empty());
        assert_eq!(show("[::1]:5".parse().unwrap()), "::1:5");
    }
}
