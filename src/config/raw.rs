//! What the option apply functions write: the values of one section as read,
//! before defaults are computed and before end-of-section validation.
//!
//! A `[section]` starts as a clone of the global section's [`RawService`]
//! (stunnel copies its "default service"), so list options (`connect`,
//! `checkHost`, `config`, …) *append* to the global ones, the `options` masks
//! are extended and `verify*` lines keep modifying the inherited flags
//! (stunnel-reference §2.2, §2.3). Fields that stunnel computes when a
//! section ends (ciphers, key = cert, client SNI, …) stay `None` here and are
//! filled in by `resolve`.

use std::net::IpAddr;
use std::path::PathBuf;

use super::model::{
    DebugLevel, Failover, Foreground, GroupId, LogId, LogMode, SocketOptions, Timeouts, TlsVersion,
    Transparent, UserId, VerifyFlags,
};

/// Global-only options (stunnel-reference §3.1) plus the global meaning of
/// `debug`, `service`, `setuid` and `setgid`.
#[derive(Debug, Clone, PartialEq)]
pub struct RawGlobal {
    pub chroot: Option<PathBuf>,
    pub foreground: Foreground,
    pub log_mode: LogMode,
    pub output: Option<PathBuf>,
    pub pid: Option<PathBuf>,
    pub syslog: bool,
    pub debug: DebugLevel,
    pub service_name: String,
    pub setuid: Option<UserId>,
    pub setgid: Option<GroupId>,
    pub rnd_bytes: i64,
    pub rnd_file: Option<PathBuf>,
    pub rnd_overwrite: bool,
    /// `provider = NAME` lines, in order (loaded by the TLS layer).
    pub providers: Vec<String>,
    /// `setEnv = NAME=VALUE` (`None` = unset), in order.
    pub set_env: Vec<(String, Option<String>)>,
}

impl Default for RawGlobal {
    fn default() -> Self {
        RawGlobal {
            chroot: None,
            foreground: Foreground::No,
            log_mode: LogMode::Append,
            output: None,
            pid: None,
            syslog: true,
            debug: DebugLevel {
                facility: libc::LOG_DAEMON,
                level: 5,
            },
            service_name: "stunnel".to_string(),
            setuid: None,
            setgid: None,
            rnd_bytes: 1024,
            rnd_file: Some(PathBuf::from("/dev/urandom")),
            rnd_overwrite: true,
            providers: Vec::new(),
            set_env: Vec::new(),
        }
    }
}

/// One section's service-level values as read.
#[derive(Debug, Clone, PartialEq)]
pub struct RawService {
    /// Section name (or the `service =` rename).
    pub name: String,
    pub client: bool,
    /// `accept`/`connect`/`redirect` values as written; split and checked
    /// when the section ends, as stunnel resolves them then.
    pub accept: Vec<String>,
    pub connect: Vec<String>,
    pub redirect: Vec<String>,
    pub delay: bool,
    pub failover: Failover,
    pub local: Option<IpAddr>,
    /// stunnel 5.68: `retry = yes|no`.
    pub retry: bool,
    pub exec: Option<PathBuf>,
    /// `execArgs`, or the `exec` path if `exec` came first (stunnel's rule).
    pub exec_args: Option<Vec<String>>,
    pub pty: bool,
    pub transparent: Transparent,
    pub reset: bool,
    pub socket_options: SocketOptions,
    pub timeouts: Timeouts,
    pub debug_level: u8,
    pub log_id: LogId,
    pub ident: Option<String>,
    pub socket_owner: Option<UserId>,
    pub socket_group: Option<GroupId>,
    /// `stack`: validated and kept for `-version`-style reporting only;
    /// tokio tasks have no per-connection thread stack.
    pub stack: i64,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub ca_file: Option<PathBuf>,
    pub ca_path: Option<PathBuf>,
    pub crl_file: Option<PathBuf>,
    pub crl_path: Option<PathBuf>,
    pub ciphers: Option<String>,
    pub ciphersuites: Option<String>,
    pub curves: Option<String>,
    pub min_version: Option<TlsVersion>,
    pub max_version: Option<TlsVersion>,
    pub security_level: Option<u8>,
    pub options_set: u64,
    pub options_clear: u64,
    pub verify: VerifyFlags,
    pub check_host: Vec<String>,
    pub check_email: Vec<String>,
    pub check_ip: Vec<String>,
    /// `sni` as written; its meaning depends on `client` at section end.
    pub sni: Option<String>,
    pub session_cache_size: i64,
    pub session_cache_timeout: i64,
    pub session_resume: bool,
    pub renegotiation: bool,
    pub ticket_key: Option<Vec<u8>>,
    pub ticket_mac: Option<Vec<u8>>,
    pub psk_secrets: Vec<(String, Vec<u8>)>,
    pub psk_identity: Option<String>,
    pub ocsp_url: Option<String>,
    pub ocsp_aia: bool,
    pub ocsp_flags: u64,
    pub ocsp_nonce: bool,
    pub ocsp_require: bool,
    pub conf_cmds: Vec<(String, Option<String>)>,
    /// `protocol` name as written; checked when the section ends.
    pub protocol: Option<String>,
    pub protocol_host: Option<String>,
    pub protocol_username: Option<String>,
    pub protocol_password: Option<String>,
    pub protocol_authentication: Option<String>,
    pub protocol_domain: Option<String>,
    pub protocol_headers: Vec<String>,
}

impl Default for RawService {
    fn default() -> Self {
        RawService {
            name: String::new(),
            client: false,
            accept: Vec::new(),
            connect: Vec::new(),
            redirect: Vec::new(),
            delay: false,
            failover: Failover::Priority,
            local: None,
            retry: false,
            exec: None,
            exec_args: None,
            pty: false,
            transparent: Transparent::None,
            reset: true,
            socket_options: super::options::net::default_socket_options(),
            timeouts: Timeouts::default(),
            debug_level: 5,
            log_id: LogId::Sequential,
            ident: None,
            socket_owner: None,
            socket_group: None,
            stack: 65536,
            cert: None,
            key: None,
            ca_file: None,
            ca_path: None,
            crl_file: None,
            crl_path: None,
            ciphers: None,
            ciphersuites: None,
            curves: None,
            min_version: None,
            max_version: None,
            security_level: None,
            options_set: 0,
            options_clear: 0,
            verify: VerifyFlags::default(),
            check_host: Vec::new(),
            check_email: Vec::new(),
            check_ip: Vec::new(),
            sni: None,
            session_cache_size: 1000,
            session_cache_timeout: 300,
            session_resume: true,
            renegotiation: true,
            ticket_key: None,
            ticket_mac: None,
            psk_secrets: Vec::new(),
            psk_identity: None,
            ocsp_url: None,
            ocsp_aia: false,
            ocsp_flags: 0,
            ocsp_nonce: false,
            ocsp_require: true,
            conf_cmds: Vec::new(),
            protocol: None,
            protocol_host: None,
            protocol_username: None,
            protocol_password: None,
            protocol_authentication: None,
            protocol_domain: None,
            protocol_headers: Vec::new(),
        }
    }
}

/// The reader's whole state for the section being read: option apply
/// functions get this. `in_global` tells service-level options with a
/// global meaning (`debug`, `service`, `setuid`, `setgid`) where they are.
pub struct Target<'a> {
    pub global: &'a mut RawGlobal,
    pub service: &'a mut RawService,
    pub in_global: bool,
}
