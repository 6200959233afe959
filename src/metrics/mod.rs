//! What a running tunnel counts, for the `metrics` endpoint (rstunnel
//! extension): per-service counters (`counters.rs`), the process-wide
//! facts below (reloads, certificate expiry, which services are not
//! listening), and their Prometheus exposition (`exposition.rs`).
//!
//! Counting is always on: a few relaxed atomic additions per connection on
//! an `Arc<ServiceMetrics>` the connection carries, plus one per transfer
//! poll for bytes. The tables here are locked only when a configuration is
//! built and when `/metrics` or `/healthz` is read.

mod counters;
pub mod exposition;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

pub use counters::{
    Active, Ending, HandshakeFailure, ServiceMetrics, TargetMetrics, DURATION_BOUNDS,
};

/// Every service name seen since start, in first-seen order; a reload
/// keeps the counters of a name, so they never go backwards.
static SERVICES: Mutex<Vec<(String, Arc<ServiceMetrics>)>> = Mutex::new(Vec::new());

/// The counters of service `name`, created on first use.
pub fn service(name: &str) -> Arc<ServiceMetrics> {
    let mut all = SERVICES.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, m)) = all.iter().find(|(n, _)| n == name) {
        return m.clone();
    }
    let m = Arc::new(ServiceMetrics::default());
    all.push((name.to_string(), m.clone()));
    m
}

fn services() -> Vec<(String, Arc<ServiceMetrics>)> {
    SERVICES.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

/// How a SIGHUP reload ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reload {
    /// The new configuration runs.
    Ok,
    /// It runs, but some services could not bind their addresses.
    Partial,
    /// It was refused; the old one keeps running.
    Failed,
}

impl Reload {
    const ALL: [Reload; 3] = [Reload::Ok, Reload::Partial, Reload::Failed];

    fn label(self) -> &'static str {
        match self {
            Reload::Ok => "ok",
            Reload::Partial => "partial",
            Reload::Failed => "failed",
        }
    }
}

static RELOADS: [AtomicU64; 3] = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];

pub fn reloaded(result: Reload) {
    let i = Reload::ALL.iter().position(|r| *r == result).unwrap_or(2);
    RELOADS[i].fetch_add(1, Ordering::Relaxed);
}

/// A certificate a service presents, for its expiry gauge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    pub service: String,
    /// The certificate's subject, one-line (`CN=…,O=…`).
    pub subject: String,
    /// `notAfter`, seconds since the Unix epoch.
    pub not_after: i64,
}

/// The certificates of the running configuration (replaced on reload).
static CERTIFICATES: Mutex<Vec<Certificate>> = Mutex::new(Vec::new());

pub fn set_certificates(list: Vec<Certificate>) {
    *CERTIFICATES.lock().unwrap_or_else(|p| p.into_inner()) = list;
}

fn certificates() -> Vec<Certificate> {
    CERTIFICATES
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
}

/// Services that should listen and do not (a reload could not bind them).
static NOT_LISTENING: Mutex<Vec<String>> = Mutex::new(Vec::new());

pub fn set_not_listening(names: Vec<String>) {
    *NOT_LISTENING.lock().unwrap_or_else(|p| p.into_inner()) = names;
}

/// Set when a terminating signal started a `TIMEOUTdrain` drain or an
/// upgrade handed the sockets over: a load balancer should stop sending.
static DRAINING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub fn set_draining() {
    DRAINING.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// Whether the process stopped accepting and is draining.
pub fn draining() -> bool {
    DRAINING.load(std::sync::atomic::Ordering::Relaxed)
}

/// `/healthz`: `Err` with the names of the services that should listen
/// and do not.
pub fn health() -> Result<(), Vec<String>> {
    let down = NOT_LISTENING
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    if down.is_empty() {
        Ok(())
    } else {
        Err(down)
    }
}
