//! Give memory back after a burst. glibc keeps what a flood of connections
//! freed in its per-thread arenas, so a tunnel that held 5,000 handshakes
//! kept ~300 MB for good (stunnel4, one thread per connection, gives most of
//! it back as its threads exit). When the number of live connections has
//! fallen to half of its peak since the last trim, `malloc_trim(0)` returns
//! the free pages of every arena to the kernel: at most once a second, off
//! the async workers, and once more a second after the last change so that
//! what closed in the meantime is returned too.

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

/// Called with the number of live connections whenever it changes.
pub fn live_connections(now: usize) {
    let peak = PEAK.fetch_max(now, Ordering::Relaxed).max(now);
    if peak < MIN_PEAK || now * 2 > peak {
        return;
    }
    let due = {
        let mut last = LAST.lock().unwrap_or_else(|p| p.into_inner());
        let due = !last.is_some_and(|t| t.elapsed() < MIN_INTERVAL);
        if due {
            *last = Some(Instant::now());
        }
        due
    };
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    if due {
        PEAK.store(now, Ordering::Relaxed);
        drop(runtime.spawn_blocking(trim));
    } else if !PENDING.swap(true, Ordering::Relaxed) {
        // Too soon after the last trim: return the rest a moment later.
        runtime.spawn(async {
            tokio::time::sleep(MIN_INTERVAL).await;
            PENDING.store(false, Ordering::Relaxed);
            *LAST.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
            let _ = tokio::task::spawn_blocking(trim).await;
        });
    }
}

fn trim() {
    // SAFETY: malloc_trim only walks glibc's own arenas.
    unsafe { libc::malloc_trim(0) };
}
