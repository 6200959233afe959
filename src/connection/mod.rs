//! One accepted connection, from accept to the final `Connection closed`
//! line.
//!
//! [`run`] sets up what stunnel's connection thread has (log id and level,
//! an entry in the SIGUSR2 listing) and reports the outcome; the stages
//! themselves (`client_try`) are in `flow.rs`. Every wait is bounded by the
//! service's TIMEOUT* options; a failure ends this connection only.

pub mod address;
pub mod connect;
mod flow;
pub mod ident;
pub mod local;
mod probe;
mod proxy_header;
pub mod registry;
pub mod stdio;
pub mod stream;
mod tls_facts;
pub mod transparent;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::config::model::Service;
use crate::log::{ConnLog, NOTICE};
use crate::protocol;
use crate::tls::TlsContext;
use crate::transfer::Ending;
use connect::Targets;
pub use stream::{Kind, Stream};

/// What every connection of one service shares: the configuration it started
/// with (a reload swaps in a new `Arc`, live connections keep theirs), the
/// TLS context and the connect targets.
pub struct ServiceCtx {
    pub service: Service,
    pub tls: TlsContext,
    pub targets: Targets,
    /// Server-side SNI secondaries of this service, by their index in
    /// `Config::services` (what `TlsStream::selected_service` returns).
    pub secondaries: Vec<(usize, Arc<ServiceCtx>)>,
    /// This service name's counters (the same `Arc` across reloads).
    pub metrics: Arc<crate::metrics::ServiceMetrics>,
}

impl ServiceCtx {
    pub fn new(
        service: Service,
        tls: TlsContext,
        secondaries: Vec<(usize, Arc<ServiceCtx>)>,
    ) -> Arc<ServiceCtx> {
        let metrics = crate::metrics::service(&service.options.name);
        let targets = Targets::new(&service, &metrics);
        Arc::new(ServiceCtx {
            service,
            tls,
            targets,
            secondaries,
            metrics,
        })
    }
}

/// Build the contexts of a whole configuration: one per service, SNI
/// secondaries attached to their primary. `tls` holds the TLS context of
/// each service, in the same order as `services`.
pub fn contexts(services: &[Service], tls: Vec<TlsContext>) -> Vec<Arc<ServiceCtx>> {
    let is_secondary = |s: &Service| !s.options.client && s.sni_route.is_some();
    let mut built: Vec<Option<Arc<ServiceCtx>>> = vec![None; services.len()];
    // Secondaries first: primaries hold references to them.
    for (i, (service, ctx)) in services.iter().zip(&tls).enumerate() {
        if is_secondary(service) {
            built[i] = Some(ServiceCtx::new(service.clone(), ctx.clone(), Vec::new()));
        }
    }
    for (i, (service, ctx)) in services.iter().zip(tls).enumerate() {
        if built[i].is_some() {
            continue;
        }
        let secondaries = services
            .iter()
            .enumerate()
            .filter(|(_, s)| {
                is_secondary(s)
                    && s.sni_route
                        .as_ref()
                        .is_some_and(|r| r.primary == service.options.name)
            })
            .filter_map(|(j, _)| built[j].clone().map(|c| (j, c)))
            .collect();
        built[i] = Some(ServiceCtx::new(service.clone(), ctx, secondaries));
    }
    built.into_iter().flatten().collect()
}

/// The `<status>` of `Connection <status>: …` (stunnel-reference §5.4
/// item 6, §5.7.4): one word per socket, remote first, local second,
/// folded into one when they agree. An error exit resets both sockets
/// with `reset = yes` (closes them with `reset = no`), except the TLS-side
/// socket after a fatal alert, which is closed so the alert gets through.
fn status(ending: Ending, reset: bool, client: bool, fatal_alert: bool) -> &'static str {
    let reset_exit = ending != Ending::Closed && reset;
    let tls_side = reset_exit && !fatal_alert;
    // The TLS side is the remote socket in client mode, the local one in
    // server mode.
    let (remote, local) = if client {
        (tls_side, reset_exit)
    } else {
        (reset_exit, tls_side)
    };
    match (remote, local) {
        (true, true) => "reset",
        (true, false) => "reset/closed",
        (false, true) => "closed/reset",
        (false, false) => "closed",
    }
}

/// Serve one accepted connection; `id` is stunnel's sequential log id.
///
/// `serve` is boxed: `log::scope` keeps the future it is given beside the
/// task-local wrapper it awaits, so passed by value it would be held twice
/// (the connection task measured 5,656 bytes, 2,736 of them `serve`).
pub async fn run(ctx: Arc<ServiceCtx>, local: Kind, id: u64) {
    let log = ConnLog::new(
        log_id(ctx.service.options.log_id, id),
        ctx.service.options.debug_level,
    );
    crate::log::scope(log, Box::pin(serve(ctx, local, id))).await
}

