//! The live connections, for SIGUSR2's listing (stunnel-reference §5.2):
//! `Active connection N: Service [NAME], X byte(s) sent to TLS, Y byte(s)
//! sent to socket`.
//!
//! Each connection registers an [`Entry`] whose counters the copy loop
//! publishes to (`transfer::run_counting`); the entry unregisters on drop.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use crate::transfer::Counters;

struct Live {
    service: String,
    counters: Arc<Counters>,
}

static LIVE: Mutex<BTreeMap<u64, Live>> = Mutex::new(BTreeMap::new());

/// A registered connection; removed from the listing when dropped.
pub struct Entry {
    id: u64,
    pub counters: Arc<Counters>,
}

impl Entry {
    pub fn register(id: u64, service: &str) -> Entry {
        let counters = Arc::new(Counters::default());
        let live = Live {
            service: service.to_string(),
            counters: counters.clone(),
        };
        LIVE.lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, live);
        Entry { id, counters }
    }

    /// The SNI switch moves a connection to another service.
    pub fn rename(&self, service: &str) {
        if let Some(live) = LIVE
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(&self.id)
        {
            live.service = service.to_string();
        }
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        LIVE.lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.id);
    }
}

/// Log the listing at level 0 so it passes every filter, as stunnel does.
pub fn log_active() {
    let live = LIVE.lock().unwrap_or_else(|p| p.into_inner());
    crate::slog!(crate::log::EMERG, "Active connections:");
    for (id, c) in live.iter() {
        crate::slog!(
            crate::log::EMERG,
            "Active connection {id}: Service [{}], {} byte(s) sent to TLS, {} byte(s) sent to socket",
            c.service,
            c.counters.to_tls.load(Ordering::Relaxed),
            c.counters.to_socket.load(Ordering::Relaxed)
        );
    }
    crate::slog!(
        crate::log::EMERG,
        "Listed {} active connection(s)",
        live.len()
    );
}

/// Number of live connections (for shutdown and the `finished (N left)` line).
pub fn count() -> usize {
    LIVE.lock().unwrap_or_else(|p| p.into_inner()).len()
}
