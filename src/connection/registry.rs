//! The live connections, for SIGUSR2's listing (stunnel-reference §5.2):
//! `Active connection N: Service [NAME], X byte(s) sent to TLS, Y byte(s)
//! sent to socket`.
//!
//! Each connection registers an [`Entry`] whose counters the copy loop
//! publishes to (`transfer::run_counting`); the entry unregisters on drop.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncRead, AsyncWrite};

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
    /// The TLS side saw a fatal alert: its socket counts as `closed` in
    /// the final `Connection reset/closed` line (stunnel-reference §5.7.4).
    tls_alert: Arc<std::sync::atomic::AtomicBool>,
}

impl Entry {
    /// `metrics`: the service's counters, which the transfer adds its
    /// bytes to as they move.
    pub fn register(id: u64, service: &str, metrics: Arc<crate::metrics::ServiceMetrics>) -> Entry {
        let counters = Arc::new(Counters {
            totals: Some(metrics),
            ..Counters::default()
        });
        let live = Live {
            service: service.to_string(),
            counters: counters.clone(),
        };
        let now = {
            let mut all = LIVE.lock().unwrap_or_else(|p| p.into_inner());
            all.insert(id, live);
            all.len()
        };
        crate::os::memory::live_connections(now);
        Entry {
            id,
            counters,
            tls_alert: Default::default(),
        }
    }

    /// Record that a fatal TLS alert went either way.
    pub fn note_fatal_alert(&self, seen: bool) {
        if seen {
            self.tls_alert.store(true, Ordering::Relaxed);
        }
    }

    /// The flag the TLS-side stream checks when it closes.
    pub fn alert_flag(&self) -> Arc<std::sync::atomic::AtomicBool> {
        self.tls_alert.clone()
    }

    pub fn fatal_alert(&self) -> bool {
        self.tls_alert.load(Ordering::Relaxed)
    }

    /// The copy loop with this entry's counters following it live (what
    /// SIGUSR2 lists); the report is the loop's own. The loop's future
    /// itself, not an async fn around it: every idle connection holds it.
    pub fn transfer<'a, T, P>(
        &'a self,
        tls: &'a mut T,
        plain: &'a mut P,
        limits: crate::transfer::Limits,
    ) -> impl std::future::Future<Output = crate::transfer::Report> + 'a
    where
        T: AsyncRead + AsyncWrite + Unpin,
        P: AsyncRead + AsyncWrite + Unpin,
    {
        crate::transfer::run_counting(tls, plain, limits, &self.counters)
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
        let now = {
            let mut all = LIVE.lock().unwrap_or_else(|p| p.into_inner());
            all.remove(&self.id);
            all.len()
        };
        crate::os::memory::live_connections(now);
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
