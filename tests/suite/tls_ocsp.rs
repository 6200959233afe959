//! OCSP checks of the peer chain (`OCSP`, `OCSPaia`, `OCSPnonce`,
//! `OCSPrequire`, `TIMEOUTocsp`) against a real responder (`openssl ocsp
//! -index`) holding one good and one revoked certificate, and for the
//! order of `OCSP` and `OCSPaia` a second responder that disagrees with
//! the first about one certificate whose AIA names it.
//!
//! Every case that stunnel 5.68 also knows runs the same configuration
//! under rstunnel and stunnel4 and compares the outcome and the `OCSP`
//! log lines. `OCSPrequire` and `TIMEOUTocsp` are 5.71 options (stunnel4
//! 5.68 rejects them), checked on rstunnel alone.

use crate::common;
use crate::common::ocsp_env;
use crate::common::tls_service;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use common::tls_pki;
use common::{p, Daemon, Impl};
use ocsp_env::{env, ocsp_responder, Env};
use openssl::ssl::{SslConnector, SslFiletype, SslMethod, SslVerifyMode};
use tls_service::{s_server, Peer};

const LIMIT: Duration = Duration::from_secs(15);

/// What one connection through a daemon showed.
struct Outcome {
    /// Data made it through the tunnel.
    passed: bool,
    /// The daemon's `OCSP` lines as `LOGn: text` (date, connection id and
    /// the times of `… update:` / `… at:` cut off).
    ocsp: Vec<String>,
    log: String,
}

fn outcome(d: &Daemon, passed: bool) -> Outcome {
    d.log.wait_for("]: Connection ");
    let log = d.log.text();
    let ocsp = log
        .lines()
        .filter(|l| l.contains("OCSP"))
        .filter_map(level_and_text)
        .filter(|(_, t)| !t.starts_with("Threading:"))
        .map(|(level, t)| {
            let t = match t.find(" update: ").or_else(|| t.find(" at: ")) {
                Some(i) => &t[..i],
                None => t,
            };
            format!("{level}: {t}")
        })
        .collect();
    Outcome { passed, ocsp, log }
}

/// `("LOG5", "text")` from `DATE TIME LOG5[ID]: text`.
fn level_and_text(line: &str) -> Option<(&str, &str)> {
    let (head, text) = line.split_once("]: ")?;
    let level = head.rsplit(' ').next()?.split('[').next()?;
    Some((level, text))
}

fn header() -> String {
    "foreground = yes\ndebug = debug\nsyslog = no\n".to_string()
}

/// Client mode: the daemon connects to an `s_server -www` presenting
/// `leaf`; a plain request through it must come back as HTTP 200.
fn client_case(imp: Impl, e: &Env, leaf: &std::path::Path, extra: &str) -> Outcome {
    let leaf = p(leaf);
    let (_server, port) = s_server(&["-cert", &leaf, "-www"]);
    let conf = format!(
        "{}[c]\nclient = yes\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:{port}\n\
         verifyChain = yes\nCAfile = {}\n{extra}\n",
        header(),
        p(&e.pki.ca)
    );
    let d = Daemon::start(imp, &conf);
    let mut s = TcpStream::connect(("127.0.0.1", d.port("c"))).expect("connect");
    s.set_read_timeout(Some(LIMIT)).expect("timeout");
    let _ = s.write_all(b"GET / HTTP/1.0\r\n\r\n");
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    // Closing our side lets the daemon finish the connection.
    drop(s);
    outcome(&d, answer.starts_with(b"HTTP/1.0 200"))
}

/// Server mode: a client presenting `leaf` sends a line to an echo backend.
fn server_case(imp: Impl, e: &Env, leaf: &std::path::Path, extra: &str) -> Outcome {
    let auth = format!("verifyChain = yes\nCAfile = {}\n{extra}", p(&e.pki.ca));
    server_case_with(imp, e, leaf, &auth)
}

