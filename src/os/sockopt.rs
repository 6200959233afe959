//! `socket = a|l|r:NAME=VALUE` (stunnel-reference §5.12): the parsed
//! options applied to one descriptor with setsockopt.
//!
//! Parsing, the option table and the defaults (`a:SO_REUSEADDR=yes`,
//! `l:`/`r:TCP_NODELAY=yes`) belong to the config layer; this file only
//! maps each [`SocketValue`] to its C representation, as stunnel's
//! `socket_options_set`: int, `struct linger`, `struct timeval`, or a
//! NUL-terminated string (its length counts the NUL).

use std::ffi::CString;
use std::mem::size_of;
use std::os::fd::RawFd;

use crate::config::model::{SocketOption, SocketValue};

/// Apply `opts` in order. EOPNOTSUPP (a Unix socket, stdin/stdout) is
/// skipped with stunnel's debug line; any other failure stops with
/// stunnel's `NAME: strerror (errno)` text for the caller to log (a
/// listening address then fails to bind; for accepted/outgoing sockets the
/// caller only warns, as stunnel does).
pub fn apply_socket_options(fd: RawFd, opts: &[SocketOption]) -> Result<(), String> {
    for opt in opts {
        let result = match &opt.value {
            SocketValue::Int(v) => set(fd, opt, v),
            SocketValue::Linger { on, seconds } => {
                let l = libc::linger {
                    l_onoff: i32::from(*on),
                    l_linger: *seconds,
                };
                set(fd, opt, &l)
            }
            SocketValue::Time { seconds, micros } => {
                let t = libc::timeval {
                    tv_sec: *seconds as libc::time_t,
                    tv_usec: *micros as libc::suseconds_t,
                };
                set(fd, opt, &t)
            }
            SocketValue::Text(text) => match CString::new(text.as_str()) {
                Ok(c) => set_bytes(fd, opt, c.as_bytes_with_nul()),
                Err(_) => Err(nix::errno::Errno::EINVAL),
            },
        };
        match result {
            Ok(()) => {}
            Err(nix::errno::Errno::EOPNOTSUPP) => {
                crate::slog!(
                    crate::log::DEBUG,
                    "Option {} not supported on socket",
                    opt.label
                );
            }
            Err(e) => return Err(super::errno::labelled(opt.label, e)),
        }
    }
    Ok(())
}

fn set<T>(fd: RawFd, opt: &SocketOption, value: &T) -> nix::Result<()> {
    // SAFETY: `value` is a live `T` of exactly `size_of::<T>()` bytes.
    let bytes =
        unsafe { std::slice::from_raw_parts(value as *const T as *const u8, size_of::<T>()) };
    set_bytes(fd, opt, bytes)
}

