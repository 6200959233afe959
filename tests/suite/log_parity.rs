//! Differential log test: the same scenarios through rstunnel and stunnel4
//! (the oracle) at `debug = 5`, `output = FILE`, `foreground = yes`,
//! `syslog = no`; the logs must be equal line for line once time stamps,
//! ports, pids, descriptors and connection ids are masked and the lines
//! that name the implementation (banner) are dropped.
//!
//! Scenarios: a connection that carries data and closes cleanly; a client
//! certificate refused (`verifyChain = yes`) with no certificate and with
//! an untrusted one; a dead backend; plaintext garbage on the TLS port; a
//! connect-and-close probe (rstunnel's `logProbes` left at its default).
//! Deliberate differences are whitelisted in [`ours_only`] with the reason.
//! A second check runs the data scenario at `debug = 7` and compares the
//! order of the main (level ≤ 5) lines, and per-service `debug` levels are
//! checked against a section-level `debug = 7` under a global `debug = 3`.

use crate::common;
use crate::common::procs;

use std::io::Write;
use std::path::Path;

use common::net::tagged_echo;
use common::tls_pki::{make_pki, Pki};
use common::{p, Impl};
use procs::LogFile;

/// What the client does in a scenario.
#[derive(Clone, Copy, Debug)]
enum Client {
    /// TLS, send `ping`, read the greeting and the echo, close cleanly.
    Data,
    /// TLS with no client certificate against `verifyChain = yes`.
    NoCert,
    /// TLS with a self-signed (untrusted) client certificate.
    UntrustedCert,
    /// TLS with a client certificate the CA signed, then `Data`.
    TrustedCert,
    /// TLS, then wait for the server to give up (its backend is dead).
    Refused,
    /// Plaintext HTTP on the TLS port.
    Garbage,
    /// Connect and close without a byte, as a load balancer's TCP check
    /// does (the `logProbes` default keeps stunnel's lines).
    Probe,
    /// Plain TCP into a client-mode service: read the `T:` greeting, echo
    /// `ping`, half-close.
    Plain,
    /// Plain TCP into a client-mode service whose TLS handshake fails.
    PlainRefused,
    /// Plain TCP into a client-mode service: echo `ping`, then reset the
    /// connection (RST) instead of closing it, as load generators do.
    PlainReset,
}

/// What the service connects to.
#[derive(Clone, Copy, Debug)]
enum Backend {
    /// A plain echo server that greets with `E:`.
    Echo,
    /// A port where nothing listens.
    Dead,
    /// A TLS echo server (greeting `T:`) for client-mode services,
    /// optionally demanding a client certificate.
    Tls { require_cert: bool },
}

struct Scenario {
    name: &'static str,
    client: Client,
    backend: Backend,
    /// Extra service lines.
    service: String,
    /// Lines (masked) both logs must contain, so equal logs are also the
    /// right logs.
    expect: &'static [&'static str],
}

/// Lines that only rstunnel prints, on purpose.
fn ours_only(line: &str) -> bool {
    // Beyond stunnel: the descriptor limit and the client limit it gives
    // (stunnel logs only `Clients allowed=N` at debug).
    line.starts_with("LOG6[ui]: File descriptor limit ")
}

/// Lines only stunnel4 prints that are its own defects, not behaviour:
/// 5.68 sometimes fails to join its cron thread at exit.
fn theirs_only(line: &str) -> bool {
    line == "LOG3[ui]: pthread_join() failed"
}

/// Lines of either implementation that name the implementation or its
/// build (banner, OpenSSL build/run versions, FIPS state).
fn banner(line: &str) -> bool {
    let text = line.split_once("]: ").map_or(line, |(_, t)| t);
    text.starts_with("stunnel 5.68")
        || text.starts_with("Compiled ")
        || text.starts_with("Running ")
        || text.starts_with("Compiled/running ")
        || text.starts_with("Threading:")
        || text == "FIPS mode disabled"
}

