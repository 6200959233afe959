//! Give memory back after a burst. glibc keeps what a flood of connections
//! freed in its per-thread arenas, so a tunnel that held 5,000 handshakes
//! kept ~300 MB for good (stunnel4, one thread per connection, gives most of
//! it back as its threads exit). When the number of live connections has
//! fallen to half of its peak since the last trim, `malloc_trim(0)` returns
//! the free pages of every arena to the kernel: at most once a second, off
//! the async workers, and once more when that second is over so that what
//! closed in the meantime is returned too.
//!
//! Growth leaves garbage too: each handshake allocates ~40 KiB (OpenSSL's
//! handshake buffer, write buffering, key exchange) and frees most of it
//! when it ends, and a new connection's first bytes pass through a 64 KiB
//! read-ahead buffer; after a batch of new connections the arenas hold free
//! pages among the live ones (3.5–4 KiB per connection per process after
//! 1,000 idle connections opened 250 at a time). When no handshake is
//! running any more and the live connections have grown by [`MIN_PEAK`]
//! since the last trim, the same trim runs once no handshake has started
//! for [`SETTLE`].

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Below this peak a trim is not worth its cost.
const MIN_PEAK: usize = 64;
const MIN_INTERVAL: Duration = Duration::from_secs(1);

static PEAK: AtomicUsize = AtomicUsize::new(0);
static LAST: Mutex<Option<Instant>> = Mutex::new(None);
/// A trailing trim is scheduled.
static PENDING: AtomicBool = AtomicBool::new(false);
/// Live connections now, and at the last trim.
static LIVE: AtomicUsize = AtomicUsize::new(0);
static AT_TRIM: AtomicUsize = AtomicUsize::new(0);
/// TLS handshakes running (see [`Handshake`]).
static HANDSHAKING: AtomicUsize = AtomicUsize::new(0);

/// Called with the number of live connections whenever it changes.
pub fn live_connections(now: usize) {
    LIVE.store(now, Ordering::Relaxed);
    AT_TRIM.fetch_min(now, Ordering::Relaxed);
    let peak = PEAK.fetch_max(now, Ordering::Relaxed).max(now);
    if peak < MIN_PEAK || now * 2 > peak {
        return;
    }
    request_trim(now);
}

/// Held while a TLS handshake runs; the last one to end after a growth of
/// [`MIN_PEAK`] connections asks for a trim.
pub struct Handshake(());

impl Handshake {
    pub fn start() -> Handshake {
        HANDSHAKING.fetch_add(1, Ordering::Relaxed);
        if SETTLING.load(Ordering::Relaxed) {
            // New connections are still arriving: not settled yet.
            *SETTLE_AT.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now() + SETTLE);
        }
        Handshake(())
    }
}

impl Drop for Handshake {
    fn drop(&mut self) {
        if HANDSHAKING.fetch_sub(1, Ordering::Relaxed) != 1 {
            return;
        }
        let now = LIVE.load(Ordering::Relaxed);
        if now >= AT_TRIM.load(Ordering::Relaxed) + MIN_PEAK {
            settle_trim();
        }
    }
}

/// After a burst the new connections still move their first bytes (and
/// free those buffers) a moment after their handshakes: trim once no
/// handshake has started for [`SETTLE`], however long the burst goes on. A
/// steady stream of new connections (which reuses what the last ones freed)
/// is never trimmed under its feet.
const SETTLE: Duration = Duration::from_millis(300);
static SETTLE_AT: Mutex<Option<Instant>> = Mutex::new(None);
static SETTLING: AtomicBool = AtomicBool::new(false);

fn settle_trim() {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    *SETTLE_AT.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now() + SETTLE);
    if SETTLING.swap(true, Ordering::Relaxed) {
        return;
    }
    runtime.spawn(async {
        loop {
            let at = SETTLE_AT.lock().unwrap_or_else(|p| p.into_inner()).take();
            let Some(at) = at else { break };
            tokio::time::sleep_until(at.into()).await;
        }
        SETTLING.store(false, Ordering::Relaxed);
        *LAST.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        AT_TRIM.store(LIVE.load(Ordering::Relaxed), Ordering::Relaxed);
        let _ = tokio::task::spawn_blocking(trim).await;
    });
}

/// Trim now if the last trim is a second old, else once that second is
/// over (one trailing trim at a time).
fn request_trim(now: usize) {
    let wait = {
        let mut last = LAST.lock().unwrap_or_else(|p| p.into_inner());
        let wait = last.map_or(Duration::ZERO, |t| MIN_INTERVAL.saturating_sub(t.elapsed()));
        if wait.is_zero() {
            *last = Some(Instant::now());
        }
        wait
    };
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    if wait.is_zero() {
        PEAK.store(now, Ordering::Relaxed);
        AT_TRIM.store(now, Ordering::Relaxed);
        drop(runtime.spawn_blocking(trim));
    } else if !PENDING.swap(true, Ordering::Relaxed) {
        // Too soon after the last trim: return the rest a moment later.
        runtime.spawn(async move {
            tokio::time::sleep(wait).await;
            PENDING.store(false, Ordering::Relaxed);
            *LAST.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
            AT_TRIM.store(LIVE.load(Ordering::Relaxed), Ordering::Relaxed);
            let _ = tokio::task::spawn_blocking(trim).await;
        });
    }
}

fn trim() {
    // SAFETY: malloc_trim only walks glibc's own arenas.
    unsafe { libc::malloc_trim(0) };
}