fn set_bytes(fd: RawFd, opt: &SocketOption, bytes: &[u8]) -> nix::Result<()> {
    // SAFETY: pointer and length describe `bytes`; the kernel validates fd.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            opt.level,
            opt.name,
            bytes.as_ptr().cast(),
            bytes.len() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(nix::errno::Errno::last())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use libc::{IPPROTO_IP, IPPROTO_TCP, IP_TOS, SOL_SOCKET, TCP_KEEPIDLE, TCP_NODELAY};
    use libc::{SO_BINDTODEVICE, SO_KEEPALIVE, SO_LINGER, SO_RCVTIMEO};
    use std::os::fd::AsRawFd;
    use SocketValue::{Int, Linger, Text, Time};

    fn opt(level: i32, name: i32, label: &'static str, value: SocketValue) -> SocketOption {
        SocketOption {
            level,
            name,
            label,
            value,
        }
    }

    /// `getsockopt` into a C value (an int, `linger`, `timeval`, a name).
    fn get<T: Copy>(fd: RawFd, level: i32, name: i32) -> (T, usize) {
        // SAFETY: only called with C integers, byte arrays and structs of
        // integers, for which all-zero bytes are a valid value.
        let mut value: T = unsafe { std::mem::zeroed() };
        let mut len = size_of::<T>() as libc::socklen_t;
        // SAFETY: `value` has `len` writable bytes.
        let rc =
            unsafe { libc::getsockopt(fd, level, name, (&mut value as *mut T).cast(), &mut len) };
        assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
        (value, len as usize)
    }

    #[test]
    fn values_round_trip_through_getsockopt() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let sock = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let fd = sock.as_raw_fd();
        let linger = Linger {
            on: true,
            seconds: 5,
        };
        let timeout = Time {
            seconds: 2,
            micros: 500_000,
        };
        let opts = [
            opt(SOL_SOCKET, SO_KEEPALIVE, "SO_KEEPALIVE", Int(1)),
            opt(IPPROTO_TCP, TCP_NODELAY, "TCP_NODELAY", Int(1)),
            opt(IPPROTO_TCP, TCP_KEEPIDLE, "TCP_KEEPIDLE", Int(77)),
            opt(IPPROTO_IP, IP_TOS, "IP_TOS", Int(0x10)),
            opt(SOL_SOCKET, SO_LINGER, "SO_LINGER", linger),
            opt(SOL_SOCKET, SO_RCVTIMEO, "SO_RCVTIMEO", timeout),
        ];
        apply_socket_options(fd, &opts).unwrap();
        assert_eq!(get::<i32>(fd, SOL_SOCKET, SO_KEEPALIVE).0, 1);
        assert_eq!(get::<i32>(fd, IPPROTO_TCP, TCP_NODELAY).0, 1);
        assert_eq!(get::<i32>(fd, IPPROTO_TCP, TCP_KEEPIDLE).0, 77);
        assert_eq!(get::<i32>(fd, IPPROTO_IP, IP_TOS).0, 0x10);
        let (linger, _) = get::<libc::linger>(fd, SOL_SOCKET, SO_LINGER);
        assert_eq!((linger.l_onoff != 0, linger.l_linger), (true, 5));
        let (tv, _) = get::<libc::timeval>(fd, SOL_SOCKET, SO_RCVTIMEO);
        assert_eq!((tv.tv_sec, tv.tv_usec), (2, 500_000));
    }

    #[test]
    fn bind_to_device_takes_a_string() {
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let fd = sock.as_raw_fd();
        let lo = Text("lo".into());
        let device = [opt(SOL_SOCKET, SO_BINDTODEVICE, "SO_BINDTODEVICE", lo)];
        match apply_socket_options(fd, &device) {
            Ok(()) => {
                let (name, _) = get::<[u8; 16]>(fd, SOL_SOCKET, SO_BINDTODEVICE);
                assert_eq!(&name[..2], b"lo");
            }
            // Without CAP_NET_RAW the kernel refuses; the text is stunnel's.
            Err(e) => assert_eq!(e, "SO_BINDTODEVICE: Operation not permitted (1)"),
        }
        let nosuchdev = Text("nosuchdev0".into());
        let missing = [opt(
            SOL_SOCKET,
            SO_BINDTODEVICE,
            "SO_BINDTODEVICE",
            nosuchdev,
        )];
        let err = apply_socket_options(fd, &missing).unwrap_err();
        assert!(err.starts_with("SO_BINDTODEVICE: "), "{err}");
    }

    #[test]
    fn failure_reports_the_option_and_errno() {
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let bad = [opt(SOL_SOCKET, 9999, "SO_BOGUS", SocketValue::Int(1))];
        assert_eq!(
            apply_socket_options(sock.as_raw_fd(), &bad).unwrap_err(),
            "SO_BOGUS: Protocol not available (92)"
        );
        let closed = [opt(
            SOL_SOCKET,
            SO_KEEPALIVE,
            "SO_KEEPALIVE",
            SocketValue::Int(1),
        )];
        assert_eq!(
            apply_socket_options(-1, &closed).unwrap_err(),
            "SO_KEEPALIVE: Bad file descriptor (9)"
        );
    }

    #[test]
    fn unsupported_option_is_skipped() {
        // TCP_NODELAY on a Unix socket: EOPNOTSUPP, which stunnel only logs.
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        let opts = [opt(
            IPPROTO_TCP,
            TCP_NODELAY,
            "TCP_NODELAY",
            SocketValue::Int(1),
        )];
        assert_eq!(
            set(a.as_raw_fd(), &opts[0], &1i32),
            Err(nix::errno::Errno::EOPNOTSUPP)
        );
        apply_socket_options(a.as_raw_fd(), &opts).unwrap();
    }
}
