//! Fault suite (issue 18): attacks a hostile peer can make, kept as
//! regression tests, each run side by side with stunnel4 where stunnel4
//! is the behaviour to match.
//!
//! * RST storms: a peer that resets (SO_LINGER 0) right after the
//!   handshake must free both descriptors of its connection at once, as
//!   stunnel does, so a storm under a low descriptor limit never locks a
//!   legitimate client out of another service.
//!
//! The backends here never close a connection by themselves (they keep
//! every socket until the test ends), like servers that ignore a
//! half-close: only the tunnel's own handling of the reset can free its
//! descriptors, not a polite backend.

use crate::common;
use crate::common::procs;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::tls_pki::{make_pki, Pki};
use common::{p, Impl, PATIENCE};
use procs::{LogFile, Proc};

/// Bytes each attacking connection sends (and gets echoed) before its RST.
const PAYLOAD: &[u8; 16] = b"0123456789abcdef";

/// Keep every socket a backend was handed until the test process ends, so
/// no backend ever closes a connection: a kept socket is only freed by the
/// tunnel closing its side.
fn keeper() -> mpsc::Sender<Box<dyn Send>> {
    let (tx, rx) = mpsc::channel::<Box<dyn Send>>();
    std::thread::spawn(move || {
        let kept: Vec<Box<dyn Send>> = rx.iter().collect();
        drop(kept);
    });
    tx
}

/// A backend that echoes until EOF (or close_notify) and then keeps the
/// connection without answering: `open` turns an accepted socket into the
/// stream to echo on (plain, or a TLS handshake), `None` to drop it.
fn holding<S, F>(open: F) -> u16
where
    S: Read + Write + Send + 'static,
    F: Fn(TcpStream) -> Option<S> + Send + Sync + 'static,
{
    let (listener, port) = common::net::listener();
    let keep = keeper();
    let open = std::sync::Arc::new(open);
    std::thread::spawn(move || {
        for tcp in listener.incoming().map_while(Result::ok) {
            let (open, keep) = (open.clone(), keep.clone());
            std::thread::spawn(move || {
                let _ = tcp.set_read_timeout(Some(PATIENCE));
                let Some(mut s) = open(tcp) else {
                    return;
                };
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = s.read(&mut buf) {
                    if s.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = keep.send(Box::new(s));
            });
        }
    });
    port
}

/// A plain backend: echo until EOF, then keep the socket (no FIN back).
fn holding_backend() -> u16 {
    holding(Some)
}

/// A TLS backend (for client-mode services): echo until close_notify or
/// EOF, then keep the connection without answering the close_notify.
fn holding_tls_backend(pki: &Pki) -> u16 {
    use openssl::ssl::{SslAcceptor, SslFiletype, SslMethod};
    let mut b = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server()).unwrap();
    b.set_certificate_chain_file(&pki.server_cert).unwrap();
    b.set_private_key_file(&pki.server_key, SslFiletype::PEM)
        .unwrap();
    let acceptor = b.build();
    holding(move |tcp| acceptor.accept(tcp).ok())
}

