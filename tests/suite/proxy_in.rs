//! `proxyIn` + `proxyFrom` (issue 15): behind Debian's real HAProxy
//! (`send-proxy`, `send-proxy-v2`), the client's own address reaches the
//! `accepted connection from` line and, through `protocol = proxy`, the
//! backend; a trusted peer without a valid header (garbage, a bad or 200-byte
//! v1 line, a truncated v2 header, silence) is reset with one line while
//! others are served;
//! an untrusted peer's header is never read.

use crate::common;
use crate::common::peers::Peer;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::tls_pki::make_pki;
use common::{header, p, Daemon, Impl, PATIENCE};

/// A backend behind `protocol = proxy`: answers each connection with the
/// PROXY line rstunnel wrote, then closes.
fn proxy_line_backend() -> u16 {
    let (l, port) = common::net::listener();
    std::thread::spawn(move || {
        for conn in l.incoming().map_while(Result::ok) {
            std::thread::spawn(move || {
                let _ = conn.set_read_timeout(Some(PATIENCE));
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_ok() {
                    let mut conn = conn;
                    let _ = conn.write_all(line.as_bytes());
                }
            });
        }
    });
    port
}

/// HAProxy in TCP mode (killed when dropped) forwarding `v1`
/// (send-proxy) and `v2` (send-proxy-v2) to `server`; `None` when it is
/// not installed (the caller has failed).
fn haproxy(dir: &std::path::Path, server: u16) -> Option<(Peer, u16, u16)> {
    if Command::new("haproxy").arg("-v").output().is_err() {
        common::must_run::cannot_run(
            "proxy_in",
            "haproxy (Debian package haproxy) is not installed",
        );
        return None;
    }
    let (v1, v2) = (common::free_port(), common::free_port());
    let cfg = dir.join("haproxy.cfg");
    std::fs::write(
        &cfg,
        format!(
            "defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n\
             listen v1\n  bind 127.0.0.1:{v1}\n  server s 127.0.0.1:{server} send-proxy\n\
             listen v2\n  bind 127.0.0.1:{v2}\n  server s 127.0.0.1:{server} send-proxy-v2\n"
        ),
    )
    .unwrap();
    let child = Command::new("haproxy")
        .args(["-db", "-f"])
        .arg(&cfg)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("haproxy");
    let guard = Peer(child);
    common::wait_listening(v1);
    common::wait_listening(v2);
    Some((guard, v1, v2))
}

/// A TLS client connecting to `port` from a socket whose local port it
/// knows; what the backend answered, and that port.
fn through(port: u16) -> (String, u16) {
    let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let ours = tcp.local_addr().unwrap().port();
    (tls_answer(tcp), ours)
}

/// TLS (no verification) on `tcp`, which may already have carried a PROXY
/// header: everything the backend answered, until it closes.
fn tls_answer(tcp: TcpStream) -> String {
    tcp.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut s = common::tls_client::tls_on(tcp, |_| {}).expect("TLS handshake");
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer
}

fn service(pki_cert: &str, backend: u16, from: &str) -> String {
    format!(
        "{}[edge]\naccept = 127.0.0.1:0\nproxyIn = any\nproxyFrom = {from}\n\
         protocol = proxy\nconnect = 127.0.0.1:{backend}\ncert = {pki_cert}\n",
        header()
    )
}

#[test]
fn haproxy_v1_and_v2_headers_carry_the_client_to_logs_and_backend() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let backend = proxy_line_backend();
    let d = Daemon::start(
        Impl::Rstunnel,
        &service(&p(&pki.combined), backend, "127.0.0.1"),
    );
    let port = d.port("edge");
    let Some((_haproxy, v1, v2)) = haproxy(dir.path(), port) else {
        return;
    };
    for balancer in [v1, v2] {
        let (answer, client_port) = through(balancer);
        // rstunnel's own PROXY line names the client and the address it
        // reached (the balancer's), not the balancer's outgoing socket.
        assert_eq!(
            answer,
            format!("PROXY TCP4 127.0.0.1 127.0.0.1 {client_port} {balancer}\r\n")
        );
        d.log.wait_for(&format!(
            "Service [edge] accepted connection from 127.0.0.1:{client_port}"
        ));
        d.log.wait_for("PROXY header from 127.0.0.1:");
    }
}

