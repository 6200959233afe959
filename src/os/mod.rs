//! Process-level Unix work for the daemon (stunnel-reference §5.1, §5.2,
//! §5.14): descriptor limits, chroot, privilege drop, daemonizing, the pid
//! file, signals and socket options.
//!
//! Everything here is blocking std/nix/libc code meant to run on the main
//! thread in stunnel's start-up order (bind → chroot → setgid/setuid →
//! daemon → pid file), before the tokio runtime exists; only [`signals`]
//! needs a runtime. Nothing here parses configuration or opens sockets.

/// systemd socket activation: listening sockets passed in `LISTEN_FDS`.
pub mod activation;
/// `chroot` + `chdir("/")`.
pub mod chroot;
/// `daemon(0, 1)` with fds 0/1/2 on /dev/null; before any thread exists.
pub mod daemon;
/// stunnel's `strerror (errno)` texts.
pub mod errno;
/// Forking a `workers` process from the single-threaded supervisor.
pub mod fork;
/// RLIMIT_NOFILE and the client limit derived from it.
pub mod limits;
/// Returning freed memory after a burst of connections.
pub mod memory;
/// Name resolution: the one `getaddrinfo`, TCP service names, stunnel's texts.
pub mod net;
/// systemd's readiness, reload, stop and watchdog notifications.
pub mod notify;
/// The pid file, removed when dropped.
pub mod pidfile;
/// setgid + setgroups + setuid, all or nothing.
pub mod privileges;
/// SIGHUP/USR1/USR2/TERM/INT/QUIT as a stream of [`signals::Event`]s.
pub mod signals;
/// `socket = a|l|r:NAME=VALUE` applied with setsockopt.
pub mod sockopt;

pub use sockopt::apply_socket_options;
