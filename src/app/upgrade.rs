//! Binary upgrade without a gap (rstunnel extension): SIGURG asks the
//! running rstunnel to start the binary now at the path it was started from
//! (a package upgrade has replaced it), with the same arguments, handing it
//! every listening socket. The new process binds nothing it was given, logs
//! its `bound to` lines, and tells the old one through a pipe when it
//! accepts; only then does the old one close its copies of the sockets and
//! drain its live connections (for `TIMEOUTdrain`, or [`DRAIN`] without it),
//! then exit. The sockets never close, so no connection is refused; if the
//! new process fails to start or to load its configuration, the old one
//! logs why and keeps serving.
//!
//! Why SIGURG: stunnel's signals keep their meanings, and SIGURG's default
//! action is to ignore it (the kernel sends it only to a socket's owner,
//! which rstunnel never sets), so sending it to a stunnel or an older
//! rstunnel does nothing instead of killing it.
//!
//! Not possible after a `chroot` (the binary is outside the jail) or once
//! privileges were dropped with `setuid`/`setgid` (the new process could not
//! drop them again); rstunnel then refuses the upgrade and says so. The new
//! process writes the pid file; the old one leaves it in place.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use crate::config::model::Config;

/// How long the old process drains without `TIMEOUTdrain`.
pub const DRAIN: Duration = Duration::from_secs(60);
/// How long the new process may take to accept.
const READY_WITHIN: Duration = Duration::from_secs(60);
/// The variable naming the pipe the new process reports readiness on.
const READY_FD: &str = "RSTUNNEL_UPGRADE_READY";

/// The binary and arguments this process was started with.
static INVOCATION: OnceLock<(PathBuf, Vec<String>)> = OnceLock::new();

/// Remember how this process was started (before any chroot).
pub fn remember(args: &[String]) {
    if let Ok(exe) = std::env::current_exe() {
        let _ = INVOCATION.set((exe, args.get(1..).unwrap_or_default().to_vec()));
    }
}

/// Start the new process with `listening` sockets and wait until it
/// accepts; its pid, or why not (the old process goes on serving).
pub async fn start(config: &Config, listening: Vec<RawFd>) -> Result<u32, String> {
    let global = &config.global;
    if global.chroot.is_some() {
        return Err("not possible after chroot".into());
    }
    if global.setuid.is_some() || global.setgid.is_some() {
        return Err("not possible once setuid/setgid dropped privileges".into());
    }
    let (exe, mut args) = INVOCATION
        .get()
        .cloned()
        .ok_or("the binary's path is unknown")?;
    // The configuration file as resolved at start: a relative name would
    // not be found from `/`, where `foreground = no` runs.
    if let Some(file) = args.last_mut().filter(|a| !a.starts_with('-')) {
        if std::path::Path::new(&config.origin).is_absolute() {
            *file = config.origin.clone();
        }
    }
    let (ready_read, ready_write) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| e.desc().to_string())?;
    let list: Vec<String> = listening.iter().map(RawFd::to_string).collect();
    let write_fd = ready_write.as_raw_fd();
    let mut inherit = listening.clone();
    inherit.push(write_fd);
    let mut command = Command::new(&exe);
    command
        .args(&args)
        .env(crate::os::activation::UPGRADE_FDS, list.join(","))
        .env(READY_FD, write_fd.to_string());
    // SAFETY: only fcntl(2), async-signal-safe, between fork and exec: the
    // sockets and the pipe's write end stay open across exec.
    unsafe {
        command.pre_exec(move || {
            for fd in &inherit {
                if libc::fcntl(*fd, libc::F_SETFD, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
    drop(ready_write);
    let pid = child.id();
    let ready = tokio::task::spawn_blocking(move || wait_ready(&ready_read))
        .await
        .map_err(|e| e.to_string())?;
    match ready {
        Ok(()) => Ok(pid),
        Err(why) => {
            // A new process that hangs must not keep the sockets; one that
            // exited is reaped.
            let _ = child.kill();
            let _ = child.wait();
            Err(why)
        }
    }
}

/// Block until the new process writes its byte (ready), closes the pipe
/// (it exited first) or [`READY_WITHIN`] passes.
fn wait_ready(pipe: &OwnedFd) -> Result<(), String> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let mut fds = [PollFd::new(
        std::os::fd::AsFd::as_fd(pipe),
        PollFlags::POLLIN,
    )];
    let timeout = PollTimeout::try_from(READY_WITHIN).unwrap_or(PollTimeout::MAX);
    match poll(&mut fds, timeout) {
        Ok(0) => return Err("the new process was not ready in time".into()),
        Ok(_) => {}
        Err(e) => return Err(e.desc().to_string()),
    }
    let mut byte = [0u8; 1];
    match nix::unistd::read(pipe.as_raw_fd(), &mut byte) {
        Ok(1) => Ok(()),
        _ => Err("the new process exited before it accepted".into()),
    }
}

/// The new process's end of the readiness pipe, taken at start-up.
static READY_PIPE: std::sync::Mutex<Option<OwnedFd>> = std::sync::Mutex::new(None);

/// In the new process, at start-up: take the readiness pipe (so programs
/// started by `exec` do not inherit it). Nothing when this process was not
/// started by an upgrade.
pub fn adopt_ready_pipe() {
    let pipe = crate::os::activation::inherited(READY_FD).pop();
    *READY_PIPE.lock().unwrap_or_else(|p| p.into_inner()) = pipe;
}

/// In the new process, once it accepts: tell the old one (once).
pub fn report_ready() {
    if let Some(pipe) = READY_PIPE.lock().unwrap_or_else(|p| p.into_inner()).take() {
        let _ = nix::unistd::write(&pipe, b"1");
    }
}
