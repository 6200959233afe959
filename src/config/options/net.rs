//! Network-side service options: endpoints, exec, failover, transparent,
//! socket options, identity of the connection, retry.
//!
//! `accept`/`connect`/`redirect` are kept as written here: stunnel splits
//! and resolves them when the section ends (an unknown port name in `accept`
//! is `Service [x]: Cannot resolve accept target`, not a line error), see
//! `resolve`.

use std::net::IpAddr;
use std::time::Duration;

use super::declare::Failure;
use super::values::{keyword, strtol};
use crate::config::addr;
use crate::config::types::{
    Destination, Failover, LogId, ProxyVersion, ProxyVersions, SocketOption, SocketOptions,
    SocketValue, Transparent,
};

/// Split on runs of whitespace, no quoting (stunnel's `argalloc`).
pub fn exec_args(v: &str) -> Result<Option<Vec<String>>, Failure> {
    let args = v
        .split(|c: char| c.is_ascii() && crate::config::lexer::is_c_space(c as u8))
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    Ok(Some(args))
}

/// `retry = yes|no|MILLISECONDS` (stunnel 5.70+; 5.68 takes only yes/no,
/// so every file 5.68 runs means the same): the pause before an
/// exec+connect pair runs again, `None` for no retry. `yes` is 1000 ms,
/// 5.68's fixed pause; `0` is no retry, as in 5.70+.
pub fn retry(v: &str) -> Result<Option<Duration>, Failure> {
    if v.eq_ignore_ascii_case("yes") {
        return Ok(Some(Duration::from_secs(1)));
    }
    if v.eq_ignore_ascii_case("no") {
        return Ok(None);
    }
    match strtol(v).map(u64::try_from) {
        Some(Ok(0)) => Ok(None),
        Some(Ok(ms)) => Ok(Some(Duration::from_millis(ms))),
        _ => Err("Illegal retry delay".into()),
    }
}

pub fn failover(v: &str) -> Result<Failover, Failure> {
    let choices = [("rr", Failover::RoundRobin), ("prio", Failover::Priority)];
    keyword(v, &choices)
}

/// `local = HOST`: resolved now, as stunnel does.
pub fn local(v: &str) -> Result<Option<IpAddr>, Failure> {
    match addr::resolve_host(v) {
        Ok(ips) => match ips.first() {
            Some(ip) => Ok(Some(*ip)),
            None => Err("Failed to resolve local address".into()),
        },
        Err(line) => Err(Failure::with_before(
            line,
            "Failed to resolve local address",
        )),
    }
}

pub fn log_id(v: &str) -> Result<LogId, Failure> {
    Ok(match v.to_ascii_lowercase().as_str() {
        "sequential" => LogId::Sequential,
        "unique" => LogId::Unique,
        "thread" => LogId::Thread,
        "process" => LogId::Process,
        _ => return Err("Invalid connection identifier type".into()),
    })
}

pub fn transparent(v: &str) -> Result<Transparent, Failure> {
    Ok(match v.to_ascii_lowercase().as_str() {
        "none" | "no" => Transparent::None,
        "source" | "yes" => Transparent::Source,
        "destination" => Transparent::Destination,
        "both" => Transparent::Both,
        _ => return Err("Selected transparent proxy mode is not available".into()),
    })
}

// ---- socket = a|l|r:NAME=VALUE ----

/// How a socket option's value is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SockType {
    /// `yes`/`no` (any case) or `1`/`0`.
    Flag,
    Int,
    /// `ONOFF[:SECONDS]`.
    Linger,
    /// `SECONDS[:MICROSECONDS]`.
    Time,
    /// At most 15 bytes (`SO_BINDTODEVICE`).
    Text,
}

