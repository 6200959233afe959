//! The PROXY protocol v2 binary format, in one place (HAProxy's
//! doc/proxy-protocol.txt, section 2.2): the signature, commands, families
//! and TLV types that the reader (`proxy_in.rs`, `proxyIn`) and the writer
//! (`proxy.rs` with `proxyVersion = v2`) share, and the writer's encoder.
//!
//! The encoder writes what HAProxy's `send-proxy-v2-ssl-cn` writes: the
//! addresses, then PP2_TYPE_ALPN and PP2_TYPE_AUTHORITY when known, then
//! one PP2_TYPE_SSL TLV with the client bits, the verification result and
//! the sub-TLVs (version, cipher, client CN, our certificate's signature and
//! key algorithms). Every value is at most [`MAX_VALUE`] bytes; a longer
//! one is left out rather than cut, since a truncated CN or host name would
//! name someone else. The whole header therefore stays below
//! [`MAX_WRITTEN`], which our own reader ([`READ_MAX`]) accepts, so one
//! rstunnel node can feed another.

use std::net::{IpAddr, SocketAddr};

/// The 12-byte signature that opens every v2 header.
pub const SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// The high nibble of byte 13: protocol version 2.
pub const VERSION: u8 = 0x20;
/// Command (low nibble of byte 13): the proxy speaks for itself (health
/// checks); the receiver uses the real endpoints.
pub const CMD_LOCAL: u8 = 0x0;
/// Command: relayed on behalf of the client the addresses name.
pub const CMD_PROXY: u8 = 0x1;
/// Byte 14, family and transport: unknown or unsupported origin (the
/// receiver keeps the real endpoints but still reads the TLVs).
pub const UNSPEC: u8 = 0x00;
/// TCP over IPv4: 4 + 4 + 2 + 2 bytes of addresses.
pub const TCP4: u8 = 0x11;
/// TCP over IPv6: 16 + 16 + 2 + 2 bytes of addresses.
pub const TCP6: u8 = 0x21;
/// The fixed part: signature, version/command, family, length.
pub const FIXED_LEN: usize = 16;
/// The longest v2 header `proxyIn` reads: the fixed part and up to 2 KiB of
/// addresses and TLVs (HAProxy sends a few dozen bytes; the format allows
/// 64 KiB, which a tunnel has no reason to buffer).
pub const READ_MAX: usize = FIXED_LEN + 2048;

/// TLV types (section 2.2.x).
pub const TYPE_ALPN: u8 = 0x01;
pub const TYPE_AUTHORITY: u8 = 0x02;
pub const TYPE_SSL: u8 = 0x20;
/// Sub-TLVs of PP2_TYPE_SSL.
pub const SUBTYPE_SSL_VERSION: u8 = 0x21;
pub const SUBTYPE_SSL_CN: u8 = 0x22;
pub const SUBTYPE_SSL_CIPHER: u8 = 0x23;
pub const SUBTYPE_SSL_SIG_ALG: u8 = 0x24;
pub const SUBTYPE_SSL_KEY_ALG: u8 = 0x25;
/// Bits of the PP2_TYPE_SSL `client` byte: the client connected over TLS;
/// it presented a certificate on this connection; it presented one at some
/// point of the TLS session (a resumed session carries it).
pub const CLIENT_SSL: u8 = 0x01;
pub const CLIENT_CERT_CONN: u8 = 0x02;
pub const CLIENT_CERT_SESS: u8 = 0x04;

/// The longest value the encoder writes (a host name, a CN, an ALPN
/// protocol: all at most 255 bytes by their own standards).
pub const MAX_VALUE: usize = 255;
/// An upper bound of what [`encode`] returns: the fixed part, IPv6
/// addresses, ALPN and AUTHORITY, and the SSL TLV with its five sub-TLVs.
pub const MAX_WRITTEN: usize = FIXED_LEN + 36 + 2 * (3 + MAX_VALUE) + 3 + 5 + 5 * (3 + MAX_VALUE);
const _: () = assert!(
    MAX_WRITTEN <= READ_MAX,
    "our reader must accept what we write"
);

