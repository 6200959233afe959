//! Turning `model::Endpoint` values into socket addresses the way stunnel
//! does, and printing addresses the way stunnel prints them.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;

use crate::config::model::Endpoint;

/// A resolved place to bind or connect to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Address {
    Inet(SocketAddr),
    Unix(PathBuf),
}

impl std::fmt::Display for Address {
    /// stunnel's form: `127.0.0.1:443`, IPv6 without brackets (`::1:443`),
    /// Unix sockets as `localhost:/path`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Address::Inet(a) => f.write_str(&fmt_inet(a)),
            Address::Unix(p) => write!(f, "localhost:{}", p.display()),
        }
    }
}

pub use crate::os::net::fmt_inet;

/// Where a `connect` endpoint points. No host means loopback, IPv6 first, as
/// stunnel's resolver answers on Linux (stunnel-reference §3.2 `connect`).
pub fn resolve_connect(endpoint: &Endpoint) -> io::Result<Vec<Address>> {
    resolve(
        endpoint,
        [Ipv6Addr::LOCALHOST.into(), Ipv4Addr::LOCALHOST.into()],
    )
}

/// Where an `accept` endpoint listens. No host means both wildcards, IPv4
/// first; the IPv6 bind then usually fails harmlessly, as in stunnel.
pub fn resolve_accept(endpoint: &Endpoint) -> io::Result<Vec<Address>> {
    resolve(
        endpoint,
        [Ipv4Addr::UNSPECIFIED.into(), Ipv6Addr::UNSPECIFIED.into()],
    )
}

/// `endpoint`'s addresses; a port without a host stands for `no_host`.
fn resolve(endpoint: &Endpoint, no_host: [IpAddr; 2]) -> io::Result<Vec<Address>> {
    match endpoint {
        Endpoint::Unix(path) => Ok(vec![Address::Unix(path.clone())]),
        Endpoint::Inet { host: None, port } => Ok(no_host
            .iter()
            .map(|ip| Address::Inet(SocketAddr::new(*ip, *port)))
            .collect()),
        Endpoint::Inet {
            host: Some(host),
            port,
        } => lookup(host, *port),
    }
}

/// Blocking getaddrinfo, duplicates removed, resolver order kept.
fn lookup(host: &str, port: u16) -> io::Result<Vec<Address>> {
    let found = crate::os::net::getaddrinfo(Some(host), None, crate::os::net::Query::ANY).map_err(
        |code| {
            // std's wording, which these lines always had.
            io::Error::other(format!(
                "failed to lookup address information: {}",
                crate::os::net::gai_system_text(code)
            ))
        },
    )?;
    let mut out: Vec<Address> = Vec::new();
    for mut addr in found {
        addr.set_port(port);
        let addr = Address::Inet(addr);
        if !out.contains(&addr) {
            out.push(addr);
        }
    }
    if out.is_empty() {
        return Err(io::Error::new(io::ErrorKind::NotFound, "no address"));
    }
    Ok(out)
}

/// Resolve a list of endpoints into one ordered failover list.
pub fn resolve_all(endpoints: &[Endpoint]) -> io::Result<Vec<Address>> {
    let mut out = Vec::new();
    for endpoint in endpoints {
        out.extend(resolve_connect(endpoint)?);
    }
    Ok(out)
}

/// [`resolve_all`] off the async workers (a name lookup blocks), for a
/// connection's `connect` (`delay = yes`) or `redirect` list; a failure is
/// logged as `Error resolving WHAT target: …` and leaves no target.
pub async fn resolve_all_off_workers(endpoints: &[Endpoint], what: &str) -> Vec<Address> {
    let endpoints = endpoints.to_vec();
    match tokio::task::spawn_blocking(move || resolve_all(&endpoints)).await {
        Ok(Ok(list)) => list,
        Ok(Err(e)) => {
            crate::slog!(crate::log::ERR, "Error resolving {what} target: {e}");
            Vec::new()
        }
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_is_printed_without_brackets() {
        let a: SocketAddr = "[::1]:21002".parse().unwrap();
        assert_eq!(Address::Inet(a).to_string(), "::1:21002");
    }

    #[test]
    fn port_only_connect_is_loopback_v6_then_v4() {
        let got = resolve_connect(&Endpoint::Inet {
            host: None,
            port: 81,
        })
        .unwrap();
        assert_eq!(
            got.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
            ["::1:81", "127.0.0.1:81"]
        );
    }
}
