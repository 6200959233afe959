//! Authentication decisions that no other test file proves end to end
//! (doc/security.md lists every decision and its test). Each runs the real
//! daemon, rstunnel and stunnel4 (the oracle) on the same configuration
//! where stunnel4 agrees, and judges by what the client receives (the
//! backend's reply or nothing) and by stunnel's log line for the decision.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::net::answering_server;
use common::tls_client::{Client, SessionKind, To};
use common::tls_pki::{make_pki, Pki};
use common::{header, p, Daemon, Impl};

const REPLY: &str = "BACKEND\n";

/// `openssl ARGS` in `dir`; panics when it fails.
fn openssl(dir: &Path, args: &[&str]) {
    let status = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl");
    assert!(status.success(), "openssl {args:?}");
}

/// Concatenate `parts` into `dir/name`.
fn concat(dir: &Path, name: &str, parts: &[&Path]) -> PathBuf {
    let bytes: Vec<u8> = parts
        .iter()
        .flat_map(|f| std::fs::read(f).expect("part"))
        .collect();
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write");
    path
}

/// A new TLS 1.3 session with `chain` (or no certificate) to `port`, naming
/// `servername`: does the backend's reply arrive?
fn reaches(port: u16, servername: &str, chain: Option<&Path>) -> bool {
    let run = Client::new(SessionKind::Tls13Ticket, chain).exchange(
        &To::local(port).named(servername),
        None,
        b"",
    );
    match run.text().as_str() {
        REPLY => true,
        "" => false,
        other => panic!("unexpected bytes {other:?}"),
    }
}

/// The client identities of the verification tables.
#[derive(Debug, Clone, Copy)]
enum Who {
    NoCertificate,
    Untrusted,
    Trusted,
}

fn chain_of(pki: &Pki, who: Who) -> Option<&Path> {
    match who {
        Who::NoCertificate => None,
        Who::Untrusted => Some(&pki.untrusted_client_combined),
        Who::Trusted => Some(&pki.client_combined),
    }
}

/// `verify = 0..4` (stunnel-reference §6.6) against a client without a
/// certificate, a self-signed one and one the CA signed. The trust store
/// holds the CA and the trusted client's own certificate, so the levels
/// that pin the leaf (3, 4) can accept it. stunnel4 must agree cell by
/// cell.
#[test]
fn verify_levels_decide_as_stunnel() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let store = concat(dir.path(), "store.pem", &[&pki.ca, &pki.client_cert]);
    let backend = answering_server("127.0.0.1", REPLY.as_bytes());
    let mut conf = header();
    for level in 0..=4 {
        conf.push_str(&format!(
            "[v{level}]\naccept = 127.0.0.1:0\ncert = {}\nCAfile = {}\nverify = {level}\n\
             connect = 127.0.0.1:{backend}\n",
            p(&pki.combined),
            p(&store),
        ));
    }
    // (level, no certificate, self-signed, CA-signed)
    let expected = [
        (0, true, true, true),
        (1, true, false, true),
        (2, false, false, true),
        (3, false, false, true),
        (4, false, false, true),
    ];
    for imp in [Impl::Rstunnel, Impl::Stunnel4] {
        let d = Daemon::start(imp, &conf);
        for (level, none, untrusted, trusted) in expected {
            let port = d.port(&format!("v{level}"));
            for (who, want) in [
                (Who::NoCertificate, none),
                (Who::Untrusted, untrusted),
                (Who::Trusted, trusted),
            ] {
                assert_eq!(
                    reaches(port, "localhost", chain_of(&pki, who)),
                    want,
                    "{imp:?} verify = {level}, {who:?}; log:\n{}",
                    d.log.text()
                );
            }
        }
        // The reasons, in stunnel's words.
        d.log.wait_for("Certificate verification disabled");
        d.log
            .wait_for("Rejected by CERT at depth=0: CN=untrusted client");
        d.log
            .wait_for("CERT: Locally installed certificate matched");
        d.log.wait_for("peer did not return a certificate");
    }
}

