//! TLS clients on OpenSSL's own client code (the `openssl` crate): the
//! blocking one-connection client most tests use ([`tls_connect`],
//! [`tls_on`]: no verification, no SNI), and [`Client`], which controls
//! which certificate it shows, which TLS version and kind of session it
//! uses, and which session it offers, so tests can prove what a resumed
//! session is allowed to reach. (The Python `ssl` client of
//! [`exec`](super::exec) is another peer on purpose: a TLS stack nobody
//! here wrote.)

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::Path;
use std::time::Duration;

use openssl::ssl::{
    HandshakeError, SslConnector, SslConnectorBuilder, SslContext, SslContextBuilder, SslFiletype,
    SslMethod, SslOptions, SslSession, SslSessionCacheMode, SslStream, SslVerifyMode, SslVersion,
};

use super::PATIENCE;

/// A TLS client on the real OpenSSL that does not verify the server, to
/// 127.0.0.1:`port`.
pub fn tls_connect(port: u16) -> SslStream<TcpStream> {
    tls_connect_with(port, |_| {}).expect("TLS handshake")
}

/// A TLS client to 127.0.0.1:`port` configured by `setup` (client
/// certificate, CA…).
pub fn tls_connect_with(
    port: u16,
    setup: impl FnOnce(&mut SslConnectorBuilder),
) -> Result<SslStream<TcpStream>, HandshakeError<TcpStream>> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(PATIENCE)).unwrap();
    tcp.set_write_timeout(Some(PATIENCE)).unwrap();
    tls_on(tcp, setup)
}

/// The handshake of [`tls_connect_with`] on a stream already connected
/// (one that carried a PROXY header first, or was queued before the daemon
/// started): no verification, no SNI, no host name check.
pub fn tls_on<S: Read + Write>(
    stream: S,
    setup: impl FnOnce(&mut SslConnectorBuilder),
) -> Result<SslStream<S>, HandshakeError<S>> {
    let mut b = SslConnector::builder(SslMethod::tls_client()).unwrap();
    b.set_verify(SslVerifyMode::NONE);
    setup(&mut b);
    let connector = b.build();
    let mut cfg = connector.configure().unwrap();
    cfg.set_verify_hostname(false);
    cfg.set_use_server_name_indication(false);
    cfg.connect("localhost", stream)
}

/// Send `msg` and read back exactly as many bytes.
pub fn echo(s: &mut SslStream<TcpStream>, msg: &[u8]) -> Vec<u8> {
    s.write_all(msg).unwrap();
    read_n(s, msg.len())
}

pub fn read_n(s: &mut impl Read, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    s.read_exact(&mut buf).unwrap();
    buf
}

/// Close the TLS session cleanly (close_notify both ways, then FIN).
pub fn close(mut s: SslStream<TcpStream>) {
    let _ = s.shutdown();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    let _ = s.get_ref().shutdown(Shutdown::Both);
}

/// The kind of session a client negotiates (and so resumes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    /// TLS 1.2 without tickets: the server's session cache, by id.
    Tls12Id,
    /// TLS 1.2 with a session ticket.
    Tls12Ticket,
    /// TLS 1.3 (tickets are the only kind).
    Tls13Ticket,
}

impl SessionKind {
    pub const ALL: [SessionKind; 3] = [
        SessionKind::Tls12Id,
        SessionKind::Tls12Ticket,
        SessionKind::Tls13Ticket,
    ];
}

/// One client identity and protocol choice; connections made through the
/// same `Client` may resume each other's sessions.
pub struct Client {
    ctx: SslContext,
}

/// What one connection saw.
pub struct Exchange {
    /// Every byte read until EOF (or the error).
    pub received: Vec<u8>,
    /// The handshake resumed the offered session.
    pub reused: bool,
    /// The session to offer next time (the latest ticket in TLS 1.3).
    pub session: Option<SslSession>,
    /// The handshake or a read failed.
    pub error: Option<String>,
    /// The client socket's own address (what a PROXY header names).
    pub local: Option<std::net::SocketAddr>,
}

impl Exchange {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.received).into_owned()
    }
}

const TIMEOUT: Duration = Duration::from_secs(15);

