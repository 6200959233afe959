//! Global options (stunnel-reference §3.1) and the service-level options
//! with a process-wide meaning in the global section: `debug` (facility),
//! `service` (syslog ident / inetd name), `setuid`, `setgid`.
//!
//! Only parsing lives here; the "must be an absolute path" checks of
//! `output`/`pid` run when the global section ends (they depend on a later
//! `foreground` line), in `resolve`.

use std::path::PathBuf;

use super::{optional_path, strtol, yes_no, Failure};
use crate::config::model::{Foreground, GroupId, LogMode, UserId};
use crate::config::raw::Target;

pub fn chroot(t: &mut Target<'_>, v: &str) -> Result<(), Failure> {
    t.global.chroot = Some(PathBuf::from(v));
    Ok(())
}

/// `fips = no` is stunnel's default; `yes` is refused by the reader.
pub fn fips(_t: &mut Target<'_>, v: &str) -> Result<(), Failure> {
    yes_no(v).map(|_| ())
}

pub fn foreground(t: &mut Target<'_>, v: &str) -> Result<(), Failure> {
    t.global.foreground = if v.eq_ignore_ascii_case("yes") {
        Foreground::Yes
    } else if v.eq_ignore_ascii_case("quiet") {
        Foreground::Quiet
    } else if v.eq_ignore_ascii_case("no") {
        Foreground::No
    } else {
        return Err("The argument needs to be either 'yes', 'quiet' or 'no'".into());
    };
    Ok(())
}

pub fn log(t: &mut Target<'_>, v: &str) -> Result<(), Failure> {
    t.global.log_mode = if v.eq_ignore_ascii_case("append") {
        LogMode::Append
    } else if v.eq_ignore_ascii_case("overwrite") {
        LogMode::Overwrite
    } else {
        return Err("The argument needs to be either 'append' or 'overwrite'".into());
    };
    Ok(())
}

pub fn output(t: &mut Target<'_>, v: &str) -> Result<(), Failure> {
    t.global.output = Some(PathBuf::from(v));
    Ok(())
}

/// `pid =` (empty) means no pid file.
pub fn pid(t: &mut Target<'_>, v: &str) -> Result<(), Failure> {
    t.global.pid = optional_path(v);
    Ok(())
}

pub fn provider(t: &mut Target<'_>, v: &str) -> Result<(), Failure> {
    t.global.providers.push(v.to_string());
    Ok(())
}

pub fn rnd_bytes(t: &mut Target<'_>, v: &str) -> Result<(), Failure> {
    t.global.rnd_bytes =
        strtol(v).ok_or("Illegal number of bytes to read from random seed files")?;
    Ok(())
}

pub fn rnd_file(t: &mut Target<'_>, v: &str) -> Result<(), Failure> {
    t.global.rnd_file = Some(PathBuf::from(v));
    Ok(())
}

pub fn rnd_overwrite(t: &mut Target<'_>, v: &str) -> Result<(), Failure> {
    t.global.rnd_overwrite = yes_no(v)?;
    Ok(())
}

/// `setEnv = NAME=VALUE`; `NAME` alone or `NAME=` unsets (stunnel 5.75).
/// Stored, not executed: the application applies it before spawning.
pub fn set_env(t: &mut Target<'_>, v: &str) -> Result<(), Failure> {
    let entry = match v.split_once('=') {
        Some((name, value)) if !value.is_empty() => (name.to_string(), Some(value.to_string())),
        Some((name, _)) => (name.to_string(), None),
        None => (v.to_string(), None),
    };
    t.global.set_env.push(entry);
    Ok(())
}

