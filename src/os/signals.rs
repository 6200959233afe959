//! Signals of the daemon (stunnel-reference §5.2) as a stream of events.
//!
//! | signal | event |
//! |---|---|
//! | SIGHUP | [`Event::Reload`] |
//! | SIGUSR1 | [`Event::ReopenLog`] |
//! | SIGUSR2 | [`Event::ListConnections`] |
//! | SIGTERM, SIGINT, SIGQUIT | [`Event::Terminate`] |
//! | SIGURG | [`Event::Upgrade`] (rstunnel extension) |
//!
//! stunnel installs the TERM/INT/QUIT handlers only if the signal was not
//! already ignored when it started: a daemon started with `&` from a
//! non-interactive shell inherits SIG_IGN for INT and QUIT and keeps
//! ignoring them. [`events`] therefore looks at the current dispositions
//! with `sigaction` before tokio installs anything; it must be the first
//! code to touch those signals. SIGPIPE is ignored (writes to a closed
//! socket are errors, not deaths). This module does not act on the events:
//! the supervisor does, and logs [`termination_line`]. [`hold`] keeps the
//! signals waiting from binding until the handlers exist.

use std::future::poll_fn;
use std::io;
use std::task::Poll;

pub use nix::sys::signal::Signal;
use tokio::signal::unix::{signal, SignalKind};

/// What the daemon is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// SIGHUP: re-read the configuration.
    Reload,
    /// SIGUSR1: close and reopen the `output` file.
    ReopenLog,
    /// SIGUSR2: log the active connections.
    ListConnections,
    /// SIGTERM/SIGINT/SIGQUIT: stop.
    Terminate(Signal),
    /// SIGURG: hand the sockets to a new process of the binary, then stop.
    Upgrade,
}

/// The handled signals, in the order they are polled.
const HANDLED: [(Signal, Event); 7] = [
    (Signal::SIGTERM, Event::Terminate(Signal::SIGTERM)),
    (Signal::SIGINT, Event::Terminate(Signal::SIGINT)),
    (Signal::SIGQUIT, Event::Terminate(Signal::SIGQUIT)),
    (Signal::SIGHUP, Event::Reload),
    (Signal::SIGUSR1, Event::ReopenLog),
    (Signal::SIGUSR2, Event::ListConnections),
    (Signal::SIGURG, Event::Upgrade),
];

/// The receiving end of the installed handlers.
pub struct Signals {
    /// One tokio listener per installed signal.
    streams: Vec<(tokio::signal::unix::Signal, Event)>,
}

impl Signals {
    /// The next signal; never returns `None` while listeners are installed.
    pub async fn recv(&mut self) -> Option<Event> {
        if self.streams.is_empty() {
            return None;
        }
        poll_fn(|cx| {
            for (stream, event) in &mut self.streams {
                if let Poll::Ready(Some(())) = stream.poll_recv(cx) {
                    return Poll::Ready(Some(*event));
                }
            }
            Poll::Pending
        })
        .await
    }

    /// The signals that got a handler (TERM/INT/QUIT may be missing).
    pub fn installed(&self) -> Vec<Event> {
        self.streams.iter().map(|(_, e)| *e).collect()
    }
}

/// Install the handlers and return their stream. Needs a tokio runtime
/// with I/O enabled. Call once, before anything else handles signals.
pub fn events() -> io::Result<Signals> {
    ignore_sigpipe()?;
    let mut streams = Vec::with_capacity(HANDLED.len());
    for (sig, event) in HANDLED {
        let terminating = matches!(event, Event::Terminate(_));
        if terminating && ignored_at_start(sig)? {
            continue;
        }
        streams.push((signal(SignalKind::from_raw(sig as i32))?, event));
    }
    Ok(Signals { streams })
}

/// The handled signals, blocked on this thread (and so on every thread it
/// starts) until [`Held::release`]. Between binding and [`events`] a
/// SIGHUP or SIGTERM would otherwise take its default action and end the
/// daemon; held, it waits and reaches the handler. Threads started
/// meanwhile (tokio's workers) keep them blocked, as stunnel's worker
/// threads do; children get an empty mask before exec.
#[must_use = "release the signals once the handlers are installed"]
pub struct Held(nix::sys::signal::SigSet);

/// Block the handled signals on the calling thread; see [`Held`].
pub fn hold() -> io::Result<Held> {
    let mut set = nix::sys::signal::SigSet::empty();
    for (sig, _) in HANDLED {
        set.add(sig);
    }
    set.thread_block()?;
    Ok(Held(set))
}

impl Held {
    /// Unblock them on the calling thread: what came meanwhile is delivered.
    pub fn release(self) -> io::Result<()> {
        Ok(self.0.thread_unblock()?)
    }
}

/// The signals a process without a runtime (the `workers` supervisor)
/// takes synchronously: the handled ones plus SIGCHLD, blocked on its one
/// thread and fetched with [`Waiter::next`].
pub struct Waiter(nix::sys::signal::SigSet);

