//! stunnel's log: `YYYY.MM.DD HH:MM:SS LOG<level>[<id>]: <text>`.
//!
//! All log lines of the crate go through [`slog!`] with a stunnel level
//! (0 = emerg … 7 = debug). The level travels in the `log` record's target
//! so the exact stunnel level survives the `log` crate's five levels.
//!
//! Two things stunnel does that a generic logger does not:
//! * **per-service thresholds**: a line written inside a connection task is
//!   filtered by that service's `debug` level and tagged with the connection
//!   id; both come from the task-local [`ConnLog`] set by [`scope`];
//! * **buffering until the configuration is active**: start-up lines are kept
//!   and, on success, replayed through the filter ([`activate`]); on failure
//!   all of them go to stderr as `[c] text` ([`dump_buffered`]).

mod format;
mod sink;

pub use format::{level_char, line};
pub use sink::Sinks;

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Mutex;

pub const EMERG: u8 = 0;
pub const ALERT: u8 = 1;
pub const CRIT: u8 = 2;
pub const ERR: u8 = 3;
pub const WARNING: u8 = 4;
pub const NOTICE: u8 = 5;
pub const INFO: u8 = 6;
pub const DEBUG: u8 = 7;

/// Log a line at a stunnel level: `slog!(log::NOTICE, "Service [{}] …", name)`.
#[macro_export]
macro_rules! slog {
    ($level:expr, $($arg:tt)+) => {
        $crate::log::emit($level, format_args!($($arg)+))
    };
}

/// A failure that was already logged the way stunnel logs it: the caller
/// only needs to know that it failed (exit 1, keep the running
/// configuration, end the connection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Logged;

/// Log `text` at err level and return [`Logged`]: `.map_err(log::error)`.
pub fn error(text: impl fmt::Display) -> Logged {
    crate::slog!(ERR, "{text}");
    Logged
}

/// The identity of the connection a task serves, for `LOG5[<id>]` and the
/// per-service threshold.
#[derive(Debug)]
pub struct ConnLog {
    id: String,
    /// The service's threshold; an SNI switch changes it mid-connection.
    level: std::cell::Cell<u8>,
}

impl ConnLog {
    pub fn new(id: String, level: u8) -> ConnLog {
        ConnLog {
            id,
            level: std::cell::Cell::new(level),
        }
    }
}

/// The connection moved to another service (SNI): use its log level.
pub fn set_conn_level(level: u8) {
    let _ = CONN.try_with(|c| c.level.set(level));
}

tokio::task_local! {
    static CONN: ConnLog;
}

/// Run `fut` with every log line tagged by `ctx`.
pub async fn scope<F: std::future::Future>(ctx: ConnLog, fut: F) -> F::Output {
    CONN.scope(ctx, fut).await
}

/// Where lines go before and after the configuration is active.
enum State {
    /// Start-up: everything kept, with its level, for replay or dump.
    Buffering(Vec<(u8, String)>),
    Active(Sinks),
}

static STATE: Mutex<State> = Mutex::new(State::Buffering(Vec::new()));
/// Threshold of lines written outside a connection (the global `debug`).
static GLOBAL_LEVEL: AtomicU8 = AtomicU8::new(NOTICE);
/// The id of lines written outside a connection: `ui`, or `main` once
/// daemonized (stunnel-reference §5.9.2).
static MAIN_ID: Mutex<&'static str> = Mutex::new("ui");

std::thread_local! {
    /// Set by [`quiet`]: lines of this thread are dropped.
    static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Run `f` with every line this thread logs dropped (the `-test` report's
/// trial handshakes must not look like connections).
pub fn quiet<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            QUIET.with(|q| q.set(self.0));
        }
    }
    let _restore = Restore(QUIET.with(|q| q.replace(true)));
    f()
}

/// Sinks are active (not buffering): lines above the threshold can be
/// dropped without taking the lock.
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// Whether a line at `level` would be written here (for lines whose
/// arguments cost something to compute).
pub fn enabled(level: u8) -> bool {
    if !ACTIVE.load(Ordering::Acquire) {
        return true;
    }
    let threshold = CONN
        .try_with(|c| c.level.get())
        .unwrap_or_else(|_| GLOBAL_LEVEL.load(Ordering::Relaxed));
    level <= threshold
}

/// Write one line; see the module doc for filtering. A line the threshold
/// drops costs two loads: no lock, no formatting (connections log many
/// debug lines that a production `debug = notice` never shows).
pub fn emit(level: u8, args: fmt::Arguments<'_>) {
    if QUIET.with(|q| q.get()) {
        return;
    }
    let conn_level = CONN.try_with(|c| c.level.get()).ok();
    if ACTIVE.load(Ordering::Acquire) {
        let threshold = conn_level.unwrap_or_else(|| GLOBAL_LEVEL.load(Ordering::Relaxed));
        if level > threshold {
            return;
        }
    }
    let text = sanitize(&args.to_string());
    let conn_id = CONN.try_with(|c| c.id.clone()).ok();
    let mut state = lock_state();
    match &mut *state {
        State::Buffering(lines) => lines.push((level, text)),
        State::Active(sinks) => {
            // Re-checked here: the sinks may have become active after the
            // fast check above.
            let threshold = conn_level.unwrap_or_else(|| GLOBAL_LEVEL.load(Ordering::Relaxed));
            if level <= threshold {
                let id = conn_id.unwrap_or_else(|| main_id().to_string());
                sinks.write(level, &id, &text);
            }
        }
    }
}

