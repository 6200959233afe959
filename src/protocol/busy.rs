//! `TIMEOUTbusy` as a negotiation's time budget.

use std::sync::OnceLock;
use std::time::Duration;

use tokio::time::Instant;

/// `TIMEOUTbusy` of one negotiation (one protocol phase): the limit of each
/// wait, as in stunnel, and of the whole negotiation, counted from its first
/// read or write. Counting from the first I/O keeps stunnel's per-wait line
/// for a peer that never sends anything (its one wait is the whole
/// negotiation); the total limit speaks only once something has moved.
#[derive(Debug)]
pub struct Busy {
    pub(super) limit: Option<Duration>,
    start: OnceLock<Instant>,
}

impl Busy {
    /// `None` waits forever, as a negative `TIMEOUTbusy`.
    pub fn new(limit: Option<Duration>) -> Busy {
        Busy {
            limit,
            start: OnceLock::new(),
        }
    }

    /// How long the next wait may last, and whether that is the rest of the
    /// negotiation's total rather than the per-wait limit; `None` = forever.
    pub(super) fn next_wait(&self) -> Option<(Duration, bool)> {
        let limit = self.limit?;
        let now = Instant::now();
        let start = *self.start.get_or_init(|| now);
        let left = (start + limit).saturating_duration_since(now);
        Some(if left < limit {
            (left, true)
        } else {
            (limit, false)
        })
    }
}
