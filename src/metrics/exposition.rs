//! The Prometheus text exposition (format 0.0.4) of everything counted.
//!
//! The families are built at scrape time from the atomics and encoded by
//! the `prometheus` crate's `TextEncoder` (escaping, `# HELP`/`# TYPE`,
//! histogram suffixes): that format is the one Prometheus and `promtool
//! check metrics` read natively. The counters themselves are ours, so a
//! scrape never touches a connection's path.

use std::sync::atomic::Ordering;

use prometheus::proto::{
    Bucket, Counter, Gauge, Histogram, LabelPair, Metric, MetricFamily, MetricType,
};
use prometheus::Encoder;

use super::{
    certificates, services, Ending, HandshakeFailure, Reload, ServiceMetrics, DURATION_BOUNDS,
    RELOADS,
};

/// `Content-Type` of the page.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// One metric family being assembled.
struct Family {
    inner: MetricFamily,
}

impl Family {
    fn new(name: &str, help: &str, kind: MetricType) -> Family {
        let mut inner = MetricFamily::default();
        inner.set_name(name.to_string());
        inner.set_help(help.to_string());
        inner.set_field_type(kind);
        Family { inner }
    }

    fn sample(&mut self, labels: &[(&str, &str)], value: f64) {
        let mut m = Metric::default();
        m.set_label(label_pairs(labels));
        match self.inner.get_field_type() {
            MetricType::COUNTER => {
                let mut c = Counter::default();
                c.set_value(value);
                m.set_counter(c);
            }
            _ => {
                let mut g = Gauge::default();
                g.set_value(value);
                m.set_gauge(g);
            }
        }
        self.inner.mut_metric().push(m);
    }

    fn histogram(&mut self, labels: &[(&str, &str)], h: &super::counters::Histogram) {
        let (cumulative, count, sum) = h.snapshot();
        let buckets = DURATION_BOUNDS
            .iter()
            .zip(cumulative)
            .map(|(bound, n)| {
                let mut b = Bucket::default();
                b.set_upper_bound(*bound);
                b.set_cumulative_count(n);
                b
            })
            .collect();
        let mut hist = Histogram::default();
        hist.set_bucket(buckets);
        hist.set_sample_count(count);
        hist.set_sample_sum(sum);
        let mut m = Metric::default();
        m.set_label(label_pairs(labels));
        m.set_histogram(hist);
        self.inner.mut_metric().push(m);
    }
}

fn label_pairs(labels: &[(&str, &str)]) -> Vec<LabelPair> {
    labels
        .iter()
        .map(|(name, value)| {
            let mut p = LabelPair::default();
            p.set_name(name.to_string());
            p.set_value(value.to_string());
            p
        })
        .collect()
}

fn load(a: &std::sync::atomic::AtomicU64) -> f64 {
    a.load(Ordering::Relaxed) as f64
}

/// The whole `/metrics` page; `now` is the Unix time for the expiry gauges.
pub fn render(now: i64) -> Vec<u8> {
    let mut families = vec![build_info()];
    families.extend(per_service(&services()));
    families.push(reloads());
    families.push(expiry(now));
    let families: Vec<MetricFamily> = families
        .into_iter()
        .map(|f| f.inner)
        .filter(|f| !f.get_metric().is_empty())
        .collect();
    let mut out = Vec::new();
    if let Err(e) = prometheus::TextEncoder::new().encode(&families, &mut out) {
        crate::slog!(crate::log::ERR, "metrics: cannot encode: {e}");
    }
    out
}

fn build_info() -> Family {
    let mut f = Family::new(
        "rstunnel_build_info",
        "rstunnel and OpenSSL versions (always 1)",
        MetricType::GAUGE,
    );
    f.sample(
        &[
            ("version", env!("CARGO_PKG_VERSION")),
            ("stunnel", crate::version::STUNNEL_VERSION),
            ("openssl", openssl::version::version()),
        ],
        1.0,
    );
    f
}

