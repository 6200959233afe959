//! Reading the PROXY protocol header a load balancer puts before the
//! client's bytes (`proxyIn`, rstunnel extension): HAProxy's v1 text line
//! and v2 binary header, as its specification (doc/proxy-protocol.txt)
//! defines them. A pure parser over what has arrived so far; the connection
//! layer peeks, asks, and consumes exactly the header.

use std::net::{IpAddr, SocketAddr};

use super::proxy_v2::{CMD_LOCAL, CMD_PROXY, FIXED_LEN, SIGNATURE, TCP4, TCP6, UNSPEC};
pub use crate::config::model::ProxyVersions as Accept;

/// The longest v1 line, CRLF included (the specification's 107).
const V1_MAX: usize = 107;
/// The longest v2 header read (see `proxy_v2::READ_MAX`).
pub const V2_MAX: usize = super::proxy_v2::READ_MAX;

/// What the bytes so far amount to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// Not enough bytes yet to decide.
    Incomplete,
    /// A whole header of `len` bytes. `addresses` is the client and the
    /// address it reached (`None`: v1 `UNKNOWN` or v2 `LOCAL`, e.g. the
    /// balancer's own health check: use the real peer).
    Header {
        len: usize,
        addresses: Option<(SocketAddr, SocketAddr)>,
    },
    /// Not a header this service accepts; the reason, for the log line.
    Invalid(String),
}

/// Parse the start of a connection.
pub fn parse(bytes: &[u8], accept: Accept) -> Parsed {
    let v2_prefix = bytes.len().min(SIGNATURE.len());
    if bytes[..v2_prefix] == SIGNATURE[..v2_prefix] && !bytes.is_empty() {
        if bytes.len() < SIGNATURE.len() {
            return Parsed::Incomplete;
        }
        if accept == Accept::V1 {
            return invalid("a v2 header where v1 is expected");
        }
        return v2(bytes);
    }
    if b"PROXY "[..bytes.len().min(6)] == bytes[..bytes.len().min(6)] {
        if bytes.len() < 6 {
            return Parsed::Incomplete;
        }
        if accept == Accept::V2 {
            return invalid("a v1 header where v2 is expected");
        }
        return v1(bytes);
    }
    invalid("no PROXY header")
}

fn invalid(why: impl Into<String>) -> Parsed {
    Parsed::Invalid(why.into())
}

/// `PROXY TCP4|TCP6 SRC DST SPORT DPORT\r\n` or `PROXY UNKNOWN …\r\n`.
fn v1(bytes: &[u8]) -> Parsed {
    let window = &bytes[..bytes.len().min(V1_MAX)];
    let Some(end) = window.windows(2).position(|w| w == b"\r\n") else {
        return if bytes.len() >= V1_MAX {
            invalid("v1 line longer than 107 bytes")
        } else {
            Parsed::Incomplete
        };
    };
    let Ok(line) = std::str::from_utf8(&window[..end]) else {
        return invalid("v1 line is not text");
    };
    let len = end + 2;
    let fields: Vec<&str> = line.split(' ').collect();
    match fields.as_slice() {
        ["PROXY", "UNKNOWN", ..] => Parsed::Header {
            len,
            addresses: None,
        },
        ["PROXY", family @ ("TCP4" | "TCP6"), src, dst, sport, dport] => {
            let v6 = *family == "TCP6";
            let ip = |text: &str| -> Option<IpAddr> {
                let ip: IpAddr = text.parse().ok()?;
                (ip.is_ipv6() == v6).then_some(ip)
            };
            let port = |text: &str| -> Option<u16> {
                // No sign, no leading zero (the specification's form).
                let plain = !text.starts_with('0') || text == "0";
                plain.then(|| text.parse().ok()).flatten()
            };
            match (ip(src), ip(dst), port(sport), port(dport)) {
                (Some(s), Some(d), Some(sp), Some(dp)) => Parsed::Header {
                    len,
                    addresses: Some((SocketAddr::new(s, sp), SocketAddr::new(d, dp))),
                },
                _ => invalid(format!("malformed v1 line {line:?}")),
            }
        }
        _ => invalid(format!("malformed v1 line {line:?}")),
    }
}

/// The binary header: signature, version/command, family/protocol, length,
/// addresses, TLVs (skipped).
fn v2(bytes: &[u8]) -> Parsed {
    if bytes.len() < FIXED_LEN {
        return Parsed::Incomplete;
    }
    let (version, command) = (bytes[12] >> 4, bytes[12] & 0x0f);
    if version != super::proxy_v2::VERSION >> 4 {
        return invalid(format!("v2 header with version {version}"));
    }
    let len = FIXED_LEN + usize::from(u16::from_be_bytes([bytes[14], bytes[15]]));
    if len > V2_MAX {
        return invalid(format!("v2 header of {len} bytes (at most {V2_MAX})"));
    }
    if bytes.len() < len {
        return Parsed::Incomplete;
    }
    let body = &bytes[FIXED_LEN..len];
    let header = |addresses| Parsed::Header { len, addresses };
    match command {
        // LOCAL: the balancer speaking for itself; addresses are ignored.
        CMD_LOCAL => header(None),
        CMD_PROXY => match bytes[13] {
            // TCP over IPv4 (4 + 4 + 2 + 2 bytes) or IPv6 (16 + 16 + 2 + 2).
            TCP4 if body.len() >= 12 => header(Some(addresses::<4>(body))),
            TCP6 if body.len() >= 36 => header(Some(addresses::<16>(body))),
            // UNSPEC: unknown origin; use the real peer.
            UNSPEC => header(None),
            other => invalid(format!(
                "v2 header for family/protocol 0x{other:02x} (only TCP over IPv4/IPv6)"
            )),
        },
        other => invalid(format!("v2 header with command {other}")),
    }
}

