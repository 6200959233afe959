//! RLIMIT_NOFILE and the client limit (stunnel-reference §5.14).
//!
//! stunnel computes its client limit once at start-up from
//! `sysconf(_SC_OPEN_MAX)` (the soft limit) and logs `Clients allowed=N`
//! (debug). [`raise_nofile`] is our addition: stunnel itself does not raise
//! the soft limit, so for the same number as stunnel compute
//! [`client_limit`] from [`nofile`] before raising (the caller decides).

use std::io;

use nix::sys::resource::{getrlimit, setrlimit, Resource, RLIM_INFINITY};

/// The current soft RLIMIT_NOFILE (what `sysconf(_SC_OPEN_MAX)` returns).
pub fn nofile() -> io::Result<u64> {
    let (soft, _) = getrlimit(Resource::RLIMIT_NOFILE).map_err(io::Error::from)?;
    Ok(soft)
}

/// Raise the soft RLIMIT_NOFILE to the hard limit; returns the new soft
/// limit. An unlimited hard limit is capped at the kernel's `nr_open`
/// (Linux refuses an infinite descriptor limit).
pub fn raise_nofile() -> io::Result<u64> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).map_err(io::Error::from)?;
    let target = if hard == RLIM_INFINITY {
        nr_open().unwrap_or(soft).max(soft)
    } else {
        hard
    };
    if target > soft {
        setrlimit(Resource::RLIMIT_NOFILE, target, hard).map_err(io::Error::from)?;
    }
    nofile()
}

fn nr_open() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// stunnel's maximum number of concurrent clients for `nofile`
/// descriptors: 125/256 of them, or `(n - 6) / 2` below 256 (each client
/// needs two descriptors, and a few are kept for the daemon).
pub fn client_limit(nofile: u64) -> usize {
    let limit = if nofile < 256 {
        nofile.saturating_sub(6) / 2
    } else {
        nofile / 256 * 125 + nofile % 256 * 125 / 256
    };
    usize::try_from(limit).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_limit_matches_stunnel() {
        assert_eq!(client_limit(20000), 9765); // observed with stunnel4
        assert_eq!(client_limit(1024), 500);
        assert_eq!(client_limit(256), 125);
        assert_eq!(client_limit(255), 124);
        assert_eq!(client_limit(64), 29);
        assert_eq!(client_limit(5), 0);
        assert_eq!(
            client_limit(u64::MAX),
            (u64::MAX / 256 * 125 + 255 * 125 / 256) as usize
        );
    }

    #[test]
    fn raise_reaches_the_hard_limit_and_never_lowers() {
        let before = nofile().unwrap();
        let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        let after = raise_nofile().unwrap();
        assert!(after >= before);
        if hard != RLIM_INFINITY {
            assert_eq!(after, hard);
        }
        assert_eq!(nofile().unwrap(), after);
    }
}