impl Waiter {
    /// Block the handled signals and SIGCHLD. A terminating signal that
    /// was ignored at start stays out of the set, so it stays ignored.
    pub fn new() -> io::Result<Waiter> {
        let mut set = nix::sys::signal::SigSet::from(Signal::SIGCHLD);
        for (sig, event) in HANDLED {
            if matches!(event, Event::Terminate(_)) && ignored_at_start(sig)? {
                continue;
            }
            set.add(sig);
        }
        set.thread_block()?;
        Ok(Waiter(set))
    }

    /// The next signal, or `None` when `timeout` passed first (or the
    /// wait was interrupted).
    pub fn next(&self, timeout: std::time::Duration) -> Option<Signal> {
        let limit = libc::timespec {
            tv_sec: timeout.as_secs().try_into().unwrap_or(libc::time_t::MAX),
            tv_nsec: timeout.subsec_nanos().into(),
        };
        // SAFETY: sigtimedwait reads the set and the timeout and writes
        // nothing back (no siginfo asked for).
        let sig = unsafe { libc::sigtimedwait(self.0.as_ref(), std::ptr::null_mut(), &limit) };
        Signal::try_from(sig).ok()
    }

    /// The event a handled signal stands for (`None` for SIGCHLD).
    pub fn event(sig: Signal) -> Option<Event> {
        HANDLED.iter().find(|(s, _)| *s == sig).map(|(_, e)| *e)
    }
}

/// Whether `sig` is currently set to SIG_IGN (queried without changing it).
pub fn ignored_at_start(sig: Signal) -> io::Result<bool> {
    // SAFETY: a null `act` only reads the current disposition into `old`.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    if unsafe { libc::sigaction(sig as i32, std::ptr::null(), &mut old) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(old.sa_sigaction == libc::SIG_IGN)
}

fn ignore_sigpipe() -> io::Result<()> {
    // SAFETY: installing SIG_IGN has no handler code to be unsafe in.
    unsafe { nix::sys::signal::signal(Signal::SIGPIPE, nix::sys::signal::SigHandler::SigIgn) }
        .map(|_| ())
        .map_err(io::Error::from)
}

/// stunnel's line for a terminating signal: `Terminated` (notice) for
/// SIGTERM, `Received SIGINT; terminating` (err) for the others.
pub fn termination_line(sig: Signal) -> (u8, String) {
    match sig {
        Signal::SIGTERM => (crate::log::NOTICE, "Terminated".into()),
        other => (
            crate::log::ERR,
            format!("Received {}; terminating", other.as_str()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn termination_lines_match_stunnel() {
        assert_eq!(
            termination_line(Signal::SIGTERM),
            (crate::log::NOTICE, "Terminated".into())
        );
        assert_eq!(
            termination_line(Signal::SIGQUIT),
            (crate::log::ERR, "Received SIGQUIT; terminating".into())
        );
    }

    /// Raising signals hits the whole test process, so the real check runs
    /// in a child copy of this binary started with SIGINT ignored.
    #[test]
    fn inherited_ignored_sigint_stays_ignored_and_others_arrive() {
        const CHILD: &str = "RSTUNNEL_SIGNALS_CHILD";
        if std::env::var_os(CHILD).is_some() {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                assert!(ignored_at_start(Signal::SIGINT).unwrap());
                let mut signals = events().unwrap();
                let installed = signals.installed();
                assert!(!installed.contains(&Event::Terminate(Signal::SIGINT)));
                assert!(installed.contains(&Event::Terminate(Signal::SIGQUIT)));
                // The ignored SIGINT must neither kill us nor show up.
                nix::sys::signal::raise(Signal::SIGINT).unwrap();
                nix::sys::signal::raise(Signal::SIGUSR1).unwrap();
                assert_eq!(signals.recv().await, Some(Event::ReopenLog));
                nix::sys::signal::raise(Signal::SIGHUP).unwrap();
                assert_eq!(signals.recv().await, Some(Event::Reload));
                nix::sys::signal::raise(Signal::SIGQUIT).unwrap();
                assert_eq!(
                    signals.recv().await,
                    Some(Event::Terminate(Signal::SIGQUIT))
                );
                assert!(ignored_at_start(Signal::SIGPIPE).unwrap());
            });
            return;
        }
        use std::os::unix::process::CommandExt;
        let mut child = std::process::Command::new(std::env::current_exe().unwrap());
        child
            .args([
                "--exact",
                "os::signals::tests::inherited_ignored_sigint_stays_ignored_and_others_arrive",
            ])
            .env(CHILD, "1")
            .stdout(std::process::Stdio::piped());
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            child.pre_exec(|| {
                libc::signal(libc::SIGINT, libc::SIG_IGN);
                Ok(())
            });
        }
        let output = child.output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "child: {stdout}");
        assert!(
            stdout.contains("1 passed"),
            "the child ran no test: {stdout}"
        );
    }
}