impl Client {
    /// `chain`: a PEM file with the certificate (and any chain) then the
    /// key, or no certificate at all.
    pub fn new(kind: SessionKind, chain: Option<&Path>) -> Client {
        let mut b = SslContextBuilder::new(SslMethod::tls_client()).expect("client context");
        b.set_verify(SslVerifyMode::NONE);
        // Sessions are kept by the caller, not in a cache.
        b.set_session_cache_mode(SslSessionCacheMode::OFF);
        let version = match kind {
            SessionKind::Tls12Id | SessionKind::Tls12Ticket => SslVersion::TLS1_2,
            SessionKind::Tls13Ticket => SslVersion::TLS1_3,
        };
        b.set_min_proto_version(Some(version)).expect("min version");
        b.set_max_proto_version(Some(version)).expect("max version");
        if kind == SessionKind::Tls12Id {
            b.set_options(SslOptions::NO_TICKET);
        }
        if let Some(file) = chain {
            b.set_certificate_chain_file(file).expect("client chain");
            b.set_private_key_file(file, SslFiletype::PEM)
                .expect("client key");
        }
        Client { ctx: b.build() }
    }

    /// Connect to `to`, offer `session`, write `send`, read until EOF.
    pub fn exchange(&self, to: &To<'_>, session: Option<&SslSession>, send: &[u8]) -> Exchange {
        let mut out = Exchange {
            received: Vec::new(),
            reused: false,
            session: None,
            error: None,
            local: None,
        };
        let tcp = to.connect();
        out.local = tcp.local_addr().ok();
        tcp.set_read_timeout(Some(TIMEOUT)).unwrap();
        tcp.set_write_timeout(Some(TIMEOUT)).unwrap();
        let mut ssl = openssl::ssl::Ssl::new(&self.ctx).expect("ssl");
        if let Some(name) = to.servername {
            ssl.set_hostname(name).expect("servername");
        }
        if let Some(s) = session {
            // SAFETY: every session offered came from this client's context.
            unsafe { ssl.set_session(s).expect("offer session") };
        }
        let mut stream = match ssl.connect(tcp) {
            Ok(s) => s,
            Err(e) => {
                out.error = Some(e.to_string());
                return out;
            }
        };
        out.reused = stream.ssl().session_reused();
        if !send.is_empty() {
            if let Err(e) = stream.write_all(send) {
                out.error = Some(e.to_string());
            }
        }
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => out.received.extend_from_slice(&buf[..n]),
                Err(e) => {
                    // A peer that closes without close_notify ends the read
                    // too; only what came before matters.
                    if out.received.is_empty() {
                        out.error = Some(e.to_string());
                    }
                    break;
                }
            }
        }
        // OpenSSL marks a session not resumable when its connection is
        // freed before close_notify was sent.
        let _ = stream.shutdown();
        out.session = stream.ssl().session().map(|s| s.to_owned());
        out
    }
}

/// Where a client connects, from where, and the server name it sends.
#[derive(Debug, Clone, Copy)]
pub struct To<'a> {
    pub host: &'a str,
    pub port: u16,
    /// Bind the client socket to this address first.
    pub source: Option<&'a str>,
    pub servername: Option<&'a str>,
}

impl<'a> To<'a> {
    /// 127.0.0.1:`port`, no server name.
    pub fn local(port: u16) -> To<'static> {
        To {
            host: "127.0.0.1",
            port,
            source: None,
            servername: None,
        }
    }

    pub fn named(self, servername: &'a str) -> To<'a> {
        To {
            servername: Some(servername),
            ..self
        }
    }

    /// A TCP connection from `source` (when set) to `host:port`.
    pub fn connect(&self) -> TcpStream {
        let ip: std::net::Ipv4Addr = self.host.parse().expect("IPv4 host");
        let Some(source) = self.source else {
            return TcpStream::connect((ip, self.port)).expect("connect to the tunnel");
        };
        use nix::sys::socket::{
            bind, connect, socket, AddressFamily, SockFlag, SockType, SockaddrIn,
        };
        use std::os::fd::AsRawFd;
        let fd = socket(
            AddressFamily::Inet,
            SockType::Stream,
            SockFlag::empty(),
            None,
        )
        .expect("socket");
        let from: std::net::Ipv4Addr = source.parse().expect("IPv4 source");
        bind(
            fd.as_raw_fd(),
            &SockaddrIn::from(std::net::SocketAddrV4::new(from, 0)),
        )
        .expect("bind source");
        connect(
            fd.as_raw_fd(),
            &SockaddrIn::from(std::net::SocketAddrV4::new(ip, self.port)),
        )
        .expect("connect to the tunnel");
        TcpStream::from(fd)
    }
}