#[test]
fn a_trusted_peer_without_a_valid_header_is_reset_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let d = Daemon::start(
        Impl::Rstunnel,
        &service(&p(&pki.combined), proxy_line_backend(), "127.0.0.0/8"),
    );
    let port = d.port("edge");
    let cases: [(&[u8], &str); 2] = [
        (b"\x16\x03\x01\x00\x05hello", "no PROXY header; resetting"),
        (
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n",
            "malformed v1 line",
        ),
    ];
    let mut oversized = b"PROXY TCP4 ".to_vec();
    oversized.extend([b'1'; 200]);
    let oversized = (&oversized[..], "v1 line longer than 107 bytes; resetting");
    for (bytes, line) in cases.into_iter().chain([oversized]) {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(PATIENCE)).unwrap();
        let _ = s.write_all(bytes);
        // Reset without a byte back.
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest);
        assert!(rest.is_empty(), "{rest:?}");
        d.log.wait_for(line);
    }
    assert!(!d.log.text().contains("accepted connection from 1.2.3.4"));
}

/// A v2 header cut short by the balancer's close, and a balancer that
/// sends nothing (bounded by `TIMEOUTbusy`): each is reset with its line
/// while a connection with a whole header, open all along, is served.
#[test]
fn a_truncated_v2_header_and_silence_are_reset_and_others_served() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let conf =
        service(&p(&pki.combined), proxy_line_backend(), "127.0.0.0/8") + "TIMEOUTbusy = 1\n";
    let d = Daemon::start(Impl::Rstunnel, &conf);
    let port = d.port("edge");
    let silent = TcpStream::connect(("127.0.0.1", port)).unwrap();
    // Signature, PROXY over TCP4, 12 bytes of addresses announced, 4 sent.
    let mut cut = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut v2 = b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c".to_vec();
    v2.extend([192, 0, 2, 10]);
    cut.write_all(&v2).unwrap();
    cut.shutdown(std::net::Shutdown::Write).unwrap();
    // Meanwhile (the silent one still open): a whole v1 header, then TLS.
    let mut whole = TcpStream::connect(("127.0.0.1", port)).unwrap();
    whole
        .write_all(b"PROXY TCP4 192.0.2.9 127.0.0.1 4242 443\r\n")
        .unwrap();
    let answer = tls_answer(whole);
    assert!(answer.starts_with("PROXY TCP4 192.0.2.9 "), "{answer:?}");
    d.log
        .wait_for("the connection closed before a whole header; resetting");
    d.log.wait_for("none within TIMEOUTbusy; resetting");
    drop(silent);
}

#[test]
fn an_untrusted_peer_is_a_direct_client_and_its_header_is_never_read() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let d = Daemon::start(
        Impl::Rstunnel,
        &service(&p(&pki.combined), proxy_line_backend(), "10.0.0.0/8"),
    );
    let port = d.port("edge");
    // A direct TLS client works and is logged with its own address.
    let (answer, client_port) = through(port);
    let me: SocketAddr = format!("127.0.0.1:{client_port}").parse().unwrap();
    assert_eq!(
        answer,
        format!("PROXY TCP4 127.0.0.1 127.0.0.1 {client_port} {port}\r\n")
    );
    d.log.wait_for(&format!("accepted connection from {me}"));
    // A forged header is just bytes before TLS: the handshake fails, and
    // the forged address appears nowhere.
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s.write_all(b"PROXY TCP4 6.6.6.6 127.0.0.1 6666 443\r\n")
        .unwrap();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    std::thread::sleep(Duration::from_millis(200));
    assert!(!d.log.text().contains("6.6.6.6"), "{}", d.log.text());
}

#[test]
fn proxy_in_needs_proxy_from_and_tcp_and_refuses_ident() {
    for (extra, error) in [
        ("proxyIn = v2\n", "\"proxyIn\" needs \"proxyFrom\""),
        ("proxyFrom = 10.0.0.1\n", "\"proxyFrom\" needs \"proxyIn\""),
        (
            "proxyIn = v3\nproxyFrom = 10.0.0.1\n",
            "Argument should be either 'v1', 'v2' or 'any'",
        ),
        (
            "proxyIn = v1\nproxyFrom = 10.0.0.1\nident = nobody\n",
            "\"ident\" cannot check a client behind a PROXY balancer",
        ),
    ] {
        let conf = format!(
            "[s]\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:9\ncert = /nonexistent\n{extra}"
        );
        let (code, out) = common::check_config(&conf);
        assert_eq!(code, Some(1), "{extra}: {out}");
        assert!(out.contains(error), "{extra}: {out}");
    }
}