/// The client and the address it reached out of a v2 TCP body: source and
/// destination IP of `N` bytes each, then source and destination port.
fn addresses<const N: usize>(body: &[u8]) -> (SocketAddr, SocketAddr)
where
    IpAddr: From<[u8; N]>,
{
    let ip = |at: usize| {
        let octets: [u8; N] = body[at..at + N].try_into().expect("N bytes");
        IpAddr::from(octets)
    };
    let port = |at: usize| u16::from_be_bytes([body[at], body[at + 1]]);
    let (source, destination) = (ip(0), ip(N));
    (
        SocketAddr::new(source, port(2 * N)),
        SocketAddr::new(destination, port(2 * N + 2)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    fn header(bytes: &[u8]) -> (usize, Option<(SocketAddr, SocketAddr)>) {
        match parse(bytes, Accept::Any) {
            Parsed::Header { len, addresses } => (len, addresses),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn v1_lines() {
        let line = b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\nGET";
        let (len, addrs) = header(line);
        assert_eq!(len, line.len() - 3);
        assert_eq!(
            addrs,
            Some((
                "192.0.2.1:56324".parse().unwrap(),
                "198.51.100.2:443".parse().unwrap()
            ))
        );
        let (_, addrs) = header(b"PROXY TCP6 2001:db8::1 2001:db8::2 1 2\r\n");
        assert_eq!(addrs.unwrap().0, "[2001:db8::1]:1".parse().unwrap());
        assert_eq!(header(b"PROXY UNKNOWN ffff\r\n").1, None);
        assert_eq!(
            parse(b"PROXY TCP4 1.2.3.4", Accept::Any),
            Parsed::Incomplete
        );
        assert_eq!(parse(b"PROX", Accept::Any), Parsed::Incomplete);
        for bad in [
            &b"PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n"[..],
            b"PROXY TCP4 ::1 5.6.7.8 1 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
            b"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",
            b"\x16\x03\x01\x02\x00",
        ] {
            assert!(
                matches!(parse(bad, Accept::Any), Parsed::Invalid(_)),
                "{bad:?}"
            );
        }
        let long = [b"PROXY ".as_slice(), &[b'x'; 200]].concat();
        assert!(matches!(parse(&long, Accept::Any), Parsed::Invalid(_)));
        assert!(matches!(
            parse(b"PROXY UNKNOWN\r\n", Accept::V2),
            Parsed::Invalid(_)
        ));
    }

    #[test]
    fn v2_headers() {
        let mut h = SIGNATURE.to_vec();
        h.extend([
            0x21, 0x11, 0, 12, 192, 0, 2, 1, 198, 51, 100, 2, 0xdc, 0x04, 0x01, 0xbb,
        ]);
        let (len, addrs) = header(&h);
        assert_eq!(len, 28);
        assert_eq!(
            addrs,
            Some((
                "192.0.2.1:56324".parse().unwrap(),
                "198.51.100.2:443".parse().unwrap()
            ))
        );
        let mut v6 = SIGNATURE.to_vec();
        v6.extend([0x21, 0x21, 0, 36]);
        v6.extend(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1).octets());
        v6.extend(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2).octets());
        v6.extend([0xdc, 0x04, 0x01, 0xbb]);
        assert_eq!(
            header(&v6),
            (
                52,
                Some((
                    "[2001:db8::1]:56324".parse().unwrap(),
                    "[2001:db8::2]:443".parse().unwrap()
                ))
            )
        );
        assert_eq!(parse(&h[..20], Accept::Any), Parsed::Incomplete);
        assert!(matches!(parse(&h, Accept::V1), Parsed::Invalid(_)));
        let mut local = SIGNATURE.to_vec();
        local.extend([0x20, 0x00, 0, 0]);
        assert_eq!(header(&local), (16, None));
        let mut huge = SIGNATURE.to_vec();
        huge.extend([0x21, 0x11, 0xff, 0xff]);
        assert!(matches!(parse(&huge, Accept::Any), Parsed::Invalid(_)));
        let mut udp = SIGNATURE.to_vec();
        udp.extend([0x21, 0x12, 0, 12]);
        udp.extend([0u8; 12]);
        assert!(matches!(parse(&udp, Accept::Any), Parsed::Invalid(_)));
    }
}