/// What the TLS handshake with the client established, for the TLVs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFacts {
    /// `SSL_get_version`: "TLSv1.3".
    pub version: String,
    /// The OpenSSL name of the cipher: "TLS_AES_256_GCM_SHA384".
    pub cipher: String,
    /// The host name the client sent (SNI).
    pub sni: Option<String>,
    /// The application protocol negotiated (ALPN).
    pub alpn: Option<Vec<u8>>,
    /// The client's certificate, if it presented one (now or in the
    /// session this connection resumes).
    pub client_cert: Option<ClientCert>,
    /// Our certificate's signature algorithm ("RSA-SHA256") and key
    /// ("RSA2048", "EC256").
    pub sig_alg: Option<String>,
    pub key_alg: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientCert {
    /// The first commonName of its subject.
    pub cn: Option<String>,
    /// Sent in this handshake (not only remembered by a resumed session).
    pub this_connection: bool,
    /// 0 when it passed verification, else the X509 verification code (1
    /// if OpenSSL's own result was OK but stunnel's checks refused it).
    pub verify: u32,
}

/// The v2 header for a connection from `peer` to `local`, with the TLVs of
/// `tls` (none without it: the connection was not TLS). Without two IP
/// addresses (a Unix socket, `exec`), the command is LOCAL with family
/// UNSPEC and no addresses, as HAProxy itself sends it: the receiver uses
/// the real endpoints. (PROXY over UNSPEC, which the specification also
/// allows, is refused by HAProxy 2.6 as "an invalid PROXY protocol
/// header".) The TLVs still follow, for receivers that read them.
pub fn encode(
    peer: Option<SocketAddr>,
    local: Option<SocketAddr>,
    tls: Option<&TlsFacts>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(&SIGNATURE);
    match (peer, local) {
        (Some(src), Some(dst)) => {
            out.push(VERSION | CMD_PROXY);
            addresses(&mut out, src, dst);
        }
        _ => out.extend_from_slice(&[VERSION | CMD_LOCAL, UNSPEC, 0, 0]),
    }
    if let Some(tls) = tls {
        if let Some(alpn) = &tls.alpn {
            tlv(&mut out, TYPE_ALPN, alpn);
        }
        if let Some(sni) = &tls.sni {
            tlv(&mut out, TYPE_AUTHORITY, sni.as_bytes());
        }
        ssl(&mut out, tls);
    }
    let len = u16::try_from(out.len() - FIXED_LEN).unwrap_or(u16::MAX);
    out[14..16].copy_from_slice(&len.to_be_bytes());
    debug_assert!(out.len() <= MAX_WRITTEN, "v2 header of {} bytes", out.len());
    out
}

/// Family byte, a zero length for now, and the address block. Mixed
/// families (only possible with a carried client) are written as IPv6,
/// IPv4 ones mapped.
fn addresses(out: &mut Vec<u8>, src: SocketAddr, dst: SocketAddr) {
    match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            out.extend_from_slice(&[TCP4, 0, 0]);
            out.extend_from_slice(&s.octets());
            out.extend_from_slice(&d.octets());
        }
        (s, d) => {
            let v6 = |ip: IpAddr| match ip {
                IpAddr::V4(v4) => v4.to_ipv6_mapped(),
                IpAddr::V6(v6) => v6,
            };
            out.extend_from_slice(&[TCP6, 0, 0]);
            out.extend_from_slice(&v6(s).octets());
            out.extend_from_slice(&v6(d).octets());
        }
    }
    out.extend_from_slice(&src.port().to_be_bytes());
    out.extend_from_slice(&dst.port().to_be_bytes());
}

/// PP2_TYPE_SSL: client bits, verify, then the sub-TLVs.
fn ssl(out: &mut Vec<u8>, tls: &TlsFacts) {
    let start = out.len();
    out.extend_from_slice(&[TYPE_SSL, 0, 0]);
    let (client, verify) = match &tls.client_cert {
        Some(cert) => {
            let conn = if cert.this_connection {
                CLIENT_CERT_CONN
            } else {
                0
            };
            (CLIENT_SSL | CLIENT_CERT_SESS | conn, cert.verify)
        }
        // Non-zero: no certificate was verified.
        None => (CLIENT_SSL, 1),
    };
    out.push(client);
    out.extend_from_slice(&verify.to_be_bytes());
    tlv(out, SUBTYPE_SSL_VERSION, tls.version.as_bytes());
    tlv(out, SUBTYPE_SSL_CIPHER, tls.cipher.as_bytes());
    let cn = tls.client_cert.as_ref().and_then(|c| c.cn.as_deref());
    for (kind, value) in [
        (SUBTYPE_SSL_CN, cn),
        (SUBTYPE_SSL_SIG_ALG, tls.sig_alg.as_deref()),
        (SUBTYPE_SSL_KEY_ALG, tls.key_alg.as_deref()),
    ] {
        if let Some(value) = value {
            tlv(out, kind, value.as_bytes());
        }
    }
    let len = (out.len() - start - 3) as u16;
    out[start + 1..start + 3].copy_from_slice(&len.to_be_bytes());
}