/// The log state, locked by this thread; [`LOCKED`] says so until the
/// guard drops (returns or unwinds).
struct Locked(std::sync::MutexGuard<'static, State>);

impl std::ops::Deref for Locked {
    type Target = State;
    fn deref(&self) -> &State {
        &self.0
    }
}

impl std::ops::DerefMut for Locked {
    fn deref_mut(&mut self) -> &mut State {
        &mut self.0
    }
}

impl Drop for Locked {
    fn drop(&mut self) {
        LOCKED.with(|l| l.set(false));
    }
}

fn lock_state() -> Locked {
    let guard = STATE.lock().unwrap_or_else(|p| p.into_inner());
    LOCKED.with(|l| l.set(true));
    Locked(guard)
}

fn main_id() -> &'static str {
    *MAIN_ID.lock().unwrap_or_else(|p| p.into_inner())
}

/// Called after `daemon()`: the main thread's id becomes `main`.
pub fn set_main_id(id: &'static str) {
    *MAIN_ID.lock().unwrap_or_else(|p| p.into_inner()) = id;
}

/// Switch from buffering to `sinks`, replaying buffered lines through the
/// global threshold. Called again on reload and log reopen to swap sinks.
pub fn activate(sinks: Sinks, global_level: u8) {
    GLOBAL_LEVEL.store(global_level, Ordering::Relaxed);
    let mut state = lock_state();
    let previous = std::mem::replace(&mut *state, State::Active(sinks));
    ACTIVE.store(true, Ordering::Release);
    if let (State::Buffering(lines), State::Active(sinks)) = (previous, &mut *state) {
        let id = main_id();
        for (level, text) in lines.iter().filter(|(l, _)| *l <= global_level) {
            sinks.write(*level, id, text);
        }
    }
}

/// Still at start-up (nothing activated yet)?
pub fn is_buffering() -> bool {
    matches!(&*lock_state(), State::Buffering(_))
}

/// Error mode: every buffered line, all levels, to stderr as `[c] text`.
pub fn dump_buffered() {
    let mut state = lock_state();
    if let State::Buffering(lines) = &mut *state {
        let mut err = std::io::stderr().lock();
        for (level, text) in lines.drain(..) {
            use std::io::Write;
            let _ = writeln!(err, "[{}] {}", level_char(level), text);
        }
    }
}

/// Information mode (`-version`, `-help`…): plain lines, no stamp, no level,
/// everything below debug.
pub fn print_buffered_plain() {
    let mut state = lock_state();
    if let State::Buffering(lines) = &mut *state {
        let mut err = std::io::stderr().lock();
        for (level, text) in lines.drain(..) {
            if level < DEBUG {
                use std::io::Write;
                let _ = writeln!(err, "{text}");
            }
        }
    }
}

/// Apply `f` to the active sinks (reopen on SIGUSR1, swap on reload).
pub fn with_sinks<R>(f: impl FnOnce(&mut Sinks) -> R) -> Option<R> {
    match &mut *lock_state() {
        State::Active(sinks) => Some(f(sinks)),
        State::Buffering(_) => None,
    }
}

/// stunnel's `safestring`: at most 1024 characters, trailing newlines
/// removed, control bytes below 0x80 shown as `.` (UTF-8 kept).
fn sanitize(text: &str) -> String {
    text.trim_end_matches(['\n', '\r'])
        .chars()
        .take(1024)
        .map(|c| {
            if (c as u32) < 0x80 && c.is_control() {
                '.'
            } else {
                c
            }
        })
        .collect()
}

/// Route records of other crates (`log::warn!` in a dependency) into our
/// lines, mapping `log` levels to stunnel's.
struct Bridge;

impl ::log::Log for Bridge {
    fn enabled(&self, _: &::log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &::log::Record<'_>) {
        let level = match record.level() {
            ::log::Level::Error => ERR,
            ::log::Level::Warn => WARNING,
            ::log::Level::Info => INFO,
            ::log::Level::Debug | ::log::Level::Trace => DEBUG,
        };
        emit(level, *record.args());
    }
    fn flush(&self) {}
}

/// Install the bridge as the process logger, and the panic hook (once;
/// later calls are no-ops).
pub fn install() {
    static BRIDGE: Bridge = Bridge;
    if ::log::set_logger(&BRIDGE).is_ok() {
        ::log::set_max_level(::log::LevelFilter::Debug);
        install_panic_hook();
    }
}

std::thread_local! {
    /// This thread holds the log lock ([`lock_state`]).
    static LOCKED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// A panic is a bug, and it ends only the task it hit (tokio catches it),
/// so nothing else would tell the operator: a daemon's stderr is
/// /dev/null. Log `INTERNAL ERROR: panic at FILE:LINE: MESSAGE` at err level
/// too, unless this thread holds the log lock (the panic came from inside
/// the logger, which would deadlock).
fn install_panic_hook() {
    let print = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        print(info);
        if LOCKED.with(|l| l.get()) {
            return;
        }
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let place = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        crate::slog!(ERR, "INTERNAL ERROR: panic at {place}: {message}");
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_is_logged_as_an_internal_error() {
        install();
        let _ = std::thread::spawn(|| panic!("boom for the log")).join();
        let state = lock_state();
        let State::Buffering(lines) = &*state else {
            panic!("unit tests never activate sinks");
        };
        assert!(
            lines.iter().any(|(level, text)| *level == ERR
                && text.starts_with("INTERNAL ERROR: panic at src/log/mod.rs:")
                && text.ends_with(": boom for the log")),
            "{lines:?}"
        );
    }

    #[test]
    fn sanitize_masks_control_bytes_and_keeps_utf8() {
        assert_eq!(sanitize("a\tb\x01ü\n"), "a.b.ü");
    }
}
