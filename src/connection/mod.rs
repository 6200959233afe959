//! One accepted connection, from accept to the final `Connection closed` line.
//!
//! [`run`] reads like stunnel's `client_try` (stunnel-reference §5.4):
//! local setup → (server: TLS accept → connect) | (client: connect → TLS
//! connect) → transfer → report. Every wait is bounded by the service's
//! TIMEOUT* options; a failure ends this connection only.

pub mod address;
pub mod connect;
pub mod stdio;
pub mod stream;

use std::sync::Arc;

use crate::config::model::Service;
use crate::log::{ConnLog, ERR, NOTICE, WARNING};
use crate::tls::{TlsContext, TlsStream};
use crate::transfer::{self, Ending, Limits, Report};
use connect::Targets;
pub use stream::Stream;

/// What every connection of one service shares: the configuration it started
/// with (a reload swaps in a new `Arc`, live connections keep theirs), the
/// TLS context and the connect targets.
pub struct ServiceCtx {
    pub service: Service,
    pub tls: TlsContext,
    pub targets: Targets,
}

impl ServiceCtx {
    pub fn new(service: Service, tls: TlsContext) -> ServiceCtx {
        let targets = Targets::new(&service);
        ServiceCtx {
            service,
            tls,
            targets,
        }
    }
}

/// Serve one accepted connection; `id` is stunnel's sequential log id.
pub async fn run(ctx: Arc<ServiceCtx>, local: Stream, id: u64) {
    let log = ConnLog {
        id: id.to_string(),
        level: ctx.service.debug_level,
    };
    crate::log::scope(log, serve(ctx, local)).await
}

/// Why a connection ended before the transfer loop: the bytes moved so far
/// are zero and stunnel reports it as a reset.
struct Aborted;

async fn serve(ctx: Arc<ServiceCtx>, local: Stream) {
    let service = &ctx.service;
    apply_local_options(service, &local);
    match local.peer_addr() {
        Some(peer) => crate::slog!(
            NOTICE,
            "Service [{}] accepted connection from {}",
            service.name,
            address::fmt_inet(&peer)
        ),
        None => crate::slog!(NOTICE, "Service [{}] accepted connection", service.name),
    }
    let report = if service.client {
        client_side(&ctx, local).await
    } else {
        server_side(&ctx, local).await
    };
    let report = report.unwrap_or(Report {
        to_tls: 0,
        to_socket: 0,
        ending: Ending::Error,
    });
    let status = match report.ending {
        Ending::Closed => "closed",
        Ending::IdleTimeout | Ending::Error => "reset",
    };
    crate::slog!(
        NOTICE,
        "Connection {status}: {} byte(s) sent to TLS, {} byte(s) sent to socket",
        report.to_tls,
        report.to_socket
    );
}

/// Server mode: TLS with the client first, then the backend.
async fn server_side(ctx: &ServiceCtx, local: Stream) -> Result<Report, Aborted> {
    let service = &ctx.service;
    let reset = service.reset;
    let local_fd_reset = |s: &Stream| {
        if reset {
            s.arm_reset()
        }
    };
    let mut tls = match handshake(service, ctx.tls.accept(local)).await {
        Ok(tls) => tls,
        Err(stream) => {
            if let Some(s) = stream {
                local_fd_reset(&s);
            }
            return Err(Aborted);
        }
    };
    let Some(mut remote) = connect::connect_remote(service, &ctx.targets, None).await else {
        local_fd_reset(tls.get_ref());
        return Err(Aborted);
    };
    let report = transfer::run(&mut tls, &mut remote, limits(service)).await;
    if report.ending != Ending::Closed && reset {
        tls.get_ref().arm_reset();
        remote.arm_reset();
    }
    Ok(report)
}

/// Client mode: the backend first, then TLS with it.
async fn client_side(ctx: &ServiceCtx, mut local: Stream) -> Result<Report, Aborted> {
    let service = &ctx.service;
    let Some(remote) = connect::connect_remote(service, &ctx.targets, None).await else {
        if service.reset {
            local.arm_reset();
        }
        return Err(Aborted);
    };
    let mut tls = match handshake(service, ctx.tls.connect(remote)).await {
        Ok(tls) => tls,
        Err(stream) => {
            if service.reset {
                local.arm_reset();
                if let Some(s) = stream {
                    s.arm_reset();
                }
            }
            return Err(Aborted);
        }
    };
    let report = transfer::run(&mut tls, &mut local, limits(service)).await;
    if report.ending != Ending::Closed && service.reset {
        tls.get_ref().arm_reset();
        local.arm_reset();
    }
    Ok(report)
}

/// Run a handshake under `TIMEOUTbusy`, logging failures as stunnel does.
/// On failure the TCP stream is gone (owned by the handshake future), so
/// the reset is armed by dropping it: `None` is returned.
async fn handshake(
    service: &Service,
    fut: impl std::future::Future<Output = Result<TlsStream<Stream>, crate::tls::TlsError>>,
) -> Result<TlsStream<Stream>, Option<Stream>> {
    let outcome = match service.timeouts.busy {
        Some(limit) => match tokio::time::timeout(limit, fut).await {
            Ok(r) => r,
            Err(_) => {
                crate::slog!(
                    ERR,
                    "ssl_start: s_poll_wait: TIMEOUTbusy exceeded: sending reset"
                );
                return Err(None);
            }
        },
        None => fut.await,
    };
    outcome.map_err(|e| {
        e.log();
        None
    })
}

fn limits(service: &Service) -> Limits {
    Limits {
        idle: service.timeouts.idle,
        close: service.timeouts.close,
    }
}

/// `l:` socket options on the accepted socket (not for Unix sockets).
fn apply_local_options(service: &Service, stream: &Stream) {
    if let (Stream::Tcp(_), Some(fd)) = (stream, stream.raw_fd()) {
        if let Err(e) = crate::os::sockopt::apply_socket_options(fd, &service.socket_options.local)
        {
            crate::slog!(WARNING, "Failed to set local socket options: {e}");
        }
    }
}

/// Convenience for the listener: a fresh context per service.
pub fn context(service: Service, tls: TlsContext) -> Arc<ServiceCtx> {
    Arc::new(ServiceCtx::new(service, tls))
}