/// Start `imp` on `conf` with RLIMIT_NOFILE set to `nofile` (soft and
/// hard) when given, as `prlimit --nofile=N:N` would.
fn spawn_limited(imp: Impl, conf: &Path, dir: &Path, nofile: Option<u64>) -> Proc {
    let mut cmd = Command::new(imp.program());
    cmd.arg(conf)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(n) = nofile {
        // SAFETY: only setrlimit(2), async-signal-safe, between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                let lim = libc::rlimit {
                    rlim_cur: n,
                    rlim_max: n,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    Proc::from_child(cmd.spawn().expect("start daemon"))
}

/// A daemon with three services: `storm` (server mode, TLS from the
/// attacker), `storm-client` (client mode, plain from the attacker) and
/// `legit` (server mode, the client that must always be served).
struct Tunnel {
    proc: Proc,
    log: LogFile,
    storm: u16,
    storm_client: u16,
    legit: u16,
    _dir: tempfile::TempDir,
}

fn start_tunnel(imp: Impl, pki: &Pki, nofile: Option<u64>) -> Tunnel {
    let dir = tempfile::tempdir().unwrap();
    let log = LogFile(dir.path().join("fault.log"));
    let conf = dir.path().join("fault.conf");
    std::fs::write(
        &conf,
        format!(
            "foreground = yes\noutput = {log}\ndebug = info\nsyslog = no\n\
             [storm]\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:{plain}\ncert = {cert}\n\
             TIMEOUTclose = 60\n\
             [storm-client]\nclient = yes\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:{tls}\n\
             TIMEOUTclose = 60\n\
             [legit]\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:{echo}\ncert = {cert}\n",
            log = p(&log.0),
            plain = holding_backend(),
            tls = holding_tls_backend(pki),
            echo = common::net::tagged_echo(b"E:"),
            cert = p(&pki.combined),
        ),
    )
    .unwrap();
    let proc = spawn_limited(imp, &conf, dir.path(), nofile);
    log.wait_for("Configuration successful");
    Tunnel {
        storm: log.port("storm"),
        storm_client: log.port("storm-client"),
        legit: log.port("legit"),
        proc,
        log,
        _dir: dir,
    }
}

/// Make the next close of `s` send an RST instead of a FIN.
fn set_rst_on_close(s: &TcpStream) {
    let rst = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    nix::sys::socket::setsockopt(s, nix::sys::socket::sockopt::Linger, &rst).unwrap();
}

/// Server-mode attack: TLS handshake, 16 bytes echoed, RST (no close_notify).
fn tls_then_rst(port: u16) {
    let mut s = common::tls_client::tls_connect(port);
    assert_eq!(common::tls_client::echo(&mut s, PAYLOAD), PAYLOAD);
    set_rst_on_close(s.get_ref());
    // Dropping an SslStream frees the TLS state without a close_notify.
}

/// Client-mode attack: 16 plain bytes through the tunnel's TLS, echoed, RST.
fn plain_then_rst(port: u16) {
    let mut s = common::net::connect(port);
    s.write_all(PAYLOAD).unwrap();
    assert_eq!(common::tls_client::read_n(&mut s, PAYLOAD.len()), PAYLOAD);
    set_rst_on_close(&s);
}

/// The legitimate client: greeting, one echo, clean close. `Err` says what
/// failed instead of panicking, so the caller can name the round.
fn legit_exchange(port: u16) -> Result<(), String> {
    let mut s = common::tls_client::tls_connect_with(port, |_| {})
        .map_err(|e| format!("handshake: {e}"))?;
    let mut greeting = [0u8; 2];
    s.read_exact(&mut greeting)
        .map_err(|e| format!("greeting: {e}"))?;
    s.write_all(b"ping").map_err(|e| format!("write: {e}"))?;
    let mut echo = [0u8; 4];
    s.read_exact(&mut echo).map_err(|e| format!("echo: {e}"))?;
    if &greeting != b"E:" || &echo != b"ping" {
        return Err(format!("wrong bytes {greeting:?} {echo:?}"));
    }
    common::tls_client::close(s);
    Ok(())
}

/// Descriptors the process holds now.
fn open_fds(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Wait (bounded by `limit`) until `pid` holds `want` descriptors; the
/// count seen last.
fn settle_fds(pid: i32, want: usize, limit: Duration) -> usize {
    let deadline = Instant::now() + limit;
    loop {
        let now = open_fds(pid);
        if now == want || Instant::now() >= deadline {
            return now;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The final line of every attacking connection (16 bytes each way).
const ATTACK_CLOSED: &str = "Connection closed: 16 byte(s) sent to TLS, 16 byte(s) sent to socket";

/// 150 rounds of connect–handshake–send–RST on each attacked service under
/// a 256-descriptor limit, the legitimate client served between every two
/// rounds. Before the fix each reset connection pinned two descriptors for
/// TIMEOUTclose (60 s): about 120 rounds locked the legitimate client out.
#[test]
fn rst_storm_under_a_low_descriptor_limit_never_locks_out_another_service() {
    const ROUNDS: usize = 150;
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    for imp in [Impl::Stunnel4, Impl::Rstunnel] {
        let t = start_tunnel(imp, &pki, Some(256));
        let limits = std::fs::read_to_string(format!("/proc/{}/limits", t.proc.pid)).unwrap();
        assert!(
            limits
                .lines()
                .any(|l| l.starts_with("Max open files")
                    && l.split_whitespace().nth(3) == Some("256")),
            "{imp:?}: the descriptor limit did not apply:\n{limits}"
        );
        let started = Instant::now();
        for round in 1..=ROUNDS {
            tls_then_rst(t.storm);
            plain_then_rst(t.storm_client);
            if let Err(e) = legit_exchange(t.legit) {
                panic!(
                    "{imp:?}: the legitimate client was not served in round {round}: {e}\n{}",
                    t.log.text()
                );
            }
        }
        // Every attacking connection has ended, none by TIMEOUTclose.
        t.log.wait_for_nth(ATTACK_CLOSED, 2 * ROUNDS);
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{imp:?}: the storm outlasted TIMEOUTclose, so it proves nothing"
        );
        let text = t.log.text();
        for bad in [
            "TIMEOUTclose exceeded",
            "too many clients",
            "Too many open files",
            "suspended",
        ] {
            assert_eq!(t.log.count(bad), 0, "{imp:?}: {bad:?} in the log:\n{text}");
        }
        assert_eq!(
            t.log.count("Service [legit] accepted connection"),
            ROUNDS,
            "{imp:?}"
        );
    }
}

/// After 50 resets per mode the daemon's descriptor count is back at its
/// idle baseline within 2 s (TIMEOUTclose is 60 s), for stunnel4 and
/// rstunnel alike, and both log the same lines for each reset.
#[test]
fn descriptors_return_to_baseline_right_after_resets() {
    const RESETS: usize = 50;
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    for imp in [Impl::Stunnel4, Impl::Rstunnel] {
        let t = start_tunnel(imp, &pki, None);
        // One of each first: lazily opened descriptors (OpenSSL, caches)
        // belong to the baseline, not to the resets.
        tls_then_rst(t.storm);
        plain_then_rst(t.storm_client);
        t.log.wait_for_nth(ATTACK_CLOSED, 2);
        let baseline = settle_fds(t.proc.pid, usize::MAX, Duration::from_millis(500));
        for _ in 0..RESETS {
            tls_then_rst(t.storm);
            plain_then_rst(t.storm_client);
        }
        // Every attacking connection was served up to its RST, so the
        // count can only come back once each has been closed.
        let after = settle_fds(t.proc.pid, baseline, Duration::from_secs(2));
        assert_eq!(
            after, baseline,
            "{imp:?}: descriptors 2 s after {RESETS} resets per mode"
        );
        t.log.wait_for_nth(ATTACK_CLOSED, 2 * (RESETS + 1));
        // stunnel's lines for a reset: the TLS client's (server mode) and
        // the plain client's (client mode), once per attacking connection.
        let n = RESETS + 1;
        for (line, want) in [
            ("TLS fd: Connection reset by peer (104)", n),
            ("TLS socket closed (SSL_read)", n),
            ("socket fd: Connection reset by peer (104)", n),
            ("writesocket: Socket is closed", n),
            ("SSL_shutdown successfully sent close_notify alert", n),
            ("TIMEOUTclose exceeded", 0),
        ] {
            assert_eq!(
                t.log.count(line),
                want,
                "{imp:?}: {line:?}\n{}",
                t.log.text()
            );
        }
    }
}

/// A daemon on `services` (sections without the global lines) with its
/// log at info level; `(process, log, dir)`.
fn start_services(services: &str) -> (Proc, LogFile, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let log = LogFile(dir.path().join("fault.log"));
    let conf = dir.path().join("fault.conf");
    std::fs::write(
        &conf,
        format!(
            "foreground = yes\noutput = {}\ndebug = info\nsyslog = no\n{services}",
            p(&log.0)
        ),
    )
    .unwrap();
    let proc = spawn_limited(Impl::Rstunnel, &conf, dir.path(), None);
    log.wait_for("Configuration successful");
    (proc, log, dir)
}

/// Write `line` over and over until the peer goes away; how many were
/// written. Bounded: 100,000 lines (far above the 256-line limit) or
/// PATIENCE, whichever comes first, so a tunnel without the limit fails
/// the caller's checks instead of hanging the test.
fn flood(s: &mut TcpStream, line: &[u8]) -> usize {
    let deadline = Instant::now() + PATIENCE;
    let mut sent = 0;
    while sent < 100_000 && Instant::now() < deadline {
        if s.write_all(line).is_err() {
            break;
        }
        sent += 1;
    }
    sent
}

/// Wait (bounded) until the peer of `s` has closed or reset it.
fn wait_closed(s: &mut TcpStream) {
    let deadline = Instant::now() + PATIENCE;
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(_) => assert!(Instant::now() < deadline, "the tunnel kept talking"),
        }
    }
}

/// A server-mode `protocol = connect` service to an echo backend, with
/// `extra` lines; `(process, log, dirs)`.
fn start_connect_proxy(extra: &str) -> (Proc, LogFile, [tempfile::TempDir; 2]) {
    let pki_dir = tempfile::tempdir().unwrap();
    let pki = make_pki(pki_dir.path());
    let (proc, log, dir) = start_services(&format!(
        "[proxy]\naccept = 127.0.0.1:0\nprotocol = connect\nconnect = 127.0.0.1:1\n\
         cert = {}\n{extra}",
        p(&pki.combined)
    ));
    (proc, log, [pki_dir, dir])
}

/// A client sending endless CONNECT headers to a server-mode
/// `protocol = connect` service is cut off after 256 lines; stunnel4 reads
/// them forever.
#[test]
fn endless_connect_headers_end_at_the_line_limit() {
    let (_proc, log, _dirs) = start_connect_proxy("");
    let mut s = common::net::connect(log.port("proxy"));
    s.write_all(b"CONNECT 127.0.0.1:1 HTTP/1.1\r\n").unwrap();
    let sent = flood(&mut s, b"X-Flood: 0123456789\r\n");
    wait_closed(&mut s);
    log.wait_for("fd_getline: Negotiation too long: more than 256 lines");
    log.wait_for("Connection reset: 0 byte(s) sent to TLS, 0 byte(s) sent to socket");
    assert!(
        (256..100_000).contains(&sent),
        "{sent} header lines written before the tunnel gave up"
    );
    assert_eq!(log.count("Negotiation too long"), 1);
}

/// A hostile SMTP server answering EHLO with endless `250-` continuation
/// lines: a client-mode `protocol = smtp` service gives up after 256.
#[test]
fn endless_smtp_continuation_lines_end_at_the_line_limit() {
    let (listener, server_port) = common::net::listener();
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        conn.set_read_timeout(Some(PATIENCE)).unwrap();
        conn.write_all(b"220 hostile ESMTP\r\n").unwrap();
        let mut ehlo = [0u8; 5];
        conn.read_exact(&mut ehlo).unwrap();
        assert_eq!(&ehlo, b"EHLO ");
        let sent = flood(&mut conn, b"250-SIZE 10240000\r\n");
        wait_closed(&mut conn);
        sent
    });
    let (_proc, log, _dir) = start_services(&format!(
        "[smtp-out]\nclient = yes\naccept = 127.0.0.1:0\nprotocol = smtp\n\
         connect = 127.0.0.1:{server_port}\n"
    ));
    let mut client = common::net::connect(log.port("smtp-out"));
    // The greeting is relayed to the plain client before EHLO.
    assert_eq!(
        common::tls_client::read_n(&mut client, 19),
        b"220 hostile ESMTP\r\n"
    );
    wait_closed(&mut client);
    let sent = server.join().unwrap();
    log.wait_for("fd_getline: Negotiation too long: more than 256 lines");
    assert!(
        (256..100_000).contains(&sent),
        "{sent} continuation lines written before the tunnel gave up"
    );
}

