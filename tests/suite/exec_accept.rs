//! `accept` + `exec` (stunnel-reference §5.6): per connection the program
//! is spawned as the remote side, after the TLS handshake in server mode,
//! and talks over a loopback TCP pair (or a pty with `pty = yes`). Real
//! peers: Python `ssl` clients, real programs (`cat`, `env`, `tty`, `sh`),
//! stunnel4 as the oracle for the environment texts and as a real TLS
//! server for client mode.

use crate::common;
use crate::common::exec;

use common::net::payload;
use common::tls_pki::make_pki;
use common::{header, p, Daemon, Impl};
use exec::{child_pid, py_tls_client, reaped};

fn exec_service(imp: Impl, cert: &std::path::Path, exec: &str) -> Daemon {
    Daemon::start(
        imp,
        &format!(
            "{}[exec]\naccept = 127.0.0.1:0\ncert = {}\n{exec}\n",
            header(),
            p(cert)
        ),
    )
}

/// The must-show: `exec = /bin/cat` echoes over TLS, byte-exact,
/// and the child is reaped with stunnel's log lines (no zombie left).
#[test]
fn cat_echoes_over_tls_and_is_reaped() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let d = exec_service(Impl::Rstunnel, &pki.combined, "exec = /bin/cat");
    let data = payload(1 << 20, 3);
    let run = py_tls_client(
        "127.0.0.1",
        d.port("exec"),
        &data,
        Some(data.len()),
        None,
        None,
    );
    assert!(
        run.received == data,
        "echo returned {} bytes",
        run.received.len()
    );
    let pid = child_pid(&d.log.wait_for("Local mode child started (PID="));
    d.log.wait_for(&format!(
        "LOG6[ui]: Child process {pid} finished with code 0"
    ));
    assert!(reaped(pid), "child {pid} left as a zombie");
    d.log
        .wait_for("Connection closed: 1048576 byte(s) sent to TLS, 1048576 byte(s) sent to socket");
}

/// The program's environment: REMOTE_HOST/REMOTE_PORT of the client and
/// the client certificate's subject/issuer, in the same text as stunnel4.
#[test]
fn environment_matches_stunnel() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let extra = format!(
        "exec = /usr/bin/env\nverifyChain = yes\nCAfile = {}",
        p(&pki.ca)
    );
    let mut seen = Vec::new();
    for imp in [Impl::Rstunnel, Impl::Stunnel4] {
        let d = exec_service(imp, &pki.combined, &extra);
        let run = py_tls_client(
            "127.0.0.1",
            d.port("exec"),
            b"",
            None,
            Some(&pki.client_combined),
            None,
        );
        let text = String::from_utf8_lossy(&run.received).into_owned();
        let var = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{name}=")))
                .unwrap_or_else(|| panic!("{imp:?}: no {name} in {text}"))
                .to_string()
        };
        assert_eq!(var("REMOTE_HOST"), "127.0.0.1", "{imp:?}");
        assert_eq!(var("REMOTE_PORT"), run.local_port.to_string(), "{imp:?}");
        seen.push((var("SSL_CLIENT_DN"), var("SSL_CLIENT_I_DN")));
    }
    assert!(seen[0].0.contains("CN=client"), "{:?}", seen[0]);
    assert_eq!(seen[0], seen[1], "rstunnel vs stunnel4");
}

/// `execArgs` is split on whitespace without quoting (as stunnel), so a
/// shell one-liner uses `${IFS}`; the program sees the client address.
#[test]
fn exec_args_reach_the_program() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let d = exec_service(
        Impl::Rstunnel,
        &pki.combined,
        "exec = /bin/sh\nexecArgs = sh -c echo${IFS}host=$REMOTE_HOST",
    );
    let run = py_tls_client("127.0.0.1", d.port("exec"), b"", None, None, None);
    assert_eq!(String::from_utf8_lossy(&run.received), "host=127.0.0.1\n");
}

