//! The shared vocabulary: what a validated stunnel configuration *means*.
//!
//! Everything here is plain data. The config reader (`config::resolve`) is the
//! only producer; the TLS layer, the listeners and the connections consume it.
//! No I/O, no tokio, no openssl: a `Config` can be built and compared in a unit
//! test, and a reload can diff two of them with `==`.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// A whole configuration file after validation.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Options of the global section (before the first `[section]`).
    pub global: Global,
    /// Every `[section]`, in file order. Empty in inetd mode.
    pub services: Vec<Service>,
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

/// Global-only options (stunnel-reference §3.1) plus the service-level
/// options that have a process-wide meaning in the global section.
#[derive(Debug, Clone, PartialEq)]
pub struct Global {
    pub chroot: Option<PathBuf>,
    pub foreground: Foreground,
    pub pid: Option<PathBuf>,
    /// Process identity to switch to after binding (global `setuid`/`setgid`).
    pub setuid: Option<UserId>,
    pub setgid: Option<GroupId>,
    pub output: Option<PathBuf>,
    pub log_mode: LogMode,
    pub syslog: bool,
    pub debug: DebugLevel,
    /// Global `service`: syslog ident and the inetd-mode service name.
    pub service_name: String,
    /// The inetd-mode service: the global section's service-level options.
    /// Only meaningful when `Config::services` is empty.
    pub inetd: Option<Box<Service>>,
    /// `RNDbytes`, `RNDfile`, `RNDoverwrite`: kept so `-version` and reloads
    /// can show them; OpenSSL 3 seeds itself, as stunnel logs
    /// (`No PRNG seeding was required`).
    pub rnd_bytes: i64,
    pub rnd_file: Option<PathBuf>,
    pub rnd_overwrite: bool,
    /// `provider = NAME` lines (OpenSSL 3 providers to load), in order.
    pub providers: Vec<String>,
    /// `fips = yes`: load OpenSSL's FIPS provider and make it the default
    /// (stunnel 5.68 on OpenSSL 3).
    pub fips: bool,
    /// `setEnv = NAME=VALUE` lines in order; `None` = unset the variable.
    /// Applied by the application before anything is spawned.
    pub set_env: Vec<(String, Option<String>)>,
    /// `metrics` (rstunnel extension): where `/metrics` and `/healthz` are
    /// served; `None` without the option.
    pub metrics: Option<Endpoint>,
    /// `TIMEOUTdrain` (rstunnel extension): on SIGTERM/SIGQUIT/SIGINT stop
    /// accepting and let live connections finish for this long; `None` is
    /// stunnel's immediate stop.
    pub drain: Option<Duration>,
    /// `certReload` (rstunnel extension): check the TLS files this often
    /// and rebuild the contexts when they changed; `None`: never.
    pub cert_reload: Option<Duration>,
    /// `workers` (rstunnel extension): processes that share the listening
    /// sockets (SO_REUSEPORT), supervised by the first; 1 = no supervisor.
    pub workers: u32,
}

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

/// A user given by name or number; names are looked up when privileges are
/// dropped, so `-test` does not need the account to exist on the build host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserId {
    Name(String),
    Id(u32),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupId {
    Name(String),
    Id(u32),
}