/// Mask what legitimately differs between runs: the time stamp, ports,
/// descriptors, pids, numeric connection ids, temp-dir paths.
fn mask(line: &str, dirs: &[&Path]) -> Option<String> {
    // `YYYY.MM.DD HH:MM:SS ` is 20 characters.
    let line = line.get(20..)?;
    let mut out = line.to_string();
    for dir in dirs {
        out = out.replace(&p(dir), "DIR");
    }
    out = replace_digits_after(&out, "127.0.0.1:", "PORT");
    out = replace_digits_after(&out, "FD=", "N");
    out = replace_digits_after(&out, "PID=", "N");
    // LOG5[12]: → LOG5[#]:
    if let Some(rest) = out.strip_prefix("LOG") {
        if let Some((head, tail)) = rest.split_once("]: ") {
            if let Some((level, id)) = head.split_once('[') {
                if id.chars().all(|c| c.is_ascii_digit()) {
                    out = format!("LOG{level}[#]: {tail}");
                }
            }
        }
    }
    Some(out)
}

fn replace_digits_after(text: &str, marker: &str, with: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find(marker) {
        out.push_str(&rest[..i + marker.len()]);
        rest = &rest[i + marker.len()..];
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        if digits > 0 {
            out.push_str(with);
            rest = &rest[digits..];
        }
    }
    out.push_str(rest);
    out
}

/// Run `sc` through `imp` at `debug`; return the masked log lines.
fn run(imp: Impl, sc: &Scenario, pki: &Pki, debug: &str) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let (_dead, dead) = procs::dead_port();
    let backend = match sc.backend {
        Backend::Echo => tagged_echo(b"E:"),
        Backend::Dead => dead,
        Backend::Tls { require_cert } => tls_echo(pki, require_cert),
    };
    let log = LogFile(dir.path().join("parity.log"));
    let conf = dir.path().join("parity.conf");
    // Server mode needs a certificate; client-mode services go without.
    let cert = match sc.backend {
        Backend::Tls { .. } => String::new(),
        _ => format!("cert = {}\n", p(&pki.combined)),
    };
    std::fs::write(
        &conf,
        format!(
            "foreground = yes\noutput = {}\ndebug = {debug}\nsyslog = no\n\
             [svc]\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:{backend}\n{cert}{}",
            p(&log.0),
            sc.service
        ),
    )
    .unwrap();
    let mut daemon = procs::spawn(imp, &conf, dir.path(), false);
    log.wait_for("Configuration successful");
    let port = procs::wait_listening_port(daemon.pid);
    drive(sc.client, port, pki);
    wait_final(&log);
    daemon.signal(libc::SIGTERM);
    assert_eq!(daemon.wait_exit(), 0, "{imp:?} exit");
    log.text()
        .lines()
        .filter_map(|l| mask(l, &[dir.path(), &pki.dir]))
        .filter(|l| !banner(l))
        .collect()
}

/// The last line of a connection is `Connection closed…` or `Connection
/// reset…`; wait until it is written.
fn wait_final(log: &LogFile) {
    common::wait_until("the final Connection line", || {
        log.text()
            .lines()
            .any(|l| l.contains("]: Connection closed") || l.contains("]: Connection reset"))
    });
}

