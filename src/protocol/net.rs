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
use std::io;
use std::net::SocketAddr;

use crate::os::net;

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
            slog!(INFO, "s_connect: connecting {}", net::fmt_inet(&addr));
            match tokio::net::TcpStream::connect(addr).await {
                Ok(s) => {
                    slog!(NOTICE, "s_connect: connected {}", net::fmt_inet(&addr));
                    Ok(Box::new(s) as Box<dyn Io>)
                }
                Err(e) => {
                    slog!(
                        ERR,
                        "s_connect: connect {}: {}",
                        net::fmt_inet(&addr),
                        crate::os::errno::of_io(&e)
                    );
                    Err(e)
                }
            }
        })
    }
}

/// stunnel's `hostport2addrlist`: AF_UNSPEC, SOCK_STREAM, AI_ADDRCONFIG and a
/// retry without it; EAI_AGAIN is retried three times, a second apart.
fn getaddrinfo(host: Option<&str>, port: &str) -> Vec<SocketAddr> {
    let shown = host.unwrap_or("localhost");
    let mut query = net::Query {
        family: libc::AF_UNSPEC,
        flags: libc::AI_ADDRCONFIG,
    };
    let mut retries = 0;
    loop {
        let err = match net::getaddrinfo(host, Some(port), query) {
            Ok(addrs) => return addrs,
            Err(err) => err,
        };
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
        if query.flags & libc::AI_ADDRCONFIG != 0 {
            query.flags &= !libc::AI_ADDRCONFIG;
            continue;
        }
        slog!(
            ERR,
            "Error resolving \"{shown}\": {}",
            net::gai_system_text(err)
        );
        return Vec::new();
    }
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
    }
}
