//! Listeners and the set of running services.

pub mod bind;
pub mod listener;
pub mod metrics_http;
pub mod supervisor;

use std::sync::atomic::{AtomicUsize, Ordering};

/// The process-wide client limit, computed once at start-up from
/// RLIMIT_NOFILE (stunnel-reference §5.14).
static CLIENT_LIMIT: AtomicUsize = AtomicUsize::new(0);

pub fn set_client_limit(limit: usize) {
    CLIENT_LIMIT.store(limit, Ordering::Relaxed);
}

pub fn client_limit() -> usize {
    CLIENT_LIMIT.load(Ordering::Relaxed)
}
