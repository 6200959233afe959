//! Life cycle beyond stunnel (issue 13): a burst of SIGHUPs is one or two
//! reloads, systemd socket activation and notifications, and a graceful
//! drain on SIGTERM under `TIMEOUTdrain`.

use crate::common;
use crate::common::procs;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::tls_pki::make_pki;
use common::{p, Impl, PATIENCE};
use procs::{LogFile, Proc};

/// `dir/tunnel.conf` for a foreground daemon logging at info to a file:
/// its path and the log.
fn write_conf(dir: &Path, globals: &str, services: &str) -> (std::path::PathBuf, LogFile) {
    let log = LogFile(dir.join("tunnel.log"));
    let conf = dir.join("tunnel.conf");
    std::fs::write(
        &conf,
        format!(
            "foreground = yes\noutput = {}\ndebug = info\nsyslog = no\n{globals}{services}",
            p(&log.0)
        ),
    )
    .unwrap();
    (conf, log)
}

/// A foreground daemon on `services`, logging at info to a file.
fn start(dir: &Path, globals: &str, services: &str) -> (Proc, LogFile) {
    let (conf, log) = write_conf(dir, globals, services);
    let proc = procs::spawn(Impl::Rstunnel, &conf, dir, false);
    log.wait_for("Configuration successful");
    (proc, log)
}

/// A TLS service in front of a greeting echo backend.
fn echo_service(dir: &Path, accept: &str) -> String {
    let pki = make_pki(dir);
    format!(
        "[echo]\naccept = {accept}\nconnect = 127.0.0.1:{}\ncert = {}\n",
        common::net::tagged_echo(b"E:"),
        p(&pki.combined)
    )
}

#[test]
fn twenty_sighups_within_100_ms_give_one_or_two_reloads() {
    let dir = tempfile::tempdir().unwrap();
    let (proc, log) = start(dir.path(), "", &echo_service(dir.path(), "127.0.0.1:0"));
    let started = Instant::now();
    for _ in 0..20 {
        proc.signal(libc::SIGHUP);
        std::thread::sleep(Duration::from_millis(5));
    }
    let burst = started.elapsed();
    common::wait_until("a reload", || log.count("Configuration successful") >= 2);
    // Let any queued reload finish before counting.
    std::thread::sleep(Duration::from_secs(2));
    let reloads = log.count("Configuration successful") - 1;
    assert!(
        (1..=2).contains(&reloads),
        "{reloads} reloads for 20 SIGHUPs sent in {burst:?}\n{}",
        log.text()
    );
    let mut s = common::tls_client::tls_connect(log.port("echo"));
    assert_eq!(common::tls_client::read_n(&mut s, 2), b"E:");
}

/// The daemon's life-cycle options mean nothing to inetd mode (one
/// connection, no signal loop): refused there, never accepted and ignored.
#[test]
fn life_cycle_options_are_refused_in_inetd_mode() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    for option in ["TIMEOUTdrain = 5", "certReload = 60"] {
        let inetd = format!("{option}\ncert = {}\nconnect = 1\n", p(&pki.combined));
        let (code, out) = common::check_config(&inetd);
        assert_eq!(code, Some(1), "{option}: {out}");
        let name = option.split(' ').next().unwrap();
        assert!(
            out.contains(&format!("\"{name}\" is not supported in inetd mode")),
            "{option}: {out}"
        );
    }
}

/// The next notification holding `needle`; the periodic `STATUS=`-only
/// ones in between are skipped.
fn next_notice(sock: &UnixDatagram, needle: &str) -> String {
    let deadline = Instant::now() + PATIENCE;
    let mut buf = [0u8; 4096];
    loop {
        assert!(Instant::now() < deadline, "no {needle} notification");
        let n = match sock.recv(&mut buf) {
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(e) => panic!("notify socket: {e}"),
        };
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        if text
            .lines()
            .any(|l| l != "STATUS=" && !l.starts_with("STATUS=") && !l.starts_with("WATCHDOG"))
        {
            assert!(text.contains(needle), "expected {needle}, got {text:?}");
            return text;
        }
    }
}