/// One TLV; an empty or over-long value is left out (see the module doc).
fn tlv(out: &mut Vec<u8>, kind: u8, value: &[u8]) {
    if value.is_empty() || value.len() > MAX_VALUE {
        return;
    }
    out.push(kind);
    out.extend_from_slice(&(value.len() as u16).to_be_bytes());
    out.extend_from_slice(value);
}

/// The TLVs of a TLV block as (type, value), stopping at the first one that
/// overruns the block: for tests, and for readers that want them.
pub fn tlvs(mut block: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
    std::iter::from_fn(move || {
        if block.len() < 3 {
            return None;
        }
        let len = usize::from(u16::from_be_bytes([block[1], block[2]]));
        let value = block.get(3..3 + len)?;
        let kind = block[0];
        block = &block[3 + len..];
        Some((kind, value))
    })
}

#[cfg(test)]
mod tests {
    use super::super::proxy_in::{self, Accept, Parsed};
    use super::*;

    fn facts() -> TlsFacts {
        TlsFacts {
            version: "TLSv1.3".into(),
            cipher: "TLS_AES_256_GCM_SHA384".into(),
            sni: Some("www.example.org".into()),
            alpn: Some(b"h2".to_vec()),
            client_cert: Some(ClientCert {
                cn: Some("alice".into()),
                this_connection: true,
                verify: 0,
            }),
            sig_alg: Some("RSA-SHA256".into()),
            key_alg: Some("RSA2048".into()),
        }
    }

    /// Our reader takes what we write: the whole header, the addresses,
    /// and not one byte of the client's data that follows.
    fn read_back(header: &[u8]) -> Option<(SocketAddr, SocketAddr)> {
        let mut wire = header.to_vec();
        wire.extend_from_slice(b"\x16\x03\x01client data");
        match proxy_in::parse(&wire, Accept::Any) {
            Parsed::Header { len, addresses } => {
                assert_eq!(len, header.len());
                addresses
            }
            other => panic!("{other:?}"),
        }
    }

    fn tlv_block(header: &[u8], addresses: usize) -> &[u8] {
        &header[FIXED_LEN + addresses..]
    }

    #[test]
    fn ipv4_header_round_trips_with_every_tlv() {
        let (p, l) = (
            "192.0.2.1:56324".parse().unwrap(),
            "198.51.100.2:443".parse().unwrap(),
        );
        let h = encode(Some(p), Some(l), Some(&facts()));
        assert_eq!(&h[..12], &SIGNATURE);
        assert_eq!((h[12], h[13]), (0x21, 0x11));
        assert_eq!(
            usize::from(u16::from_be_bytes([h[14], h[15]])),
            h.len() - 16
        );
        assert_eq!(read_back(&h), Some((p, l)));
        let top: Vec<(u8, &[u8])> = tlvs(tlv_block(&h, 12)).collect();
        assert_eq!(
            top.iter().map(|t| t.0).collect::<Vec<_>>(),
            [TYPE_ALPN, TYPE_AUTHORITY, TYPE_SSL]
        );
        assert_eq!(top[0].1, b"h2");
        assert_eq!(top[1].1, b"www.example.org");
        let ssl = top[2].1;
        assert_eq!(ssl[0], CLIENT_SSL | CLIENT_CERT_CONN | CLIENT_CERT_SESS);
        assert_eq!(&ssl[1..5], &[0, 0, 0, 0]);
        let subs: Vec<(u8, &[u8])> = tlvs(&ssl[5..]).collect();
        assert_eq!(
            subs,
            [
                (SUBTYPE_SSL_VERSION, &b"TLSv1.3"[..]),
                (SUBTYPE_SSL_CIPHER, b"TLS_AES_256_GCM_SHA384"),
                (SUBTYPE_SSL_CN, b"alice"),
                (SUBTYPE_SSL_SIG_ALG, b"RSA-SHA256"),
                (SUBTYPE_SSL_KEY_ALG, b"RSA2048"),
            ]
        );
    }

