//! Reaping `exec` children without blocking the runtime: a task woken by
//! SIGCHLD polls `waitpid(pid, WNOHANG)` for the children *we* started
//! (stunnel's `client_status`, run by its main thread on SIGCHLD), and
//! logs `Child process N finished with code C` or `Child process N
//! terminated on SIGNAME` (info) with the main thread's log id.
//!
//! Only pids registered here are waited for, so other code that spawns and
//! waits for its own processes is not disturbed.

use std::io;
use std::sync::Mutex;

use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::log::INFO;

/// Children not reaped yet. Held across `fork()` so the reaper cannot scan
/// the list between the fork and the registration of a child that exits at
/// once (a failed `execve`).
static CHILDREN: Mutex<Vec<libc::pid_t>> = Mutex::new(Vec::new());
/// Whether the SIGCHLD task runs (one per process: the daemon has one
/// runtime for its whole life).
static STARTED: Mutex<bool> = Mutex::new(false);

/// Start the SIGCHLD task if needed. Must run inside the runtime, before the
/// first fork (a SIGCHLD before the handler exists would be lost).
pub fn ensure() -> io::Result<()> {
    let mut started = STARTED.lock().unwrap_or_else(|p| p.into_inner());
    if *started {
        return Ok(());
    }
    let mut sigchld = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::child())?;
    // Spawned tasks do not inherit the connection's log scope: these lines
    // carry the main id, as stunnel's main thread logs them.
    tokio::spawn(async move {
        while sigchld.recv().await.is_some() {
            reap();
        }
    });
    *started = true;
    Ok(())
}

/// Fork; the child runs `child` (which must only make async-signal-safe
/// calls; should it return, the child `_exit(1)`s), the parent gets the
/// pid, already registered.
///
/// # Safety
/// The process may have other threads: `child` must not allocate, lock or
/// touch anything but raw system calls before `execve`/`_exit`.
pub unsafe fn fork_tracked(child: impl FnOnce()) -> io::Result<libc::pid_t> {
    let mut children = CHILDREN.lock().unwrap_or_else(|p| p.into_inner());
    match libc::fork() {
        -1 => Err(io::Error::last_os_error()),
        0 => {
            child();
            libc::_exit(1)
        }
        pid => {
            children.push(pid);
            Ok(pid)
        }
    }
}

/// Collect every registered child that has ended.
fn reap() {
    let mut children = CHILDREN.lock().unwrap_or_else(|p| p.into_inner());
    children.retain(
        |&pid| match waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, code)) => {
                crate::slog!(INFO, "Child process {pid} finished with code {code}");
                false
            }
            Ok(WaitStatus::Signaled(_, sig, _)) => {
                crate::slog!(INFO, "Child process {pid} terminated on {}", sig.as_str());
                false
            }
            // Still running, stopped or continued: keep waiting.
            Ok(_) => true,
            // Not our child any more (someone else reaped it): forget it.
            Err(nix::errno::Errno::ECHILD) => false,
            Err(_) => true,
        },
    );
}