/// `systemd-socket-activate` (Debian's systemd) binds the port and starts
/// rstunnel on the first connection with the socket as descriptor 3; that
/// queued connection is served. A datagram socket as `NOTIFY_SOCKET`
/// receives `READY=1`, then `RELOADING=1` and `READY=1` around a SIGHUP,
/// then `STOPPING=1` on SIGTERM, in that order.
#[test]
fn socket_activation_and_systemd_notifications() {
    if Command::new("systemd-socket-activate")
        .arg("--version")
        .output()
        .is_err()
    {
        common::must_run::cannot_run(
            "socket_activation_and_systemd_notifications",
            "systemd-socket-activate (Debian package systemd) is not installed",
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let notify_path = dir.path().join("notify");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let port = common::free_port();
    let service = echo_service(dir.path(), &format!("127.0.0.1:{port}"));
    let (conf, log) = write_conf(dir.path(), "", &service);
    let child = Command::new("systemd-socket-activate")
        .arg("-l")
        .arg(format!("127.0.0.1:{port}"))
        .arg("-E")
        .arg(format!("NOTIFY_SOCKET={}", notify_path.display()))
        .arg(Impl::Rstunnel.program())
        .arg(&conf)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("systemd-socket-activate");
    // It execs rstunnel in place: the child's pid is rstunnel's.
    let proc = Proc::from_child(child);
    // The port is systemd-socket-activate's until the first connection
    // starts rstunnel on it.
    let mut first = None;
    common::wait_until("the activation socket", || {
        first = TcpStream::connect(("127.0.0.1", port)).ok();
        first.is_some()
    });
    let ready = next_notice(&notify, "READY=1");
    assert!(ready.contains("STATUS="), "{ready:?}");
    log.wait_for("uses the listening socket passed by systemd (FD=3)");
    log.wait_for(&format!("Service [echo] (FD=3) bound to 127.0.0.1:{port}"));
    // The connection queued before rstunnel existed is served.
    let tcp = first.unwrap();
    tcp.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut s = common::tls_client::tls_on(tcp, |_| {}).expect("handshake on the passed socket");
    assert_eq!(common::tls_client::echo(&mut s, b"hi"), b"E:");
    assert_eq!(common::tls_client::read_n(&mut s, 2), b"hi");

    proc.signal(libc::SIGHUP);
    let reloading = next_notice(&notify, "RELOADING=1");
    assert!(reloading.contains("MONOTONIC_USEC="), "{reloading:?}");
    next_notice(&notify, "READY=1");
    proc.signal(libc::SIGTERM);
    next_notice(&notify, "STOPPING=1");
    let mut proc = proc;
    proc.wait_exit();
}

/// `GET path` on the metrics endpoint; the whole answer.
fn http_get(port: u16, path: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\n\r\n").unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    answer
}

/// Stream `rounds` chunks through `s` and check each echo.
fn stream(s: &mut openssl::ssl::SslStream<TcpStream>, rounds: usize, seed: u8) {
    for i in 0..rounds {
        let chunk: Vec<u8> = (0..4096).map(|j| (j as u8) ^ (i as u8) ^ seed).collect();
        s.write_all(&chunk).unwrap();
        let mut back = vec![0u8; chunk.len()];
        s.read_exact(&mut back).unwrap();
        assert_eq!(back, chunk, "round {i}");
    }
}

/// With `TIMEOUTdrain = 5`, SIGTERM closes the listening socket at once
/// (a new connection is refused) while a connection streaming data goes on
/// byte-exact until it closes; then the daemon exits. A connection still
/// open when the drain time is up is ended.
#[test]
fn sigterm_drains_live_connections_under_timeout_drain() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = common::free_port();
    let (mut proc, log) = start(
        dir.path(),
        &format!("TIMEOUTdrain = 5\nmetrics = 127.0.0.1:{metrics}\n"),
        &echo_service(dir.path(), "127.0.0.1:0"),
    );
    let port = log.port("echo");
    assert!(http_get(metrics, "/healthz").starts_with("HTTP/1.1 200"));
    let mut busy = common::tls_client::tls_connect(port);
    assert_eq!(common::tls_client::read_n(&mut busy, 2), b"E:");
    stream(&mut busy, 20, 1);
    proc.signal(libc::SIGTERM);
    log.wait_for("Draining 1 connection(s) for up to 5 second(s)");
    let refused = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.kind());
    assert_eq!(refused.err(), Some(ErrorKind::ConnectionRefused));
    // The load balancer's health check says so while the drain runs.
    let health = http_get(metrics, "/healthz");
    assert!(
        health.starts_with("HTTP/1.1 503") && health.ends_with("draining\n"),
        "{health:?}"
    );
    stream(&mut busy, 200, 2);
    common::tls_client::close(busy);
    log.wait_for("Drain complete");
    assert_eq!(proc.wait_exit(), 0);

    // A connection that stays open is ended when the drain time is up.
    let dir = tempfile::tempdir().unwrap();
    let (mut proc, log) = start(
        dir.path(),
        "TIMEOUTdrain = 2\n",
        &echo_service(dir.path(), "127.0.0.1:0"),
    );
    let mut idle = common::tls_client::tls_connect(log.port("echo"));
    assert_eq!(common::tls_client::read_n(&mut idle, 2), b"E:");
    let sent = Instant::now();
    proc.signal(libc::SIGTERM);
    assert_eq!(proc.wait_exit(), 0);
    let waited = sent.elapsed();
    assert!(waited >= Duration::from_secs(2), "exited after {waited:?}");
    log.wait_for("Drain timed out: 1 connection(s) left");
    let mut rest = [0u8; 16];
    assert!(matches!(idle.read(&mut rest), Ok(0) | Err(_)));
}