/// `pty = yes` gives the program a terminal; without it `tty` says "not a
/// tty" and exits 1, which the reaper reports.
#[test]
fn pty_gives_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let d = exec_service(
        Impl::Rstunnel,
        &pki.combined,
        "exec = /usr/bin/tty\npty = yes",
    );
    let run = py_tls_client("127.0.0.1", d.port("exec"), b"", None, None, None);
    let text = String::from_utf8_lossy(&run.received).into_owned();
    assert!(text.starts_with("/dev/pts/"), "{text:?}");
    // The terminal's line discipline turns \n into \r\n.
    assert!(text.ends_with("\r\n"), "{text:?}");
    let pid = child_pid(&d.log.wait_for("Local mode child started (PID="));
    d.log
        .wait_for(&format!("Child process {pid} finished with code 0"));

    let d = exec_service(Impl::Rstunnel, &pki.combined, "exec = /usr/bin/tty");
    let run = py_tls_client("127.0.0.1", d.port("exec"), b"", None, None, None);
    assert_eq!(String::from_utf8_lossy(&run.received), "not a tty\n");
    let pid = child_pid(&d.log.wait_for("Local mode child started (PID="));
    d.log
        .wait_for(&format!("Child process {pid} finished with code 1"));
}

/// A program that cannot be executed: the child exits 1 silently, the
/// connection closes without data.
#[test]
fn execve_failure_is_exit_code_one() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let d = exec_service(Impl::Rstunnel, &pki.combined, "exec = /nonexistent/program");
    let run = py_tls_client("127.0.0.1", d.port("exec"), b"x", None, None, None);
    assert!(run.received.is_empty());
    let pid = child_pid(&d.log.wait_for("Local mode child started (PID="));
    d.log
        .wait_for(&format!("Child process {pid} finished with code 1"));
    assert!(reaped(pid));
}

/// A program killed by a signal is reported with the signal's name; with
/// `foreground = yes` its stderr is the daemon's, not the connection.
#[test]
fn signal_death_and_foreground_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let d = exec_service(
        Impl::Rstunnel,
        &pki.combined,
        "exec = /bin/sh\nexecArgs = sh -c echo${IFS}to-stderr>&2;kill${IFS}-TERM${IFS}$$",
    );
    let run = py_tls_client("127.0.0.1", d.port("exec"), b"", None, None, None);
    assert!(run.received.is_empty(), "{:?}", run.received);
    let pid = child_pid(&d.log.wait_for("Local mode child started (PID="));
    d.log
        .wait_for(&format!("Child process {pid} terminated on SIGTERM"));
    d.log.wait_for("to-stderr");
}

/// Client mode: the program is spawned before the TLS handshake and TLS
/// runs over it; here the program is stunnel4 in inetd mode (a real TLS
/// server on stdin/stdout) in front of `cat`.
#[test]
fn client_mode_speaks_tls_to_the_program() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let inner = dir.path().join("inner.conf");
    std::fs::write(
        &inner,
        format!(
            "foreground = quiet\nsyslog = no\ncert = {}\nexec = /bin/cat\n",
            p(&pki.combined)
        ),
    )
    .unwrap();
    let d = Daemon::start(
        Impl::Rstunnel,
        &format!(
            "{}[client]\nclient = yes\naccept = 127.0.0.1:0\nexec = /usr/bin/stunnel4\n\
             execArgs = stunnel4 {}\n",
            header(),
            p(&inner)
        ),
    );
    let mut conn = common::net::connect(d.port("client"));
    use std::io::{Read, Write};
    conn.write_all(b"through two tunnels\n").unwrap();
    let mut got = [0u8; 20];
    if let Err(e) = conn.read_exact(&mut got) {
        std::thread::sleep(std::time::Duration::from_millis(500));
        panic!("{e}: {}", d.log.text());
    }
    assert_eq!(&got, b"through two tunnels\n");
    d.log.wait_for("TLS connected: new session negotiated");
}
