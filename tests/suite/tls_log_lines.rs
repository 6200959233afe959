//! The TLS layer's log lines at `debug = debug`, line for line against
//! stunnel4 for the same configuration and the same client: handshake
//! states, alerts, the per-handshake session statistics, new-session
//! callback lines (`New session callback`, `No peer certificate
//! received` / `Peer certificate was cached (N bytes)`, `Session id: …` per
//! TLS 1.3 ticket), verification and resumption lines; plus `No trusted
//! certificates found` for an empty `CApath`.
//!
//! Left out on purpose (stunnel internals with no behaviour behind them in
//! rstunnel): the session ex-data lines (`Initializing/Deallocating
//! application specific data …`) and the ticket callback lines (`Generate
//! session ticket callback`, `Decrypt session ticket callback`, `Decrypted
//! ticket for an authenticated session: yes`, `Remove session callback`):
//! rstunnel keeps the "authenticated" flag in the session's verify result. Lines of other layers (sockets, transfer) are not
//! compared here.

use crate::common;
use crate::common::tls_service;

use std::process::Command;

use common::tls_pki::{self, Pki};
use common::{p, run_cmd, Daemon, Impl};

/// stunnel lines rstunnel does not reproduce (see the module doc).
const SKIPPED: [&str; 5] = [
    "application specific data",
    "Generate session ticket callback",
    "Decrypt session ticket callback",
    "Decrypted ticket for an authenticated session",
    "Remove session callback",
];

/// Whether a line belongs to the TLS layer.
fn is_tls_line(text: &str) -> bool {
    const MARKS: [&str; 16] = [
        "TLS ",
        "SSL",
        "Session",
        "session",
        "Peer ",
        "peer certificate",
        "Certificate",
        "CERT",
        "SNI",
        "ciphersuite",
        "Compression",
        "accept(s)",
        "connect(s)",
        "renegotiation",
        "cache",
        "expired",
    ];
    MARKS.iter().any(|m| text.contains(m))
        && !text.starts_with("Service [")
        && !SKIPPED.iter().any(|s| text.contains(s))
}

/// The text of a log line: after `LOG5[id]: ` (stamped) or `[!] `
/// (start-up errors on stderr).
fn text(line: &str) -> Option<&str> {
    if line.starts_with('[') && line.get(2..4) == Some("] ") {
        return line.get(4..);
    }
    line.split_once("]: ").map(|(_, t)| t)
}

/// The TLS lines of the connections in `log`, texts only, session ids
/// replaced (they are random).
fn tls_lines(log: &str) -> Vec<String> {
    log.lines()
        .filter(|l| !l.contains("[ui]"))
        .filter_map(text)
        .filter(|t| is_tls_line(t))
        .map(|t| match t.strip_prefix("Session id: ") {
            Some(_) => "Session id: <id>".to_string(),
            None => t.to_string(),
        })
        .collect()
}

fn header() -> String {
    "foreground = yes\ndebug = debug\nsyslog = no\n".to_string()
}

/// `openssl s_client` runs against the service, one per `runs` entry
/// (extra arguments); the daemon's log once each connection closed.
fn run_clients(imp: Impl, conf: &str, runs: &[Vec<String>], service: &str) -> String {
    let d = Daemon::start(imp, conf);
    let port = d.port(service);
    for (i, args) in runs.iter().enumerate() {
        let addr = format!("127.0.0.1:{port}");
        let (_, _, _) = run_cmd(
            Command::new("openssl")
                .args(["s_client", "-connect", &addr, "-quiet", "-no_ign_eof"])
                .args(args),
        );
        d.log.wait_for_nth("]: Connection ", i + 1);
    }
    d.log.text()
}

fn compare(conf: &str, runs: &[Vec<String>], service: &str, must: &[&str]) {
    let ours = run_clients(Impl::Rstunnel, conf, runs, service);
    let theirs = run_clients(Impl::Stunnel4, conf, runs, service);
    let (a, b) = (tls_lines(&ours), tls_lines(&theirs));
    if a != b {
        let width = a.len().max(b.len());
        let rows: Vec<String> = (0..width)
            .map(|i| {
                let l = a.get(i).map(String::as_str).unwrap_or("");
                let r = b.get(i).map(String::as_str).unwrap_or("");
                let mark = if l == r { ' ' } else { '!' };
                format!("{mark} {l:<70} | {r}")
            })
            .collect();
        panic!(
            "TLS lines differ (rstunnel | stunnel4):\n{}",
            rows.join("\n")
        );
    }
    for needle in must {
        assert!(
            a.iter().any(|l| l.contains(needle)),
            "missing {needle:?}:\n{}",
            a.join("\n")
        );
    }
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn server_tls13_without_client_certificate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = tls_pki::make_pki(dir.path());
    let backend = common::net::echo_server();
    let conf = format!(
        "{}[s]\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:{backend}\ncert = {}\n",
        header(),
        p(&pki.combined)
    );
    compare(
        &conf,
        &[args(&[])],
        "s",
        &[
            "     1 server accept(s) requested",
            "     1 server accept(s) succeeded",
            "     0 session reuse(s)",
            "New session callback",
            "No peer certificate received",
            "Session id: <id>",
            "TLS accepted: new session negotiated",
        ],
    );
}