/// `checkHost` / `checkEmail` / `checkIP` on a client certificate (server
/// mode): each accepts a matching certificate and refuses another one with
/// `CERT: Subject checks failed`; several checks accept on any match.
#[test]
fn subject_checks_on_client_certificates_decide_as_stunnel() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    std::fs::write(
        dir.path().join("alice.ext"),
        "subjectAltName = DNS:alice.example.test, email:alice@example.test, IP:127.0.0.9\n",
    )
    .unwrap();
    openssl(
        dir.path(),
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "alice.key",
            "-out",
            "alice.csr",
            "-subj",
            "/CN=alice",
        ],
    );
    openssl(
        dir.path(),
        &[
            "x509",
            "-req",
            "-in",
            "alice.csr",
            "-CA",
            &p(&pki.ca),
            "-CAkey",
            &p(&pki.ca_key),
            "-set_serial",
            "41",
            "-days",
            "30",
            "-extfile",
            "alice.ext",
            "-out",
            "alice.pem",
        ],
    );
    let alice = concat(
        dir.path(),
        "alice-combined.pem",
        &[&dir.path().join("alice.pem"), &dir.path().join("alice.key")],
    );
    let backend = answering_server("127.0.0.1", REPLY.as_bytes());
    // (service, check lines, alice accepted)
    let cases = [
        ("host-ok", "checkHost = alice.example.test\n", true),
        ("host-bad", "checkHost = bob.example.test\n", false),
        ("email-ok", "checkEmail = alice@example.test\n", true),
        ("email-bad", "checkEmail = bob@example.test\n", false),
        ("ip-ok", "checkIP = 127.0.0.9\n", true),
        ("ip-bad", "checkIP = 127.0.0.8\n", false),
        (
            "any",
            "checkHost = bob.example.test\ncheckIP = 127.0.0.9\n",
            true,
        ),
    ];
    let mut conf = header();
    for (name, checks, _) in cases {
        conf.push_str(&format!(
            "[{name}]\naccept = 127.0.0.1:0\ncert = {}\nCAfile = {}\nverifyChain = yes\n{checks}\
             connect = 127.0.0.1:{backend}\n",
            p(&pki.combined),
            p(&pki.ca),
        ));
    }
    for imp in [Impl::Rstunnel, Impl::Stunnel4] {
        let d = Daemon::start(imp, &conf);
        for (name, _, want) in cases {
            assert_eq!(
                reaches(d.port(name), "localhost", Some(&alice)),
                want,
                "{imp:?} [{name}]; log:\n{}",
                d.log.text()
            );
        }
        d.log.wait_for("CERT: Subject checks failed");
        d.log.wait_for("Rejected by CERT at depth=0: CN=alice");
        d.log.wait_for("Certificate accepted at depth=0: CN=alice");
    }
}

/// `CRLpath`: a hashed directory of CRLs revokes the leaf; a certificate it
/// does not list still passes.
#[test]
fn crl_path_revokes_as_stunnel() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let crls = dir.path().join("crls");
    std::fs::create_dir(&crls).unwrap();
    std::fs::copy(&pki.crl, crls.join("ca.crl.pem")).unwrap();
    openssl(dir.path(), &["rehash", &p(&crls)]);
    let backend = answering_server("127.0.0.1", REPLY.as_bytes());
    let conf = format!(
        "{}[crl]\naccept = 127.0.0.1:0\ncert = {}\nCAfile = {}\nCRLpath = {}\nverifyChain = yes\n\
         connect = 127.0.0.1:{backend}\n",
        header(),
        p(&pki.combined),
        p(&pki.ca),
        p(&crls),
    );
    for imp in [Impl::Rstunnel, Impl::Stunnel4] {
        let d = Daemon::start(imp, &conf);
        let port = d.port("crl");
        let revoked = reaches(port, "localhost", Some(&pki.revoked_client_combined));
        let trusted = reaches(port, "localhost", Some(&pki.client_combined));
        assert!(
            !revoked && trusted,
            "{imp:?}: revoked {revoked}, trusted {trusted}; log:\n{}",
            d.log.text()
        );
        d.log
            .wait_for("CERT: Pre-verification error: certificate revoked");
        d.log
            .wait_for("Rejected by CERT at depth=0: CN=revoked client");
    }
}

