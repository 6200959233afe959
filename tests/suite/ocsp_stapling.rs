//! `OCSPstapling = yes` (rstunnel extension). A server staples the OCSP
//! response for its certificate, fetched from the responder its AIA names
//! (a real `openssl ocsp -index` responder), and `openssl s_client
//! -status` is the client that asks for it and prints what it got: a good
//! and a revoked certificate, an unreachable responder (no staple, one
//! error line, the service goes on), stunnel 5.68's behaviour without the
//! option (no staple, as stunnel4 shows). A client asks `openssl s_server
//! -status` (which staples what the responder says) and checks the staple:
//! good passes, revoked and missing are refused (missing passes with
//! `OCSPrequire = no`). And the refusals at load.

use crate::common;
use crate::common::ocsp_env;
use crate::common::tls_service;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::tls_pki;
use common::{p, Daemon, Impl};
use ocsp_env::{env, Env};
use tls_service::Peer;

const LIMIT: Duration = Duration::from_secs(15);

/// A server [s] presenting `leaf`, with `extra` lines.
fn server(imp: Impl, e: &Env, leaf: &Path, extra: &str) -> Daemon {
    let backend = common::net::answering_server("127.0.0.1", b"stapled!\n");
    let conf = format!(
        "foreground = yes\ndebug = info\nsyslog = no\n[s]\naccept = 127.0.0.1:0\n\
         connect = 127.0.0.1:{backend}\ncert = {}\nCAfile = {}\n{extra}\n",
        p(leaf),
        p(&e.pki.ca)
    );
    Daemon::start(imp, &conf)
}

