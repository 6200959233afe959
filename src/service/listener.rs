//! The accept loop of one bound address. It only accepts: handshakes,
//! connects and negotiation run in the spawned connection task, so a slow or
//! hostile client never delays the next accept (style.md habit 5).

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, UnixListener};
use tokio::sync::watch;

use crate::connection::{self, Kind, ServiceCtx};
use crate::log::{ERR, NOTICE, WARNING};

/// stunnel's connection ids: one counter for all services, never reset,
/// continuing across reloads (stunnel-reference §5.9.2).
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// The next connection id (also taken by each exec+connect section).
pub fn next_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// A listening socket registered with tokio.
pub enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

impl Listener {
    pub(super) async fn accept(&self) -> io::Result<Kind> {
        match self {
            Listener::Tcp(l) => l.accept().await.map(|(s, _)| Kind::Tcp(s)),
            Listener::Unix(l) => l.accept().await.map(|(s, _)| Kind::Unix(s)),
        }
    }
}

/// Accept forever; each connection runs with the service context current at
/// accept time (`ctx` is swapped on reload, live connections keep theirs).
/// `clients` is the process-wide client limit.
pub async fn accept_loop(
    listener: Listener,
    ctx: watch::Receiver<Arc<ServiceCtx>>,
    clients: super::ClientLimit,
) {
    loop {
        let stream = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                backoff(&e).await;
                continue;
            }
        };
        let Some(permit) = clients.admit() else {
            ctx.borrow().metrics.refused.fetch_add(1, Ordering::Relaxed);
            let limit = clients.limit();
            crate::slog!(WARNING, "Connection rejected: too many clients (>={limit})");
            continue;
        };
        let ctx = ctx.borrow().clone();
        log_accept(&ctx.service.options.name, &stream);
        let id = next_id();
        tokio::spawn(async move {
            connection::run(ctx, stream, id).await;
            drop(permit);
        });
    }
}

/// stunnel's debug line for every accepted socket, before the connection
/// has an id (skipped cheaply unless `debug = 7`).
fn log_accept(service: &str, stream: &Kind) {
    let Kind::Tcp(s) = stream else { return };
    if !crate::log::enabled(crate::log::DEBUG) {
        return;
    }
    use std::os::fd::AsRawFd;
    let from = s
        .peer_addr()
        .map(|a| crate::connection::address::fmt_inet(&a))
        .unwrap_or_default();
    crate::slog!(
        crate::log::DEBUG,
        "Service [{service}] accepted (FD={}) from {from}",
        s.as_raw_fd()
    );
}

/// Accept errors never end the loop. Each is logged as stunnel's
/// `s_accept` logs it (`local socket: Too many open files (24)`, err).
/// Running out of descriptors or memory then pauses accepting for a second,
/// as stunnel does; anything else is retried after a short pause so a
/// persistent error cannot spin.
async fn backoff(e: &io::Error) {
    crate::slog!(ERR, "local socket: {}", crate::os::errno::of_io(e));
    let resource = matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    );
    if resource {
        crate::slog!(NOTICE, "Accepting new connections suspended for 1 second");
        tokio::time::sleep(Duration::from_secs(1)).await;
    } else {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