pub fn syslog(t: &mut Target<'_>, v: &str) -> Result<(), Failure> {
    t.global.syslog = yes_no(v)?;
    Ok(())
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
fn parse_level(s: &str) -> Option<u8> {
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

fn parse_facility(s: &str) -> Option<i32> {
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

/// `debug = [facility.]level`. A facility is only allowed in the global
/// section (in a `[section]` the whole value must be a level, so
/// `local3.7` there is an `Illegal debug level`). (stunnel 5.68 crashes on
/// `daemon.`; here it is an illegal level.)
pub fn debug(t: &mut Target<'_>, v: &str) -> Result<(), Failure> {
    let mut level_text = v;
    if t.in_global {
        if let Some((fac, lvl)) = v.split_once('.') {
            t.global.debug.facility = parse_facility(fac).ok_or("Illegal syslog facility")?;
            level_text = lvl;
        }
    }
    let level = parse_level(level_text).ok_or("Illegal debug level")?;
    if t.in_global {
        t.global.debug.level = level;
    }
    t.service.debug_level = level;
    Ok(())
}

/// Global: syslog ident and inetd-mode service name. In a section it
/// renames that section (stunnel's documented, useless, behaviour).
pub fn service(t: &mut Target<'_>, v: &str) -> Result<(), Failure> {
    if t.in_global {
        t.global.service_name = v.to_string();
    } else {
        t.service.name = v.to_string();
    }
    Ok(())
}

/// A user as number (strtol, whole string) or name. Names are looked up
/// now, as stunnel does (`Illegal UID`), and stored as the numeric id: the
/// privilege drop happens after `chroot`, where `/etc/passwd` may be absent.
pub fn user_id(v: &str) -> Option<u32> {
    if let Some(n) = strtol(v) {
        // uid_t cast of a C long, as stunnel does (`-1` is 4294967295).
        return Some(n as u32);
    }
    nix::unistd::User::from_name(v)
        .ok()
        .flatten()
        .map(|u| u.uid.as_raw())
}

pub fn group_id(v: &str) -> Option<u32> {
    if let Some(n) = strtol(v) {
        return Some(n as u32);
    }
    nix::unistd::Group::from_name(v)
        .ok()
        .flatten()
        .map(|g| g.gid.as_raw())
}

/// Global: the process user after binding. Section: owner of a Unix
/// `accept` socket. Both come from the same field in stunnel, so a global
/// `setuid` is also every section's socket owner.
pub fn setuid(t: &mut Target<'_>, v: &str) -> Result<(), Failure> {
    let id = UserId::Id(user_id(v).ok_or("Illegal UID")?);
    if t.in_global {
        t.global.setuid = Some(id.clone());
    }
    t.service.socket_owner = Some(id);
    Ok(())
}

pub fn setgid(t: &mut Target<'_>, v: &str) -> Result<(), Failure> {
    let id = GroupId::Id(group_id(v).ok_or("Illegal GID")?);
    if t.in_global {
        t.global.setgid = Some(id.clone());
    }
    t.service.socket_group = Some(id);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::raw::{RawGlobal, RawService};

    fn with<R>(
        in_global: bool,
        f: impl FnOnce(&mut Target<'_>) -> R,
    ) -> (R, RawGlobal, RawService) {
        let mut g = RawGlobal::default();
        let mut s = RawService::default();
        let r = f(&mut Target {
            global: &mut g,
            service: &mut s,
            in_global,
        });
        (r, g, s)
    }

    #[test]
    fn debug_forms() {
        let (r, g, s) = with(true, |t| debug(t, "LOCAL3.Info"));
        assert!(r.is_ok());
        assert_eq!(
            (g.debug.facility, g.debug.level, s.debug_level),
            (libc::LOG_LOCAL3, 6, 6)
        );
        let (r, _, s) = with(false, |t| debug(t, "7"));
        assert!(r.is_ok());
        assert_eq!(s.debug_level, 7);
        for (global, v, msg) in [
            (false, "local3.7", "Illegal debug level"),
            (true, "07", "Illegal debug level"),
            (true, "8", "Illegal debug level"),
            (true, "error", "Illegal debug level"),
            (true, "", "Illegal debug level"),
            (true, "daemon.", "Illegal debug level"),
            (true, "daemon.5x", "Illegal debug level"),
            (true, "ntp.5", "Illegal syslog facility"),
            (true, ".5", "Illegal syslog facility"),
            (true, "a.b.c", "Illegal syslog facility"),
        ] {
            let (r, _, _) = with(global, |t| debug(t, v));
            assert_eq!(r.unwrap_err().reason, msg, "{v}");
        }
    }

    #[test]
    fn users_by_number_and_name() {
        assert_eq!(user_id("1234"), Some(1234));
        assert_eq!(user_id("-1"), Some(u32::MAX));
        assert_eq!(user_id("root"), Some(0));
        assert_eq!(user_id("0x5"), None);
        assert_eq!(user_id(""), None);
        assert_eq!(user_id("no-such-user-rstunnel"), None);
        assert_eq!(group_id("root"), Some(0));
    }

    #[test]
    fn set_env_forms() {
        let (_, g, _) = with(true, |t| {
            set_env(t, "A=b=c")
                .and(set_env(t, "B="))
                .and(set_env(t, "C"))
        });
        assert_eq!(
            g.set_env,
            vec![
                ("A".to_string(), Some("b=c".to_string())),
                ("B".to_string(), None),
                ("C".to_string(), None)
            ]
        );
    }
}
