//! exec+connect sections (`exec` + `connect`, no `accept`; stunnel-reference
//! §5.6): started at daemon start, the program is the local side and the
//! TLS server behind `connect` the remote side; `retry = yes` starts the
//! pair again after each run, with log ids `<id>_<n>`; a reload stops the
//! old loop's retries and starts a new loop. The TLS server is stunnel4 (a
//! real peer) in front of a plain TCP collector written here.

use crate::common;

use std::io::{BufRead, BufReader};
use std::sync::mpsc;

use common::tls_pki::make_pki;
use common::{header, p, Daemon, Impl, PATIENCE};

/// A plain TCP backend sending every line it receives to the channel.
fn line_collector() -> (u16, mpsc::Receiver<String>) {
    let (tx, rx) = mpsc::channel();
    let port = common::net::serve_each(common::net::listener(), move |conn| {
        for line in BufReader::new(conn).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (port, rx)
}

/// stunnel4 as the TLS server the exec+connect section connects to.
fn tls_server(pki: &common::tls_pki::Pki, backend: u16) -> Daemon {
    Daemon::start(
        Impl::Stunnel4,
        &format!(
            "{}[srv]\naccept = 127.0.0.1:0\ncert = {}\nconnect = 127.0.0.1:{backend}\n",
            header(),
            p(&pki.combined)
        ),
    )
}

fn exec_connect_conf(server: u16, word: &str) -> String {
    format!(
        "{}debug = debug\n[ec]\nclient = yes\nexec = /bin/echo\nexecArgs = echo {word}\n\
         connect = 127.0.0.1:{server}\nretry = yes\n",
        header()
    )
}

fn expect_line(rx: &mpsc::Receiver<String>, want: &str) {
    let line = rx
        .recv_timeout(PATIENCE)
        .expect("no line reached the backend");
    assert_eq!(line, want);
}

/// The program's output reaches the TLS server again and again, each run
/// under its own `<id>_<n>` log id.
#[test]
fn retry_restarts_the_pair() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let (backend, rx) = line_collector();
    let server = tls_server(&pki, backend);
    let d = Daemon::start(
        Impl::Rstunnel,
        &exec_connect_conf(server.port("srv"), "ping"),
    );
    for _ in 0..3 {
        expect_line(&rx, "ping");
    }
    d.log
        .wait_for("LOG7[ui]: Skipped exec+connect service [ec]");
    d.log
        .wait_for("LOG7[ui]: Starting exec+connect service [ec]");
    // The program's socket pair is the local side, as stunnel logs it.
    d.log
        .wait_for("LOG5[0_0]: Service [ec] accepted connection from 127.0.0.1:");
    d.log
        .wait_for("LOG6[0_0]: Retrying an exec+connect section");
    d.log.wait_for("LOG6[0_1]: Local mode child started (PID=");
    d.log.wait_for("LOG5[0_2]: Connection closed:");
}

/// SIGHUP: the old loop stops retrying, the new configuration's loop
/// (with a new id and new arguments) takes over.
#[test]
fn reload_replaces_the_loop() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let (backend, rx) = line_collector();
    let server = tls_server(&pki, backend);
    let port = server.port("srv");
    let d = Daemon::start(Impl::Rstunnel, &exec_connect_conf(port, "old"));
    expect_line(&rx, "old");
    d.log.wait_for("LOG6[0_1]: Local mode child started");
    std::fs::write(&d.conf, exec_connect_conf(port, "new")).unwrap();
    d.signal(libc::SIGHUP);
    d.log.wait_for_nth("Configuration successful", 2);
    // The new loop takes the next id (1) and runs at least twice.
    d.log.wait_for("LOG6[1_1]: Local mode child started");
    let text = d.log.text();
    let lines: Vec<&str> = text.lines().collect();
    let restart = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.contains("Starting exec+connect service [ec]"))
        .nth(1)
        .map(|(i, _)| i)
        .expect("second start");
    // The old loop may finish the run it was in, but start no program.
    assert!(
        !lines[restart..]
            .iter()
            .any(|l| l.contains("[0_") && l.contains("Local mode child started")),
        "old loop kept retrying after the reload:\n{text}"
    );
    // Everything the backend gets from now on comes from the new loop.
    let mut saw_new = 0;
    while saw_new < 2 {
        let line = rx.recv_timeout(PATIENCE).expect("no line");
        if line == "new" {
            saw_new += 1;
        } else {
            assert_eq!(saw_new, 0, "old program ran after the new one");
        }
    }
}

/// `retry = 10` (stunnel 5.70+): the pair runs again about 10 ms after each
/// run ends, not after 5.68's second. Six retries arrive in well under the
/// six seconds `retry = yes` would take, and not faster than their six
/// pauses. stunnel4 5.68, the oracle for everything else here, refuses the
/// number with its yes/no line; rstunnel refuses what 5.70+ refuses.
#[test]
fn retry_in_milliseconds() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let (backend, rx) = line_collector();
    let server = tls_server(&pki, backend);
    let conf = exec_connect_conf(server.port("srv"), "fast").replace("retry = yes", "retry = 10");

    let mut old = Daemon::start(Impl::Stunnel4, &conf);
    assert_eq!(old.wait_exit(), 1);
    old.log
        .wait_for("\"retry = 10\": The argument needs to be either 'yes' or 'no'");

    let d = Daemon::start(Impl::Rstunnel, &conf);
    expect_line(&rx, "fast");
    d.log
        .wait_for("LOG6[0_0]: Retrying an exec+connect section");
    let first = std::time::Instant::now();
    d.log
        .wait_for("LOG6[0_6]: Retrying an exec+connect section");
    let six = first.elapsed();
    assert!(
        six >= std::time::Duration::from_millis(60) && six < std::time::Duration::from_secs(3),
        "six retries took {six:?}:\n{}",
        d.log.text()
    );

    let mut bad = Daemon::start(Impl::Rstunnel, &conf.replace("retry = 10", "retry = -1"));
    assert_eq!(bad.wait_exit(), 1);
    bad.log.wait_for("\"retry = -1\": Illegal retry delay");
}