/// A client that names an SNI secondary is verified by the secondary's
/// rules on a new session, one that names the primary or an unknown name by
/// the primary's (stunnel-reference §5.15).
#[test]
fn sni_new_sessions_are_verified_by_the_selected_service() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let open = answering_server("127.0.0.1", b"OPEN\n");
    let guarded = answering_server("127.0.0.1", REPLY.as_bytes());
    let conf = format!(
        "{}[open]\naccept = 127.0.0.1:0\ncert = {cert}\nconnect = 127.0.0.1:{open}\n\
         [guarded]\nsni = open:guarded.sni.example\ncert = {sni}\nCAfile = {ca}\nverifyChain = yes\n\
         connect = 127.0.0.1:{guarded}\n",
        header(),
        cert = p(&pki.combined),
        sni = p(&pki.sni_combined),
        ca = p(&pki.ca),
    );
    for imp in [Impl::Rstunnel, Impl::Stunnel4] {
        let d = Daemon::start(imp, &conf);
        let port = d.port("open");
        let to = |name| To::local(port).named(name);
        let anonymous = Client::new(SessionKind::Tls13Ticket, None);
        let untrusted = Client::new(
            SessionKind::Tls13Ticket,
            Some(&pki.untrusted_client_combined),
        );
        let verified = Client::new(SessionKind::Tls13Ticket, Some(&pki.client_combined));
        let got = |c: &Client, name| c.exchange(&to(name), None, b"").text();
        let cells = [
            (
                "anonymous → guarded",
                got(&anonymous, "guarded.sni.example"),
                "",
            ),
            (
                "self-signed → guarded",
                got(&untrusted, "guarded.sni.example"),
                "",
            ),
            (
                "verified → guarded",
                got(&verified, "guarded.sni.example"),
                REPLY,
            ),
            (
                "anonymous → primary",
                got(&anonymous, "localhost"),
                "OPEN\n",
            ),
            (
                "anonymous → unknown name",
                got(&anonymous, "other.example"),
                "OPEN\n",
            ),
        ];
        for (what, received, want) in cells {
            assert_eq!(received, want, "{imp:?} {what}; log:\n{}", d.log.text());
        }
        d.log.wait_for("SNI: switched to service [guarded]");
        d.log.wait_for("peer did not return a certificate");
        d.log
            .wait_for("Rejected by CERT at depth=0: CN=untrusted client");
        d.log
            .wait_for("SNI: no pattern matched servername: other.example");
    }
}

/// Client mode without verification of the server is a MITM risk: stunnel
/// says so at start-up, and says that `verifyChain` alone trusts any name
/// the CA signed.
#[test]
fn client_mode_warns_when_the_server_is_not_authenticated() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let conf = format!(
        "{}[blind]\nclient = yes\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:9\n\
         [chain-only]\nclient = yes\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:9\n\
         CAfile = {ca}\nverifyChain = yes\n\
         [checked]\nclient = yes\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:9\n\
         CAfile = {ca}\nverifyChain = yes\ncheckHost = localhost\n",
        header(),
        ca = p(&pki.ca),
    );
    for imp in [Impl::Rstunnel, Impl::Stunnel4] {
        let d = Daemon::start(imp, &conf);
        d.port("checked");
        d.log
            .wait_for("Service [blind] needs authentication to prevent MITM attacks");
        d.log
            .wait_for("Service [chain-only] uses \"verifyChain\" without subject checks");
        let text = d.log.text();
        assert!(
            !text.contains("Service [checked] needs authentication")
                && !text.contains("Service [checked] uses"),
            "{imp:?}: warned about [checked]:\n{text}"
        );
    }
}