    #[test]
    fn without_a_client_certificate_verify_is_not_zero() {
        let tls = TlsFacts {
            client_cert: None,
            sni: None,
            alpn: None,
            ..facts()
        };
        let p = "[2001:db8::1]:1".parse().unwrap();
        let l = "[2001:db8::2]:2".parse().unwrap();
        let h = encode(Some(p), Some(l), Some(&tls));
        assert_eq!(h[13], TCP6);
        assert_eq!(read_back(&h), Some((p, l)));
        let top: Vec<(u8, &[u8])> = tlvs(tlv_block(&h, 36)).collect();
        assert_eq!(top.len(), 1);
        assert_eq!(top[0].1[0], CLIENT_SSL);
        assert_eq!(&top[0].1[1..5], &[0, 0, 0, 1]);
        // A resumed session: the certificate came with the session only.
        let resumed = TlsFacts {
            client_cert: Some(ClientCert {
                cn: None,
                this_connection: false,
                verify: 20,
            }),
            ..facts()
        };
        let h = encode(Some(p), Some(l), Some(&resumed));
        let ssl = tlvs(tlv_block(&h, 36)).find(|t| t.0 == TYPE_SSL).unwrap().1;
        assert_eq!(ssl[0], CLIENT_SSL | CLIENT_CERT_SESS);
        assert_eq!(&ssl[1..5], &[0, 0, 0, 20]);
    }

    /// A Unix socket or `exec` peer: LOCAL over UNSPEC, which the reader
    /// takes as "use the real endpoints", TLVs skipped.
    #[test]
    fn non_ip_peers_are_local_unspec() {
        let l = "127.0.0.1:443".parse().ok();
        for (peer, local) in [(None, l), (l, None), (None, None)] {
            let h = encode(peer, local, Some(&facts()));
            assert_eq!((h[12], h[13]), (0x20, UNSPEC));
            assert_eq!(read_back(&h), None);
            assert!(tlvs(tlv_block(&h, 0)).any(|t| t.0 == TYPE_SSL));
        }
    }

    #[test]
    fn mixed_families_are_written_as_ipv6() {
        let p: SocketAddr = "192.0.2.1:5".parse().unwrap();
        let l: SocketAddr = "[::1]:443".parse().unwrap();
        let h = encode(Some(p), Some(l), Some(&facts()));
        assert_eq!(h[13], TCP6);
        let (src, dst) = read_back(&h).unwrap();
        assert_eq!(src, "[::ffff:192.0.2.1]:5".parse().unwrap());
        assert_eq!(dst, l);
    }

    /// Over-long values are left out, never cut; the worst case stays
    /// within what our reader accepts.
    #[test]
    fn values_are_bounded() {
        let long = "x".repeat(MAX_VALUE + 1);
        let edge = "y".repeat(MAX_VALUE);
        let tls = TlsFacts {
            version: edge.clone(),
            cipher: edge.clone(),
            sni: Some(long.clone()),
            alpn: Some(edge.clone().into_bytes()),
            client_cert: Some(ClientCert {
                cn: Some("z".repeat(100_000)),
                this_connection: true,
                verify: 0,
            }),
            sig_alg: Some(edge.clone()),
            key_alg: Some(edge.clone()),
        };
        let p = "[2001:db8::1]:1".parse().ok();
        let h = encode(p, p, Some(&tls));
        assert!(h.len() <= MAX_WRITTEN);
        read_back(&h);
        let top: Vec<u8> = tlvs(tlv_block(&h, 36)).map(|t| t.0).collect();
        assert_eq!(top, [TYPE_ALPN, TYPE_SSL], "over-long SNI left out");
        let ssl = tlvs(tlv_block(&h, 36)).find(|t| t.0 == TYPE_SSL).unwrap().1;
        assert!(!tlvs(&ssl[5..]).any(|t| t.0 == SUBTYPE_SSL_CN));
        let full = TlsFacts {
            sni: Some(edge.clone()),
            client_cert: Some(ClientCert {
                cn: Some(edge),
                this_connection: true,
                verify: 0,
            }),
            ..tls
        };
        let h = encode(p, p, Some(&full));
        assert_eq!(h.len(), MAX_WRITTEN, "the bound is exact");
        read_back(&h);
    }

    #[test]
    fn without_tls_there_are_no_tlvs() {
        let p = "192.0.2.1:5".parse().ok();
        let h = encode(p, p, None);
        assert_eq!(h.len(), FIXED_LEN + 12);
        read_back(&h);
    }

    #[test]
    fn tlv_iterator_stops_at_an_overrun() {
        let block = [0x01, 0x00, 0x02, b'h', b'2', 0x02, 0x00, 0x09, b'x'];
        let got: Vec<(u8, &[u8])> = tlvs(&block).collect();
        assert_eq!(got, [(0x01, &b"h2"[..])]);
    }
}
