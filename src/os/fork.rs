//! Forking a `workers` process from the single-threaded supervisor.
//!
//! The supervisor never runs a tokio runtime, so it may fork at any time:
//! the child gets a copy of a one-thread process with no lock held. The
//! child ends with the supervisor (`PR_SET_PDEATHSIG`), so a supervisor
//! killed with SIGKILL leaves no orphan workers serving its sockets.

use std::io;

use nix::sys::signal::{SigSet, Signal};
use nix::unistd::{ForkResult, Pid};

/// Which side of the fork this is.
pub enum Forked {
    /// The new worker.
    Child,
    /// The supervisor, with the worker's pid.
    Parent(Pid),
}

/// Fork a worker. Refused in a process with more than one thread.
pub fn fork_worker() -> io::Result<Forked> {
    let threads = super::daemon::thread_count()?;
    if threads != 1 {
        return Err(io::Error::other(format!(
            "fork: refusing to fork a process with {threads} threads"
        )));
    }
    let supervisor = nix::unistd::getpid();
    // SAFETY: single-threaded (checked above), so the child's copy of the
    // process has no lock held by a thread that no longer exists.
    match unsafe { nix::unistd::fork() }? {
        ForkResult::Parent { child } => Ok(Forked::Parent(child)),
        ForkResult::Child => {
            end_with(supervisor)?;
            // The supervisor waits for SIGCHLD synchronously; a worker
            // reaps its `exec` children through a handler, so it must
            // receive the signal.
            SigSet::from(Signal::SIGCHLD).thread_unblock()?;
            Ok(Forked::Child)
        }
    }
}

/// SIGTERM when the supervisor dies; if it died before this call, now.
fn end_with(supervisor: Pid) -> io::Result<()> {
    // SAFETY: prctl(PR_SET_PDEATHSIG) only sets a flag of this process.
    if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) } == -1 {
        return Err(io::Error::last_os_error());
    }
    if nix::unistd::getppid() != supervisor {
        nix::sys::signal::raise(Signal::SIGTERM)?;
    }
    Ok(())
}