fn drive(client: Client, port: u16, pki: &Pki) {
    match client {
        Client::Data => {
            let mut s = common::tls_client::tls_connect(port);
            assert_eq!(common::tls_client::read_n(&mut s, 2), b"E:");
            assert_eq!(common::tls_client::echo(&mut s, b"ping"), b"ping");
            common::tls_client::close(s);
        }
        Client::NoCert => {
            if let Ok(mut s) = common::tls_client::tls_connect_with(port, |_| {}) {
                // TLS 1.3: the refusal arrives after the client's Finished.
                let mut buf = [0u8; 1];
                let _ = std::io::Read::read(&mut s, &mut buf);
            }
        }
        Client::UntrustedCert => {
            let r = common::tls_client::tls_connect_with(port, |b| {
                b.set_certificate_file(&pki.untrusted_client_cert, openssl::ssl::SslFiletype::PEM)
                    .unwrap();
                b.set_private_key_file(&pki.untrusted_client_key, openssl::ssl::SslFiletype::PEM)
                    .unwrap();
            })
            .map(|mut s| {
                let mut buf = [0u8; 1];
                let _ = std::io::Read::read(&mut s, &mut buf);
            });
            drop(r);
        }
        Client::Refused => {
            let mut s = common::tls_client::tls_connect(port);
            let mut rest = Vec::new();
            let _ = std::io::Read::read_to_end(&mut s, &mut rest);
            assert!(rest.is_empty(), "{rest:?}");
        }
        Client::TrustedCert => {
            let mut s = common::tls_client::tls_connect_with(port, |b| {
                b.set_certificate_file(&pki.client_cert, openssl::ssl::SslFiletype::PEM)
                    .unwrap();
                b.set_private_key_file(&pki.client_key, openssl::ssl::SslFiletype::PEM)
                    .unwrap();
            })
            .expect("handshake with a trusted certificate");
            assert_eq!(common::tls_client::read_n(&mut s, 2), b"E:");
            assert_eq!(common::tls_client::echo(&mut s, b"ping"), b"ping");
            common::tls_client::close(s);
        }
        Client::Plain => {
            let mut s = common::net::connect(port);
            assert_eq!(common::tls_client::read_n(&mut s, 2), b"T:");
            s.write_all(b"ping").unwrap();
            assert_eq!(common::tls_client::read_n(&mut s, 4), b"ping");
            s.shutdown(std::net::Shutdown::Write).unwrap();
            let mut rest = Vec::new();
            let _ = std::io::Read::read_to_end(&mut s, &mut rest);
            assert!(rest.is_empty(), "{rest:?}");
        }
        Client::PlainReset => {
            let mut s = common::net::connect(port);
            assert_eq!(common::tls_client::read_n(&mut s, 2), b"T:");
            s.write_all(b"ping").unwrap();
            assert_eq!(common::tls_client::read_n(&mut s, 4), b"ping");
            let rst = libc::linger {
                l_onoff: 1,
                l_linger: 0,
            };
            nix::sys::socket::setsockopt(&s, nix::sys::socket::sockopt::Linger, &rst).unwrap();
        }
        Client::PlainRefused => {
            let mut s = common::net::connect(port);
            let mut rest = Vec::new();
            let _ = std::io::Read::read_to_end(&mut s, &mut rest);
            assert!(rest.is_empty(), "{rest:?}");
        }
        Client::Probe => drop(common::net::connect(port)),
        Client::Garbage => {
            let mut s = common::net::connect(port);
            s.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
            let mut rest = Vec::new();
            // The server answers with an alert or a reset, either is fine.
            let _ = std::io::Read::read_to_end(&mut s, &mut rest);
        }
    }
}

fn scenarios(pki: &Pki) -> Vec<Scenario> {
    let verify = format!("verifyChain = yes\nCAfile = {}\n", p(&pki.ca));
    let client = format!(
        "client = yes\nverifyChain = yes\nCAfile = {}\ncheckHost = localhost\n",
        p(&pki.ca)
    );
    vec![
        Scenario {
            name: "data",
            client: Client::Data,
            backend: Backend::Echo,
            service: String::new(),
            expect: &[
                "LOG5[#]: Service [svc] accepted connection from 127.0.0.1:PORT",
                "LOG5[#]: Connection closed: 6 byte(s) sent to TLS, 4 byte(s) sent to socket",
            ],
        },
        Scenario {
            name: "trusted client certificate",
            client: Client::TrustedCert,
            backend: Backend::Echo,
            service: verify.clone(),
            expect: &[
                "LOG5[#]: Certificate accepted at depth=0: C=PL, O=rstunnel, CN=client",
                "LOG5[#]: Connection closed: 6 byte(s) sent to TLS, 4 byte(s) sent to socket",
            ],
        },
        Scenario {
            name: "no client certificate",
            client: Client::NoCert,
            backend: Backend::Echo,
            service: verify.clone(),
            expect: &[
                "SSL routines::peer did not return a certificate",
                "LOG5[#]: Connection reset/closed: 0 byte(s) sent to TLS, 0 byte(s) sent to socket",
            ],
        },
        Scenario {
            name: "untrusted client certificate",
            client: Client::UntrustedCert,
            backend: Backend::Echo,
            service: verify.clone(),
            expect: &[
                "LOG4[#]: Rejected by CERT at depth=0: CN=untrusted client",
                "SSL routines::certificate verify failed",
            ],
        },
        Scenario {
            name: "dead backend",
            client: Client::Refused,
            backend: Backend::Dead,
            service: String::new(),
            expect: &[
                "LOG3[#]: No more addresses to connect",
                "LOG5[#]: Connection reset: 0 byte(s) sent to TLS, 0 byte(s) sent to socket",
            ],
        },
        Scenario {
            name: "dead backend, reset = no",
            client: Client::Refused,
            backend: Backend::Dead,
            service: "reset = no\n".into(),
            expect: &[
                "LOG5[#]: Connection closed: 0 byte(s) sent to TLS, 0 byte(s) sent to socket",
            ],
        },
        Scenario {
            name: "garbage",
            client: Client::Garbage,
            backend: Backend::Echo,
            service: String::new(),
            expect: &["SSL routines::http request"],
        },
        Scenario {
            name: "connect-and-close probe",
            client: Client::Probe,
            backend: Backend::Echo,
            service: String::new(),
            expect: &[
                "SSL routines::unexpected eof while reading",
                "LOG5[#]: Connection reset/closed: 0 byte(s) sent to TLS, 0 byte(s) sent to socket",
            ],
        },
        Scenario {
            name: "client mode",
            client: Client::Plain,
            backend: Backend::Tls {
                require_cert: false,
            },
            service: client.clone(),
            expect: &[
                "LOG5[#]: Certificate accepted at depth=0: CN=localhost",
                "LOG5[#]: Connection closed: 4 byte(s) sent to TLS, 6 byte(s) sent to socket",
            ],
        },
        Scenario {
            name: "client mode, the plain client resets",
            client: Client::PlainReset,
            backend: Backend::Tls {
                require_cert: false,
            },
            service: client.clone(),
            expect: &[
                "LOG5[#]: Connection closed: 4 byte(s) sent to TLS, 6 byte(s) sent to socket",
            ],
        },
        Scenario {
            name: "client mode, server demands a certificate",
            client: Client::PlainRefused,
            backend: Backend::Tls { require_cert: true },
            service: client,
            expect: &["LOG5[#]: Connection closed/reset: 0 byte(s) sent to TLS"],
        },
    ]
}

