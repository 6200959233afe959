//! The daemon's signals (stunnel-reference §5.2) on a real process:
//! SIGUSR1 reopens a moved log file, SIGUSR2 lists live connections,
//! SIGTERM/SIGINT end it with exit 0, and a SIGINT inherited as ignored
//! stays ignored.

use crate::common;
use crate::common::procs;

use std::path::Path;

use common::net::tagged_echo;
use common::tls_client::{echo, tls_connect};
use common::tls_pki::make_pki;
use common::{p, Impl};
use procs::{LogFile, Proc};

/// A foreground rstunnel with service [sig] logging to `dir/sig.log`.
fn start(dir: &Path, ignore_sigint: bool) -> (Proc, LogFile) {
    let pki = make_pki(dir);
    let backend = tagged_echo(b"S:");
    let log = LogFile(dir.join("sig.log"));
    let conf = dir.join("sig.conf");
    std::fs::write(
        &conf,
        format!(
            "foreground = yes\noutput = {}\ndebug = info\nsyslog = no\n\
             [sig]\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:{backend}\ncert = {}\n",
            p(&log.0),
            p(&pki.combined)
        ),
    )
    .unwrap();
    let proc = procs::spawn(Impl::Rstunnel, &conf, dir, ignore_sigint);
    log.wait_for("Accepting new connections");
    (proc, log)
}

/// logrotate's move-then-SIGUSR1: the old file keeps what was written, a
/// new file appears and takes `Log file reopened` and later lines.
#[test]
fn sigusr1_after_moving_the_log_creates_a_new_file() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, log) = start(dir.path(), false);
    let rotated = dir.path().join("sig.log.1");
    std::fs::rename(&log.0, &rotated).unwrap();
    daemon.signal(libc::SIGUSR1);
    let line = log.wait_for("Log file reopened");
    assert!(line.contains(" LOG5[ui]: Log file reopened"), "{line}");
    // The new file serves the following connections.
    let mut s = tls_connect(LogFile(rotated.clone()).port("sig"));
    assert_eq!(common::tls_client::read_n(&mut s, 2), b"S:");
    common::tls_client::close(s);
    log.wait_for("Service [sig] accepted connection from 127.0.0.1:");
    let old = std::fs::read_to_string(&rotated).unwrap();
    assert!(old.contains("Accepting new connections"), "{old}");
    assert!(!old.contains("Log file reopened"), "{old}");
    assert!(!old.contains("accepted connection"), "{old}");
}

/// SIGUSR2: every live connection with its service and byte counts, at
/// level 0 so the listing passes any `debug` threshold.
#[test]
fn sigusr2_lists_active_connections() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, log) = start(dir.path(), false);
    let port = log.port("sig");
    let mut first = tls_connect(port);
    assert_eq!(common::tls_client::read_n(&mut first, 2), b"S:");
    assert_eq!(echo(&mut first, b"hello"), b"hello");
    let mut second = tls_connect(port);
    assert_eq!(common::tls_client::read_n(&mut second, 2), b"S:");
    daemon.signal(libc::SIGUSR2);
    log.wait_for("LOG0[ui]: Listed 2 active connection(s)");
    let text = log.text();
    let listing: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("LOG0[ui]: Active connection"))
        .map(|l| l.split("]: ").nth(1).unwrap())
        .collect();
    assert_eq!(
        listing,
        [
            "Active connections:",
            "Active connection 0: Service [sig], 7 byte(s) sent to TLS, 5 byte(s) sent to socket",
            "Active connection 1: Service [sig], 2 byte(s) sent to TLS, 0 byte(s) sent to socket",
        ]
    );
    common::tls_client::close(first);
    log.wait_for("LOG5[0]: Connection closed: 7 byte(s) sent to TLS, 5 byte(s) sent to socket");
    daemon.signal(libc::SIGUSR2);
    log.wait_for("LOG0[ui]: Listed 1 active connection(s)");
    common::tls_client::close(second);
}

/// SIGTERM: `Terminated` (notice) and exit status 0.
#[test]
fn sigterm_exits_0_with_terminated() {
    let dir = tempfile::tempdir().unwrap();
    let (mut daemon, log) = start(dir.path(), false);
    daemon.signal(libc::SIGTERM);
    assert_eq!(daemon.wait_exit(), 0);
    log.wait_for("LOG5[ui]: Terminated");
}