/// One connection through the tunnel: handshake, the backend's greeting,
/// 16 bytes echoed, clean close. The greeting, or what failed.
fn one_exchange(connector: &openssl::ssl::SslConnector, port: u16) -> Result<[u8; 2], String> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    tcp.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut s = connector
        .connect("localhost", tcp)
        .map_err(|e| format!("handshake: {e}"))?;
    let mut greeting = [0u8; 2];
    s.read_exact(&mut greeting)
        .map_err(|e| format!("greeting: {e}"))?;
    let payload = b"0123456789abcdef";
    s.write_all(payload).map_err(|e| format!("write: {e}"))?;
    let mut back = [0u8; 16];
    s.read_exact(&mut back).map_err(|e| format!("echo: {e}"))?;
    if &back != payload {
        return Err(format!("echo {back:?}"));
    }
    common::tls_client::close(s);
    Ok(greeting)
}

/// Clients open connections without pause to one address while 50 reloads
/// run, alternating configurations that move the address between two
/// services, add and remove a second address, and change the backend:
/// not one connection is refused or reset, and every byte arrives.
#[test]
fn fifty_reloads_under_continuous_connections_refuse_none() {
    const RELOADS: usize = 50;
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let (a, b) = (
        common::net::tagged_echo(b"A:"),
        common::net::tagged_echo(b"B:"),
    );
    let (port, second) = (common::free_port(), common::free_port());
    let cert = p(&pki.combined);
    let configs = [
        format!("[one]\naccept = 127.0.0.1:{port}\nconnect = 127.0.0.1:{a}\ncert = {cert}\n"),
        format!("[two]\naccept = 127.0.0.1:{port}\nconnect = 127.0.0.1:{b}\ncert = {cert}\n"),
        format!(
            "[one]\naccept = 127.0.0.1:{port}\naccept = 127.0.0.1:{second}\n\
             connect = 127.0.0.1:{a}\ncert = {cert}\n"
        ),
        format!(
            "[one]\naccept = 127.0.0.1:{second}\nconnect = 127.0.0.1:{b}\ncert = {cert}\n\
             [two]\naccept = 127.0.0.1:{port}\nconnect = 127.0.0.1:{a}\ncert = {cert}\n"
        ),
    ];
    let log = LogFile(dir.path().join("tunnel.log"));
    let conf = dir.path().join("tunnel.conf");
    let header = format!(
        "foreground = yes\noutput = {}\ndebug = notice\nsyslog = no\n",
        p(&log.0)
    );
    std::fs::write(&conf, format!("{header}{}", configs[0])).unwrap();
    let proc = procs::spawn(Impl::Rstunnel, &conf, dir.path(), false);
    log.wait_for("Configuration successful");

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients = continuous_clients(port, 2, &stop);
    let started = Instant::now();
    for i in 1..=RELOADS {
        std::fs::write(&conf, format!("{header}{}", configs[i % configs.len()])).unwrap();
        proc.signal(libc::SIGHUP);
        log.wait_for_nth("Configuration successful", i + 1);
    }
    let elapsed = started.elapsed();
    let done = stop_clients(clients, &stop, "during 50 reloads", &log);
    let rate = done as f64 / elapsed.as_secs_f64();
    assert!(done >= 500, "only {done} connections in {elapsed:?}");
    eprintln!("{done} connections in {elapsed:?} ({rate:.0}/s), {RELOADS} reloads, none failed");
}

