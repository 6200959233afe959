//! What a negotiation hook is given and what it returns: the streams, the
//! connection facts (`Ctx`), the outcome and the ways to fail; and the
//! network services it may ask for (`Net`). Data and traits only: the
//! negotiators (`smtp.rs`, `socks.rs`, …), the line reader (`line.rs`), the
//! table and `run` (`mod.rs`) all build on this file, which builds on none
//! of them.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;

use tokio::io::{AsyncRead, AsyncWrite};

use super::busy::Busy;
pub use super::proxy_v2::TlsFacts;
use crate::config::model::Protocol;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A byte stream a negotiation talks on: a TCP socket, a TLS stream, a pipe.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + ?Sized> Io for T {}

/// The three points of `client_try` where stunnel calls a protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// After accept, before any TLS or remote connection.
    Early,
    /// Between the TLS handshake and the remote connection (in the order of
    /// `config::protocols::connects_before_tls`).
    Middle,
    /// Both sides up, before the transfer.
    Late,
}

/// What a hook needs to know about the connection.
pub struct Ctx<'a> {
    /// The section's `protocol*` options.
    pub settings: &'a Protocol,
    /// `client = yes`.
    pub client: bool,
    /// `TIMEOUTbusy`: the longest wait of each read or write and of this
    /// negotiation as a whole; one per phase.
    pub busy: Busy,
    /// Address of the accepted client (`getpeername` of local); `None` when
    /// local is not an IP socket (Unix socket, inetd pipes).
    pub peer: Option<SocketAddr>,
    /// Address of stunnel's accepting socket the client reached
    /// (`getsockname` of local), for the PROXY line.
    pub local_addr: Option<SocketAddr>,
    /// Section name, for log lines.
    pub service: &'a str,
    /// `SO_ORIGINAL_DST` of the accepted socket (SOCKS client); `None` if the
    /// kernel has none (no REDIRECT/DNAT rule matched).
    pub original_dst: Option<SocketAddr>,
    /// Name resolution and outgoing connections of the negotiations.
    pub net: &'a dyn Net,
    /// What the TLS handshake with the client established, for the PROXY v2
    /// TLVs; `None` before the handshake, in client mode, and when no
    /// negotiator of this service reports it.
    pub tls: Option<&'a TlsFacts>,
}

/// Where a protocol decided the connection goes (CONNECT/SOCKS server).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Resolved addresses, tried in order like a `connect` list.
    Addrs(Vec<SocketAddr>),
    /// A `/path` Unix socket: stunnel's CONNECT server parses the request
    /// target with the `connect` parser, which accepts these.
    Unix(PathBuf),
}

/// A hook that finished normally.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Connect here instead of the configured `connect` targets.
    pub target: Option<Target>,
    /// Bytes read from local that belong to the TLS handshake: prepend them
    /// with [`Rewind`] (SMTP/IMAP server when the client talked first).
    pub pushback: Vec<u8>,
}

/// A negotiation failure: the connection ends here (stunnel's
/// `throw_exception`). The reason was already logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Abort {
    /// Error exit: RST when `reset = yes` (`throw_exception(c, 1)`).
    Reset,
    /// Deliberate graceful close, "don't reset" (`throw_exception(c, 2)`).
    Close,
}

pub type HookResult = Result<Outcome, Abort>;

/// The streams a hook works on; `remote` is `None` before it is connected.
pub struct Streams<'a> {
    pub local: &'a mut dyn Io,
    pub remote: Option<&'a mut dyn Io>,
}

impl<'a> Streams<'a> {
    /// Both streams, for hooks that run after the remote is connected.
    pub(super) fn both(self) -> Result<(&'a mut dyn Io, &'a mut dyn Io), Abort> {
        match self.remote {
            Some(remote) => Ok((self.local, remote)),
            None => {
                crate::slog!(crate::log::ERR, "INTERNAL ERROR: remote not connected");
                Err(Abort::Reset)
            }
        }
    }
}

/// What the negotiations ask of the network.
pub trait Net: Send + Sync {
    /// All addresses of `host` (`None` = loopback, as stunnel's default
    /// connect host) and `port` (a number or a service name), in
    /// getaddrinfo order. Empty when resolution fails; the failure is logged
    /// (`Error resolving "x": …`, `Unknown TCP service "x"`).
    fn resolve<'a>(
        &'a self,
        host: Option<&'a str>,
        port: &'a str,
    ) -> BoxFuture<'a, Vec<SocketAddr>>;

    /// A TCP connection to `addr`.
    fn connect(&self, addr: SocketAddr) -> BoxFuture<'_, io::Result<Box<dyn Io>>>;
}

/// Base64 without line breaks, as stunnel's `base64(1, …)`.
pub(super) fn base64(data: &[u8]) -> String {
    openssl::base64::encode_block(data)
}

/// Log `msg` (err) and end the negotiation with a reset.
pub(super) fn fail(msg: &str) -> HookResult {
    crate::slog!(crate::log::ERR, "{msg}");
    Err(Abort::Reset)
}
