//! Client mode resumes its sessions (stunnel-reference §5.11): the second
//! and third connections of a client-mode service resume the session of the
//! first, with `delay = no` (one session per connect target) and `delay =
//! yes` (one per service), whether the plain side is an accepted socket or
//! an `exec`ed program (exec+connect, restarted by `retry`). The server is
//! `openssl s_server -www`, which issues tickets as any OpenSSL server does;
//! the accepted-socket case runs under stunnel4 too (5.68 has no `retry` in
//! milliseconds, which the exec+connect case uses to stay short).

use crate::common;
use crate::common::tls_service;

use std::io::{Read, Write};
use std::net::TcpStream;

use common::tls_pki::make_pki;
use common::{header, p, Daemon, Impl, PATIENCE};
use tls_service::s_server;

const RUNS: usize = 3;

/// Three HTTP requests through the client tunnel's accepted socket.
fn three_requests(port: u16) {
    for _ in 0..RUNS {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(PATIENCE)).unwrap();
        s.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
        let mut reply = Vec::new();
        let _ = s.read_to_end(&mut reply);
        assert!(
            reply.starts_with(b"HTTP/1.0 200"),
            "{:?}",
            String::from_utf8_lossy(&reply)
        );
    }
}

/// The client's handshakes: the first new, every later one resumed.
fn assert_resumed(d: &Daemon, what: &str) {
    d.log.wait_for_nth("TLS connected:", RUNS);
    let text = d.log.text();
    let handshakes: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("TLS connected:"))
        .collect();
    assert!(
        handshakes[0].ends_with("new session negotiated"),
        "{what}:\n{text}"
    );
    for later in &handshakes[1..RUNS] {
        assert!(
            later.ends_with("previous session reused"),
            "{what}: {later}\n{text}"
        );
    }
}

#[test]
fn accepted_connections_resume_with_delay_on_and_off() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let cert = p(&pki.server_cert);
    let key = p(&pki.server_key);
    let (_server, port) = s_server(&["-cert", &cert, "-key", &key, "-www"]);
    for imp in [Impl::Rstunnel, Impl::Stunnel4] {
        for delay in ["no", "yes"] {
            let d = Daemon::start(
                imp,
                &format!(
                    "{}[c]\nclient = yes\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:{port}\ndelay = {delay}\n",
                    header()
                ),
            );
            three_requests(d.port("c"));
            assert_resumed(&d, &format!("{imp:?} accept, delay = {delay}"));
        }
    }
}

#[test]
fn an_exec_connect_program_resumes_with_delay_on_and_off() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let cert = p(&pki.server_cert);
    let key = p(&pki.server_key);
    let (_server, port) = s_server(&["-cert", &cert, "-key", &key, "-www"]);
    // `execArgs` splits on spaces without quoting, as stunnel's: a script.
    let script = dir.path().join("get.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\nprintf 'GET / HTTP/1.0\\r\\n\\r\\n'\ncat >/dev/null\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    for delay in ["no", "yes"] {
        let d = Daemon::start(
            Impl::Rstunnel,
            &format!(
                "{}[c]\nclient = yes\nexec = {}\nconnect = 127.0.0.1:{port}\ndelay = {delay}\nretry = 50\n",
                header(),
                p(&script)
            ),
        );
        assert_resumed(&d, &format!("exec+connect, delay = {delay}"));
    }
}
