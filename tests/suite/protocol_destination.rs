//! `protocolDestination` (rstunnel extension): a server-mode CONNECT
//! service reaches only what the rules list, refuses Unix sockets unless
//! listed, warns when it is an open proxy, and refuses the option where it
//! would be ignored. curl is the CONNECT client (it tunnels TLS through the
//! `CONNECT` it sends in plaintext, as stunnel's CONNECT server expects).

use crate::common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;

use common::net::http_backend;
use common::tls_pki::make_pki;
use common::{header, p, Daemon, Impl, PATIENCE};

/// A CONNECT service with these extra lines; its port.
fn connect_service(extra: &str) -> (Daemon, u16, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let d = Daemon::start(
        Impl::Rstunnel,
        &format!(
            "{}[proxy]\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:9\ncert = {}\nprotocol = connect\n{extra}",
            header(),
            p(&pki.combined)
        ),
    );
    let port = d.port("proxy");
    (d, port, dir)
}

/// curl through the CONNECT service to `https://127.0.0.1:TARGET/` (the
/// service decrypts, the backend speaks plain HTTP); curl's output or None.
fn curl_through(proxy: u16, target: u16) -> Option<String> {
    let out = Command::new("curl")
        .args(["-sS", "-k", "--max-time", "10", "--proxytunnel", "-x"])
        .arg(format!("http://127.0.0.1:{proxy}"))
        .arg(format!("https://127.0.0.1:{target}/"))
        .output()
        .expect("curl");
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The plaintext reply to `CONNECT target`.
fn connect_reply(proxy: u16, target: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", proxy)).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    write!(s, "CONNECT {target} HTTP/1.0\r\n\r\n").unwrap();
    let mut first = Vec::new();
    let mut byte = [0u8; 1];
    while !first.ends_with(b"\r\n") && matches!(s.read(&mut byte), Ok(1)) {
        first.push(byte[0]);
    }
    String::from_utf8_lossy(&first).trim_end().to_string()
}

#[test]
fn listed_destinations_only() {
    let allowed = http_backend("allowed\n");
    let other = http_backend("other\n");
    let (d, proxy, _dir) =
        connect_service(&format!("protocolDestination = 127.0.0.1/32:{allowed}\n"));
    assert_eq!(curl_through(proxy, allowed).as_deref(), Some("allowed\n"));
    assert_eq!(curl_through(proxy, other), None);
    d.log.wait_for(&format!(
        "Destination 127.0.0.1:{other} not allowed by protocolDestination"
    ));
    assert_eq!(
        connect_reply(proxy, &format!("127.0.0.1:{other}")),
        "HTTP/1.0 403 Forbidden"
    );
    assert!(!d.log.contains("lets any client reach any address"));
}

#[test]
fn without_rules_any_address_but_no_unix_socket() {
    let backend = http_backend("open\n");
    let (d, proxy, dir) = connect_service("");
    d.log
        .wait_for("Service [proxy] lets any client reach any address this host can reach");
    assert_eq!(curl_through(proxy, backend).as_deref(), Some("open\n"));
    let socket = dir.path().join("admin.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    assert_eq!(connect_reply(proxy, &p(&socket)), "HTTP/1.0 403 Forbidden");
    d.log.wait_for(&format!(
        "Destination {} not allowed by protocolDestination",
        p(&socket)
    ));
}

#[test]
fn a_listed_unix_socket_is_reached() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("app.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let (_d, proxy, _dir) = connect_service(&format!("protocolDestination = {}\n", p(&socket)));
    assert_eq!(connect_reply(proxy, &p(&socket)), "HTTP/1.0 200 OK");
}

#[test]
fn rules_are_checked_where_they_are_written() {
    let err = rstunnel::config::parse_text(
        "[p]\naccept = 1\ncert = /c.pem\nprotocol = connect\nprotocolDestination = 10.0.0.0/33:443\n",
        "d.conf",
    )
    .expect_err("prefix too long");
    assert_eq!(
        err.to_string(),
        "d.conf:5: \"protocolDestination = 10.0.0.0/33:443\": \
         Invalid destination: ADDR[/PREFIX]:PORT[-PORT] or /PATH expected"
    );
    let err = rstunnel::config::parse_text(
        "[p]\naccept = 1\nconnect = 2\ncert = /c.pem\nprotocolDestination = *:443\n",
        "d.conf",
    )
    .expect_err("no CONNECT/SOCKS server");
    assert_eq!(
        err.lines(),
        vec!["d.conf:5: \"protocolDestination = *:443\": \
             \"protocolDestination\" needs \"protocol = connect\" or \"socks\" in server mode"
            .to_string()]
    );
}