/// One `openssl s_client -status` connection through the tunnel, until the
/// backend's line arrives and it closes: s_client's stdout (the OCSP part
/// and the line).
fn s_client_status(port: u16) -> String {
    let mut child = Command::new("openssl")
        .args(["s_client", "-status", "-ign_eof", "-connect"])
        .arg(format!("127.0.0.1:{port}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl s_client");
    drop(child.stdin.take());
    let (ok, out, _) = Peer(child).finish(LIMIT);
    assert!(ok, "s_client failed: {out}");
    out
}

/// Connect until a connection gets a staple (the first asks for the
/// fetch); its s_client output.
fn stapled(port: u16) -> String {
    let deadline = Instant::now() + LIMIT;
    loop {
        let out = s_client_status(port);
        assert!(
            out.contains("stapled!"),
            "no echo through the tunnel: {out}"
        );
        if out.contains("OCSP Response Status: successful") {
            return out;
        }
        assert!(Instant::now() < deadline, "never stapled: {out}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_good_certificate_gets_its_good_response_stapled() {
    let e = env();
    let d = server(
        Impl::Rstunnel,
        &e,
        &e.ocsp.good_combined,
        "OCSPstapling = yes",
    );
    let out = stapled(d.port("s"));
    assert!(out.contains("Cert Status: good"), "{out}");
    d.log
        .wait_for("OCSP stapling: service [s]: fetched a response (good)");
}

#[test]
fn a_revoked_certificate_gets_the_revoked_response_stapled() {
    let e = env();
    let d = server(
        Impl::Rstunnel,
        &e,
        &e.ocsp.revoked_combined,
        "OCSPstapling = yes",
    );
    let out = stapled(d.port("s"));
    assert!(out.contains("Cert Status: revoked"), "{out}");
}

/// An unreachable responder: no staple, one error line with the retry
/// delay, and connections keep working.
#[test]
fn an_unreachable_responder_staples_nothing_and_serves_on() {
    let e = env();
    // A port nothing listens on: bound a moment ago, closed again.
    let dead = common::net::listener().1;
    let leaf = tls_pki::make_ocsp_disputed_leaf(&e.pki, &format!("http://127.0.0.1:{dead}/"));
    let d = server(Impl::Rstunnel, &e, &leaf, "OCSPstapling = yes");
    let first = s_client_status(d.port("s"));
    d.log
        .wait_for("OCSP stapling: service [s]: no answer from the responder; retrying in 10 s");
    for _ in 0..3 {
        let out = s_client_status(d.port("s"));
        assert!(out.contains("stapled!"), "{out}");
        assert!(out.contains("OCSP response: no response sent"), "{out}");
    }
    assert!(first.contains("OCSP response: no response sent"), "{first}");
    assert_eq!(
        d.log.text().matches("OCSP stapling: service [s]").count(),
        1
    );
}

/// Without the option rstunnel staples nothing, as stunnel 5.68 does, even
/// for a certificate whose responder answers.
#[test]
fn without_the_option_nothing_is_stapled_as_by_stunnel4() {
    let e = env();
    for imp in [Impl::Rstunnel, Impl::Stunnel4] {
        let d = server(imp, &e, &e.ocsp.good_combined, "");
        for _ in 0..2 {
            let out = s_client_status(d.port("s"));
            assert!(out.contains("stapled!"), "{imp:?}: {out}");
            assert!(
                out.contains("OCSP response: no response sent"),
                "{imp:?}: {out}"
            );
        }
    }
}

/// A client [c] in front of `openssl s_server -www` presenting `leaf`
/// (stapling what the AIA responder says when `status`); whether an HTTP
/// request through the tunnel was answered, and the daemon.
fn client(e: &Env, leaf: &Path, status: bool, extra: &str) -> (bool, Daemon) {
    let leaf = p(leaf);
    let ca = p(&e.pki.ca);
    // s_server needs the issuer (`-CAfile`) to ask the responder.
    let mut args = vec!["-cert", leaf.as_str(), "-CAfile", ca.as_str(), "-www"];
    if status {
        args.push("-status");
    }
    let (_server, port) = tls_service::s_server(&args);
    let conf = format!(
        "foreground = yes\ndebug = info\nsyslog = no\n[c]\nclient = yes\naccept = 127.0.0.1:0\n\
         connect = 127.0.0.1:{port}\nverifyChain = yes\nCAfile = {}\nOCSPstapling = yes\n{extra}\n",
        p(&e.pki.ca)
    );
    let d = Daemon::start(Impl::Rstunnel, &conf);
    let mut s = std::net::TcpStream::connect(("127.0.0.1", d.port("c"))).expect("connect");
    s.set_read_timeout(Some(LIMIT)).expect("timeout");
    let _ = std::io::Write::write_all(&mut s, b"GET / HTTP/1.0\r\n\r\n");
    let mut answer = Vec::new();
    let _ = std::io::Read::read_to_end(&mut s, &mut answer);
    // Closing our side lets the daemon finish the connection.
    drop(s);
    d.log.wait_for("Connection ");
    (answer.starts_with(b"HTTP/1.0 200"), d)
}

#[test]
fn a_client_accepts_a_good_staple_and_refuses_a_revoked_one() {
    let e = env();
    let (passed, d) = client(&e, &e.ocsp.good_combined, true, "");
    assert!(passed, "{}", d.log.text());
    d.log.wait_for("LOG5[0]: OCSP stapling: Accepted (good)");
    let (passed, d) = client(&e, &e.ocsp.revoked_combined, true, "");
    assert!(!passed, "{}", d.log.text());
    d.log.wait_for("LOG3[0]: OCSP stapling: Rejected (revoked)");
}

/// A server that staples nothing fails the check unless `OCSPrequire = no`.
#[test]
fn a_client_without_a_staple_needs_ocsp_require_no() {
    let e = env();
    let (passed, d) = client(&e, &e.ocsp.good_combined, false, "");
    assert!(!passed, "{}", d.log.text());
    d.log
        .wait_for("LOG3[0]: OCSP stapling: Rejected (no response stapled; OCSPrequire = yes)");
    let (passed, d) = client(&e, &e.ocsp.good_combined, false, "OCSPrequire = no");
    assert!(passed, "{}", d.log.text());
    d.log
        .wait_for("LOG5[0]: OCSP stapling: Accepted (no response stapled; OCSPrequire = no)");
}

/// A client that verifies nothing, and a certificate that names no
/// responder: refused at load.
#[test]
fn stapling_needs_verification_and_a_responder() {
    let e = env();
    let client =
        "[c]\nclient = yes\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:9\nOCSPstapling = yes\n";
    let (code, err) = common::check_config(client);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(
            "check.conf:5: \"OCSPstapling = yes\": \"OCSPstapling\" in client mode needs \"verifyChain\" or \"verifyPeer\""
        ),
        "{err}"
    );
    let no_aia = format!(
        "foreground = yes\nsyslog = no\n[s]\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:9\n\
         cert = {}\nOCSPstapling = yes\n",
        p(&e.pki.combined)
    );
    let (code, err) = common::check_config(&no_aia);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("OCSP stapling: the certificate names no OCSP responder (AIA)"),
        "{err}"
    );
}
