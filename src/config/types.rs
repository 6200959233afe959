//! The values options take: addresses, versions, flags, modes. Plain data,
//! shared by the option parsers (`options/`), the section declarations
//! (`options/table.rs`) and everything that reads a configuration (through
//! [`super::model`], which re-exports them).

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Foreground {
    /// `foreground = no`: daemonize.
    No,
    /// `foreground = yes`: stay attached and also log to stderr.
    Yes,
    /// `foreground = quiet`: stay attached, no stderr logging.
    Quiet,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogMode {
    Append,
    Overwrite,
}

/// `debug = [facility.]level`; levels are syslog's 0 (emerg) .. 7 (debug).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DebugLevel {
    /// syslog facility code as in `<syslog.h>` (LOG_DAEMON by default).
    pub facility: i32,
    pub level: u8,
}

/// A `[HOST:]PORT` or `/unix/path` value as written, split the stunnel way
/// (at the last `:`). Name resolution happens at bind/connect time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Inet {
        /// `None` when only a port was given: wildcard for `accept`,
        /// loopback for `connect`.
        host: Option<String>,
        port: u16,
    },
    Unix(PathBuf),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failover {
    RoundRobin,
    Priority,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transparent {
    None,
    Source,
    Destination,
    Both,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogId {
    Sequential,
    Unique,
    Thread,
    Process,
}

/// `socket = a|l|r:NAME=VALUE`, one list per socket kind, in the order the
/// options are applied. Defaults (`a:SO_REUSEADDR=yes`, `l:`/`r:TCP_NODELAY=yes`)
/// are already included; a later line for the same name replaces the value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SocketOptions {
    pub accept: Vec<SocketOption>,
    pub local: Vec<SocketOption>,
    pub remote: Vec<SocketOption>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketOption {
    /// `SOL_SOCKET`, `IPPROTO_TCP`, …
    pub level: i32,
    /// `SO_REUSEADDR`, `TCP_NODELAY`, …
    pub name: i32,
    /// The name as written, for log lines and `-sockets`.
    pub label: &'static str,
    pub value: SocketValue,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocketValue {
    Int(i32),
    Linger { on: bool, seconds: i32 },
    Time { seconds: i64, micros: i64 },
    Text(String),
}

/// stunnel's TIMEOUT* options. `None` means "wait forever" (a negative value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub busy: Option<Duration>,
    pub close: Option<Duration>,
    pub connect: Option<Duration>,
    pub idle: Option<Duration>,
    pub ocsp: Option<Duration>,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            busy: Some(Duration::from_secs(300)),
            close: Some(Duration::from_secs(60)),
            connect: Some(Duration::from_secs(10)),
            idle: Some(Duration::from_secs(43200)),
            ocsp: Some(Duration::from_secs(5)),
        }
    }
}

/// TLS protocol versions as `sslVersion*` spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    Ssl3,
    Tls1,
    Tls1_1,
    Tls1_2,
    Tls1_3,
}

/// stunnel's four verification flags (stunnel-reference §6.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VerifyFlags {
    /// Ask for / look at the peer certificate.
    pub request: bool,
    /// Fail the handshake if the client sends none (server side).
    pub require: bool,
    /// Verify the chain to a trusted root.
    pub chain: bool,
    /// The leaf must be present in the trust store.
    pub peer: bool,
}

/// One `protocolDestination` rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// Addresses in `network` (`None`: any) on a port in `ports`.
    Inet {
        network: Option<(IpAddr, u8)>,
        ports: (u16, u16),
    },
    /// One Unix socket path, or every socket below a directory when the
    /// path ends with `/`.
    Unix(PathBuf),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtocolKind {
    Cifs,
    Capwin,
    Capwinctrl,
    Connect,
    Imap,
    Ldap,
    Nntp,
    Pgsql,
    Pop3,
    Proxy,
    Smtp,
    Socks,
}

impl ProtocolKind {
    /// Every kind, for tables that must cover them all (tests, fuzzing).
    pub const ALL: [ProtocolKind; 12] = [
        ProtocolKind::Cifs,
        ProtocolKind::Capwin,
        ProtocolKind::Capwinctrl,
        ProtocolKind::Connect,
        ProtocolKind::Imap,
        ProtocolKind::Ldap,
        ProtocolKind::Nntp,
        ProtocolKind::Pgsql,
        ProtocolKind::Pop3,
        ProtocolKind::Proxy,
        ProtocolKind::Smtp,
        ProtocolKind::Socks,
    ];
}

/// `proxyVersion = v1 | v2`: the PROXY header written to the backend.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ProxyVersion {
    /// stunnel's text line.
    #[default]
    V1,
    /// The binary header with TLS TLVs.
    V2,
}

/// `proxyIn = v1 | v2 | any`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyVersions {
    V1,
    V2,
    Any,
}
