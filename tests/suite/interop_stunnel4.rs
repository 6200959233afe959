//! rstunnel and stunnel4 talk to each other in both roles: what an admin
//! gets when replacing one end of an existing stunnel pair.

use crate::common;

use std::io::Write;
use std::net::Shutdown;

use common::net::{self, payload};
use common::tls_pki::make_pki;
use common::{header, p, Daemon, Impl};

/// `client_impl` (client mode) → `server_impl` (server mode) → echo; 1 MiB
/// each way.
fn round_trip(client_impl: Impl, server_impl: Impl) {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let echo = net::echo_server();
    let server = Daemon::start(
        server_impl,
        &format!(
            "{}[server]\naccept = 127.0.0.1:0\ncert = {}\nconnect = 127.0.0.1:{echo}\n",
            header(),
            p(&pki.combined)
        ),
    );
    let client = Daemon::start(
        client_impl,
        &format!(
            "{}[client]\nclient = yes\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:{}\n\
             CAfile = {}\nverifyChain = yes\ncheckHost = localhost\n",
            header(),
            server.port("server"),
            p(&pki.ca)
        ),
    );
    let data = payload(1 << 20, 3);
    let mut conn = net::connect(client.port("client"));
    conn.write_all(&data).unwrap();
    conn.shutdown(Shutdown::Write).unwrap();
    let got = net::read_to_end(conn);
    assert!(
        got == data,
        "got {} bytes back, expected {}",
        got.len(),
        data.len()
    );
    server
        .log
        .wait_for("Connection closed: 1048576 byte(s) sent to TLS, 1048576 byte(s) sent to socket");
    client
        .log
        .wait_for("Certificate accepted at depth=0: CN=localhost");
}

#[test]
fn rstunnel_client_to_stunnel4_server() {
    round_trip(Impl::Rstunnel, Impl::Stunnel4);
}

#[test]
fn stunnel4_client_to_rstunnel_server() {
    round_trip(Impl::Stunnel4, Impl::Rstunnel);
}
