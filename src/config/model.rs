//! What a validated stunnel configuration *means*.
//!
//! Everything here is plain data. The config reader (`config::resolve`) is the
//! only producer; the TLS layer, the listeners and the connections consume it.
//! No I/O, no tokio, no openssl: a `Config` can be built and compared in a unit
//! test, and a reload can diff two of them with `==`.
//!
//! An option's value is declared once, in `options/table.rs`: the global
//! section is the declared [`Global`] itself, and a service carries its
//! declared [`ServiceOptions`] unchanged. What stands beside them here is
//! only what a section's end computes from several options (endpoints,
//! `exec` with its argv, the protocol, SNI), so a plain option reaches its
//! user without being copied.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use super::options::{Global, ServiceOptions};
pub use super::types::*;

/// A whole configuration file after validation.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Options of the global section (before the first `[section]`).
    pub global: Global,
    /// Every `[section]`, in file order. Empty in inetd mode.
    pub services: Vec<Service>,
    /// The inetd-mode service: the global section's service-level options.
    /// Only present when `services` is empty.
    pub inetd: Option<Box<Service>>,
    /// The file the configuration was read from, as shown in log lines
    /// (`Reading configuration from file X` / `from descriptor N`).
    pub origin: String,
}

impl Config {
    /// stunnel's rule: a file without `[sections]` runs one connection on
    /// stdin/stdout (inetd mode); `inetd` holds that implicit service.
    pub fn is_inetd(&self) -> bool {
        self.services.is_empty()
    }
}

/// One `[section]` (or the inetd-mode service), validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    /// The section's options as declared, stunnel's defaults filled in.
    /// Client-mode ticket secrets are dropped (stunnel ignores them).
    pub options: ServiceOptions,
    /// Listening addresses (`accept`, several lines allowed).
    pub accept: Vec<Endpoint>,
    /// Targets (`connect`, several lines; one failover list).
    pub connect: Vec<Endpoint>,
    /// Server mode: targets for clients that failed authentication.
    pub redirect: Vec<Endpoint>,
    /// `exec` program, its argv (`execArgs`, argv[0] included) and `pty`.
    pub exec: Option<Exec>,
    pub protocol: Option<Protocol>,
    /// `proxyIn` + `proxyFrom` (rstunnel extension): read a load balancer's
    /// PROXY header before anything else.
    pub proxy_in: Option<ProxyIn>,
    /// Server-side SNI secondary: `sni = PRIMARY:PATTERN`.
    pub sni_route: Option<SniRoute>,
    /// Client mode: the server name to send (`sni`, else from
    /// `protocolHost` or the first `connect`); `None` = SNI disabled (`sni =`).
    pub sni_name: Option<String>,
}

pub const DEFAULT_CIPHERS: &str = "HIGH:!aNULL:!SSLv2:!DH:!kDHEPSK";
pub const DEFAULT_CIPHERSUITES: &str =
    "TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256";
pub const DEFAULT_CURVES: &str = "X25519:P-256:X448:P-521:P-384";

/// The TLS values stunnel computes when a section ends from an option left
/// unset.
impl ServiceOptions {
    /// `key`, else the `cert` file (it holds both).
    pub fn key(&self) -> Option<&Path> {
        self.key.as_deref().or(self.cert.as_deref())
    }

    /// OpenSSL cipher string for TLS <= 1.2.
    pub fn ciphers(&self) -> &str {
        self.ciphers.as_deref().unwrap_or(DEFAULT_CIPHERS)
    }

    /// TLS 1.3 suites.
    pub fn ciphersuites(&self) -> &str {
        self.ciphersuites.as_deref().unwrap_or(DEFAULT_CIPHERSUITES)
    }

    pub fn curves(&self) -> &str {
        self.curves.as_deref().unwrap_or(DEFAULT_CURVES)
    }

    /// `sessionCacheTimeout`; a negative value makes sessions expire at
    /// once, as 0 does.
    pub fn session_timeout(&self) -> Duration {
        Duration::from_secs(u64::try_from(self.session_cache_timeout).unwrap_or(0))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exec {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub pty: bool,
    /// The program's stderr stays the daemon's (`foreground = yes|quiet`);
    /// otherwise it goes to the connection as stdout does (stunnel:
    /// `if(!global_options.option.foreground) dup2(fd, 2)`). Set once the
    /// global section is known.
    pub keep_stderr: bool,
}

/// `protocol = …` and its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protocol {
    pub kind: ProtocolKind,
    pub host: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub authentication: Option<String>,
    pub domain: Option<String>,
    pub headers: Vec<String>,
    /// `protocolDestination` (rstunnel extension): where a server-mode
    /// CONNECT or SOCKS negotiation may take a client. Empty: any address,
    /// and no Unix socket.
    pub destinations: Vec<Destination>,
    /// `proxyVersion` (rstunnel extension): the PROXY header `protocol =
    /// proxy` writes; v1, stunnel's line, unless the file says v2.
    pub proxy_version: ProxyVersion,
}

/// A server-side SNI secondary: attach to `primary`'s listener for names
/// matching `pattern` (`*.x` = suffix match, case-insensitive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SniRoute {
    pub primary: String,
    pub pattern: String,
}

/// `proxyIn` (rstunnel extension): which PROXY protocol versions a service
/// reads, and from which balancers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyIn {
    pub accept: ProxyVersions,
    /// `proxyFrom` networks: only these peers' headers are read; anyone
    /// else is a direct client (its own address counts).
    pub from: Vec<(IpAddr, u8)>,
}
