//! `redirect` is an authentication decision (stunnel-reference §5.8): a
//! client without a certificate that passed verification must reach the
//! `redirect` targets and never what the service protects. Proved for every
//! way a service reaches its protected side × every kind of client × new
//! and resumed sessions, under rstunnel and under stunnel4 (the oracle),
//! by the bytes the client receives and the `Redirecting connection` line.
//!
//! The matrix (6 services × 4 identities × 4 session states = 96 cells per
//! implementation):
//! * services: `exec`, `exec` + `pty`, `connect`, `connect` + `protocol =
//!   proxy`, `transparent = destination` (the kernel's NAT gives the
//!   original destination), and the issue's `exec` + `verifyPeer` pin;
//! * identities: a certificate the CA signed, none, a self-signed one, one
//!   whose issuer carries the CA's name but another key (wrong chain);
//! * sessions: new, then resumed by TLS 1.2 id, TLS 1.2 ticket and TLS 1.3
//!   ticket (the session of a first connection with the same identity).
//!
//! Runs in a private network namespace (root), for the NAT rule.

use crate::common;
use crate::common::exec;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::net::answering_server;
use common::tls_client::{Client, SessionKind, To};
use common::tls_pki::{make_pki, Pki};
use common::{header, p, Daemon, Impl};
use exec::{private_netns, sh};

/// The address the transparent service's clients believe they talk to.
const ORIGINAL_HOST: &str = "10.9.0.1";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Identity {
    Verified,
    NoCertificate,
    Untrusted,
    WrongChain,
}

const IDENTITIES: [Identity; 4] = [
    Identity::Verified,
    Identity::NoCertificate,
    Identity::Untrusted,
    Identity::WrongChain,
];

/// A certificate signed by a CA that has the trusted CA's name but its own
/// key, sent with that CA: the chain names the right issuer and is wrong.
fn wrong_chain(dir: &Path) -> PathBuf {
    let run = |args: &[&str]| {
        let status = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("openssl");
        assert!(status.success(), "openssl {args:?}");
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "fake-ca.key",
        "-out",
        "fake-ca.pem",
        "-days",
        "30",
        "-subj",
        "/CN=rstunnel test CA",
        "-addext",
        "basicConstraints=critical,CA:true",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "forged.key",
        "-out",
        "forged.csr",
        "-subj",
        "/C=PL/O=rstunnel/CN=client",
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        "forged.csr",
        "-CA",
        "fake-ca.pem",
        "-CAkey",
        "fake-ca.key",
        "-set_serial",
        "77",
        "-days",
        "30",
        "-out",
        "forged.pem",
    ]);
    let combined = dir.join("forged-combined.pem");
    let parts: Vec<u8> = ["forged.pem", "fake-ca.pem", "forged.key"]
        .iter()
        .flat_map(|f| std::fs::read(dir.join(f)).expect("pki part"))
        .collect();
    std::fs::write(&combined, parts).unwrap();
    combined
}

struct Setup {
    pki: Pki,
    forged: PathBuf,
    protected: u16,
    redirected: u16,
    original: u16,
}

impl Setup {
    fn chain(&self, who: Identity) -> Option<&Path> {
        match who {
            Identity::Verified => Some(&self.pki.client_combined),
            Identity::NoCertificate => None,
            Identity::Untrusted => Some(&self.pki.untrusted_client_combined),
            Identity::WrongChain => Some(&self.forged),
        }
    }

    /// The configuration: one service per way to the protected side.
    fn config(&self) -> String {
        let pki = &self.pki;
        let guard = |ca: &Path, verify: &str| {
            format!(
                "cert = {}\nCAfile = {}\n{verify} = yes\nredirect = 127.0.0.1:{}\n",
                p(&pki.combined),
                p(ca),
                self.redirected
            )
        };
        let chain = guard(&pki.ca, "verifyChain");
        let exec = "exec = /bin/echo\nexecArgs = echo PROTECTED\n";
        let connect = format!("connect = 127.0.0.1:{}\n", self.protected);
        format!(
            "{}\
             [exec]\naccept = 127.0.0.1:0\n{chain}{exec}\
             [exec_pty]\naccept = 127.0.0.1:0\n{chain}{exec}pty = yes\n\
             [connect]\naccept = 127.0.0.1:0\n{chain}{connect}\
             [connect_proxy]\naccept = 127.0.0.1:0\n{chain}{connect}protocol = proxy\n\
             [transparent]\naccept = 127.0.0.1:0\n{chain}transparent = destination\n\
             [exec_peer]\naccept = 127.0.0.1:0\n{}{exec}",
            header(),
            guard(&pki.client_cert, "verifyPeer"),
        )
    }
}

/// Where a client of `service` connects: the transparent service is reached
/// through the NAT rule (from 127.0.0.1, which the rule matches).
fn target(service: &str, port: u16, setup: &Setup) -> To<'static> {
    if service == "transparent" {
        return To {
            host: ORIGINAL_HOST,
            port: setup.original,
            source: Some("127.0.0.1"),
            servername: None,
        };
    }
    To::local(port)
}

/// Counts of the lines one connection adds to the log.
struct LogMarks {
    finished: usize,
    redirected: usize,
    reused: usize,
}

fn marks(d: &Daemon) -> LogMarks {
    let text = d.log.text();
    LogMarks {
        finished: text.matches("byte(s) sent to socket").count(),
        redirected: text.matches("Redirecting connection").count(),
        reused: text.matches("previous session reused").count(),
    }
}

