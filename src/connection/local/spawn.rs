//! Start the `exec` program on one end of a socket pair or a pty (stunnel's
//! `connect_local`): fork, connect stdin/stdout (and stderr unless the
//! daemon runs in the foreground) to the child's end, reset the signal
//! mask and dispositions, `execve` with the daemon's environment plus
//! `REMOTE_HOST`, `REMOTE_PORT`, `SSL_CLIENT_DN`, `SSL_CLIENT_I_DN`.
//! An `execve` failure is silent: the child exits with status 1, which the
//! reaper reports like any other exit.

use std::ffi::{CString, OsStr};
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;

use super::{pty, reaper};
use crate::config::model::Exec;
use crate::connection::Kind;
use crate::log::{DEBUG, INFO};

/// What the program learns about the connection through its environment.
#[derive(Debug, Default, Clone)]
pub struct ExecEnv {
    /// The client's address (`REMOTE_HOST`, `REMOTE_PORT`); `None` when the
    /// local side is not a socket.
    pub peer: Option<SocketAddr>,
    /// Subject and issuer of the peer certificate in stunnel's one-line
    /// form (`SSL_CLIENT_DN`, `SSL_CLIENT_I_DN`); server mode, after the
    /// handshake, when the client sent a certificate.
    pub client_dn: Option<(String, String)>,
}

/// Spawn `exec`; returns our end of the pair as a connection stream kind.
/// Must run inside the runtime.
pub fn spawn(exec: &Exec, env: &ExecEnv) -> io::Result<Kind> {
    reaper::ensure()?;
    let program = cstring(exec.program.as_os_str())?;
    let argv = exec
        .args
        .iter()
        .map(|a| cstring(OsStr::new(a)))
        .collect::<io::Result<Vec<_>>>()?;
    let envp = environment(env);
    let (ours, theirs) = if exec.pty {
        let (master, slave) = pty::open()?;
        (Kind::Pty(master), slave)
    } else {
        let (ours, theirs) = tcp_pair()?;
        ours.set_nonblocking(true)?;
        let ours = tokio::net::TcpStream::from_std(ours)?;
        (Kind::Tcp(ours), OwnedFd::from(theirs))
    };
    let argv_ptrs = null_terminated(&argv);
    let envp_ptrs = null_terminated(&envp);
    let fd = theirs.as_raw_fd();
    let stderr = !exec.keep_stderr;
    // SAFETY: everything the child touches (the descriptor, the C strings
    // and pointer arrays) was prepared above; `exec_child` only makes
    // async-signal-safe calls.
    let pid = unsafe {
        reaper::fork_tracked(|| {
            exec_child(fd, stderr, &program, argv_ptrs.as_ptr(), envp_ptrs.as_ptr())
        })
    }?;
    crate::slog!(INFO, "Local mode child started (PID={pid})");
    // The child has its own copy; ours must go so EOF reaches the parent
    // when the program exits.
    drop(theirs);
    Ok(ours)
}

/// In the child: stdio onto `fd`, default signal state, execve, `_exit(1)`.
unsafe fn exec_child(
    fd: RawFd,
    stderr: bool,
    program: &CString,
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
) {
    // stunnel: children get an empty signal mask and default dispositions
    // (ignored signals such as SIGPIPE would otherwise survive execve).
    let mut set: libc::sigset_t = std::mem::zeroed();
    libc::sigemptyset(&mut set);
    libc::pthread_sigmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    for sig in 1..32 {
        if sig != libc::SIGKILL && sig != libc::SIGSTOP {
            libc::signal(sig, libc::SIG_DFL);
        }
    }
    onto(fd, 0);
    onto(fd, 1);
    if stderr {
        onto(fd, 2);
    }
    libc::execve(program.as_ptr(), argv, envp);
}

/// `dup2(fd, target)`, which clears close-on-exec on the copy; when `fd`
/// already is `target`, clear the flag by hand.
unsafe fn onto(fd: RawFd, target: RawFd) {
    if fd == target {
        libc::fcntl(fd, libc::F_SETFD, 0);
    } else {
        libc::dup2(fd, target);
    }
}

/// Two connected TCP sockets on 127.0.0.1 (stunnel's `make_sockets`).
/// Connections from other local processes racing into the temporary
/// listener are dropped: only our own connecting socket is accepted.
fn tcp_pair() -> io::Result<(std::net::TcpStream, std::net::TcpStream)> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    let ours = std::net::TcpStream::connect(listener.local_addr()?)?;
    let expected = ours.local_addr()?;
    // Our connect has completed, so our connection is already queued:
    // these accepts do not wait.
    for _ in 0..16 {
        let (theirs, from) = listener.accept()?;
        if from == expected {
            return Ok((ours, theirs));
        }
    }
    Err(io::Error::other(
        "make_sockets: too many foreign connections",
    ))
}

/// The daemon's environment plus the connection's variables (which
/// replace inherited ones of the same name, as stunnel's `putenv`).
fn environment(env: &ExecEnv) -> Vec<CString> {
    let mut extra: Vec<(&str, String)> = Vec::new();
    if let Some(peer) = env.peer {
        // getnameinfo(NI_NUMERICHOST): IPv6 without brackets.
        extra.push(("REMOTE_HOST", peer.ip().to_string()));
        extra.push(("REMOTE_PORT", peer.port().to_string()));
    }
    if let Some((subject, issuer)) = &env.client_dn {
        extra.push(("SSL_CLIENT_DN", subject.clone()));
        extra.push(("SSL_CLIENT_I_DN", issuer.clone()));
    }
    let mut out: Vec<CString> = std::env::vars_os()
        .filter(|(k, _)| !extra.iter().any(|(name, _)| OsStr::new(name) == k))
        .filter_map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv).ok()
        })
        .collect();
    for (name, value) in extra {
        match CString::new(format!("{name}={value}")) {
            Ok(c) => out.push(c),
            Err(_) => crate::slog!(DEBUG, "{name} not set: the value contains NUL"),
        }
    }
    out
}

fn cstring(s: &OsStr) -> io::Result<CString> {
    CString::new(s.as_bytes()).map_err(|_| io::Error::other("NUL byte in exec or execArgs"))
}

fn null_terminated(strings: &[CString]) -> Vec<*const libc::c_char> {
    strings
        .iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}