/// The serial number of the certificate the tunnel presents now.
fn served_serial(port: u16) -> String {
    let s = common::tls_client::tls_connect(port);
    let cert = s.ssl().peer_certificate().expect("a server certificate");
    cert.serial_number()
        .to_bn()
        .unwrap()
        .to_hex_str()
        .unwrap()
        .to_string()
}

fn serial_of(pem: &Path) -> String {
    let cert = openssl::x509::X509::from_pem(&std::fs::read(pem).unwrap()).unwrap();
    cert.serial_number()
        .to_bn()
        .unwrap()
        .to_hex_str()
        .unwrap()
        .to_string()
}

/// Replace `path` the way certificate tools do (a new file renamed over it).
fn replace_file(path: &Path, content: &[u8]) {
    let tmp = path.with_extension("new");
    std::fs::write(&tmp, content).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// With `certReload = 1`, a replaced certificate file (new serial) is
/// served to new handshakes within a few periods, without a signal, while a
/// connection opened before keeps working; a truncated file keeps the
/// running certificate and is reported once, not once per period.
#[test]
fn cert_reload_picks_up_a_renewed_certificate_and_keeps_it_over_a_broken_one() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let live = dir.path().join("live.pem");
    std::fs::copy(&pki.combined, &live).unwrap();
    let services = format!(
        "[echo]\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:{}\ncert = {}\n",
        common::net::tagged_echo(b"E:"),
        p(&live)
    );
    let (_proc, log) = start(dir.path(), "certReload = 1\n", &services);
    let port = log.port("echo");
    let (old_serial, new_serial) = (serial_of(&pki.combined), serial_of(&pki.ecdsa_combined));
    assert_ne!(old_serial, new_serial);
    assert_eq!(served_serial(port), old_serial);
    let mut before = common::tls_client::tls_connect(port);
    assert_eq!(common::tls_client::read_n(&mut before, 2), b"E:");

    replace_file(&live, &std::fs::read(&pki.ecdsa_combined).unwrap());
    log.wait_for("Certificate files changed: TLS contexts rebuilt");
    assert_eq!(served_serial(port), new_serial);
    assert_eq!(
        common::tls_client::echo(&mut before, b"still here"),
        b"still here"
    );

    let whole = std::fs::read(&pki.combined).unwrap();
    replace_file(&live, &whole[..whole.len() / 3]);
    log.wait_for("Certificate files changed but do not load");
    std::thread::sleep(Duration::from_millis(3500));
    assert_eq!(served_serial(port), new_serial);
    assert_eq!(
        log.count("Certificate files changed but do not load"),
        1,
        "{}",
        log.text()
    );
}