/// One header line every second never trips a 3 s per-wait TIMEOUTbusy,
/// but the negotiation as a whole ends 3 s after it started.
#[test]
fn a_slow_drip_ends_at_timeout_busy_in_total() {
    let (_proc, log, _dirs) = start_connect_proxy("TIMEOUTbusy = 3\n");
    let started = Instant::now();
    let mut s = common::net::connect(log.port("proxy"));
    s.write_all(b"CONNECT 127.0.0.1:1 HTTP/1.1\r\n").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let mut dripped = 0;
    let mut buf = [0u8; 64];
    // A header each second the tunnel stays silent; at most 20 (20 s), so
    // a tunnel without the total limit fails below instead of hanging.
    let ended = loop {
        match s.read(&mut buf) {
            Ok(0) => break started.elapsed(),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Ok(_) | Err(_) => break started.elapsed(),
        }
        assert!(dripped < 20, "the negotiation outlived 20 drips");
        s.write_all(b"X-Drip: 1\r\n").unwrap();
        dripped += 1;
    };
    log.wait_for("Negotiation exceeded TIMEOUTbusy (3 s in total): sending reset");
    assert!(
        (2..=3).contains(&dripped),
        "{dripped} lines dripped before the limit"
    );
    assert!(
        ended >= Duration::from_secs(3) && ended < Duration::from_secs(5),
        "ended after {ended:?}"
    );
    assert_eq!(log.count("s_poll_wait: TIMEOUTbusy exceeded"), 0);
}