/// One row of stunnel's Linux socket option table.
pub struct SockDef {
    pub name: &'static str,
    pub level: i32,
    pub optname: i32,
    pub kind: SockType,
    /// stunnel's own defaults for the accept/local/remote sockets.
    pub defaults: [Option<&'static str>; 3],
}

const fn sd(name: &'static str, level: i32, optname: i32, kind: SockType) -> SockDef {
    SockDef {
        name,
        level,
        optname,
        kind,
        defaults: [None, None, None],
    }
}

/// stunnel's table, in its order (also the `-sockets` order). `TCP_MAXSEG`
/// is absent: stunnel guards it with a macro Linux does not define.
pub static SOCKET_OPTIONS: &[SockDef] = &[
    sd("SO_DEBUG", libc::SOL_SOCKET, libc::SO_DEBUG, SockType::Flag),
    sd(
        "SO_DONTROUTE",
        libc::SOL_SOCKET,
        libc::SO_DONTROUTE,
        SockType::Flag,
    ),
    sd(
        "SO_KEEPALIVE",
        libc::SOL_SOCKET,
        libc::SO_KEEPALIVE,
        SockType::Flag,
    ),
    sd(
        "SO_LINGER",
        libc::SOL_SOCKET,
        libc::SO_LINGER,
        SockType::Linger,
    ),
    sd(
        "SO_OOBINLINE",
        libc::SOL_SOCKET,
        libc::SO_OOBINLINE,
        SockType::Flag,
    ),
    sd(
        "SO_RCVBUF",
        libc::SOL_SOCKET,
        libc::SO_RCVBUF,
        SockType::Int,
    ),
    sd(
        "SO_SNDBUF",
        libc::SOL_SOCKET,
        libc::SO_SNDBUF,
        SockType::Int,
    ),
    sd(
        "SO_RCVLOWAT",
        libc::SOL_SOCKET,
        libc::SO_RCVLOWAT,
        SockType::Int,
    ),
    sd(
        "SO_SNDLOWAT",
        libc::SOL_SOCKET,
        libc::SO_SNDLOWAT,
        SockType::Int,
    ),
    sd(
        "SO_RCVTIMEO",
        libc::SOL_SOCKET,
        libc::SO_RCVTIMEO,
        SockType::Time,
    ),
    sd(
        "SO_SNDTIMEO",
        libc::SOL_SOCKET,
        libc::SO_SNDTIMEO,
        SockType::Time,
    ),
    SockDef {
        defaults: [Some("yes"), None, None],
        ..sd(
            "SO_REUSEADDR",
            libc::SOL_SOCKET,
            libc::SO_REUSEADDR,
            SockType::Flag,
        )
    },
    sd(
        "SO_BINDTODEVICE",
        libc::SOL_SOCKET,
        libc::SO_BINDTODEVICE,
        SockType::Text,
    ),
    sd(
        "TCP_KEEPCNT",
        libc::IPPROTO_TCP,
        libc::TCP_KEEPCNT,
        SockType::Int,
    ),
    sd(
        "TCP_KEEPIDLE",
        libc::IPPROTO_TCP,
        libc::TCP_KEEPIDLE,
        SockType::Int,
    ),
    sd(
        "TCP_KEEPINTVL",
        libc::IPPROTO_TCP,
        libc::TCP_KEEPINTVL,
        SockType::Int,
    ),
    sd("IP_TOS", libc::IPPROTO_IP, libc::IP_TOS, SockType::Int),
    sd("IP_TTL", libc::IPPROTO_IP, libc::IP_TTL, SockType::Int),
    SockDef {
        defaults: [None, Some("yes"), Some("yes")],
        ..sd(
            "TCP_NODELAY",
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            SockType::Flag,
        )
    },
    sd(
        "IP_FREEBIND",
        libc::IPPROTO_IP,
        libc::IP_FREEBIND,
        SockType::Flag,
    ),
    sd(
        "IPV6_V6ONLY",
        libc::IPPROTO_IPV6,
        libc::IPV6_V6ONLY,
        SockType::Flag,
    ),
];

/// Parse one value of the given type; `None` = `Illegal socket option`.
/// Numbers are strtol-style; as in stunnel an *empty* integer is accepted
/// as 0 (its check compares the end pointer with the wrong string).
pub fn parse_sock_value(kind: SockType, v: &str) -> Option<SocketValue> {
    let long = |s: &str| if s.is_empty() { Some(0) } else { strtol(s) };
    match kind {
        SockType::Flag => {
            if v.eq_ignore_ascii_case("yes") || v == "1" {
                Some(SocketValue::Int(1))
            } else if v.eq_ignore_ascii_case("no") || v == "0" {
                Some(SocketValue::Int(0))
            } else {
                None
            }
        }
        // C `(int)` cast of a long, as stunnel stores it.
        SockType::Int => long(v).map(|n| SocketValue::Int(n as i32)),
        SockType::Linger => {
            let (on, secs) = match v.split_once(':') {
                Some((a, b)) => (long(a)?, long(b)?),
                None => (long(v)?, 0),
            };
            // `struct linger` holds the values as u_short casts in stunnel.
            Some(SocketValue::Linger {
                on: (on as u16) != 0,
                seconds: i32::from(secs as u16),
            })
        }
        SockType::Time => {
            let (secs, micros) = match v.split_once(':') {
                Some((a, b)) => (long(a)?, long(b)?),
                None => (long(v)?, 0),
            };
            Some(SocketValue::Time {
                seconds: secs,
                micros,
            })
        }
        SockType::Text => (v.len() <= 15).then(|| SocketValue::Text(v.to_string())),
    }
}

/// Put `opt` in `list` at the place of its table row, replacing an earlier
/// value for the same option (stunnel keeps one slot per option and kind
/// and applies them in table order).
fn set_slot(list: &mut Vec<SocketOption>, opt: SocketOption) {
    let rank = |label: &str| SOCKET_OPTIONS.iter().position(|d| d.name == label);
    if let Some(existing) = list.iter_mut().find(|o| o.label == opt.label) {
        *existing = opt;
        return;
    }
    let at = list
        .iter()
        .position(|o| rank(o.label) > rank(opt.label))
        .unwrap_or(list.len());
    list.insert(at, opt);
}

pub fn socket(options: &mut SocketOptions, v: &str) -> Result<(), Failure> {
    const ILLEGAL: &str = "Illegal socket option";
    let (kind, rest) = match v.as_bytes() {
        [k @ (b'a' | b'l' | b'r'), b':', ..] => (*k, &v[2..]),
        _ => return Err(ILLEGAL.into()),
    };
    let (name, value) = rest.split_once('=').ok_or(ILLEGAL)?;
    let def = SOCKET_OPTIONS
        .iter()
        .find(|d| d.name == name)
        .ok_or(ILLEGAL)?;
    let value = parse_sock_value(def.kind, value).ok_or(ILLEGAL)?;
    let opt = SocketOption {
        level: def.level,
        name: def.optname,
        label: def.name,
        value,
    };
    let opts = options;
    let list = match kind {
        b'a' => &mut opts.accept,
        b'l' => &mut opts.local,
        _ => &mut opts.remote,
    };
    set_slot(list, opt);
    Ok(())
}

/// `a:SO_REUSEADDR=yes`, `l:TCP_NODELAY=yes`, `r:TCP_NODELAY=yes`.
pub fn default_socket_options() -> SocketOptions {
    let mut opts = SocketOptions::default();
    for def in SOCKET_OPTIONS {
        for (i, d) in def.defaults.iter().enumerate() {
            let Some(text) = d else { continue };
            let Some(value) = parse_sock_value(def.kind, text) else {
                continue;
            };
            let opt = SocketOption {
                level: def.level,
                name: def.optname,
                label: def.name,
                value,
            };
            match i {
                0 => opts.accept.push(opt),
                1 => opts.local.push(opt),
                _ => opts.remote.push(opt),
            }
        }
    }
    opts
}

// ---- protocolDestination = ADDR[/PREFIX]:PORT[-PORT] | /PATH ----

/// One `protocolDestination` rule (rstunnel extension): `*` or an address
/// with an optional prefix length, `:`, then `*`, a port or `FIRST-LAST`;
/// or an absolute Unix socket path (a directory when it ends with `/`).
pub fn destination(v: &str) -> Result<Destination, Failure> {
    const BAD: &str = "Invalid destination: ADDR[/PREFIX]:PORT[-PORT] or /PATH expected";
    if v.starts_with('/') {
        return Ok(Destination::Unix(std::path::PathBuf::from(v)));
    }
    let (net, ports) = v.rsplit_once(':').ok_or(BAD)?;
    let ports = match ports {
        "*" => (0, u16::MAX),
        p => match p.split_once('-') {
            Some((a, b)) => (a.parse().map_err(|_| BAD)?, b.parse().map_err(|_| BAD)?),
            None => {
                let n = p.parse().map_err(|_| BAD)?;
                (n, n)
            }
        },
    };
    if ports.0 > ports.1 {
        return Err(BAD.into());
    }
    let network = match net {
        "*" => None,
        n => Some(network(n).map_err(|_| BAD)?),
    };
    Ok(Destination::Inet { network, ports })
}

/// `ADDR[/PREFIX]`: an address, or a network when a prefix length follows
/// (`protocolDestination`, `proxyFrom`).
pub fn network(v: &str) -> Result<(IpAddr, u8), Failure> {
    const BAD: &str = "Invalid network: ADDR[/PREFIX] expected";
    let (ip, prefix) = match v.split_once('/') {
        Some((ip, len)) => (ip, Some(len)),
        None => (v, None),
    };
    let ip: IpAddr = ip.parse().map_err(|_| BAD)?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        Some(len) => len.parse::<u8>().ok().filter(|l| *l <= max).ok_or(BAD)?,
        None => max,
    };
    Ok((ip, prefix))
}

/// `proxyIn = v1 | v2 | any` (rstunnel extension).
pub fn proxy_versions(v: &str) -> Result<Option<ProxyVersions>, Failure> {
    match v.to_ascii_lowercase().as_str() {
        "v1" => Ok(Some(ProxyVersions::V1)),
        "v2" => Ok(Some(ProxyVersions::V2)),
        "any" => Ok(Some(ProxyVersions::Any)),
        _ => Err("Argument should be either 'v1', 'v2' or 'any'".into()),
    }
}

/// `proxyVersion = v1 | v2` (rstunnel extension): spelled as `proxyIn`'s
/// versions.
pub fn proxy_version(v: &str) -> Result<Option<ProxyVersion>, Failure> {
    match v.to_ascii_lowercase().as_str() {
        "v1" => Ok(Some(ProxyVersion::V1)),
        "v2" => Ok(Some(ProxyVersion::V2)),
        _ => Err("Argument should be either 'v1' or 'v2'".into()),
    }
}
