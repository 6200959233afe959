//! Listeners and the set of running services.

pub mod bind;
pub mod listener;
pub mod metrics_http;
pub mod supervisor;

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The process-wide client limit (stunnel-reference §5.14), computed once
/// at start-up from RLIMIT_NOFILE, and the permits that enforce it: every
/// accept loop of the process takes one per connection.
#[derive(Debug, Clone)]
pub struct ClientLimit {
    limit: usize,
    permits: Arc<Semaphore>,
}

impl ClientLimit {
    pub fn new(limit: usize) -> ClientLimit {
        ClientLimit {
            limit,
            permits: Arc::new(Semaphore::new(limit.max(1))),
        }
    }

    /// The number in `Connection rejected: too many clients (>=N)`.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// A place for one more connection, held while it runs; `None` at the
    /// limit.
    pub fn admit(&self) -> Option<OwnedSemaphorePermit> {
        self.permits.clone().try_acquire_owned().ok()
    }
}
