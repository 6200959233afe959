//! `ident = USER` (RFC 1413, stunnel-reference §5.4.1): before accepting a
//! TCP client rstunnel asks the ident server on the client's port 113 who
//! owns the connection, and resets it unless the user matches.
//!
//! The ident server is written here: it is the protocol peer we must fake
//! (no identd package serves arbitrary answers). Port 113 is fixed by the
//! protocol, so each test runs in its own network namespace (per thread,
//! see `private_netns`); the tests skip without root.

use crate::common;
use crate::common::exec;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::mpsc;

use common::tls_pki::make_pki;
use common::{header, p, Daemon, Impl, PATIENCE};
use exec::{private_netns, py_tls_client};

/// An ident server on 127.0.0.1:113 that answers every query with `reply`
/// (`{ports}` is replaced by the query) and reports each query it got.
fn ident_server(reply: &'static str) -> mpsc::Receiver<String> {
    let l = TcpListener::bind("127.0.0.1:113").expect("bind 113 in the namespace");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for conn in l.incoming().map_while(Result::ok) {
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut query = String::new();
            if reader.read_line(&mut query).is_err() {
                continue;
            }
            let ports = query.trim_end().to_string();
            let _ = tx.send(query);
            let mut conn = conn;
            let _ = conn.write_all(reply.replace("{ports}", &ports).as_bytes());
        }
    });
    rx
}

/// A server-mode service with `ident = alice` in front of `cat`.
fn service(imp: Impl, pki: &common::tls_pki::Pki) -> Daemon {
    Daemon::start(
        imp,
        &format!(
            "{}[id]\naccept = 127.0.0.1:0\ncert = {}\nexec = /bin/cat\nident = alice\n",
            header(),
            p(&pki.combined)
        ),
    )
}

#[test]
fn matching_user_passes() {
    if !private_netns() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let queries = ident_server("{ports} : USERID : UNIX : alice\r\n");
    let d = service(Impl::Rstunnel, &pki);
    let port = d.port("id");
    let run = py_tls_client("127.0.0.1", port, b"hi", Some(2), None, None);
    assert_eq!(run.received, b"hi");
    // The query names the client's port, then ours, CRLF-terminated.
    let query = queries.recv_timeout(PATIENCE).unwrap();
    assert_eq!(query, format!("{} , {port}\r\n", run.local_port));
    d.log.wait_for("s_connect: connected 127.0.0.1:113");
    let passed = d.log.wait_for("IDENT authentication passed");
    assert!(passed.contains("LOG6["), "{passed}");
    d.log
        .wait_for("Service [id] accepted connection from 127.0.0.1:");
}

/// Same lines as stunnel4 (the oracle), non-printable bytes masked.
#[test]
fn other_user_is_refused() {
    if !private_netns() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let _queries = ident_server("{ports} : USERID : UNIX : mallory\x07\r\n");
    for imp in [Impl::Rstunnel, Impl::Stunnel4] {
        let d = service(imp, &pki);
        let run = py_tls_client("127.0.0.1", d.port("id"), b"hi", None, None, None);
        assert!(run.received.is_empty());
        let refused = format!(
            "LOG4[0]: Connection from 127.0.0.1:{} REFUSED by IDENT (user \"mallory.\")",
            run.local_port
        );
        d.log.wait_for(&refused);
        d.log
            .wait_for("Connection reset: 0 byte(s) sent to TLS, 0 byte(s) sent to socket");
        assert!(!d.log.contains("accepted connection from"), "{imp:?}");
    }
}

#[test]
fn wrong_reply_type_and_no_server_are_refused() {
    if !private_netns() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    // No ident server yet: the connect is refused.
    let d = service(Impl::Rstunnel, &pki);
    let port = d.port("id");
    let run = py_tls_client("127.0.0.1", port, b"hi", None, None, None);
    assert!(run.received.is_empty());
    d.log
        .wait_for("s_connect: connect 127.0.0.1:113: Connection refused (111)");
    // An RFC 1413 error reply is not a USERID.
    let _queries = ident_server("{ports} : ERROR : NO-USER\r\n");
    let run = py_tls_client("127.0.0.1", port, b"hi", None, None, None);
    assert!(run.received.is_empty());
    d.log.wait_for("LOG3[1]: Incorrect IDENT response type");
    assert!(!d.log.contains("accepted connection from"));
}