/// Clients opening connections without pause to `port` until `stop`; how
/// many went through, and what failed.
fn continuous_clients(
    port: u16,
    threads: usize,
    stop: &std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Vec<std::thread::JoinHandle<(usize, Vec<String>)>> {
    (0..threads)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut b =
                    openssl::ssl::SslConnector::builder(openssl::ssl::SslMethod::tls_client())
                        .unwrap();
                b.set_verify(openssl::ssl::SslVerifyMode::NONE);
                let connector = b.build();
                let (mut done, mut failures) = (0usize, Vec::new());
                let deadline = Instant::now() + Duration::from_secs(120);
                while !stop.load(std::sync::atomic::Ordering::Relaxed) && Instant::now() < deadline
                {
                    match one_exchange(&connector, port) {
                        Ok(_) => done += 1,
                        Err(e) => failures.push(e),
                    }
                }
                (done, failures)
            })
        })
        .collect()
}

/// Stop the clients of [`continuous_clients`]; none may have failed. How
/// many connections went through.
fn stop_clients(
    clients: Vec<std::thread::JoinHandle<(usize, Vec<String>)>>,
    stop: &std::sync::atomic::AtomicBool,
    during: &str,
    log: &LogFile,
) -> usize {
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut done, mut failures) = (0, Vec::new());
    for c in clients {
        let (d, f) = c.join().unwrap();
        done += d;
        failures.extend(f);
    }
    assert!(
        failures.is_empty(),
        "{} of {} connections failed {during}: {:?}\n{}",
        failures.len(),
        done + failures.len(),
        &failures[..failures.len().min(5)],
        log.text()
    );
    done
}

/// SIGURG with the binary replaced on disk (and a metrics endpoint, whose
/// socket is handed over too): a new process of the new file
/// takes the listening socket over, writes the pid file, and the old one
/// drains and exits; clients connecting without pause all the while see
/// no refused or failed connection.
#[test]
fn sigurg_upgrades_the_binary_under_continuous_connections_refusing_none() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("rstunnel");
    std::fs::copy(Impl::Rstunnel.program(), &bin).unwrap();
    let port = common::free_port();
    let pid_file = dir.path().join("rstunnel.pid");
    let metrics = common::free_port();
    let service = echo_service(dir.path(), &format!("127.0.0.1:{port}"));
    let globals = format!("pid = {}\nmetrics = 127.0.0.1:{metrics}\n", p(&pid_file));
    let (conf, log) = write_conf(dir.path(), &globals, &service);
    let child = Command::new(&bin)
        .arg(&conf)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut old = Proc::from_child(child);
    log.wait_for("Configuration successful");
    common::wait_until("the pid file", || pid_file.exists());

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients = continuous_clients(port, 2, &stop);
    std::thread::sleep(Duration::from_millis(500));
    // A package upgrade: the new binary is renamed over the old path.
    let staged = dir.path().join("rstunnel.new");
    std::fs::copy(Impl::Rstunnel.program(), &staged).unwrap();
    std::fs::rename(&staged, &bin).unwrap();
    old.signal(libc::SIGURG);
    let line = log.wait_for("Upgrade: process ");
    let new_pid: i32 = line
        .split("Upgrade: process ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no pid in {line:?}"));
    let mut new = Proc::adopted(new_pid);
    assert_eq!(old.wait_exit(), 0, "{}", log.text());
    std::thread::sleep(Duration::from_millis(500));
    let done = stop_clients(clients, &stop, "across the upgrade", &log);
    assert!(done >= 100, "only {done} connections");
    assert_eq!(
        std::fs::read_to_string(&pid_file).unwrap().trim(),
        new_pid.to_string()
    );
    let exe = std::fs::read_link(format!("/proc/{new_pid}/exe")).unwrap();
    assert_eq!(exe, bin, "the new process runs the new file");
    log.wait_for("uses the listening socket passed by the process it replaces (FD=");
    // The new one serves on its own, the metrics endpoint included.
    let mut s = common::tls_client::tls_connect(port);
    assert_eq!(common::tls_client::read_n(&mut s, 2), b"E:");
    assert!(http_get(metrics, "/healthz").starts_with("HTTP/1.1 200"));
    new.signal(libc::SIGTERM);
    new.wait_gone();
}
