//! Lookups in the system's network databases that stunnel makes through
//! libc: TCP service names (`/etc/services` through NSS, as
//! `getservbyname`/`getaddrinfo` read it).

use std::ffi::CString;

/// The port of TCP service `name` (`https` → 443), as getaddrinfo finds it.
pub fn tcp_service_port(name: &str) -> Option<u16> {
    let service = CString::new(name).ok()?;
    // SAFETY: addrinfo is a plain C struct for which all-zero is valid
    // (null pointers, zero flags).
    let mut hints: libc::addrinfo = unsafe { std::mem::zeroed() };
    hints.ai_family = libc::AF_INET;
    hints.ai_socktype = libc::SOCK_STREAM;
    hints.ai_flags = libc::AI_PASSIVE;
    let mut res: *mut libc::addrinfo = std::ptr::null_mut();
    // SAFETY: valid NUL-terminated service, valid hints, out-pointer freed below.
    let rc = unsafe { libc::getaddrinfo(std::ptr::null(), service.as_ptr(), &hints, &mut res) };
    if rc != 0 || res.is_null() {
        return None;
    }
    // SAFETY: res is a valid list returned by getaddrinfo with AF_INET.
    unsafe {
        let sa = (*res).ai_addr as *const libc::sockaddr_in;
        let port = (!sa.is_null()).then(|| u16::from_be((*sa).sin_port));
        libc::freeaddrinfo(res);
        port
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_from_the_services_database() {
        assert_eq!(super::tcp_service_port("https"), Some(443));
        assert_eq!(super::tcp_service_port("no-such-service-rstunnel"), None);
    }
}