/// The lines about the trust store and the start's outcome, without time
/// stamps, from a daemon's log or stderr.
fn trust_lines(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| match l.strip_prefix('[') {
            // stderr before the log is set up: `[!] text`
            Some(rest) if rest.get(1..3) == Some("] ") => &rest[3..],
            // `YYYY.MM.DD HH:MM:SS LOG3[ui]: text`
            _ => l.split_once("]: ").map_or(l, |(_, t)| t),
        })
        .filter(|l| {
            l.contains("trusted")
                || l.contains("verify certificates")
                || l.starts_with("Configuration ")
                || l.contains("Failed to initialize TLS context")
        })
        .map(str::to_string)
        .collect()
}

/// A CAfile or CApath stunnel cannot read counts as no trusted
/// certificates: without verification the service starts (with stunnel's
/// `No trusted certificates found`), with it the start fails. Same lines
/// from both programs.
#[test]
fn unreadable_ca_files_start_as_stunnel4_does() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    let cases = [
        ("CAfile = /nonexistent.pem\n", true),
        (&*format!("CAfile = {}\n", p(&garbage)), true),
        ("CApath = /nonexistent-dir\n", true),
        ("CAfile = /nonexistent.pem\nverifyChain = yes\n", false),
    ];
    for (lines, starts) in cases {
        let mut seen = Vec::new();
        for imp in [Impl::Stunnel4, Impl::Rstunnel] {
            let run = tempfile::tempdir().unwrap();
            let conf = run.path().join("ca.conf");
            std::fs::write(
                &conf,
                format!(
                    "foreground = yes\ndebug = info\nsyslog = no\n\
                     [s]\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:1\ncert = {}\n{lines}",
                    p(&pki.combined)
                ),
            )
            .unwrap();
            // `timeout` ends a daemon that started (SIGTERM after 2 s).
            let out = Command::new("timeout")
                .args(["2", imp.program()])
                .arg(&conf)
                .stdin(Stdio::null())
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stderr).into_owned();
            let found = trust_lines(&text);
            let expected: Vec<String> = if starts {
                vec![
                    "No trusted certificates found".into(),
                    "Configuration successful".into(),
                ]
            } else {
                vec![
                    "No trusted certificates found".into(),
                    "Service [s]: Failed to initialize TLS context".into(),
                    "Configuration failed".into(),
                ]
            };
            assert_eq!(found, expected, "{imp:?} with {lines:?}:\n{text}");
            // 124: still running when `timeout` stopped it; 1: refused.
            let code = out.status.code();
            assert_eq!(
                code,
                Some(if starts { 124 } else { 1 }),
                "{imp:?} {lines:?}"
            );
            seen.push(found);
        }
        assert_eq!(seen[0], seen[1]);
    }
}

