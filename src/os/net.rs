//! Name resolution, the one place rstunnel calls libc's `getaddrinfo`
//! (thread-safe, system resolver order, NSS for `/etc/hosts` and
//! `/etc/services`), stunnel's texts for its errors, and the one printer of
//! socket addresses in stunnel's form ([`fmt_inet`]).
//!
//! Callers: configuration values (`config::addr`, host literals and names
//! checked at load), TCP service names (`https` → 443), and the targets a
//! negotiation resolves per connection (`protocol::net`, in a blocking
//! task). Blocking: never call it on an async worker.

use std::ffi::CString;
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};

/// What to ask `getaddrinfo` for (always TCP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Query {
    /// `AF_UNSPEC`, `AF_INET`, `AF_INET6`.
    pub family: i32,
    /// `AI_*` flags.
    pub flags: i32,
}

impl Query {
    /// Any family, no flags.
    pub const ANY: Query = Query {
        family: libc::AF_UNSPEC,
        flags: 0,
    };
}

/// `127.0.0.1:443` / `::1:443`: stunnel prints IPv6 addresses without
/// brackets.
pub fn fmt_inet(addr: &SocketAddr) -> String {
    format!("{}:{}", addr.ip(), addr.port())
}

/// `getaddrinfo(host, service)`: the addresses in the resolver's order
/// (port 0 without a service), or the `EAI_*` code. A string with a NUL
/// inside cannot name anything (`EAI_NONAME`).
pub fn getaddrinfo(
    host: Option<&str>,
    service: Option<&str>,
    query: Query,
) -> Result<Vec<SocketAddr>, i32> {
    let c = |s: &str| CString::new(s).map_err(|_| libc::EAI_NONAME);
    let host = host.map(c).transpose()?;
    let service = service.map(c).transpose()?;
    // SAFETY: addrinfo is a plain C struct for which all-zero is valid
    // (null pointers, zero flags).
    let mut hints: libc::addrinfo = unsafe { std::mem::zeroed() };
    hints.ai_family = query.family;
    hints.ai_socktype = libc::SOCK_STREAM;
    hints.ai_protocol = libc::IPPROTO_TCP;
    hints.ai_flags = query.flags;
    let as_ptr = |s: &Option<CString>| s.as_ref().map_or(std::ptr::null(), |s| s.as_ptr());
    let mut res: *mut libc::addrinfo = std::ptr::null_mut();
    // SAFETY: valid C strings (or null) and hints; the list is freed below.
    let rc = unsafe { libc::getaddrinfo(as_ptr(&host), as_ptr(&service), &hints, &mut res) };
    if rc != 0 {
        return Err(rc);
    }
    let addrs = collect(res);
    // SAFETY: res came from a successful getaddrinfo.
    unsafe { libc::freeaddrinfo(res) };
    Ok(addrs)
}

/// The addresses of a list `getaddrinfo` returned.
fn collect(res: *mut libc::addrinfo) -> Vec<SocketAddr> {
    let mut out = Vec::new();
    let mut cur = res;
    while !cur.is_null() {
        // SAFETY: cur walks the list getaddrinfo returned; each ai_addr
        // holds the sockaddr type its ai_family names.
        let ai = unsafe { &*cur };
        if !ai.ai_addr.is_null() {
            match ai.ai_family {
                libc::AF_INET => {
                    // SAFETY: the family says sockaddr_in.
                    let sin = unsafe { &*(ai.ai_addr as *const libc::sockaddr_in) };
                    out.push(SocketAddr::V4(SocketAddrV4::new(
                        u32::from_be(sin.sin_addr.s_addr).into(),
                        u16::from_be(sin.sin_port),
                    )));
                }
                libc::AF_INET6 => {
                    // SAFETY: the family says sockaddr_in6.
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

/// The port of TCP service `name` (`https` → 443), as getaddrinfo finds it
/// (`/etc/services` through NSS).
pub fn tcp_service_port(name: &str) -> Option<u16> {
    let query = Query {
        family: libc::AF_INET,
        flags: libc::AI_PASSIVE,
    };
    getaddrinfo(None, Some(name), query)
        .ok()?
        .first()
        .map(SocketAddr::port)
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

/// The C library's text for a `getaddrinfo` error (`gai_strerror`), which
/// stunnel prints for the targets a negotiation resolves.
pub fn gai_system_text(code: i32) -> String {
    // SAFETY: gai_strerror returns a pointer to a static string.
    unsafe { std::ffi::CStr::from_ptr(libc::gai_strerror(code)) }
        .to_string_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_service_names_and_errors() {
        assert_eq!(
            getaddrinfo(Some("127.0.0.1"), Some("80"), Query::ANY),
            Ok(vec!["127.0.0.1:80".parse().unwrap()])
        );
        assert_eq!(
            getaddrinfo(Some("::1"), None, Query::ANY),
            Ok(vec!["[::1]:0".parse().unwrap()])
        );
        assert_eq!(tcp_service_port("https"), Some(443));
        assert_eq!(tcp_service_port("no-such-service-xyz"), None);
        assert_eq!(
            getaddrinfo(Some("a\0b"), None, Query::ANY),
            Err(libc::EAI_NONAME)
        );
        assert_eq!(
            gai_text(libc::EAI_NONAME),
            "Neither nodename nor servname known (EAI_NONAME)"
        );
    }
}