/// A TLS echo server (greeting `T:`) on the real OpenSSL, in this process.
fn tls_echo(pki: &Pki, require_cert: bool) -> u16 {
    use openssl::ssl::{SslAcceptor, SslFiletype, SslMethod, SslVerifyMode};
    let mut b = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server()).unwrap();
    b.set_certificate_chain_file(&pki.server_cert).unwrap();
    b.set_private_key_file(&pki.server_key, SslFiletype::PEM)
        .unwrap();
    if require_cert {
        b.set_ca_file(&pki.ca).unwrap();
        b.set_verify(SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT);
    }
    let acceptor = std::sync::Arc::new(b.build());
    let (listener, port) = common::net::listener();
    std::thread::spawn(move || {
        for tcp in listener.incoming().map_while(Result::ok) {
            let acceptor = acceptor.clone();
            std::thread::spawn(move || {
                let _ = tcp.set_read_timeout(Some(common::PATIENCE));
                let Ok(mut s) = acceptor.accept(tcp) else {
                    return;
                };
                if s.write_all(b"T:").is_err() {
                    return;
                }
                let mut buf = [0u8; 4096];
                loop {
                    match std::io::Read::read(&mut s, &mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if s.write_all(&buf[..n]).is_err() {
                                return;
                            }
                        }
                    }
                }
                let _ = s.shutdown();
            });
        }
    });
    port
}