/// Descriptor exhaustion: with RLIMIT_NOFILE at 32 and every descriptor
/// held by open connections, accept() fails with EMFILE; the daemon logs
/// stunnel's errno line, pauses accepting for a second each time (no busy
/// loop: at most one suspension per second), and serves again as soon as
/// the connections close.
#[test]
fn descriptor_exhaustion_logs_errno_pauses_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    for imp in [Impl::Stunnel4, Impl::Rstunnel] {
        let run = tempfile::tempdir().unwrap();
        let log = LogFile(run.path().join("emfile.log"));
        let conf = run.path().join("emfile.conf");
        std::fs::write(
            &conf,
            format!(
                "foreground = yes\noutput = {}\ndebug = info\nsyslog = no\n\
                 [s]\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:{}\ncert = {}\n",
                p(&log.0),
                common::net::tagged_echo(b"E:"),
                p(&pki.combined)
            ),
        )
        .unwrap();
        let _proc = spawn_limited(imp, &conf, run.path(), Some(32));
        log.wait_for("Configuration successful");
        let port = log.port("s");
        // Full connections (2 descriptors each) until one is refused, then
        // bare TCP connections that wait in the accept queue.
        let mut held = Vec::new();
        for _ in 0..32 {
            match legit_session(port) {
                Some(s) => held.push(s),
                None => break,
            }
        }
        assert!(
            held.len() < 32,
            "{imp:?}: 32 connections never exhausted 32 descriptors"
        );
        let waiting: Vec<TcpStream> = (0..4).map(|_| common::net::connect(port)).collect();
        log.wait_for("local socket: Too many open files (24)");
        // The queued connections keep accept() failing: one pause a second.
        let suspensions = || log.count("Accepting new connections suspended for 1 second");
        let before = suspensions();
        std::thread::sleep(Duration::from_secs(3));
        let during = suspensions() - before;
        assert!(
            (2..=4).contains(&during),
            "{imp:?}: {during} suspensions in 3 s"
        );
        // One errno line before each suspension (the last pair may be
        // half written in this snapshot).
        let text = log.text();
        let errno = text
            .matches("local socket: Too many open files (24)")
            .count();
        let paused = text.matches("Accepting new connections suspended").count();
        assert!(
            errno == paused || errno == paused + 1,
            "{imp:?}: {errno} errno lines for {paused} suspensions"
        );
        drop(held);
        drop(waiting);
        // Recovery: served again once the descriptors are back.
        let mut served = false;
        for _ in 0..20 {
            std::thread::sleep(Duration::from_millis(500));
            if legit_exchange(port).is_ok() {
                served = true;
                break;
            }
        }
        assert!(
            served,
            "{imp:?}: not served after the connections closed\n{}",
            log.text()
        );
    }
}

