//! Global options (stunnel-reference §3.1) and the service-level options
//! with a process-wide meaning in the global section: `debug` (facility),
//! `service` (syslog ident / inetd name), `setuid`, `setgid`.
//!
//! Only parsing lives here; the "must be an absolute path" checks of
//! `output`/`pid` run when the global section ends (they depend on a later
//! `foreground` line), in `resolve`.

use nix::unistd::{Gid, Group, Uid, User};

use super::declare::Failure;
use super::values::{keyword, strtol};
use crate::config::types::{Endpoint, Foreground, LogMode};

/// `foreground = yes|quiet|no`.
pub fn foreground(v: &str) -> Result<Foreground, Failure> {
    let choices = [
        ("yes", Foreground::Yes),
        ("quiet", Foreground::Quiet),
        ("no", Foreground::No),
    ];
    keyword(v, &choices)
}

/// `log = append|overwrite`.
pub fn log_mode(v: &str) -> Result<LogMode, Failure> {
    let choices = [
        ("append", LogMode::Append),
        ("overwrite", LogMode::Overwrite),
    ];
    keyword(v, &choices)
}

/// `setEnv = NAME=VALUE`; `NAME` alone or `NAME=` unsets (stunnel 5.75).
/// Stored, not executed: the application applies it before spawning.
pub fn env_entry(v: &str) -> Result<(String, Option<String>), Failure> {
    Ok(match v.split_once('=') {
        Some((name, value)) if !value.is_empty() => (name.to_string(), Some(value.to_string())),
        Some((name, _)) => (name.to_string(), None),
        None => (v.to_string(), None),
    })
}

/// `metrics = [host:]port | /path` (rstunnel extension), split as `accept`.
pub fn metrics_endpoint(v: &str) -> Result<Option<Endpoint>, Failure> {
    crate::config::addr::endpoint(v)
        .map(Some)
        .map_err(Failure::from)
}

/// The most `workers` a configuration may ask for.
pub const MAX_WORKERS: u32 = 256;

/// `workers = N` (rstunnel extension): how many processes serve the
/// listening sockets, 1 to [`MAX_WORKERS`].
pub fn workers(v: &str) -> Result<u32, Failure> {
    match strtol(v).and_then(|n| u32::try_from(n).ok()) {
        Some(n @ 1..=MAX_WORKERS) => Ok(n),
        _ => Err("Illegal number of workers (1 to 256)".into()),
    }
}

/// syslog(3) level names as stunnel accepts them.
const LEVELS: [&str; 8] = [
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

/// Facilities available on Linux (stunnel's list minus those glibc lacks,
/// e.g. `ntp`).
const FACILITIES: [(&str, i32); 18] = [
    ("auth", libc::LOG_AUTH),
    ("cron", libc::LOG_CRON),
    ("daemon", libc::LOG_DAEMON),
    ("kern", libc::LOG_KERN),
    ("lpr", libc::LOG_LPR),
    ("mail", libc::LOG_MAIL),
    ("news", libc::LOG_NEWS),
    ("syslog", libc::LOG_SYSLOG),
    ("user", libc::LOG_USER),
    ("uucp", libc::LOG_UUCP),
    ("local0", libc::LOG_LOCAL0),
    ("local1", libc::LOG_LOCAL1),
    ("local2", libc::LOG_LOCAL2),
    ("local3", libc::LOG_LOCAL3),
    ("local4", libc::LOG_LOCAL4),
    ("local5", libc::LOG_LOCAL5),
    ("local6", libc::LOG_LOCAL6),
    ("local7", libc::LOG_LOCAL7),
];

const EXTRA_FACILITIES: [(&str, i32); 2] =
    [("authpriv", libc::LOG_AUTHPRIV), ("ftp", libc::LOG_FTP)];

/// A level: one digit 0-7 (exactly one character) or a name.
pub fn parse_level(s: &str) -> Option<u8> {
    if s.len() == 1 {
        if let Some(d) = s.bytes().next().filter(|b| (b'0'..=b'7').contains(b)) {
            return Some(d - b'0');
        }
    }
    LEVELS
        .iter()
        .position(|n| n.eq_ignore_ascii_case(s))
        .and_then(|p| u8::try_from(p).ok())
}

pub fn parse_facility(s: &str) -> Option<i32> {
    FACILITIES
        .iter()
        .chain(EXTRA_FACILITIES.iter())
        .find(|(n, _)| n.eq_ignore_ascii_case(s))
        .map(|(_, code)| *code)
}

/// Name of a facility code, for `-version`-style output.
pub fn facility_name(code: i32) -> &'static str {
    FACILITIES
        .iter()
        .chain(EXTRA_FACILITIES.iter())
        .find(|(_, c)| *c == code)
        .map(|(n, _)| *n)
        .unwrap_or("daemon")
}

/// A user as number (strtol, whole string) or name. Names are looked up
/// now, as stunnel does (`Illegal UID`), and stored as the numeric id: the
/// privilege drop happens after `chroot`, where `/etc/passwd` may be absent.
pub fn user_id(v: &str) -> Option<Uid> {
    let by_name = || User::from_name(v).ok().flatten().map(|u| u.uid);
    id_number(v).map(Uid::from_raw).or_else(by_name)
}

/// A group likewise (`Illegal GID`).
pub fn group_id(v: &str) -> Option<Gid> {
    let by_name = || Group::from_name(v).ok().flatten().map(|g| g.gid);
    id_number(v).map(Gid::from_raw).or_else(by_name)
}

/// A whole-string C long as `uid_t`/`gid_t`, cast as stunnel does (`-1` is
/// 4294967295).
fn id_number(v: &str) -> Option<u32> {
    strtol(v).map(|n| n as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_by_number_and_name() {
        let uid = |v| user_id(v).map(Uid::as_raw);
        assert_eq!(uid("1234"), Some(1234));
        assert_eq!(uid("-1"), Some(u32::MAX));
        assert_eq!(uid("root"), Some(0));
        assert_eq!(uid("0x5"), None);
        assert_eq!(uid(""), None);
        assert_eq!(uid("no-such-user-rstunnel"), None);
        assert_eq!(group_id("root"), Some(Gid::from_raw(0)));
    }
}
