//! Debian's real Prometheus scrapes rstunnel's `metrics` endpoint every
//! second while this test drives traffic whose numbers it knows: N
//! connections with a trusted client certificate (new sessions), K that
//! resume one of them, M untrusted and R revoked client certificates, and P
//! connections through a failover pair whose first backend is dead. The
//! numbers are then read back through Prometheus's HTTP query API, so the
//! page is proven to be what a Prometheus server ingests, not only what we
//! think the format is; `promtool check metrics` lints the page itself.

use crate::common;
use crate::common::procs;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::net::http_get;
use common::tls_client::{Client, SessionKind, To};
use common::tls_pki::make_pki;
use common::{header, p, Daemon, Impl};

const N: usize = 5;
const K: usize = 3;
const M: usize = 4;
const R: usize = 2;
const P: usize = 3;

/// Prometheus on 127.0.0.1, scraping `target` every second; killed on drop.
struct Prometheus {
    child: Child,
    port: u16,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    fn start(dir: &Path, target: u16) -> Option<Prometheus> {
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: rstunnel\n    static_configs:\n\
                 \x20     - targets: ['127.0.0.1:{target}']\n"
            ),
        )
        .unwrap();
        let port = common::free_port();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", p(&config)))
            .arg(format!("--storage.tsdb.path={}", p(&dir.join("data"))))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let prometheus = Prometheus { child, port };
        common::wait_listening(port);
        Some(prometheus)
    }

    /// The value of PromQL `query` (one number: callers wrap it in `sum`).
    fn value(&self, query: &str) -> Option<f64> {
        let (_, body) = http_get(self.port, &format!("/api/v1/query?query={}", encode(query)));
        // {"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[T,"V"]}]}}
        let value = body.split("\"value\":[").nth(1)?;
        let number = value.split('"').nth(1)?;
        number.parse().ok()
    }
}

/// Percent-encoding for a query string value.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn prometheus_reads_exactly_the_traffic_driven() {
    if Command::new("prometheus")
        .arg("--version")
        .output()
        .is_err()
    {
        return common::must_run::cannot_run("prometheus scrape", "prometheus is not installed");
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let backend = common::net::answering_server("127.0.0.1", b"hello");
    let (_dead_socket, dead) = procs::dead_port();
    let d = Daemon::start(
        Impl::Rstunnel,
        &format!(
            "{}metrics = 127.0.0.1:0\n\
             [tls]\naccept = 127.0.0.1:0\ncert = {cert}\nconnect = {backend}\n\
             verifyChain = yes\nCAfile = {}\nCRLfile = {}\n\
             [pair]\naccept = 127.0.0.1:0\ncert = {cert}\nfailover = prio\n\
             connect = 127.0.0.1:{dead}\nconnect = 127.0.0.1:{backend}\n",
            header(),
            p(&pki.ca),
            p(&pki.crl),
            cert = p(&pki.combined),
        ),
    );
    let metrics = {
        let line = d.log.wait_for("metrics (FD=");
        line.rsplit(':').next().unwrap().trim().parse().unwrap()
    };
    let (tls, pair) = (To::local(d.port("tls")), To::local(d.port("pair")));
    let prometheus = Prometheus::start(dir.path(), metrics).expect("prometheus starts");

    let trusted = Client::new(SessionKind::Tls12Ticket, Some(&pki.client_combined));
    let mut session = None;
    for _ in 0..N {
        let out = trusted.exchange(&tls, None, b"");
        assert_eq!(out.text(), "hello", "{:?}", out.error);
        assert!(!out.reused);
        session = out.session;
    }
    for _ in 0..K {
        let out = trusted.exchange(&tls, session.as_ref(), b"");
        assert!(out.reused && out.text() == "hello", "{:?}", out.error);
        session = out.session;
    }
    for (count, chain) in [
        (M, &pki.untrusted_client_combined),
        (R, &pki.revoked_client_combined),
    ] {
        let refused = Client::new(SessionKind::Tls12Ticket, Some(chain));
        for _ in 0..count {
            assert!(refused.exchange(&tls, None, b"").error.is_some());
        }
    }
    let anonymous = Client::new(SessionKind::Tls13Ticket, None);
    for _ in 0..P {
        assert_eq!(anonymous.exchange(&pair, None, b"").text(), "hello");
    }

    let (_, page) = http_get(metrics, "/metrics");
    let expected = [
        (
            r#"rstunnel_handshakes_total{service="tls",session="new"}"#,
            N,
        ),
        (
            r#"rstunnel_handshakes_total{service="tls",session="resumed"}"#,
            K,
        ),
        (
            r#"rstunnel_handshake_failures_total{service="tls",cause="cert_untrusted"}"#,
            M,
        ),
        (
            r#"rstunnel_handshake_failures_total{service="tls",cause="cert_revoked"}"#,
            R,
        ),
        (
            r#"rstunnel_connections_accepted_total{service="tls"}"#,
            N + K + M + R,
        ),
        (
            r#"rstunnel_handshake_duration_seconds_count{service="tls"}"#,
            N + K,
        ),
        (
            r#"rstunnel_handshakes_total{service="pair",session="new"}"#,
            P,
        ),
        (
            &format!(
                r#"rstunnel_backend_connect_failures_total{{service="pair",target="127.0.0.1:{dead}"}}"#
            ),
            P,
        ),
        (
            &format!(
                r#"rstunnel_backend_connects_total{{service="pair",target="127.0.0.1:{backend}"}}"#
            ),
            P,
        ),
        (
            &format!(r#"rstunnel_backend_up{{service="pair",target="127.0.0.1:{dead}"}}"#),
            0,
        ),
        (
            &format!(r#"rstunnel_backend_up{{service="pair",target="127.0.0.1:{backend}"}}"#),
            1,
        ),
        (r#"rstunnel_connections_active{service="pair"}"#, 0),
        (r#"up{job="rstunnel"}"#, 1),
    ];
    // Scrapes come every second; give Prometheus a bounded while to see
    // the final numbers.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut wrong = Vec::new();
    while Instant::now() < deadline {
        wrong = expected
            .iter()
            .filter_map(|(series, want)| {
                let got = prometheus.value(&format!("sum({series})"));
                (got != Some(*want as f64)).then(|| format!("{series}: {got:?}, want {want}"))
            })
            .collect();
        if wrong.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(wrong.is_empty(), "{}\npage:\n{page}", wrong.join("\n"));

    let lint = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(page.as_bytes())?;
            c.wait_with_output()
        })
        .expect("promtool runs");
    assert!(
        lint.status.success(),
        "promtool check metrics: {}{}\n{page}",
        String::from_utf8_lossy(&lint.stdout),
        String::from_utf8_lossy(&lint.stderr)
    );
}