/// One cell: connect (resuming `offer` if any) and check the bytes and the
/// log. Returns the session for resumption.
fn cell(
    d: &Daemon,
    to: &To<'_>,
    client: &Client,
    offer: Option<&openssl::ssl::SslSession>,
    who: Identity,
    label: &str,
) -> Option<openssl::ssl::SslSession> {
    let before = marks(d);
    let run = client.exchange(to, offer, b"");
    d.log
        .wait_for_nth("byte(s) sent to socket", before.finished + 1);
    let after = marks(d);
    let expected = if who == Identity::Verified {
        "PROTECTED"
    } else {
        "REDIRECTED"
    };
    let text = run.text();
    assert!(
        text.trim_end().ends_with(expected) && !text.contains(other(expected)),
        "{label}: expected {expected}, got {text:?} ({:?}); log:\n{}",
        run.error,
        d.log.text()
    );
    let redirect_lines = after.redirected - before.redirected;
    assert_eq!(
        redirect_lines,
        usize::from(who != Identity::Verified),
        "{label}: `Redirecting connection` lines"
    );
    if offer.is_some() {
        assert!(
            run.reused,
            "{label}: the client's session was not resumed; log:\n{}",
            d.log.text()
        );
        assert_eq!(
            after.reused,
            before.reused + 1,
            "{label}: `previous session reused`"
        );
    }
    run.session
}

fn other(expected: &str) -> &'static str {
    if expected == "PROTECTED" {
        "REDIRECTED"
    } else {
        "PROTECTED"
    }
}

/// Every cell under one implementation.
fn matrix(imp: Impl, setup: &Setup) {
    let d = Daemon::start(imp, &setup.config());
    let services = [
        "exec",
        "exec_pty",
        "connect",
        "connect_proxy",
        "transparent",
        "exec_peer",
    ];
    let ports: Vec<u16> = services.iter().map(|s| d.port(s)).collect();
    sh(&format!(
        "iptables -t nat -A OUTPUT -p tcp -s 127.0.0.1 -d {ORIGINAL_HOST} --dport {} \
         -j REDIRECT --to-ports {}",
        setup.original, ports[4]
    ));
    for (service, port) in services.iter().zip(&ports) {
        let to = target(service, *port, setup);
        for who in IDENTITIES {
            for kind in SessionKind::ALL {
                let client = Client::new(kind, setup.chain(who));
                let label = format!("{imp:?} [{service}] {who:?} {kind:?}");
                let session = cell(&d, &to, &client, None, who, &format!("{label} new"));
                let session = session.unwrap_or_else(|| panic!("{label}: no session"));
                cell(
                    &d,
                    &to,
                    &client,
                    Some(&session),
                    who,
                    &format!("{label} resumed"),
                );
            }
        }
    }
    sh("iptables -t nat -F OUTPUT");
}

#[test]
fn redirect_decides_on_every_path_and_every_session() {
    assert!(
        private_netns(),
        "this test needs root (a network namespace and NAT)"
    );
    sh(&format!("ip addr add {ORIGINAL_HOST}/32 dev lo"));
    let dir = tempfile::tempdir().unwrap();
    let setup = Setup {
        pki: make_pki(dir.path()),
        forged: wrong_chain(dir.path()),
        protected: answering_server("127.0.0.1", b"PROTECTED\n"),
        redirected: answering_server("127.0.0.1", b"REDIRECTED\n"),
        original: answering_server(ORIGINAL_HOST, b"PROTECTED\n"),
    };
    matrix(Impl::Rstunnel, &setup);
    matrix(Impl::Stunnel4, &setup);
}

/// A PSK client authenticates with the shared key, not with a certificate:
/// for `redirect` it is unauthenticated and goes to the redirect targets
/// (TLS 1.3 PSK handshakes carry no certificate), under both
/// implementations.
#[test]
fn a_psk_client_without_a_certificate_is_redirected() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let secrets = dir.path().join("psk.txt");
    std::fs::write(&secrets, "alice:00112233445566778899aabbccddeeff\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o600)).unwrap();
    let protected = answering_server("127.0.0.1", b"PROTECTED\n");
    let redirected = answering_server("127.0.0.1", b"REDIRECTED\n");
    for imp in [Impl::Rstunnel, Impl::Stunnel4] {
        let d = Daemon::start(
            imp,
            &format!(
                "{}[psk]\naccept = 127.0.0.1:0\nPSKsecrets = {}\ncert = {}\nCAfile = {}\n\
                 verifyChain = yes\nredirect = 127.0.0.1:{redirected}\nconnect = 127.0.0.1:{protected}\n",
                header(),
                p(&secrets),
                p(&pki.combined),
                p(&pki.ca),
            ),
        );
        let out = Command::new("timeout")
            .args(["10", "openssl", "s_client", "-tls1_3", "-ign_eof", "-quiet"])
            .args([
                "-psk_identity",
                "alice",
                "-psk",
                "00112233445566778899aabbccddeeff",
            ])
            .arg("-connect")
            .arg(format!("127.0.0.1:{}", d.port("psk")))
            .stdin(std::process::Stdio::null())
            .output()
            .expect("openssl s_client");
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(text, "REDIRECTED\n", "{imp:?}; log:\n{}", d.log.text());
        d.log.wait_for("Redirecting connection");
    }
}
