//! A bad connection affects that connection only: garbage on the TLS port,
//! a client that vanishes mid-handshake, a dead backend. The service keeps
//! serving the next client.

use crate::common;

use std::io::{Read, Write};

use common::net;
use common::tls_pki::make_pki;
use common::{header, p, Daemon, Impl};

fn server(backend: u16, pki: &common::tls_pki::Pki) -> Daemon {
    Daemon::start(
        Impl::Rstunnel,
        &format!(
            "{}[tls]\naccept = 127.0.0.1:0\ncert = {}\nconnect = 127.0.0.1:{backend}\nTIMEOUTbusy = 5\n",
            header(),
            p(&pki.combined)
        ),
    )
}

/// One real TLS round trip through the service with Python's ssl.
fn works(port: u16, pki: &common::tls_pki::Pki) {
    let script = "import socket,ssl,sys\n\
        ctx=ssl.create_default_context(cafile=sys.argv[1])\n\
        s=ctx.wrap_socket(socket.create_connection(('127.0.0.1',int(sys.argv[2]))),server_hostname='localhost')\n\
        s.sendall(b'ping')\n\
        print(s.recv(4).decode(),end='')";
    let out = common::run_cmd(
        std::process::Command::new("python3")
            .args(["-c", script])
            .arg(&pki.ca)
            .arg(port.to_string()),
    );
    assert_eq!(
        out.1, "ping",
        "no echo through the service; stderr: {}",
        out.2
    );
}

#[test]
fn garbage_on_the_tls_port_leaves_the_service_serving() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let daemon = server(net::echo_server(), &pki);
    let port = daemon.port("tls");

    let mut garbage = net::connect(port);
    garbage
        .write_all(b"GET / HTTP/1.0\r\n\r\n\x00\xff\x16\x03\x01\x00\x05hello")
        .unwrap();
    let mut rest = Vec::new();
    let _ = garbage.read_to_end(&mut rest);
    daemon.log.wait_for("SSL_accept: ");
    daemon
        .log
        .wait_for("Connection reset: 0 byte(s) sent to TLS, 0 byte(s) sent to socket");

    // A client that connects and vanishes, another that stalls mid-hello:
    drop(net::connect(port));
    let mut stalled = net::connect(port);
    stalled.write_all(b"\x16\x03\x01").unwrap();

    works(port, &pki);
    drop(stalled);
}

#[test]
fn a_dead_backend_fails_one_connection_only() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let (dead, dead_port) = net::listener();
    drop(dead);
    let daemon = server(dead_port, &pki);
    let port = daemon.port("tls");
    let out = common::run_cmd(std::process::Command::new("sh").arg("-c").arg(format!(
        "printf ping | openssl s_client -quiet -connect 127.0.0.1:{port} -CAfile {} 2>/dev/null",
        p(&pki.ca)
    )));
    assert_eq!(out.1, "");
    daemon.log.wait_for(&format!(
        "s_connect: connect 127.0.0.1:{dead_port}: Connection refused (111)"
    ));
    daemon.log.wait_for("No more addresses to connect");
    // The listener is still there and still handshakes.
    let out = common::run_cmd(std::process::Command::new("sh").arg("-c").arg(format!(
        "openssl s_client -connect 127.0.0.1:{port} -CAfile {} -verify_return_error </dev/null 2>&1",
        p(&pki.ca)
    )));
    assert!(out.1.contains("Verify return code: 0 (ok)"), "{}", out.1);
}