/// SIGINT with the default disposition: `Received SIGINT; terminating`
/// (err), exit 0.
#[test]
fn sigint_terminates_when_not_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let (mut daemon, log) = start(dir.path(), false);
    daemon.signal(libc::SIGINT);
    assert_eq!(daemon.wait_exit(), 0);
    log.wait_for("LOG3[ui]: Received SIGINT; terminating");
}

/// Started with SIGINT ignored (`cmd &` in a non-interactive shell), the
/// daemon keeps ignoring it, as stunnel does: no log line, still serving.
#[test]
fn sigint_stays_ignored_when_inherited_as_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let (mut daemon, log) = start(dir.path(), true);
    assert_eq!(
        daemon.status_field("SigIgn").len(),
        16,
        "a SigIgn mask in /proc"
    );
    let ignored = u64::from_str_radix(&daemon.status_field("SigIgn"), 16).unwrap();
    assert_ne!(ignored & (1 << (libc::SIGINT - 1)), 0, "SIGINT not ignored");
    daemon.signal(libc::SIGINT);
    // Signals are taken in number order; the listing after SIGUSR2 shows
    // the loop ran after the SIGINT was delivered (or discarded).
    daemon.signal(libc::SIGUSR2);
    log.wait_for("Listed 0 active connection(s)");
    let mut s = tls_connect(log.port("sig"));
    assert_eq!(common::tls_client::read_n(&mut s, 2), b"S:");
    assert_eq!(echo(&mut s, b"still here"), b"still here");
    common::tls_client::close(s);
    assert!(daemon.alive());
    assert!(!log.text().contains("SIGINT"), "{}", log.text());
    daemon.signal(libc::SIGTERM);
    assert_eq!(daemon.wait_exit(), 0);
}

/// A start with a pid file and `output`, the daemon's log; `start`'s
/// variant for signals sent as early as a script can send them.
fn start_early(dir: &Path) -> (Proc, LogFile, std::path::PathBuf) {
    let pid_file = dir.join("hup.pid");
    let log = LogFile(dir.join("hup.log"));
    let conf = dir.join("hup.conf");
    std::fs::write(
        &conf,
        format!(
            "foreground = yes\noutput = {}\npid = {}\nsyslog = no\ndebug = info\n\
             [hup]\nclient = yes\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:9\n",
            p(&log.0),
            p(&pid_file)
        ),
    )
    .unwrap();
    (
        procs::spawn(Impl::Rstunnel, &conf, dir, false),
        log,
        pid_file,
    )
}

/// Poll without sleeping until `ready` holds: the signal that follows must
/// come as early as it can.
fn spin_until(daemon: &mut Proc, what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !ready() {
        assert!(std::time::Instant::now() < deadline, "no {what}");
        assert!(daemon.alive(), "the daemon exited before its {what}");
    }
}

/// A reload that came that early is done, and the daemon still stops on
/// SIGTERM with status 0.
fn reloads_then_exits(mut daemon: Proc, log: &LogFile) {
    daemon.signal(libc::SIGHUP);
    log.wait_for_nth("Configuration successful", 2);
    assert!(daemon.alive());
    daemon.signal(libc::SIGTERM);
    assert_eq!(daemon.wait_exit(), 0);
}

/// The handlers exist before the pid file does: a SIGHUP sent the moment
/// the file appears (`rstunnel -reload`, logrotate) reloads the daemon
/// instead of ending it with the signal's default action.
#[test]
fn a_sighup_as_soon_as_the_pid_file_exists_reloads() {
    let dir = tempfile::tempdir().unwrap();
    let (mut daemon, log, pid_file) = start_early(dir.path());
    spin_until(&mut daemon, "pid file", || {
        std::fs::read_to_string(&pid_file).is_ok_and(|t| t.ends_with('\n'))
    });
    reloads_then_exits(daemon, &log);
}

/// Scripts wait for the `bound to` line (stunnel-reference §5.1); a SIGHUP
/// sent the moment it appears waits for the handler, it does not kill.
#[test]
fn a_sighup_as_soon_as_the_port_is_bound_reloads() {
    let dir = tempfile::tempdir().unwrap();
    let (mut daemon, log, _) = start_early(dir.path());
    spin_until(&mut daemon, "bound line", || log.count("bound to") > 0);
    reloads_then_exits(daemon, &log);
}