fn per_service(list: &[(String, std::sync::Arc<ServiceMetrics>)]) -> Vec<Family> {
    use MetricType::{COUNTER, GAUGE};
    let mut accepted = Family::new(
        "rstunnel_connections_accepted_total",
        "Connections accepted",
        COUNTER,
    );
    let mut active = Family::new("rstunnel_connections_active", "Connections open now", GAUGE);
    let mut ended = Family::new(
        "rstunnel_connections_ended_total",
        "Connections ended, by how (closed, reset, timeout)",
        COUNTER,
    );
    let mut refused = Family::new(
        "rstunnel_connections_refused_total",
        "Clients refused because the client limit was reached",
        COUNTER,
    );
    let mut probes = Family::new(
        "rstunnel_probes_total",
        "Connections closed before sending a byte (logProbes = no)",
        COUNTER,
    );
    let mut handshakes = Family::new(
        "rstunnel_handshakes_total",
        "TLS handshakes completed, by session (new, resumed)",
        COUNTER,
    );
    let mut failures = Family::new(
        "rstunnel_handshake_failures_total",
        "TLS handshakes failed, by cause",
        COUNTER,
    );
    let mut duration = Family::new(
        "rstunnel_handshake_duration_seconds",
        "Duration of completed TLS handshakes",
        MetricType::HISTOGRAM,
    );
    let mut bytes = Family::new(
        "rstunnel_transferred_bytes_total",
        "Bytes sent to TLS and to the socket",
        COUNTER,
    );
    let mut attempts = Family::new(
        "rstunnel_backend_connects_total",
        "Connect attempts per connect target",
        COUNTER,
    );
    let mut connect_failures = Family::new(
        "rstunnel_backend_connect_failures_total",
        "Failed connect attempts per connect target",
        COUNTER,
    );
    let mut up = Family::new(
        "rstunnel_backend_up",
        "1 if the last connect to this target succeeded, 0 if it failed",
        GAUGE,
    );
    for (name, m) in list {
        let s = ("service", name.as_str());
        accepted.sample(&[s], load(&m.accepted));
        active.sample(&[s], m.active.load(Ordering::Relaxed) as f64);
        for (i, how) in Ending::ALL.iter().enumerate() {
            ended.sample(&[s, ("ending", how.label())], load(&m.ended[i]));
        }
        refused.sample(&[s], load(&m.refused));
        probes.sample(&[s], load(&m.probes));
        handshakes.sample(&[s, ("session", "new")], load(&m.handshakes_new));
        handshakes.sample(&[s, ("session", "resumed")], load(&m.handshakes_resumed));
        for (i, cause) in HandshakeFailure::ALL.iter().enumerate() {
            failures.sample(
                &[s, ("cause", cause.label())],
                load(&m.handshake_failures[i]),
            );
        }
        duration.histogram(&[s], &m.handshake_duration);
        bytes.sample(&[s, ("direction", "to_tls")], load(&m.to_tls));
        bytes.sample(&[s, ("direction", "to_socket")], load(&m.to_socket));
        for t in m.targets() {
            let labels = [s, ("target", t.target.as_str())];
            attempts.sample(&labels, load(&t.attempts));
            connect_failures.sample(&labels, load(&t.failures));
            let state = t.up.load(Ordering::Relaxed);
            if state >= 0 {
                up.sample(&labels, state as f64);
            }
        }
    }
    vec![
        accepted,
        active,
        ended,
        refused,
        probes,
        handshakes,
        failures,
        duration,
        bytes,
        attempts,
        connect_failures,
        up,
    ]
}

fn reloads() -> Family {
    let mut f = Family::new(
        "rstunnel_reloads_total",
        "Configuration reloads (SIGHUP), by result",
        MetricType::COUNTER,
    );
    for (i, result) in Reload::ALL.iter().enumerate() {
        f.sample(&[("result", result.label())], load(&RELOADS[i]));
    }
    f
}

fn expiry(now: i64) -> Family {
    let mut f = Family::new(
        "rstunnel_certificate_expiry_seconds",
        "Seconds until a loaded certificate expires (negative: expired)",
        MetricType::GAUGE,
    );
    for c in certificates() {
        f.sample(
            &[("service", &c.service), ("subject", &c.subject)],
            (c.not_after - now) as f64,
        );
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_has_every_family_of_a_service() {
        let m = super::super::service("expo-test");
        m.accepted.fetch_add(3, Ordering::Relaxed);
        m.handshake_ok(true, std::time::Duration::from_millis(2));
        m.target("127.0.0.1:1").attempt(false);
        let page = String::from_utf8(render(0)).unwrap();
        for line in [
            "rstunnel_connections_accepted_total{service=\"expo-test\"} 3",
            "rstunnel_handshakes_total{service=\"expo-test\",session=\"resumed\"} 1",
            "rstunnel_handshake_duration_seconds_bucket{service=\"expo-test\",le=\"0.0025\"} 1",
            "rstunnel_backend_up{service=\"expo-test\",target=\"127.0.0.1:1\"} 0",
            "# TYPE rstunnel_build_info gauge",
        ] {
            assert!(page.contains(line), "{line} missing from\n{page}");
        }
    }
}
