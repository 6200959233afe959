//! The counters of one service: plain atomics, bumped with `Relaxed`
//! ordering from the connection task that owns an `Arc` of them (resolved
//! once, when the service's context is built), read only when `/metrics` is
//! scraped. Nothing here locks on a connection's path, except the target
//! table of a `delay = yes` service, whose lookup runs next to a DNS query.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How a connection ended, stunnel's `Connection closed/reset` plus
/// `TIMEOUTidle`/`TIMEOUTbusy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Closed,
    Reset,
    Timeout,
}

impl Ending {
    pub const ALL: [Ending; 3] = [Ending::Closed, Ending::Reset, Ending::Timeout];

    pub fn label(self) -> &'static str {
        match self {
            Ending::Closed => "closed",
            Ending::Reset => "reset",
            Ending::Timeout => "timeout",
        }
    }
}

/// Why a TLS handshake failed, from OpenSSL's reason and the verification
/// result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeFailure {
    ProtocolVersion,
    NoSharedCipher,
    ClientCertMissing,
    ClientCertUntrusted,
    ClientCertRevoked,
    /// The peer closed (or reset) before its ClientHello was complete.
    PeerClosed,
    /// `TIMEOUTbusy` ran out.
    Timeout,
    Other,
}

impl HandshakeFailure {
    pub const ALL: [HandshakeFailure; 8] = [
        HandshakeFailure::ProtocolVersion,
        HandshakeFailure::NoSharedCipher,
        HandshakeFailure::ClientCertMissing,
        HandshakeFailure::ClientCertUntrusted,
        HandshakeFailure::ClientCertRevoked,
        HandshakeFailure::PeerClosed,
        HandshakeFailure::Timeout,
        HandshakeFailure::Other,
    ];

    pub fn label(self) -> &'static str {
        match self {
            HandshakeFailure::ProtocolVersion => "protocol_version",
            HandshakeFailure::NoSharedCipher => "no_shared_cipher",
            HandshakeFailure::ClientCertMissing => "cert_missing",
            HandshakeFailure::ClientCertUntrusted => "cert_untrusted",
            HandshakeFailure::ClientCertRevoked => "cert_revoked",
            HandshakeFailure::PeerClosed => "peer_closed",
            HandshakeFailure::Timeout => "timeout",
            HandshakeFailure::Other => "other",
        }
    }
}

/// Upper bounds (seconds) of the handshake duration buckets: a local
/// handshake takes about a millisecond, one over a slow link or waiting
/// on OCSP seconds.
pub const DURATION_BOUNDS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// A histogram of durations: one counter per bucket (not cumulative; the
/// exposition sums them) plus the total in microseconds.
#[derive(Debug, Default)]
pub struct Histogram {
    /// `DURATION_BOUNDS.len()` buckets and one for `+Inf`.
    buckets: [AtomicU64; DURATION_BOUNDS.len() + 1],
    sum_micros: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = DURATION_BOUNDS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(DURATION_BOUNDS.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// (cumulative count per bound, count, sum in seconds).
    pub fn snapshot(&self) -> (Vec<u64>, u64, f64) {
        let mut cumulative = Vec::with_capacity(DURATION_BOUNDS.len());
        let mut total = 0;
        for (i, bucket) in self.buckets.iter().enumerate() {
            total += bucket.load(Ordering::Relaxed);
            if i < DURATION_BOUNDS.len() {
                cumulative.push(total);
            }
        }
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        (cumulative, total, sum)
    }
}

/// Connect attempts to one backend address of a service's `connect` list.
#[derive(Debug)]
pub struct TargetMetrics {
    /// The address as the log's `s_connect: connecting ADDR` names it.
    pub target: String,
    pub attempts: AtomicU64,
    pub failures: AtomicU64,
    /// 1 after the last attempt succeeded, 0 after it failed, -1 before any.
    pub up: AtomicI64,
}

impl TargetMetrics {
    pub fn new(target: String) -> Arc<TargetMetrics> {
        Arc::new(TargetMetrics {
            target,
            attempts: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            up: AtomicI64::new(-1),
        })
    }

