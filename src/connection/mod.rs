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
pub mod registry;
pub mod stdio;
pub mod stream;

use std::sync::Arc;

use crate::config::model::Service;
use crate::log::{ConnLog, NOTICE};
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
}

impl ServiceCtx {
    pub fn new(
        service: Service,
        tls: TlsContext,
        secondaries: Vec<(usize, Arc<ServiceCtx>)>,
    ) -> Arc<ServiceCtx> {
        let targets = Targets::new(&service);
        Arc::new(ServiceCtx {
            service,
            tls,
            targets,
            secondaries,
        })
    }
}

/// Build the contexts of a whole configuration: one per service, SNI
/// secondaries attached to their primary. `tls` holds the TLS context of
/// each service, in the same order as `services`.
pub fn contexts(services: &[Service], tls: Vec<TlsContext>) -> Vec<Arc<ServiceCtx>> {
    let is_secondary = |s: &Service| !s.client && s.sni_route.is_some();
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
                        .is_some_and(|r| r.primary == service.name)
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
pub async fn run(ctx: Arc<ServiceCtx>, local: Kind, id: u64) {
    let log = ConnLog::new(id.to_string(), ctx.service.debug_level);
    crate::log::scope(log, serve(ctx, local, id)).await
}

async fn serve(ctx: Arc<ServiceCtx>, local: Kind, id: u64) {
    let entry = registry::Entry::register(id, &ctx.service.name);
    let local = Stream::new(local, ctx.service.reset);
    let (client, reset) = (ctx.service.client, ctx.service.reset);
    let report = flow::client_try(ctx, local, &entry).await;
    let status = status(report.ending, reset, client, entry.fatal_alert());
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
