//! Daemons as processes we know by pid, for the daemon-behaviour tests
//! (daemon_*, signals_*, reload_*, lifecycle, log_parity…): their log goes
//! to an `output` file, read by [`LogFile`], so that the same reader works
//! for foreground, daemonized, chrooted and inetd runs; a daemonized one is
//! found through its pid file ([`Proc::adopted`]) and is not our child.
//! This is why it stays apart from [`Daemon`](super::Daemon), which starts
//! its child in the foreground and reads its stderr. Both wait for lines
//! with the same waiter ([`super::wait_for_line`]).
//!
//! Every wait is bounded by `PATIENCE`; processes are killed by their own
//! pid on drop.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{wait_until, Impl, PATIENCE};

/// A log file written by a daemon, read by polling (bounded). When the
/// test ends, the log must hold no panic (rstunnel logs each one as
/// `INTERNAL ERROR: panic at …`): hostile input never panics the daemon.
pub struct LogFile(pub PathBuf);

impl Drop for LogFile {
    fn drop(&mut self) {
        super::assert_no_panic(&self.text());
    }
}

impl LogFile {
    pub fn text(&self) -> String {
        std::fs::read_to_string(&self.0).unwrap_or_default()
    }

    /// Wait until `n` lines contain `needle`; return the n-th.
    pub fn wait_for_nth(&self, needle: &str, n: usize) -> String {
        super::wait_for_line(
            needle,
            n,
            &self.0.display().to_string(),
            || self.text(),
            |_| std::thread::sleep(Duration::from_millis(20)),
        )
    }

    pub fn wait_for(&self, needle: &str) -> String {
        self.wait_for_nth(needle, 1)
    }

    pub fn count(&self, needle: &str) -> usize {
        self.text().lines().filter(|l| l.contains(needle)).count()
    }

    /// The port service `name` bound, from its `bound to` line.
    pub fn port(&self, name: &str) -> u16 {
        super::bound_port(&self.wait_for(&format!("Service [{name}] (FD=")))
    }
}

/// A process we started (foreground, or found through its pid file when it
/// daemonized); SIGKILLed on drop if still there.
pub struct Proc {
    pub pid: i32,
    child: Option<Child>,
}

impl Proc {
    pub fn from_child(child: Child) -> Proc {
        Proc {
            pid: child.id() as i32,
            child: Some(child),
        }
    }

    /// A daemonized process, known only by pid (not our child).
    pub fn adopted(pid: i32) -> Proc {
        Proc { pid, child: None }
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on a pid we started.
        unsafe { libc::kill(self.pid, sig) };
    }

    pub fn alive(&mut self) -> bool {
        match &mut self.child {
            Some(c) => c.try_wait().ok().flatten().is_none(),
            // Not our child: gone when /proc has no entry (or a zombie the
            // adopting init has not reaped yet).
            None => std::fs::read_to_string(format!("/proc/{}/stat", self.pid))
                .map(|s| !stat_field(&s, 3).is_some_and(|st| st == "Z"))
                .unwrap_or(false),
        }
    }

    /// Wait for our child to exit; its exit code.
    pub fn wait_exit(&mut self) -> i32 {
        let deadline = Instant::now() + PATIENCE;
        let child = self.child.as_mut().expect("wait_exit needs our own child");
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            assert!(
                Instant::now() < deadline,
                "process {} did not exit",
                self.pid
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Wait until the process is gone (any parent).
    pub fn wait_gone(&mut self) {
        let what = format!("process {} to end", self.pid);
        wait_until(&what, || !self.alive());
    }

    /// A `Name:\tvalue` line of /proc/PID/status, e.g. `Uid`.
    pub fn status_field(&self, name: &str) -> String {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .unwrap_or_else(|| panic!("no {name} in /proc/{}/status", self.pid))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.alive() {
            self.signal(libc::SIGKILL);
        }
        if let Some(c) = &mut self.child {
            let _ = c.wait();
        }
    }
}

/// Field `n` (1-based) of /proc/PID/stat, skipping the parenthesised name.
pub fn stat_field(stat: &str, n: usize) -> Option<String> {
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(n - 3).map(str::to_string)
}

/// Start `imp` on `conf_path` in `dir`, stdout/stderr discarded (the log
/// goes to the `output` file), optionally with SIGINT ignored as a shell
/// with `&` would leave it.
pub fn spawn(imp: Impl, conf_path: &Path, dir: &Path, ignore_sigint: bool) -> Proc {
    let mut cmd = Command::new(imp.program());
    cmd.arg(conf_path)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if ignore_sigint {
        // SAFETY: only signal(2), async-signal-safe, between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                libc::signal(libc::SIGINT, libc::SIG_IGN);
                Ok(())
            });
        }
    }
    Proc::from_child(cmd.spawn().expect("start daemon"))
}

