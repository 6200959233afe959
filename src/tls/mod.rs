//! OpenSSL for a service: contexts built once from `model::ServiceOptions`,
//! handshakes driven on tokio streams, and stunnel's log lines about them.
//!
//! The connection layer only sees [`TlsContext`] (built at start-up and on
//! reload, [`build_all`] for a whole configuration so that SNI secondaries
//! reach their primary) and [`TlsStream`] (what a handshake yields).
//!
//! Files: `context` (build order), `policy` (versions, level, ciphers,
//! options, `config`), `session` (with `ticket_keys`: static or file-based, rotating ticket keys),
//! `scope` (which sessions resume where),
//! `certs`, `psk`, `verify`, `sni`, `ocsp` (+ `ocsp_http`), `hello`
//! (ClientHello diagnostics), `handshake` (with `failure`: the cause for the metrics), `stream`, `describe` (with
//! `probe`: trial handshakes in memory), `conn` (per-connection state),
//! `guard` (no panic unwinds into OpenSSL), `ffi` (all `unsafe`),
//! `library` (which OpenSSL, what it has of SSLv3/3DES/RC4), `weak` (the
//! weak suites a context lets through), `suites` (names OpenSSL lacks).

mod certs;
mod conn;
pub mod context;
mod describe;
pub mod errors;
mod failure;
mod ffi;
mod guard;
mod handshake;
mod hello;
pub mod library;
mod ocsp;
mod ocsp_http;
mod policy;
mod probe;
mod psk;
mod scope;
mod session;
mod sni;
mod stapling;
pub mod stream;
mod suites;
mod ticket_keys;
mod verify;
mod weak;

pub use context::{build, build_all, Loading, TlsContext};
pub use errors::TlsError;
pub use stream::{Persistence, TlsStream};

/// Parsers of bytes from the network, public for the fuzz targets (`fuzz/`):
/// the ClientHello inspection behind the failure hints, the OCSP
/// responder's HTTP answer and the responder URL.
#[doc(hidden)]
pub mod parsers {
    pub use super::hello::parse as client_hello;
    pub use super::ocsp_http::{complete_body as ocsp_http_answer, parse as ocsp_url};
}