/// One `[section]` (or the inetd-mode service), fully resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    /// Section name, verbatim (stunnel keeps inner spaces).
    pub name: String,
    /// `client = yes`: plain on the accepted side, TLS on the connect side.
    pub client: bool,
    /// `logProbes` (rstunnel extension, default yes): `no` logs a client that
    /// closes before sending a byte at debug level only.
    pub log_probes: bool,
    /// `proxyIn` + `proxyFrom` (rstunnel extension): read a load balancer's
    /// PROXY header before anything else.
    pub proxy_in: Option<ProxyIn>,
    /// Listening addresses (`accept`, several lines allowed).
    pub accept: Vec<Endpoint>,
    /// Targets (`connect`, several lines; one failover list).
    pub connect: Vec<Endpoint>,
    /// Server mode: targets for clients that failed authentication.
    pub redirect: Vec<Endpoint>,
    /// `delay = yes`: resolve `connect`/`redirect` per connection.
    pub delay: bool,
    pub failover: Failover,
    /// Source address for outgoing connections (`local`).
    pub local: Option<IpAddr>,
    /// `retry` for exec+connect sections: the pause between runs; `None` = no.
    pub retry: Option<Duration>,
    /// `exec` program, its argv (`execArgs`, argv[0] included) and `pty`.
    pub exec: Option<Exec>,
    pub transparent: Transparent,
    /// `reset = yes`: RST instead of FIN on error exits.
    pub reset: bool,
    pub socket_options: SocketOptions,
    pub timeouts: Timeouts,
    /// This service's log threshold (0..=7), inherited from the global `debug`.
    pub debug_level: u8,
    pub log_id: LogId,
    /// RFC 1413 user to require (`ident`).
    pub ident: Option<String>,
    /// Per-section `setuid`/`setgid`: owner of a Unix `accept` socket.
    pub socket_owner: Option<UserId>,
    pub socket_group: Option<GroupId>,
    pub tls: TlsSettings,
    pub protocol: Option<Protocol>,
    /// Server-side SNI secondary: `sni = PRIMARY:PATTERN`.
    pub sni_route: Option<SniRoute>,
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

/// Everything that goes into a service's OpenSSL context (stunnel-reference §6).
#[derive(Debug, Clone, PartialEq)]
pub struct TlsSettings {
    pub cert: Option<PathBuf>,
    /// Defaults to `cert` (resolved already).
    pub key: Option<PathBuf>,
    pub ca_file: Option<PathBuf>,
    pub ca_path: Option<PathBuf>,
    pub crl_file: Option<PathBuf>,
    pub crl_path: Option<PathBuf>,
    /// OpenSSL cipher string for TLS <= 1.2.
    pub ciphers: String,
    /// TLS 1.3 suites.
    pub ciphersuites: String,
    pub curves: String,
    /// `None` = library limit (stunnel's `all`).
    pub min_version: Option<TlsVersion>,
    pub max_version: Option<TlsVersion>,
    /// `securityLevel`; `None` = stunnel's rule (raise to 2 if lower).
    pub security_level: Option<u8>,
    /// `options = NAME` bits and `options = -NAME` bits (SSL_OP_* values).
    pub options_set: u64,
    pub options_clear: u64,
    pub verify: VerifyFlags,
    pub check_host: Vec<String>,
    pub check_email: Vec<String>,
    pub check_ip: Vec<String>,
    /// Client mode: the server name to send; `None` = SNI disabled (`sni =`).
    pub sni_name: Option<String>,
    pub session_cache_size: i64,
    pub session_cache_timeout: Duration,
    pub session_resume: bool,
    pub renegotiation: bool,
    /// `ticketKeySecret` / `ticketMacSecret`, decoded.
    pub ticket_key: Option<Vec<u8>>,
    pub ticket_mac: Option<Vec<u8>>,
    /// rstunnel extension: `ticketKeyFile`, absolute (server mode only).
    /// The TLS layer reads the keys from it and follows its changes.
    pub ticket_key_file: Option<std::path::PathBuf>,
    /// `PSKsecrets` file content as (identity, key) pairs, and `PSKidentity`.
    pub psk_secrets: Vec<(String, Vec<u8>)>,
    pub psk_identity: Option<String>,
    pub ocsp_url: Option<String>,
    pub ocsp_aia: bool,
    pub ocsp_flags: u64,
    pub ocsp_nonce: bool,
    pub ocsp_require: bool,
    /// `OCSPstapling` (rstunnel extension, servers): staple a fetched OCSP
    /// response for the certificate.
    pub ocsp_stapling: bool,
    /// `config = COMMAND[:PARAM]` lines for SSL_CONF_cmd, in order.
    pub conf_cmds: Vec<(String, Option<String>)>,
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