/// The TCP ports process `pid` listens on (from its socket inodes and
/// /proc/net/tcp{,6}); for logs below info, which have no `bound to` line.
pub fn listening_ports(pid: i32) -> Vec<u16> {
    let mut inodes = Vec::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .flatten()
    {
        if let Ok(target) = std::fs::read_link(entry.path()) {
            let t = target.to_string_lossy();
            if let Some(inode) = t.strip_prefix("socket:[").and_then(|r| r.strip_suffix(']')) {
                inodes.push(inode.to_string());
            }
        }
    }
    let mut ports = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        for line in std::fs::read_to_string(table)
            .unwrap_or_default()
            .lines()
            .skip(1)
        {
            let f: Vec<&str> = line.split_whitespace().collect();
            // sl local rem st tx:rx tr:when retr uid timeout inode
            if f.len() > 9 && f[3] == "0A" && inodes.iter().any(|i| i == f[9]) {
                if let Some(port) = f[1]
                    .rsplit(':')
                    .next()
                    .and_then(|h| u16::from_str_radix(h, 16).ok())
                {
                    ports.push(port);
                }
            }
        }
    }
    ports
}

/// Wait until `pid` listens on exactly one port; return it.
pub fn wait_listening_port(pid: i32) -> u16 {
    let mut found = Vec::new();
    wait_until("a listening socket", || {
        found = listening_ports(pid);
        found.len() == 1
    });
    found[0]
}

/// A port where nothing accepts for as long as the returned socket lives
/// (bound, never listening): connects to it are refused.
pub fn dead_port() -> (std::os::fd::OwnedFd, u16) {
    use nix::sys::socket::{
        bind, getsockname, socket, AddressFamily, SockFlag, SockType, SockaddrIn,
    };
    let fd = socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .unwrap();
    bind(
        std::os::fd::AsRawFd::as_raw_fd(&fd),
        &SockaddrIn::new(127, 0, 0, 1, 0),
    )
    .unwrap();
    let addr: SockaddrIn = getsockname(std::os::fd::AsRawFd::as_raw_fd(&fd)).unwrap();
    (fd, addr.port())
}

/// rstunnel started as a daemon (`foreground = no`) from `dir`: `pid` and
/// `output` are `dir/r.pid` and `dir/r.log`, `sections` follow the global
/// options in `dir/d.conf`. Its parent must exit 0. Every process started
/// on the configuration is killed when this is dropped (after the log's
/// panic check).
pub struct Daemonized {
    pub log: LogFile,
    pub pid_file: PathBuf,
    pub conf: PathBuf,
    _guard: super::KillOnDrop,
}

impl Daemonized {
    pub fn start(dir: &Path, sections: &str) -> Daemonized {
        let (pid_file, log) = (dir.join("r.pid"), dir.join("r.log"));
        let conf = dir.join("d.conf");
        let text = format!(
            "foreground = no\npid = {}\noutput = {}\ndebug = info\nsyslog = no\n{sections}",
            super::p(&pid_file),
            super::p(&log),
        );
        std::fs::write(&conf, text).unwrap();
        let guard = super::KillOnDrop(super::p(&conf));
        let status = Command::new(Impl::Rstunnel.program())
            .arg(&conf)
            .current_dir(dir)
            .stdin(Stdio::null())
            .status()
            .unwrap();
        assert_eq!(status.code(), Some(0), "the parent must exit 0");
        Daemonized {
            log: LogFile(log),
            pid_file,
            conf,
            _guard: guard,
        }
    }

    /// The pid in the pid file.
    pub fn pid(&self) -> i32 {
        let text = std::fs::read_to_string(&self.pid_file).expect("pid file");
        text.trim().parse().expect("a pid")
    }
}