/// [`server_case`] with the verification lines (`verify*`, `CAfile`,
/// `OCSP*`) given whole.
fn server_case_with(imp: Impl, e: &Env, leaf: &std::path::Path, auth: &str) -> Outcome {
    let backend = common::net::echo_server();
    let conf = format!(
        "{}[s]\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:{backend}\ncert = {}\n{auth}\n",
        header(),
        p(&e.pki.combined),
    );
    let d = Daemon::start(imp, &conf);
    let mut b = SslConnector::builder(SslMethod::tls_client()).expect("connector");
    b.set_verify(SslVerifyMode::NONE);
    b.set_certificate_chain_file(leaf).expect("client cert");
    b.set_private_key_file(leaf, SslFiletype::PEM)
        .expect("client key");
    let tcp = TcpStream::connect(("127.0.0.1", d.port("s"))).expect("connect");
    tcp.set_read_timeout(Some(LIMIT)).expect("timeout");
    let passed = match b.build().connect("localhost", tcp) {
        Ok(mut tls) => {
            let _ = tls.write_all(b"ping\n");
            let mut buf = [0u8; 5];
            let echoed = tls.read_exact(&mut buf).is_ok() && &buf == b"ping\n";
            let _ = tls.shutdown();
            echoed
        }
        Err(_) => false,
    };
    outcome(&d, passed)
}

/// Same outcome and the same OCSP lines under both implementations.
fn same_as_stunnel4(
    case: impl Fn(Impl) -> Outcome,
    expect_pass: bool,
    must_log: &[&str],
) -> Outcome {
    let theirs = case(Impl::Stunnel4);
    let ours = case(Impl::Rstunnel);
    assert_eq!(
        ours.passed, expect_pass,
        "rstunnel outcome; log:\n{}",
        ours.log
    );
    assert_eq!(
        theirs.passed, expect_pass,
        "stunnel4 outcome; log:\n{}",
        theirs.log
    );
    assert_eq!(
        ours.ocsp, theirs.ocsp,
        "OCSP lines differ\nrstunnel:\n{}\nstunnel4:\n{}",
        ours.log, theirs.log
    );
    for needle in must_log {
        assert!(
            ours.ocsp.iter().any(|l| l.contains(needle)) || ours.log.contains(needle),
            "missing {needle:?}:\n{}",
            ours.log
        );
    }
    ours
}

#[test]
fn client_mode_configured_responder_good_and_revoked() {
    let e = env();
    let ocsp = format!("OCSP = {}", e.url);
    same_as_stunnel4(
        |imp| client_case(imp, &e, &e.ocsp.good_combined, &ocsp),
        true,
        &[
            "OCSP: Ignoring root certificate",
            &format!("OCSP: Connecting the configured responder \"{}\"", e.url),
            "OCSP: Status: good",
            "OCSP: Certificate accepted",
            "Certificate accepted at depth=0: CN=localhost",
        ],
    );
    same_as_stunnel4(
        |imp| client_case(imp, &e, &e.ocsp.revoked_combined, &ocsp),
        false,
        &[
            "OCSP: Status: revoked",
            "OCSP: Certificate revoked: 1: keyCompromise",
            "Rejected by OCSP at depth=0: O=revoked, CN=localhost",
        ],
    );
}

#[test]
fn client_mode_aia_and_nonce() {
    let e = env();
    same_as_stunnel4(
        |imp| client_case(imp, &e, &e.ocsp.revoked_combined, "OCSPaia = yes"),
        false,
        &[
            &format!("OCSP: Connecting the AIA responder \"{}\"", e.url),
            "OCSP: Certificate revoked",
        ],
    );
    let nonce = format!("OCSP = {}\nOCSPnonce = yes", e.url);
    same_as_stunnel4(
        |imp| client_case(imp, &e, &e.ocsp.good_combined, &nonce),
        true,
        &["OCSP: Certificate accepted"],
    );
}

#[test]
fn server_mode_checks_client_certificates() {
    let e = env();
    let ocsp = format!("OCSP = {}", e.url);
    same_as_stunnel4(
        |imp| server_case(imp, &e, &e.ocsp.good_combined, &ocsp),
        true,
        &["OCSP: Certificate accepted"],
    );
    same_as_stunnel4(
        |imp| server_case(imp, &e, &e.ocsp.revoked_combined, &ocsp),
        false,
        &[
            "OCSP: Certificate revoked",
            "Rejected by OCSP at depth=0: O=revoked, CN=localhost",
        ],
    );
}