/// A TLS session that got its greeting and echo through, kept open;
/// `None` if the tunnel could not serve it.
fn legit_session(port: u16) -> Option<openssl::ssl::SslStream<TcpStream>> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).ok()?;
    tcp.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    let mut s = common::tls_client::tls_on(tcp, |_| {}).ok()?;
    let mut greeting = [0u8; 2];
    s.read_exact(&mut greeting).ok()?;
    s.write_all(b"x").ok()?;
    let mut echo = [0u8; 1];
    s.read_exact(&mut echo).ok()?;
    (&greeting == b"E:" && &echo == b"x").then_some(s)
}

/// The test holds thousands of sockets itself: soft descriptor limit up to
/// the hard one.
fn raise_nofile() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard).expect("setrlimit");
}

/// Resident memory of `pid` in KiB.
fn rss_kib(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("VmRSS")
}

/// 5,000 silent connections (a handshake flood ended by TIMEOUTbusy) take
/// hundreds of MB; once they are gone the memory goes back: resident size
/// within 2× of the idle baseline within 30 s (before `os::memory`, ~300 MB
/// stayed for good; stunnel4 kept 40–76 MB).
#[test]
fn memory_taken_by_a_handshake_flood_is_given_back() {
    const FLOOD: usize = 5_000;
    raise_nofile();
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let (proc, log, _dir) = start_services(&format!(
        "[flood]\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:9\ncert = {}\nTIMEOUTbusy = 2\n",
        p(&pki.combined)
    ));
    let port = log.port("flood");
    legit_exchange_tls_only(port);
    let baseline = rss_kib(proc.pid);
    let mut peak = baseline;
    let started = Instant::now();
    let socks: Vec<TcpStream> = (0..FLOOD)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).expect("flood connect"))
        .collect();
    // Every one ends with the TIMEOUTbusy line.
    let deadline = Instant::now() + Duration::from_secs(60);
    while log.count("TIMEOUTbusy exceeded") < FLOOD {
        peak = peak.max(rss_kib(proc.pid));
        assert!(Instant::now() < deadline, "the flood did not end");
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(socks);
    assert!(
        peak > 4 * baseline,
        "the flood should take memory: peak {peak} KiB, baseline {baseline} KiB"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = rss_kib(proc.pid);
        if now <= 2 * baseline {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{now} KiB resident 30 s after the flood (baseline {baseline} KiB, peak {peak} KiB, \
             flood took {:?})",
            started.elapsed()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// One TLS handshake (brings the runtime and OpenSSL to their working
/// size, so the baseline is not a cold process).
fn legit_exchange_tls_only(port: u16) {
    let _ = common::tls_client::tls_connect_with(port, |_| {});
}

/// Slowloris: 5,000 connections, each dripping a ClientHello one byte per
/// second (TIMEOUTbusy at stunnel's 300 s default, so none is cut off),
/// never slow a legitimate client: while all 5,000 are accepted and
/// hanging on, each of its handshakes with an echo takes under a second.
/// (stunnel4 runs a thread per connection; not compared here.)
#[test]
fn slowloris_of_5000_connections_leaves_a_legitimate_handshake_under_a_second() {
    const SLOW: usize = 5_000;
    raise_nofile();
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let (_proc, log, _dir) = start_services(&format!(
        "[slow]\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:{}\ncert = {}\n",
        common::net::tagged_echo(b"E:"),
        p(&pki.combined)
    ));
    let port = log.port("slow");
    // A TLS 1.0 record header announcing a 512-byte handshake message, then
    // the ClientHello's first bytes: the tunnel must wait for the rest.
    let drip: &[u8] = &[
        0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
    ];
    let mut slow: Vec<TcpStream> = (0..SLOW)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).expect("slowloris connect"))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut sent = 0;
    while log.count("Service [slow] accepted connection") < SLOW {
        assert!(
            Instant::now() < deadline,
            "not all {SLOW} connections were accepted"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    for byte in drip {
        for s in &mut slow {
            s.write_all(std::slice::from_ref(byte))
                .expect("a slowloris connection was dropped");
        }
        sent += 1;
        let started = Instant::now();
        legit_exchange(port).unwrap_or_else(|e| panic!("after byte {sent}: {e}"));
        let took = started.elapsed();
        assert!(
            took < Duration::from_secs(1),
            "legitimate handshake took {took:?} with {SLOW} slowloris connections open"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(log.count("TIMEOUTbusy"), 0, "{}", log.text());
}
