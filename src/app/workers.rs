//! `workers = N` (rstunnel extension): N processes serve every `accept`
//! address, supervised by the first.
//!
//! The first process binds each TCP address N times with `SO_REUSEPORT`
//! (while still privileged), so the kernel spreads new connections over N
//! sockets, and forks one worker per set. A worker runs exactly what a
//! single rstunnel runs (its own runtime, reloads, drain). The supervisor
//! keeps every set open and never starts a runtime: it stays one thread,
//! so it can fork a replacement at any time, and a restarted worker finds
//! the connections queued on its socket while it was down.
//!
//! | to the supervisor | effect |
//! |---|---|
//! | SIGHUP | forwarded: each worker reloads; a worker started later reloads at once |
//! | SIGUSR1 | the supervisor reopens its log, then forwards it |
//! | SIGUSR2 | forwarded: each worker lists its connections |
//! | SIGTERM, SIGINT, SIGQUIT | stunnel's line, SIGTERM to every worker, exit 0 once all are gone |
//! | SIGURG | refused with an error line: a binary upgrade needs one process |
//! | a worker exits | logged; restarted (after a second if it lived less than one) |

use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::log::{Logged, ERR, INFO, NOTICE};
use crate::os::fork::{fork_worker, Forked};
use crate::os::signals::{Event, Waiter};
use crate::service::bind::{self, BoundService};

use super::process::Process;

/// A worker that died this soon after its start waits before the next try.
const QUICK_DEATH: Duration = Duration::from_secs(1);

/// The listening sockets of this process, or of each worker.
pub(super) enum Sockets {
    One(Vec<BoundService>),
    PerWorker(Vec<Vec<BoundService>>),
}

/// With `workers` above 1, a set of sockets for every other worker besides
/// `first`.
pub(super) fn bind_the_others(first: Vec<BoundService>, workers: u32) -> Result<Sockets, Logged> {
    if workers <= 1 {
        return Ok(Sockets::One(first));
    }
    let mut sets = Vec::with_capacity(workers as usize);
    for _ in 1..workers {
        let mut set = Vec::with_capacity(first.len());
        for (ctx, bound) in &first {
            let own = bind::for_another_worker(&ctx.service, bound)
                .map_err(|e| super::fatal("listen", e))?;
            set.push((ctx.clone(), own));
        }
        sets.push(set);
    }
    sets.insert(0, first);
    Ok(Sockets::PerWorker(sets))
}

/// One worker's place: its sockets (kept open here) and its process.
struct Slot {
    sockets: Vec<BoundService>,
    pid: Option<Pid>,
    started: Instant,
    /// When a worker that died young is due to be started again.
    restart_at: Option<Instant>,
}

/// The supervisor: write the pid file, fork the workers, pass signals on,
/// restart workers that die; returns once a terminating signal stopped
/// them all.
pub(super) fn supervise(process: &Process, sets: Vec<Vec<BoundService>>) -> Result<(), Logged> {
    let waiter = Waiter::new().map_err(|e| super::fatal("signals", e))?;
    let _pid = super::process::pid_file(process.pid_path())?;
    let mut slots: Vec<Slot> = sets
        .into_iter()
        .map(|sockets| Slot {
            sockets,
            pid: None,
            started: Instant::now(),
            restart_at: None,
        })
        .collect();
    crate::slog!(INFO, "Starting {} workers", slots.len());
    let mut reloaded = false;
    for index in 0..slots.len() {
        start(process, &mut slots, index, reloaded)?;
    }
    crate::os::notify::ready(&format!("{} workers", slots.len()));
    loop {
        let due = slots.iter().filter_map(|s| s.restart_at).min();
        let wait = due.map_or(Duration::from_secs(3600), |at| {
            at.saturating_duration_since(Instant::now())
        });
        match waiter.next(wait) {
            None => {}
            Some(Signal::SIGCHLD) => reap(&mut slots),
            Some(sig) => match Waiter::event(sig) {
                Some(Event::Reload) => {
                    reloaded = true;
                    forward(&slots, Signal::SIGHUP);
                }
                Some(Event::ReopenLog) => {
                    super::logs::reopen();
                    forward(&slots, Signal::SIGUSR1);
                }
                Some(Event::ListConnections) => forward(&slots, Signal::SIGUSR2),
                Some(Event::Upgrade) => crate::slog!(
                    ERR,
                    "Upgrade: not available with workers; restart the service instead"
                ),
                Some(Event::Terminate(sig)) => {
                    let (level, line) = crate::os::signals::termination_line(sig);
                    crate::slog!(level, "{line}");
                    crate::os::notify::stopping("stopping workers");
                    return stop_all(&waiter, &mut slots);
                }
                None => {}
            },
        }
        let now = Instant::now();
        for index in 0..slots.len() {
            if slots[index].restart_at.is_some_and(|at| at <= now)
                && start(process, &mut slots, index, reloaded).is_err()
            {
                // Logged; a fork that fails now (EAGAIN) may work later,
                // and the other workers go on serving meanwhile.
                slots[index].restart_at = Some(now + QUICK_DEATH);
            }
        }
    }
}

