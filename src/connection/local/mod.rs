//! `exec`: a local program as one end of a connection (stunnel-reference
//! §5.6).
//!
//! * `accept` + `exec` (and inetd mode with `exec`): the program is the
//!   *remote* side, spawned where a `connect` would happen — after the TLS
//!   handshake in server mode, before it in client mode (`flow.rs`).
//! * `exec` + `connect` without `accept` ("exec+connect"): the program is the
//!   *local* side, started once when the daemon starts and again after each
//!   run with `retry = yes` ([`exec_connect`]).
//!
//! The program talks over one end of a TCP loopback socket pair on
//! 127.0.0.1 (stunnel's `make_sockets`, not a Unix socketpair) or, with
//! `pty = yes`, over a pseudo-terminal ([`pty`]). Children are reaped by a
//! SIGCHLD-driven task ([`reaper`]), never by a blocking wait.
//!
//! Not here: `transparent = source` with `exec` (stunnel preloads its
//! `libstunnel.so`, which rstunnel does not ship; the configuration refuses
//! the combination).

pub mod exec_connect;
pub mod pty;
mod reaper;
mod spawn;

use crate::config::model::Service;
pub use spawn::{spawn, ExecEnv};

/// exec+connect: `exec` and `connect`, no `accept` (the program is local).
pub fn is_exec_connect(service: &Service) -> bool {
    service.accept.is_empty() && service.exec.is_some() && !service.connect.is_empty()
}

/// The program replaces `connect` as the remote side: `exec` without any
/// `connect` (with `accept`, or alone in inetd mode).
pub fn is_exec_remote(service: &Service) -> bool {
    service.exec.is_some() && service.connect.is_empty()
}
