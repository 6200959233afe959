//! Data through a client-mode → server-mode chain arrives byte-exact in both
//! directions, and half-close is carried end to end: the client's EOF
//! reaches the backend while the backend's reply still flows back.

use crate::common;

use std::io::{Read, Write};
use std::net::Shutdown;

use common::net::{self, payload};
use common::tls_pki::make_pki;
use common::{header, p, Daemon, Impl};

/// A server-mode service in front of `backend` and a client-mode service in
/// front of it, both in one rstunnel process (the server must be bound
/// before the client's config names its port, so two processes).
fn chain(backend: u16, pki: &common::tls_pki::Pki) -> (Daemon, Daemon) {
    let server = Daemon::start(
        Impl::Rstunnel,
        &format!(
            "{}[server]\naccept = 127.0.0.1:0\ncert = {}\nconnect = 127.0.0.1:{backend}\n",
            header(),
            p(&pki.combined)
        ),
    );
    let server_port = server.port("server");
    let client = Daemon::start(
        Impl::Rstunnel,
        &format!(
            "{}[client]\nclient = yes\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:{server_port}\n\
             CAfile = {}\nverifyChain = yes\ncheckHost = localhost\n",
            header(),
            p(&pki.ca)
        ),
    );
    (server, client)
}

/// A backend that reads everything until EOF, then sends `reply` and
/// closes: it only answers after the client's half-close arrived, so the
/// test fails if half-close is lost or turned into a full close.
fn reply_after_eof_backend(expect: Vec<u8>, reply: Vec<u8>) -> u16 {
    let (l, port) = net::listener();
    std::thread::spawn(move || {
        let (mut conn, _) = l.accept().unwrap();
        let got = net::read_to_end(&mut conn);
        assert!(
            got == expect,
            "backend got {} bytes, expected {}",
            got.len(),
            expect.len()
        );
        conn.write_all(&reply).unwrap();
        conn.shutdown(Shutdown::Write).unwrap();
    });
    port
}

#[test]
fn sixteen_mib_each_way_with_half_close() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let up = payload(16 << 20, 1);
    let down = payload(16 << 20, 2);
    let backend = reply_after_eof_backend(up.clone(), down.clone());
    let (_server, client) = chain(backend, &pki);

    let conn = net::connect(client.port("client"));
    let writer = net::send_then_half_close(conn.try_clone().unwrap(), up);
    let got = net::read_to_end(conn);
    writer.join().unwrap();
    assert!(
        got == down,
        "client got {} bytes, expected {}",
        got.len(),
        down.len()
    );
    client.log.wait_for(
        "Connection closed: 16777216 byte(s) sent to TLS, 16777216 byte(s) sent to socket",
    );
}

#[test]
fn both_directions_at_once_are_byte_exact() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let echo = net::echo_server();
    let (server, client) = chain(echo, &pki);

    let data = payload(16 << 20, 7);
    let conn = net::connect(client.port("client"));
    let writer = net::send_then_half_close(conn.try_clone().unwrap(), data.clone());
    let mut got = Vec::new();
    let mut reader = conn;
    reader.read_to_end(&mut got).unwrap();
    writer.join().unwrap();
    assert!(
        got == data,
        "echo returned {} bytes, expected {}",
        got.len(),
        data.len()
    );
    server.log.wait_for(
        "Connection closed: 16777216 byte(s) sent to TLS, 16777216 byte(s) sent to socket",
    );
}