    pub fn attempt(&self, ok: bool) {
        self.attempts.fetch_add(1, Ordering::Relaxed);
        if !ok {
            self.failures.fetch_add(1, Ordering::Relaxed);
        }
        self.up.store(i64::from(ok), Ordering::Relaxed);
    }
}

/// Everything counted for one service name; kept across reloads.
#[derive(Debug, Default)]
pub struct ServiceMetrics {
    pub accepted: AtomicU64,
    pub active: AtomicI64,
    pub ended: [AtomicU64; 3],
    /// Clients refused because the process-wide client limit was reached.
    pub refused: AtomicU64,
    /// `logProbes = no`: connections closed before their first byte.
    pub probes: AtomicU64,
    pub handshakes_new: AtomicU64,
    pub handshakes_resumed: AtomicU64,
    pub handshake_failures: [AtomicU64; 8],
    pub handshake_duration: Histogram,
    /// Bytes written to the TLS side and to the plain side (stunnel's
    /// "sent to TLS" / "sent to socket"), added while the transfer runs.
    pub to_tls: AtomicU64,
    pub to_socket: AtomicU64,
    /// Backend addresses, in the order first seen.
    targets: Mutex<Vec<Arc<TargetMetrics>>>,
}

impl ServiceMetrics {
    pub fn ended(&self, how: Ending) {
        let i = Ending::ALL.iter().position(|e| *e == how).unwrap_or(0);
        self.ended[i].fetch_add(1, Ordering::Relaxed);
    }

    pub fn handshake_ok(&self, resumed: bool, took: Duration) {
        let counter = if resumed {
            &self.handshakes_resumed
        } else {
            &self.handshakes_new
        };
        counter.fetch_add(1, Ordering::Relaxed);
        self.handshake_duration.observe(took);
    }

    pub fn handshake_failed(&self, cause: HandshakeFailure) {
        let i = HandshakeFailure::ALL
            .iter()
            .position(|c| *c == cause)
            .unwrap_or(HandshakeFailure::ALL.len() - 1);
        self.handshake_failures[i].fetch_add(1, Ordering::Relaxed);
    }

    /// The counters of backend `target`, created on first use. Called once
    /// per address when a service's context is built, and per connection
    /// only for `delay = yes` (which resolves names per connection anyway).
    pub fn target(&self, target: &str) -> Arc<TargetMetrics> {
        let mut all = self.targets.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(t) = all.iter().find(|t| t.target == target) {
            return t.clone();
        }
        let t = TargetMetrics::new(target.to_string());
        all.push(t.clone());
        t
    }

    pub fn targets(&self) -> Vec<Arc<TargetMetrics>> {
        self.targets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// Counts a connection as active until dropped, then as ended.
pub struct Active {
    metrics: Arc<ServiceMetrics>,
    ending: Ending,
}

impl Active {
    pub fn start(metrics: Arc<ServiceMetrics>) -> Active {
        metrics.accepted.fetch_add(1, Ordering::Relaxed);
        metrics.active.fetch_add(1, Ordering::Relaxed);
        Active {
            metrics,
            ending: Ending::Reset,
        }
    }

    /// How the connection ended (reset unless said otherwise).
    pub fn set_ending(&mut self, ending: Ending) {
        self.ending = ending;
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        self.metrics.active.fetch_sub(1, Ordering::Relaxed);
        self.metrics.ended(self.ending);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative_with_inf_in_count() {
        let h = Histogram::default();
        h.observe(Duration::from_micros(500));
        h.observe(Duration::from_millis(30));
        h.observe(Duration::from_secs(60));
        let (cumulative, count, sum) = h.snapshot();
        assert_eq!(count, 3);
        assert_eq!(cumulative[0], 1);
        assert_eq!(cumulative[5], 2); // 0.05
        assert_eq!(*cumulative.last().unwrap(), 2);
        assert!((sum - 60.0305).abs() < 1e-6, "{sum}");
    }

    #[test]
    fn active_guard_counts_accept_and_end() {
        let m = Arc::new(ServiceMetrics::default());
        let mut a = Active::start(m.clone());
        assert_eq!(m.active.load(Ordering::Relaxed), 1);
        a.set_ending(Ending::Timeout);
        drop(a);
        assert_eq!(m.active.load(Ordering::Relaxed), 0);
        assert_eq!(m.ended[2].load(Ordering::Relaxed), 1);
        assert_eq!(m.accepted.load(Ordering::Relaxed), 1);
    }
}