/// The `[id]` of this connection's log lines (`logId`, stunnel-reference
/// §5.9.2): the sequence number, 22 random alphanumerics, the thread that
/// starts serving it, or the process id.
fn log_id(kind: crate::config::model::LogId, seq: u64) -> String {
    use crate::config::model::LogId;
    match kind {
        LogId::Sequential => seq.to_string(),
        LogId::Unique => {
            const ALPHABET: &[u8] =
                b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
            let mut bytes = [0u8; 22];
            let _ = openssl::rand::rand_bytes(&mut bytes);
            bytes
                .iter()
                .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
                .collect()
        }
        LogId::Thread => nix::unistd::gettid().to_string(),
        LogId::Process => std::process::id().to_string(),
    }
}

async fn serve(ctx: Arc<ServiceCtx>, local: Kind, id: u64) {
    let name = ctx.service.options.name.clone();
    let mut active = crate::metrics::Active::start(ctx.metrics.clone());
    if !ctx.service.options.log_probes && probe::is_probe(&ctx.service, &local).await {
        ctx.metrics.probes.fetch_add(1, Ordering::Relaxed);
        active.set_ending(crate::metrics::Ending::Closed);
        return;
    }
    crate::slog!(crate::log::DEBUG, "Service [{name}] started");
    let entry = registry::Entry::register(id, &name, ctx.metrics.clone());
    let local = Stream::new(local, ctx.service.options.reset);
    let (client, reset) = (ctx.service.options.client, ctx.service.options.reset);
    let report = flow::client_try(ctx, local, &entry).await;
    active.set_ending(match report.ending {
        Ending::Closed => crate::metrics::Ending::Closed,
        Ending::IdleTimeout => crate::metrics::Ending::Timeout,
        Ending::Error => crate::metrics::Ending::Reset,
    });
    log_closed(
        &report,
        status(report.ending, reset, client, entry.fatal_alert()),
    );
    drop(entry);
    let left = registry::count();
    crate::slog!(crate::log::DEBUG, "Service [{name}] finished ({left} left)");
}

/// One run of an exec+connect section (`local::exec_connect`), inside the
/// caller's log scope: the program is started as the local side, then the
/// connection proceeds as an accepted one would.
pub async fn serve_exec_connect(ctx: Arc<ServiceCtx>, id: u64) {
    let Some(exec) = ctx.service.exec.clone() else {
        return;
    };
    match local::spawn(&exec, &local::ExecEnv::default()) {
        Ok(kind) => serve(ctx, kind, id).await,
        Err(e) => {
            crate::slog!(
                crate::log::ERR,
                "{}",
                crate::os::errno::io_labelled("connect_local", &e)
            );
            let report = flow::aborted(protocol::Abort::Reset);
            log_closed(
                &report,
                status(
                    report.ending,
                    ctx.service.options.reset,
                    ctx.service.options.client,
                    false,
                ),
            );
        }
    }
}

/// The final line of every connection.
fn log_closed(report: &crate::transfer::Report, status: &str) {
    crate::slog!(
        NOTICE,
        "Connection {status}: {} byte(s) sent to TLS, {} byte(s) sent to socket",
        report.to_tls,
        report.to_socket
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::LogId;

    #[test]
    fn log_ids_follow_log_id_option() {
        assert_eq!(log_id(LogId::Sequential, 42), "42");
        let unique = log_id(LogId::Unique, 0);
        assert_eq!(unique.len(), 22);
        assert!(
            unique.chars().all(|c| c.is_ascii_alphanumeric()),
            "{unique}"
        );
        assert_ne!(unique, log_id(LogId::Unique, 0));
        assert_eq!(log_id(LogId::Process, 0), std::process::id().to_string());
        assert!(log_id(LogId::Thread, 0).parse::<u32>().is_ok());
    }

    /// The size of the future an async fn returns, without calling it.
    fn future_size<A, B, C, F>(_: impl Fn(A, B, C) -> F) -> usize {
        std::mem::size_of::<F>()
    }

    /// Every idle connection keeps its task for its whole life: the task
    /// must not carry the state of stages that are over (handshake,
    /// connect, ident), nor hold `serve` twice through `log::scope`.
    #[test]
    fn connection_task_stays_small() {
        let task = future_size(run);
        assert!(task <= 256, "connection::run future is {task} bytes");
    }

    #[test]
    fn status_words_follow_stunnel() {
        use Ending::*;
        assert_eq!(status(Closed, true, false, false), "closed");
        assert_eq!(status(Error, true, false, false), "reset");
        assert_eq!(status(IdleTimeout, true, true, false), "reset");
        assert_eq!(status(Error, false, false, false), "closed");
        assert_eq!(status(Error, true, false, true), "reset/closed");
        assert_eq!(status(Error, true, true, true), "closed/reset");
        assert_eq!(status(Error, false, true, true), "closed");
        assert_eq!(status(Closed, true, true, true), "closed");
    }
}