#[test]
fn server_tls12_client_certificate_and_resumption() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = tls_pki::make_pki(dir.path());
    let backend = common::net::echo_server();
    let conf = format!(
        "{}[s]\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:{backend}\ncert = {}\n\
         verifyChain = yes\nCAfile = {}\nsslVersion = TLSv1.2\n",
        header(),
        p(&pki.combined),
        p(&pki.ca)
    );
    let sess = p(&dir.path().join("sess.pem"));
    let cert = p(&pki.client_combined);
    compare(
        &conf,
        &[
            args(&["-cert", &cert, "-sess_out", &sess]),
            args(&["-cert", &cert, "-sess_in", &sess]),
        ],
        "s",
        &[
            "Get session callback",
            "Certificate accepted at depth=0: C=PL, O=rstunnel, CN=client",
            "TLS accepted: previous session reused",
            "     1 session reuse(s)",
        ],
    );
}

#[test]
fn client_tls13_against_s_server_twice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki: Pki = tls_pki::make_pki(dir.path());
    let conf_for = |port: u16| {
        format!(
            "{}[c]\nclient = yes\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:{port}\n\
             verifyChain = yes\nCAfile = {}\ncheckHost = localhost\n",
            header(),
            p(&pki.ca)
        )
    };
    // Each implementation gets its own s_server (its session cache).
    let mut logs = Vec::new();
    for imp in [Impl::Rstunnel, Impl::Stunnel4] {
        let cert = p(&pki.combined);
        let (server, port) = tls_service::s_server(&["-cert", &cert, "-www"]);
        let d = Daemon::start(imp, &conf_for(port));
        let local = d.port("c");
        for i in 0..2 {
            let mut s = std::net::TcpStream::connect(("127.0.0.1", local)).expect("connect");
            use std::io::{Read, Write};
            s.set_read_timeout(Some(common::PATIENCE)).expect("timeout");
            s.write_all(b"GET / HTTP/1.0\r\n\r\n").expect("write");
            let mut answer = Vec::new();
            let _ = s.read_to_end(&mut answer);
            assert!(answer.starts_with(b"HTTP/1.0 200"), "{imp:?}");
            drop(s);
            d.log.wait_for_nth("]: Connection ", i + 1);
        }
        logs.push(tls_lines(&d.log.text()));
        drop(server);
    }
    assert_eq!(
        logs[0],
        logs[1],
        "rstunnel:\n{}\nstunnel4:\n{}",
        logs[0].join("\n"),
        logs[1].join("\n")
    );
    assert!(logs[0]
        .iter()
        .any(|l| l == "TLS connected: previous session reused"));
    assert!(logs[0]
        .iter()
        .any(|l| l == "     1 client connect(s) requested"));
    assert!(logs[0]
        .iter()
        .any(|l| l.starts_with("Peer certificate was cached (")));
}

#[test]
fn empty_capath_has_no_trusted_certificates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = tls_pki::make_pki(dir.path());
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    let full = dir.path().join("cadir");
    std::fs::create_dir(&full).expect("mkdir");
    std::fs::copy(&pki.ca, full.join("ca.pem")).expect("copy");
    for (capath, verify, ok) in [
        (&empty, "verifyChain = yes", false),
        (&empty, "", true),
        (&full, "verifyChain = yes", true),
    ] {
        let conf = format!(
            "{}[s]\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:9\ncert = {}\n{verify}\nCApath = {}\n",
            header(),
            p(&pki.combined),
            p(capath)
        );
        let mut lines = Vec::new();
        for imp in [Impl::Rstunnel, Impl::Stunnel4] {
            let mut d = Daemon::start(imp, &conf);
            if ok {
                d.port("s");
            } else {
                d.log.wait_for("Configuration failed");
                assert_ne!(d.wait_exit(), 0);
            }
            let log = d.log.text();
            lines.push(
                log.lines()
                    .filter_map(|l| text(l).map(str::to_string))
                    .filter(|t| {
                        t.contains("trusted") || t.contains("TLS context") || t.contains("failed")
                    })
                    .filter(|t| !t.contains("checkHost"))
                    .collect::<Vec<_>>(),
            );
        }
        assert_eq!(lines[0], lines[1], "{capath:?} {verify:?}");
        let expect = if capath == &empty {
            "No trusted certificates found"
        } else {
            "Configured trusted client CA: CN=rstunnel test CA"
        };
        assert!(lines[0].iter().any(|l| l == expect), "{:?}", lines[0]);
    }
}
