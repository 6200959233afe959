//! The `metrics` endpoint and `logProbes` (rstunnel extensions) against the
//! real binary: `/healthz` follows a service that cannot bind after a
//! reload, a certificate's expiry gauge, quiet probes (no log line at
//! `debug = 5`, every one counted), hostile clients on the metrics port
//! that get an error or a timeout while the tunnel keeps working, and
//! `-test` on the options. Prometheus itself scrapes in
//! `tests/suite/metrics_prometheus.rs`.

use crate::common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::net::{http_get, sample};
use common::tls_pki::make_pki;
use common::{check_config, header, p, Daemon, Impl, PATIENCE};

/// The port the metrics endpoint bound (its `metrics (FD=N) bound to`
/// line).
fn metrics_port(d: &Daemon) -> u16 {
    let line = d.log.wait_for("metrics (FD=");
    line.rsplit(':').next().unwrap().trim().parse().unwrap()
}

/// Poll `/metrics` until `series` reads `want` (or PATIENCE runs out).
fn wait_sample(port: u16, series: &str, want: f64) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (_, page) = http_get(port, "/metrics");
        if sample(&page, series) == Some(want) || Instant::now() > deadline {
            assert_eq!(sample(&page, series), Some(want), "{series} in\n{page}");
            return page;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn tls_exchange(port: u16) -> Vec<u8> {
    let client =
        common::tls_client::Client::new(common::tls_client::SessionKind::Tls13Ticket, None);
    let out = client.exchange(&common::tls_client::To::local(port), None, b"");
    assert!(out.error.is_none(), "{:?}", out.error);
    out.received
}

/// A reload to an address that is taken leaves the service unbound:
/// `/healthz` says 503 and names it; once the address is free a reload
/// binds it and `/healthz` is 200 again. The endpoint itself stays up
/// (same `metrics` value, same socket) through both reloads.
#[test]
fn healthz_follows_services_that_cannot_bind() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let backend = common::net::answering_server("127.0.0.1", b"hello");
    let conf = |accept: &str| {
        format!(
            "{}metrics = 127.0.0.1:0\n[web]\naccept = {accept}\ncert = {}\nconnect = {backend}\n",
            header(),
            p(&pki.combined)
        )
    };
    let d = Daemon::start(Impl::Rstunnel, &conf("127.0.0.1:0"));
    let port = metrics_port(&d);
    assert_eq!(http_get(port, "/healthz"), (200, "ok\n".to_string()));

    let blocker = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = blocker.local_addr().unwrap().to_string();
    std::fs::write(&d.conf, conf(&taken)).unwrap();
    d.signal(libc::SIGHUP);
    d.log.wait_for("Binding service [web] failed");
    d.log.wait_for_nth("Configuration successful", 2);
    let (status, body) = http_get(port, "/healthz");
    assert_eq!((status, body.as_str()), (503, "not listening: web\n"));
    let page = wait_sample(port, "rstunnel_reloads_total{result=\"partial\"}", 1.0);
    assert_eq!(
        sample(&page, "rstunnel_reloads_total{result=\"ok\"}"),
        Some(0.0)
    );

    drop(blocker);
    d.signal(libc::SIGHUP);
    d.log.wait_for_nth("Configuration successful", 3);
    assert_eq!(http_get(port, "/healthz"), (200, "ok\n".to_string()));
    assert_eq!(
        tls_exchange(taken.rsplit(':').next().unwrap().parse().unwrap()),
        b"hello"
    );
    wait_sample(port, "rstunnel_reloads_total{result=\"ok\"}", 1.0);
}

/// A reload keeps the endpoint's socket while `metrics` is unchanged and
/// moves it when the value changes; counters carry over.
#[test]
fn endpoint_is_rebound_only_when_its_address_changes() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let conf = |metrics: &str| {
        format!(
            "{}metrics = {metrics}\n[web]\naccept = 127.0.0.1:0\ncert = {}\nconnect = 1\n",
            header(),
            p(&pki.combined)
        )
    };
    let d = Daemon::start(Impl::Rstunnel, &conf("127.0.0.1:0"));
    let first = metrics_port(&d);
    // SIGHUP before the handlers are installed would end the process.
    d.log.wait_for("Accepting new connections");
    d.signal(libc::SIGHUP);
    d.log.wait_for_nth("Configuration successful", 2);
    assert_eq!(d.log.text().matches("metrics (FD=").count(), 1);
    assert_eq!(http_get(first, "/healthz").0, 200);

    let moved = common::free_port();
    std::fs::write(&d.conf, conf(&format!("127.0.0.1:{moved}"))).unwrap();
    d.signal(libc::SIGHUP);
    d.log.wait_for(&format!("bound to 127.0.0.1:{moved}"));
    d.log.wait_for_nth("Configuration successful", 3);
    // The old accept loop is aborted, so its socket closes on the
    // runtime's next turn.
    let deadline = Instant::now() + PATIENCE;
    while TcpStream::connect(("127.0.0.1", first)).is_ok() {
        assert!(Instant::now() < deadline, "old port still open");
        std::thread::sleep(Duration::from_millis(20));
    }
    wait_sample(moved, "rstunnel_reloads_total{result=\"ok\"}", 2.0);
}