/// Fork the worker of `slots[index]`. In the child this never returns:
/// the worker serves its sockets and exits.
fn start(
    process: &Process,
    slots: &mut [Slot],
    index: usize,
    reloaded: bool,
) -> Result<(), Logged> {
    match fork_worker().map_err(|e| super::fatal("fork", e))? {
        Forked::Parent(pid) => {
            let slot = &mut slots[index];
            slot.pid = Some(pid);
            slot.started = Instant::now();
            slot.restart_at = None;
            crate::slog!(INFO, "Worker {} started (PID={pid})", index + 1);
            Ok(())
        }
        Forked::Child => {
            let sockets = std::mem::take(&mut slots[index].sockets);
            // The other workers' sockets are theirs to accept on.
            for slot in slots.iter_mut() {
                slot.sockets.clear();
            }
            std::process::exit(match run_worker(process, sockets, reloaded) {
                Ok(()) => 0,
                Err(Logged) => 1,
            })
        }
    }
}

/// A worker: what a single rstunnel runs, without a pid file of its own.
fn run_worker(process: &Process, sockets: Vec<BoundService>, reloaded: bool) -> Result<(), Logged> {
    // The supervisor tells systemd; a worker's notifications would be
    // refused (NotifyAccess=main) or, worse, mistaken for the service's.
    std::env::remove_var("NOTIFY_SOCKET");
    let held = crate::os::signals::hold().map_err(|e| super::fatal("signals", e))?;
    if reloaded {
        // The configuration may have changed since the supervisor started:
        // a reload before the first connection (delivered once the handler
        // exists) picks it up, as the other workers did.
        nix::sys::signal::raise(Signal::SIGHUP).map_err(|e| super::fatal("signals", e.into()))?;
    }
    process.serve(sockets, None, held, None)
}

/// Collect every worker that exited; schedule its restart.
fn reap(slots: &mut [Slot]) {
    while let Ok(status) = waitpid(None, Some(WaitPidFlag::WNOHANG)) {
        let (pid, how) = match status {
            WaitStatus::Exited(pid, code) => (pid, format!("exited with status {code}")),
            WaitStatus::Signaled(pid, sig, _) => (pid, format!("terminated on {}", sig.as_str())),
            WaitStatus::StillAlive => return,
            _ => continue,
        };
        let Some(index) = slots.iter().position(|s| s.pid == Some(pid)) else {
            continue;
        };
        let slot = &mut slots[index];
        slot.pid = None;
        let young = slot.started.elapsed() < QUICK_DEATH;
        let delay = if young { QUICK_DEATH } else { Duration::ZERO };
        slot.restart_at = Some(Instant::now() + delay);
        crate::slog!(
            NOTICE,
            "Worker {} (PID={pid}) {how}; restarting it{}",
            index + 1,
            if young { " in 1 s" } else { "" }
        );
    }
}

fn forward(slots: &[Slot], sig: Signal) {
    for pid in slots.iter().filter_map(|s| s.pid) {
        let _ = kill(pid, sig);
    }
}

/// SIGTERM to every worker, then wait until all are gone; another
/// terminating signal is passed on too (a worker's second one ends its
/// drain).
fn stop_all(waiter: &Waiter, slots: &mut [Slot]) -> Result<(), Logged> {
    for slot in slots.iter_mut() {
        slot.restart_at = None;
    }
    forward(slots, Signal::SIGTERM);
    while slots.iter().any(|s| s.pid.is_some()) {
        match waiter.next(Duration::from_secs(1)) {
            Some(Signal::SIGCHLD) | None => collect(slots),
            Some(sig) if matches!(Waiter::event(sig), Some(Event::Terminate(_))) => {
                forward(slots, Signal::SIGTERM)
            }
            Some(_) => {}
        }
    }
    crate::slog!(INFO, "All workers stopped");
    Ok(())
}

/// Reap exited workers without restarting them.
fn collect(slots: &mut [Slot]) {
    while let Ok(status) = waitpid(None, Some(WaitPidFlag::WNOHANG)) {
        let pid = match status {
            WaitStatus::Exited(pid, _) | WaitStatus::Signaled(pid, _, _) => pid,
            WaitStatus::StillAlive => return,
            _ => continue,
        };
        for slot in slots.iter_mut().filter(|s| s.pid == Some(pid)) {
            slot.pid = None;
        }
    }
}