#[test]
fn unreachable_responder_rejects_unless_ocsp_require_is_no() {
    let e = env();
    let dead = common::free_port();
    let ocsp = format!("OCSP = http://127.0.0.1:{dead}/");
    // stunnel4 5.68 rejects without a conclusive answer too.
    let ours = same_as_stunnel4(
        |imp| client_case(imp, &e, &e.ocsp.good_combined, &ocsp),
        false,
        &[],
    );
    assert!(
        ours.log.contains("s_connect: connect 127.0.0.1:"),
        "{}",
        ours.log
    );
    let ours = client_case(
        Impl::Rstunnel,
        &e,
        &e.ocsp.good_combined,
        &format!("{ocsp}\nOCSPrequire = no"),
    );
    assert!(ours.passed, "{}", ours.log);
    assert!(
        ours.ocsp
            .iter()
            .any(|l| l == "LOG5: OCSP: Accepted (OCSPrequire = no)"),
        "{}",
        ours.log
    );
}

#[test]
fn silent_responder_is_bounded_by_timeout_ocsp() {
    let e = env();
    // Accepts connections (kernel backlog) and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("addr").port();
    let started = Instant::now();
    let ours = client_case(
        Impl::Rstunnel,
        &e,
        &e.ocsp.good_combined,
        &format!("OCSP = http://127.0.0.1:{port}/\nTIMEOUTocsp = 1"),
    );
    assert!(!ours.passed, "{}", ours.log);
    assert!(
        ours.log.contains("OCSP: s_poll_wait: TIMEOUTocsp exceeded"),
        "{}",
        ours.log
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    drop(silent);
}

/// `verifyPeer` with a CAfile that holds only the client's certificate:
/// the verified chain is that one certificate, its issuer nowhere. It is
/// no root (subject and issuer names differ), so stunnel still asks the
/// responder, naming the leaf as its own issuer (the top of the chain is
/// all it has). The answer cannot vouch for the certificate: its signer
/// does not chain to the trust store, and with `OCSPflag = NOVERIFY` the
/// responder says "unknown" for an issuer it does not know. Either way
/// the revoked client is refused.
#[test]
fn verify_peer_asks_the_responder_about_a_leaf_without_its_issuer() {
    let e = env();
    let auth = format!(
        "verifyPeer = yes\nCAfile = {}\nOCSP = {}",
        p(&e.ocsp.revoked_cert),
        e.url
    );
    let leaf = &e.ocsp.revoked_combined;
    let rejected = "Rejected by OCSP at depth=0: O=revoked, CN=localhost";
    let connecting = format!("OCSP: Connecting the configured responder \"{}\"", e.url);
    let ours = same_as_stunnel4(
        |imp| server_case_with(imp, &e, leaf, &auth),
        false,
        &[
            &connecting,
            "OCSP: Response received",
            "OCSP: OCSP_basic_verify: ",
            rejected,
        ],
    );
    assert!(
        !ours.log.contains("OCSP: Ignoring root certificate"),
        "{}",
        ours.log
    );
    let unverified = format!("{auth}\nOCSPflag = NOVERIFY");
    same_as_stunnel4(
        |imp| server_case_with(imp, &e, leaf, &unverified),
        false,
        &[
            &connecting,
            "OCSP: Status: unknown",
            "OCSP: Unknown verification status",
            rejected,
        ],
    );
    // Inconclusive, not revoked: `OCSPrequire = no` (5.71) lets it in.
    let tolerant = format!("{unverified}\nOCSPrequire = no");
    let ours = server_case_with(Impl::Rstunnel, &e, leaf, &tolerant);
    assert!(ours.passed, "{}", ours.log);
    assert!(
        ours.ocsp
            .iter()
            .any(|l| l == "LOG5: OCSP: Accepted (OCSPrequire = no)"),
        "{}",
        ours.log
    );
}

/// A second responder, from the same CA and signer, that says the
/// disputed leaf is revoked; the leaf's AIA names it.
struct Second {
    _responder: Peer,
    url: String,
    /// The disputed leaf: good at the first responder, revoked here.
    leaf: std::path::PathBuf,
}

fn second_responder(e: &Env) -> Second {
    let index = tls_pki::make_ocsp_second_index(&e.pki);
    let (responder, url) =
        ocsp_responder(&e.pki.ca, &index, &e.ocsp.signer_cert, &e.ocsp.signer_key);
    let leaf = tls_pki::make_ocsp_disputed_leaf(&e.pki, &url);
    Second {
        _responder: responder,
        url,
        leaf,
    }
}

/// `OCSP` and `OCSPaia` together: a good answer from the configured
/// responder does not end the check; the certificate's AIA responder is
/// asked next and its "revoked" rejects.
#[test]
fn aia_responder_is_asked_after_a_good_configured_answer() {
    let e = env();
    let second = second_responder(&e);
    let configured = format!("OCSP = {}", e.url);
    // The configured responder alone accepts the disputed leaf, so the
    // refusal below is the AIA responder's doing.
    same_as_stunnel4(
        |imp| client_case(imp, &e, &second.leaf, &configured),
        true,
        &["OCSP: Certificate accepted"],
    );
    let both = format!("{configured}\nOCSPaia = yes");
    let ours = same_as_stunnel4(
        |imp| client_case(imp, &e, &second.leaf, &both),
        false,
        &["Rejected by OCSP at depth=0: O=disputed, CN=localhost"],
    );
    let asked: Vec<&str> = ours
        .ocsp
        .iter()
        .map(String::as_str)
        .filter(|l| l.contains("Connecting") || l.contains("OCSP: Certificate "))
        .collect();
    assert_eq!(
        asked,
        [
            format!(
                "LOG5: OCSP: Connecting the configured responder \"{}\"",
                e.url
            ),
            "LOG5: OCSP: Certificate accepted".to_string(),
            format!(
                "LOG5: OCSP: Connecting the AIA responder \"{}\"",
                second.url
            ),
            "LOG3: OCSP: Certificate revoked: 1: keyCompromise".to_string(),
        ],
        "{}",
        ours.log
    );
}

/// The rest of stunnel 5.68's order: an inconclusive configured answer
/// rejects at once (the AIA responder, which would say good, is not
/// asked), and `OCSPaia` on a certificate without an AIA extension asks
/// nobody and accepts. Plus 5.71's `OCSPrequire = no` on rstunnel alone.
#[test]
fn configured_answer_decides_first_and_no_aia_extension_accepts() {
    let e = env();
    let second = second_responder(&e);
    // The second responder does not know the good leaf: "unknown".
    let unknown_first = format!("OCSP = {}\nOCSPaia = yes", second.url);
    let ours = same_as_stunnel4(
        |imp| client_case(imp, &e, &e.ocsp.good_combined, &unknown_first),
        false,
        &[
            "OCSP: Unknown verification status",
            "Rejected by OCSP at depth=0: CN=localhost",
        ],
    );
    assert!(
        !ours.log.contains("OCSP: Connecting the AIA responder"),
        "{}",
        ours.log
    );
    // `OCSPrequire = no` (5.71) tolerates the unknown answer but still
    // asks the AIA responder, whose "revoked" rejects.
    let tolerant = format!("OCSP = {}\nOCSPaia = yes\nOCSPrequire = no", second.url);
    let ours = client_case(Impl::Rstunnel, &e, &e.ocsp.revoked_combined, &tolerant);
    assert!(!ours.passed, "{}", ours.log);
    assert!(
        ours.ocsp
            .iter()
            .any(|l| l == &format!("LOG5: OCSP: Connecting the AIA responder \"{}\"", e.url))
            && ours
                .ocsp
                .iter()
                .any(|l| l == "LOG3: OCSP: Certificate revoked: 1: keyCompromise"),
        "{}",
        ours.log
    );
    let ours = same_as_stunnel4(
        |imp| client_case(imp, &e, &e.pki.combined, "OCSPaia = yes"),
        true,
        &["Certificate accepted at depth=0: CN=localhost"],
    );
    assert_eq!(
        ours.ocsp,
        ["LOG7: OCSP: Ignoring root certificate"],
        "{}",
        ours.log
    );
}