/// A certificate made to expire in 10 days reads 864000 s, give or take
/// the minute the test may take.
#[test]
fn certificate_expiry_is_seconds_until_not_after() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
    let made = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "10",
        ])
        .args(["-subj", "/CN=ten days"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output();
    let Ok(made) = made else {
        return common::must_run::cannot_run("certificate expiry", "no openssl command");
    };
    assert!(made.status.success(), "{made:?}");
    let d = Daemon::start(
        Impl::Rstunnel,
        &format!(
            "{}metrics = 127.0.0.1:0\n[soon]\naccept = 127.0.0.1:0\ncert = {}\nkey = {}\nconnect = 1\n",
            header(),
            p(&cert),
            p(&key)
        ),
    );
    let (_, page) = http_get(metrics_port(&d), "/metrics");
    let left = sample(
        &page,
        "rstunnel_certificate_expiry_seconds{service=\"soon\",subject=\"CN=ten days\"}",
    )
    .unwrap_or_else(|| panic!("no expiry gauge in\n{page}"));
    assert!((left - 864_000.0).abs() <= 60.0, "{left}");
}

/// With `logProbes = no`, 1,000 connect-and-close probes add no line to a
/// `debug = 5` log and the probe counter reads 1,000; a real client after
/// them is logged as usual.
#[test]
fn quiet_probes_are_counted_not_logged() {
    const PROBES: usize = 1000;
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let backend = common::net::answering_server("127.0.0.1", b"hello");
    let (tunnel, metrics) = (common::free_port(), common::free_port());
    let d = Daemon::start(
        Impl::Rstunnel,
        &format!(
            "foreground = yes\ndebug = 5\nsyslog = no\nmetrics = 127.0.0.1:{metrics}\n\
             [lb]\naccept = 127.0.0.1:{tunnel}\ncert = {}\nconnect = {backend}\nlogProbes = no\n",
            p(&pki.combined)
        ),
    );
    d.log.wait_for("Configuration successful");
    common::wait_listening(tunnel);
    common::wait_listening(metrics);
    let before = d.log.text();
    for _ in 0..PROBES {
        drop(TcpStream::connect(("127.0.0.1", tunnel)).unwrap());
    }
    // wait_listening's own connect-and-close was a probe too.
    wait_sample(
        metrics,
        "rstunnel_probes_total{service=\"lb\"}",
        (PROBES + 1) as f64,
    );
    assert_eq!(d.log.text(), before, "probes were logged");
    assert_eq!(tls_exchange(tunnel), b"hello");
    d.log
        .wait_for("Service [lb] accepted connection from 127.0.0.1:");
    d.log.wait_for("Connection closed");
}

/// Garbage, a 1 MB request line and clients that send nothing get an
/// error or a timeout from the metrics port; the tunnel answers all along.
#[test]
fn hostile_metrics_clients_do_not_disturb_tunnels() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let backend = common::net::answering_server("127.0.0.1", b"hello");
    let d = Daemon::start(
        Impl::Rstunnel,
        &format!(
            "{}metrics = 127.0.0.1:0\n[web]\naccept = 127.0.0.1:0\ncert = {}\nconnect = {backend}\n",
            header(),
            p(&pki.combined)
        ),
    );
    let (port, tunnel) = (metrics_port(&d), d.port("web"));

    let status = |reply: &[u8]| {
        String::from_utf8_lossy(reply)
            .split(' ')
            .nth(1)
            .map(String::from)
    };
    let mut garbage = common::net::connect(port);
    garbage
        .write_all(b"\x16\x03\x01\x00\xff garbage\r\n\r\n")
        .unwrap();
    let reply = common::net::read_to_end(garbage);
    assert_eq!(status(&reply).as_deref(), Some("400"));

    // A 1 MB request line: refused after the first 8 KiB, the rest unread.
    let mut long = common::net::connect(port);
    let line = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(1 << 20));
    let _ = long.write_all(line.as_bytes());
    let mut reply = Vec::new();
    let _ = long.read_to_end(&mut reply);
    assert!(
        reply.is_empty() || status(&reply).as_deref() == Some("431"),
        "{:?}",
        String::from_utf8_lossy(&reply)
    );

    // Slow clients: more than the endpoint serves at once, sending nothing.
    let started = Instant::now();
    let slow: Vec<TcpStream> = (0..40).map(|_| common::net::connect(port)).collect();
    assert_eq!(tls_exchange(tunnel), b"hello");
    assert!(started.elapsed() < Duration::from_secs(3), "tunnel waited");
    for mut s in slow {
        let mut reply = Vec::new();
        let _ = s.read_to_end(&mut reply);
        assert!(
            reply.is_empty() || status(&reply).as_deref() == Some("408"),
            "{:?}",
            String::from_utf8_lossy(&reply)
        );
    }
    assert!(
        started.elapsed() < PATIENCE,
        "slow clients were held too long"
    );
    assert_eq!(http_get(port, "/nothing").0, 404);
    assert_eq!(http_get(port, "/metrics").0, 200);
}

/// `-test` checks both options like any other.
#[test]
fn test_mode_checks_the_options() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let service = format!(
        "[s]\naccept = 127.0.0.1:0\ncert = {}\nconnect = 1\n",
        p(&pki.combined)
    );
    let (code, out) = check_config(&format!(
        "metrics = 127.0.0.1:9100\n{service}logProbes = no\n"
    ));
    assert_eq!(code, Some(0), "{out}");
    let (code, out) = check_config(&format!("metrics = 127.0.0.1:99999\n{service}"));
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("\"metrics = 127.0.0.1:99999\""), "{out}");
    let (code, out) = check_config(&format!("{service}logProbes = maybe\n"));
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("\"logProbes = maybe\""), "{out}");
    let (code, out) = check_config(&format!("{service}client = yes\nlogProbes = no\n"));
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("\"logProbes = no\" needs a server-mode service whose client speaks first"),
        "{out}"
    );
    let (code, out) = check_config(&format!("{service}metrics = 9100\n"));
    assert_eq!(code, Some(1), "{out}");
    let inetd = format!("metrics = 9100\ncert = {}\nconnect = 1\n", p(&pki.combined));
    let (code, out) = check_config(&inetd);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("\"metrics\" is not supported in inetd mode"),
        "{out}"
    );
}
