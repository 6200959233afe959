//! A client that picks a service by SNI is held to that service's rules
//! (stunnel-reference §5.15): its protocol range and ciphers, its
//! verification and `redirect`, and never a backend chosen before the
//! client named a server.

use crate::common;

use std::process::{Command, Stdio};

use common::net::answering_server;
use common::tls_client::{Client, SessionKind, To};
use common::tls_pki::make_pki;
use common::{header, p, Daemon, Impl};

/// `openssl s_client` against 127.0.0.1:`port` with `args`; its stdout.
fn s_client(port: u16, args: &[&str]) -> String {
    let out = Command::new("timeout")
        .args(["10", "openssl", "s_client", "-connect"])
        .arg(format!("127.0.0.1:{port}"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("openssl s_client");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The secondary's `sslVersionMin` and `ciphersuites` apply to clients that
/// reach it (stunnel 5.68 keeps the primary's: TLS 1.2 and any suite pass).
#[test]
fn a_secondary_negotiates_with_its_own_versions_and_suites() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let backend = answering_server("127.0.0.1", b"SECONDARY\n");
    let d = Daemon::start(
        Impl::Rstunnel,
        &format!(
            "{}[primary]\naccept = 127.0.0.1:0\ncert = {cert}\nconnect = 127.0.0.1:{backend}\n\
             [strict]\nsni = primary:strict.sni.example\ncert = {cert}\nconnect = 127.0.0.1:{backend}\n\
             sslVersionMin = TLSv1.3\nciphersuites = TLS_CHACHA20_POLY1305_SHA256\n",
            header(),
            cert = p(&pki.sni_combined),
        ),
    );
    let port = d.port("primary");
    let name = ["-servername", "strict.sni.example"];
    let tls12 = s_client(port, &[&name[..], &["-tls1_2"]].concat());
    assert!(
        !tls12.contains("Cipher is ECDHE"),
        "TLS 1.2 reached [strict]:\n{tls12}"
    );
    let aes = s_client(
        port,
        &[&name[..], &["-ciphersuites", "TLS_AES_128_GCM_SHA256"]].concat(),
    );
    assert!(
        !aes.contains("Cipher is TLS_AES_128"),
        "another suite reached [strict]:\n{aes}"
    );
    let good = s_client(port, &name);
    assert!(
        good.contains("TLSv1.3, Cipher is TLS_CHACHA20_POLY1305_SHA256"),
        "{good}"
    );
    // The primary keeps its own range.
    let primary = s_client(port, &["-servername", "localhost", "-tls1_2"]);
    assert!(primary.contains("TLSv1.2, Cipher is ECDHE"), "{primary}");
    d.log.wait_for("SNI: switched to service [strict]");
}

/// A primary with `requireCert` but no chain verification admits a rogue
/// certificate; a session it issued must not skip the guarded secondary's
/// `redirect` (stunnel 5.68 marks such sessions authenticated).
#[test]
fn a_rogue_session_from_the_primary_is_redirected_by_the_secondary() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let open = answering_server("127.0.0.1", b"OPEN\n");
    let locked = answering_server("127.0.0.1", b"GUARDED\n");
    let elsewhere = answering_server("127.0.0.1", b"REDIRECTED\n");
    let d = Daemon::start(
        Impl::Rstunnel,
        &format!(
            "{}[open]\naccept = 127.0.0.1:0\ncert = {cert}\nrequireCert = yes\nconnect = 127.0.0.1:{open}\n\
             [guarded]\nsni = open:guarded.sni.example\ncert = {cert}\nCAfile = {ca}\nverifyChain = yes\n\
             requireCert = yes\nredirect = 127.0.0.1:{elsewhere}\nconnect = 127.0.0.1:{locked}\n",
            header(),
            cert = p(&pki.combined),
            ca = p(&pki.ca),
        ),
    );
    let port = d.port("open");
    for kind in SessionKind::ALL {
        let rogue = Client::new(kind, Some(&pki.untrusted_client_combined));
        let first = rogue.exchange(&To::local(port).named("localhost"), None, b"");
        assert_eq!(first.text(), "OPEN\n", "{kind:?}: {:?}", first.error);
        let session = first.session.expect("session");
        let guarded = To::local(port).named("guarded.sni.example");
        let resumed = rogue.exchange(&guarded, Some(&session), b"");
        assert!(
            resumed.text() == "REDIRECTED\n" && !resumed.reused,
            "{kind:?}: got {:?} (resumed {}); log:\n{}",
            resumed.text(),
            resumed.reused,
            d.log.text()
        );
    }
}

/// With `protocol = smtp` the backend is connected before the handshake,
/// so a secondary could only apply its verification to the primary's
/// backend. stunnel 5.68 accepts the file and lets a client without a
/// certificate reach the guarded backend; rstunnel refuses the file.
#[test]
fn a_secondary_of_a_primary_that_connects_first_is_refused() {
    for protocol in ["smtp", "pop3", "imap"] {
        let text = format!(
            "[mail]\naccept = 127.0.0.1:0\ncert = /nonexistent.pem\nprotocol = {protocol}\n\
             connect = 127.0.0.1:25\nCAfile = /nonexistent-ca.pem\nverifyChain = yes\nrequireCert = yes\n\
             [other]\nsni = mail:other.example.test\ncert = /nonexistent.pem\nconnect = 127.0.0.1:26\n"
        );
        let err = rstunnel::config::parse_text(&text, "mail.conf").expect_err(protocol);
        assert_eq!(
            err.lines(),
            vec![
                "Service [other]: SNI is incompatible with the primary service's protocol negotiation"
                    .to_string()
            ],
            "{protocol}"
        );
    }
}
