//! systemd's notification protocol (`Type=notify` and `Type=notify-reload`
//! units): `READY=1` once every service is bound and privileges are
//! dropped, `RELOADING=1` with `MONOTONIC_USEC` before a reload and
//! `READY=1` after it, `STOPPING=1` on the way out, a `STATUS=` line, and
//! `WATCHDOG=1` keep-alives when the unit sets `WatchdogSec=`.
//!
//! Only when systemd asked (`NOTIFY_SOCKET` is set); otherwise every call is
//! a no-op. A failed send is ignored: the service must not stop because its
//! supervisor went away. The datagram handling is the `sd-notify` crate's
//! (abstract and path sockets, the exact wire format).

use std::time::Duration;

use sd_notify::NotifyState;

fn send(states: &[NotifyState]) {
    if std::env::var_os("NOTIFY_SOCKET").is_some() {
        let _ = sd_notify::notify(false, states);
    }
}

/// Every service is bound, privileges are dropped: accepting.
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// A reload starts (systemd waits for the next [`ready`]).
pub fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now]),
        Err(_) => send(&[NotifyState::Reloading]),
    }
}

/// The daemon is stopping.
pub fn stopping(status: &str) {
    send(&[NotifyState::Stopping, NotifyState::Status(status)]);
}

/// A new `STATUS=` line.
pub fn status(status: &str) {
    send(&[NotifyState::Status(status)]);
}

/// How often to send [`watchdog`]: half of `WATCHDOG_USEC`, as systemd
/// advises; `None` when the unit has no watchdog (or it is meant for
/// another process, `WATCHDOG_PID`).
pub fn watchdog_period() -> Option<Duration> {
    let mut usec = 0;
    sd_notify::watchdog_enabled(false, &mut usec).then(|| Duration::from_micros(usec / 2))
}

/// Still alive.
pub fn watchdog() {
    send(&[NotifyState::Watchdog]);
}