#[test]
fn debug5_logs_match_stunnel4() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let mut failures = Vec::new();
    for sc in scenarios(&pki) {
        let theirs: Vec<String> = run(Impl::Stunnel4, &sc, &pki, "5")
            .into_iter()
            .filter(|l| !theirs_only(l))
            .collect();
        let ours: Vec<String> = run(Impl::Rstunnel, &sc, &pki, "5")
            .into_iter()
            .filter(|l| !ours_only(l))
            .collect();
        for needle in sc.expect {
            assert!(
                theirs.iter().any(|l| l.contains(needle)),
                "{}: stunnel4 has no {needle:?}:\n{}",
                sc.name,
                theirs.join("\n")
            );
        }
        if ours != theirs {
            failures.push(format!(
                "== {}\n-- stunnel4:\n{}\n-- rstunnel:\n{}",
                sc.name,
                theirs.join("\n"),
                ours.join("\n")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// At `debug = 7` the main (≤ notice) lines keep stunnel's order among all
/// the debug noise, for a clean connection and a refused certificate.
#[test]
fn debug7_keeps_the_order_of_the_main_lines() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let main = |l: &String| {
        l.strip_prefix("LOG")
            .and_then(|r| r.chars().next())
            .is_some_and(|c| c <= '5')
    };
    let mut failures = Vec::new();
    for sc in scenarios(&pki)
        .into_iter()
        .filter(|s| matches!(s.name, "data" | "no client certificate" | "client mode"))
    {
        let theirs: Vec<String> = run(Impl::Stunnel4, &sc, &pki, "7");
        let ours: Vec<String> = run(Impl::Rstunnel, &sc, &pki, "7");
        if std::env::var_os("PARITY_SHOW_INFO").is_some() {
            let info = |v: &[String]| {
                v.iter()
                    .filter(|l| l.starts_with("LOG6"))
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            eprintln!(
                "== {}\n-- stunnel4:\n{}\n-- rstunnel:\n{}",
                sc.name,
                info(&theirs),
                info(&ours)
            );
        }
        let theirs: Vec<String> = theirs
            .into_iter()
            .filter(main)
            .filter(|l| !theirs_only(l))
            .collect();
        let ours: Vec<String> = ours
            .into_iter()
            .filter(main)
            .filter(|l| !ours_only(l))
            .collect();
        if ours != theirs {
            failures.push(format!(
                "== {}\n-- stunnel4:\n{}\n-- rstunnel:\n{}",
                sc.name,
                theirs.join("\n"),
                ours.join("\n")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Per-service `debug`: under a global `debug = 3`, a section with
/// `debug = 7` logs its connections' debug lines while a section without
/// one inherits 3 and logs nothing for a clean connection; the main
/// thread's lines follow the global level. Checked on both programs.
#[test]
fn per_service_debug_levels_filter_connection_lines() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    for imp in [Impl::Stunnel4, Impl::Rstunnel] {
        let run_dir = tempfile::tempdir().unwrap();
        let backend = tagged_echo(b"E:");
        let log = LogFile(run_dir.path().join("levels.log"));
        let conf = run_dir.path().join("levels.conf");
        std::fs::write(
            &conf,
            format!(
                "foreground = yes\noutput = {}\ndebug = 3\nsyslog = no\ncert = {}\n\
                 [loud]\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:{backend}\ndebug = 7\n\
                 [quiet]\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:{backend}\n",
                p(&log.0),
                p(&pki.combined)
            ),
        )
        .unwrap();
        let mut daemon = procs::spawn(imp, &conf, run_dir.path(), false);
        let mut ports = Vec::new();
        common::wait_until("two listening sockets", || {
            ports = procs::listening_ports(daemon.pid);
            ports.len() == 2
        });
        // Which port is which: connect to each and see whose id logs.
        for port in &ports {
            let mut s = common::tls_client::tls_connect(*port);
            assert_eq!(common::tls_client::read_n(&mut s, 2), b"E:");
            assert_eq!(common::tls_client::echo(&mut s, b"x"), b"x");
            common::tls_client::close(s);
        }
        // Only the loud service's connection writes (its final line).
        log.wait_for("]: Connection closed: 3 byte(s) sent to TLS, 1 byte(s) sent to socket");
        daemon.signal(libc::SIGTERM);
        assert_eq!(daemon.wait_exit(), 0);
        let text = log.text();
        let lines: Vec<&str> = text.lines().map(|l| l.get(20..).unwrap_or(l)).collect();
        let by_id = |id: &str| -> Vec<&str> {
            lines
                .iter()
                .filter(|l| {
                    l.get(4..)
                        .is_some_and(|r| r.starts_with(&format!("[{id}]")))
                })
                .copied()
                .collect()
        };
        let (first, second) = (by_id("0"), by_id("1"));
        let (loud, quiet) = if first.is_empty() {
            (second, first)
        } else {
            (first, second)
        };
        assert!(
            quiet.is_empty(),
            "{imp:?}: the quiet service logged:\n{text}"
        );
        assert!(
            loud.iter()
                .any(|l| l.starts_with("LOG5[") && l.contains("Service [loud] accepted connection")),
            "{imp:?}:\n{text}"
        );
        assert!(
            loud.iter()
                .any(|l| l.starts_with("LOG7[") && l.contains("TLS state (accept)")),
            "{imp:?}: no debug lines for the loud service:\n{text}"
        );
        // The main thread stays at the global level 3.
        let main: Vec<&str> = lines
            .iter()
            .filter(|l| l.get(4..).is_some_and(|r| r.starts_with("[ui]")))
            .copied()
            .collect();
        assert!(
            main.iter()
                .all(|l| l.as_bytes().get(3).is_some_and(|c| *c <= b'3')),
            "{imp:?}: main-thread lines above err:\n{}",
            main.join("\n")
        );
    }
}
