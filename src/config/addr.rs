//! `[HOST:]PORT` and `/unix/path` values, the stunnel way
//! (stunnel-reference §3.2 `accept`): split at the **last** `:` (so `:::443`
//! is host `::`, port 443, and `[::1]:443` is a host named `[::1]`), a port
//! may be a service name (`https`), a value starting with `/` is a Unix
//! socket path.
//!
//! Resolution goes through libc's `getaddrinfo` (thread-safe, and it gives
//! the `EAI_*` code that stunnel turns into its own `Error resolving` text).
//! Nothing here opens a socket.

use std::ffi::CString;
use std::net::IpAddr;
use std::path::PathBuf;

use super::model::Endpoint;

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
    crate::os::net::tcp_service_port(text).ok_or_else(unknown)
}

fn unsafe_zeroed_hints() -> libc::addrinfo {
    // SAFETY: addrinfo is a plain C struct for which all-zero is valid
    // (null pointers, zero flags).
    unsafe { std::mem::zeroed() }
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

/// glibc value (defined only under `_GNU_SOURCE`, absent from `libc`).
const EAI_ADDRFAMILY: i32 = -9;

/// stunnel's texts for `getaddrinfo` errors (its `s_gai_strerror`).
pub fn gai_text(code: i32) -> String {
    let text = match code {
        libc::EAI_BADFLAGS => "Invalid value for ai_flags (EAI_BADFLAGS)",
        libc::EAI_NONAME => "Neither nodename nor servname known (EAI_NONAME)",
        libc::EAI_AGAIN => "Temporary failure in name resolution (EAI_AGAIN)",
        libc::EAI_FAIL => "Non-recoverable failure in name resolution (EAI_FAIL)",
        libc::EAI_NODATA => "No address associated with nodename (EAI_NODATA)",
        libc::EAI_FAMILY => "ai_family not supported (EAI_FAMILY)",
        libc::EAI_SOCKTYPE => "ai_socktype not supported (EAI_SOCKTYPE)",
        libc::EAI_SERVICE => "servname not supported for ai_socktype (EAI_SERVICE)",
        EAI_ADDRFAMILY => "Address family for nodename not supported (EAI_ADDRFAMILY)",
        libc::EAI_MEMORY => "Memory allocation failure (EAI_MEMORY)",
        libc::EAI_SYSTEM => "System error returned in errno (EAI_SYSTEM)",
        _ => return format!("Unknown error ({code})"),
    };
    text.to_string()
}

/// Resolve a host name or literal to its addresses, or the line stunnel
/// logs: `Error resolving "HOST": TEXT`.
pub fn resolve_host(host: &str) -> Result<Vec<IpAddr>, String> {
    let fail = |code: i32| format!("Error resolving \"{host}\": {}", gai_text(code));
    let name = CString::new(host).map_err(|_| fail(libc::EAI_NONAME))?;
    let mut hints = unsafe_zeroed_hints();
    hints.ai_family = libc::AF_UNSPEC;
    hints.ai_socktype = libc::SOCK_STREAM;
    // Under the fuzzer (`fuzz/`, built with `--cfg fuzzing`) only literals
    // resolve: a random host name would become a DNS query.
    if cfg!(fuzzing) {
        hints.ai_flags |= libc::AI_NUMERICHOST;
    }
    let mut res: *mut libc::addrinfo = std::ptr::null_mut();
    // SAFETY: valid C string and hints; the list is freed below.
    let rc = unsafe { libc::getaddrinfo(name.as_ptr(), std::ptr::null(), &hints, &mut res) };
    if rc != 0 {
        return Err(fail(rc));
    }
    let mut out = Vec::new();
    let mut cur = res;
    while !cur.is_null() {
        // SAFETY: cur walks the list getaddrinfo returned; each ai_addr
        // matches its ai_family.
        unsafe {
            let ai = &*cur;
            if !ai.ai_addr.is_null() {
                match ai.ai_family {
                    libc::AF_INET => {
                        let sa = &*(ai.ai_addr as *const libc::sockaddr_in);
                        out.push(IpAddr::from(u32::from_be(sa.sin_addr.s_addr).to_be_bytes()));
                    }
                    libc::AF_INET6 => {
                        let sa = &*(ai.ai_addr as *const libc::sockaddr_in6);
                        out.push(IpAddr::from(sa.sin6_addr.s6_addr));
                    }
                    _ => {}
                }
            }
            cur = ai.ai_next;
        }
    }
    if !res.is_null() {
        // SAFETY: res came from a successful getaddrinfo.
        unsafe { libc::freeaddrinfo(res) };
    }
    Ok(out)
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
