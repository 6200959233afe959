//! `[HOST:]PORT` and `/unix/path` values, the stunnel way
//! (stunnel-reference §3.2 `accept`): split at the **last** `:` (so `:::443`
//! is host `::`, port 443, and `[::1]:443` is a host named `[::1]`), a port
//! may be a service name (`https`), a value starting with `/` is a Unix
//! socket path.
//!
//! Resolution goes through `os::net` (libc's `getaddrinfo`, whose `EAI_*`
//! code stunnel turns into its own `Error resolving` text).
//! Nothing here opens a socket.

use std::net::IpAddr;
use std::path::PathBuf;

use super::types::Endpoint;
use crate::os::net;

/// A value split but not yet checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Split<'a> {
    Inet {
        host: Option<&'a str>,
        port: &'a str,
    },
    Unix(&'a str),
}

pub fn split(value: &str) -> Split<'_> {
    if value.starts_with('/') {
        return Split::Unix(value);
    }
    match value.rfind(':') {
        Some(i) => {
            let host = &value[..i];
            Split::Inet {
                host: (!host.is_empty()).then_some(host),
                port: &value[i + 1..],
            }
        }
        None => Split::Inet {
            host: None,
            port: value,
        },
    }
}

/// A port number or TCP service name → number, or stunnel's
/// `Unknown TCP service "X"`. (stunnel lets `65536` wrap to 0; rstunnel
/// rejects ports above 65535.)
pub fn port(text: &str) -> Result<u16, String> {
    let unknown = || format!("Unknown TCP service \"{text}\"");
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse::<u16>().map_err(|_| unknown());
    }
    net::tcp_service_port(text).ok_or_else(unknown)
}

/// Parse an endpoint value, checking the port (not the host).
pub fn endpoint(value: &str) -> Result<Endpoint, String> {
    match split(value) {
        Split::Unix(path) => Ok(Endpoint::Unix(PathBuf::from(path))),
        Split::Inet { host, port: p } => Ok(Endpoint::Inet {
            host: host.map(str::to_string),
            port: port(p)?,
        }),
    }
}

/// Resolve a host name or literal to its addresses, or the line stunnel
/// logs: `Error resolving "HOST": TEXT`.
pub fn resolve_host(host: &str) -> Result<Vec<IpAddr>, String> {
    let mut query = net::Query::ANY;
    // Under the fuzzer (`fuzz/`, built with `--cfg fuzzing`) only literals
    // resolve: a random host name would become a DNS query.
    if cfg!(fuzzing) {
        query.flags |= libc::AI_NUMERICHOST;
    }
    net::getaddrinfo(Some(host), None, query)
        .map(|addrs| addrs.iter().map(|a| a.ip()).collect())
        .map_err(|code| format!("Error resolving \"{host}\": {}", net::gai_text(code)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_at_last_colon() {
        assert_eq!(
            split(":::443"),
            Split::Inet {
                host: Some("::"),
                port: "443"
            }
        );
        assert_eq!(
            split("::1:443"),
            Split::Inet {
                host: Some("::1"),
                port: "443"
            }
        );
        assert_eq!(
            split("443"),
            Split::Inet {
                host: None,
                port: "443"
            }
        );
        assert_eq!(
            split(":443"),
            Split::Inet {
                host: None,
                port: "443"
            }
        );
        assert_eq!(
            split("a.b:https"),
            Split::Inet {
                host: Some("a.b"),
                port: "https"
            }
        );
        assert_eq!(split("/run/x.sock"), Split::Unix("/run/x.sock"));
    }

    #[test]
    fn ports_by_number_and_name() {
        assert_eq!(port("443"), Ok(443));
        assert_eq!(port("0"), Ok(0));
        assert_eq!(port("https"), Ok(443));
        assert_eq!(port("bar"), Err("Unknown TCP service \"bar\"".to_string()));
        assert_eq!(port("-1"), Err("Unknown TCP service \"-1\"".to_string()));
        assert_eq!(
            port("65536"),
            Err("Unknown TCP service \"65536\"".to_string())
        );
        assert_eq!(
            port("1 ; x"),
            Err("Unknown TCP service \"1 ; x\"".to_string())
        );
    }

    #[test]
    fn literals_resolve_without_dns() {
        assert_eq!(
            resolve_host("127.0.0.1"),
            Ok(vec!["127.0.0.1".parse().expect("ip")])
        );
        assert_eq!(resolve_host("::1"), Ok(vec!["::1".parse().expect("ip")]));
        assert!(resolve_host("[::1]").is_err());
    }
}
