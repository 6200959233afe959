//! The stages of a connection in stunnel's order (`client_try`,
//! stunnel-reference §4.1 and §5.4):
//!
//! ```text
//! accept → protocol early
//!   client mode, or a server protocol that talks to the backend first:
//!        connect remote → protocol middle → TLS handshake
//!   otherwise: TLS handshake (SNI may switch service) → protocol middle → connect remote
//! → protocol late → transfer
//! ```
//!
//! Each stage either yields what the next needs or ends the connection with
//! a [`Report`] saying how (`reset` or `closed`). Streams close with an RST
//! unless the stage that ends them marks them clean (see `Stream`).

use std::future::Future;
use std::sync::Arc;

use super::address::{self, Address};
use super::connect::{apply_remote_options, connect_remote};
use super::registry::Entry;
use super::stream::{Kind, Stream};
use super::ServiceCtx;
use super::{ident, local, tls_facts, transparent};
use crate::config::model::Service;
use crate::config::protocols;
use crate::log::{ERR, INFO, NOTICE, WARNING};
use crate::metrics::HandshakeFailure;
use crate::protocol::{self, Abort, Io, Outcome, Phase, Rewind, SystemNet, Target};
use crate::tls::{Persistence, Side, TlsError, TlsStream};
use crate::transfer::{Ending, Limits, Report};

/// How a connection ended before any byte was moved.
pub(super) fn aborted(how: Abort) -> Report {
    let ending = match how {
        Abort::Reset => Ending::Error,
        Abort::Close => Ending::Closed,
    };
    Report {
        to_tls: 0,
        to_socket: 0,
        ending,
    }
}

/// Run every stage; the returned report is what the final log line says.
///
/// The stages before the transfer are one future and the transfer another:
/// an idle connection spends its life in the transfer, and its task then
/// holds only the two streams and the transfer's state, not the locals of
/// the hooks, the handshake and the connect. Not an async fn: one keeps its
/// arguments for its whole life, and `local` would be held a second time.
pub(super) fn client_try(
    ctx: Arc<ServiceCtx>,
    local: Stream,
    entry: &Entry,
) -> impl Future<Output = Report> + '_ {
    // Boxed: a future is as large as its largest state, so inline the
    // preparation's 2.2 KiB would stay reserved in the task for the whole
    // transfer; on the heap it is freed when the transfer starts.
    let prepare = Box::pin(prepare(ctx, local, entry));
    async move {
        match prepare.await {
            Ok(Ready::Client { ctx, local, tls }) => transfer(entry, ctx, tls, local).await,
            Ok(Ready::Server { ctx, tls, remote }) => transfer(entry, ctx, tls, remote).await,
            Err(how) => aborted(how),
        }
    }
}

/// Every stage before the transfer, in stunnel's order.
async fn prepare(ctx: Arc<ServiceCtx>, local: Stream, entry: &Entry) -> Result<Ready, Abort> {
    apply_local_options(&ctx.service, &local);
    let mut local = local;
    // The client's first bytes, read with a balancer's PROXY header.
    let after_header = match &ctx.service.proxy_in {
        Some(settings) => {
            let busy = ctx.service.options.timeouts.busy;
            super::proxy_header::read(&ctx.service.options.name, settings, &mut local, busy).await?
        }
        None => Vec::new(),
    };
    local_start(&ctx.service, &local).await?;
    let peer = local.peer_addr();
    let local_addr = local.local_addr();
    let original_dst = original_destination(&local);
    let hooks = Hooks {
        peer,
        local_addr,
        original_dst,
    };
    let mut local = Rewind::new(after_header, local);
    let early = hooks
        .run(&ctx.service, Phase::Early, &mut local, None, None)
        .await?;
    let start = Start {
        local,
        early,
        hooks: &hooks,
        entry,
    };
    if ctx.service.options.client {
        client_mode(ctx, start).await
    } else if protocols::connects_before_tls(ctx.service.protocol.as_ref().map(|p| p.kind), false) {
        server_connect_first(ctx, start).await
    } else {
        server_mode(ctx, start).await
    }
}

/// A connection whose handshake, hooks and backend are done: what the
/// transfer needs, and nothing else.
enum Ready {
    /// Client mode: the local side plain, TLS towards the backend.
    Client {
        ctx: Arc<ServiceCtx>,
        local: Rewind<Stream>,
        tls: TlsStream<Stream>,
    },
    /// Server modes: TLS with the client, the backend plain. `ctx` is the
    /// service the connection ended up in (an SNI secondary's).
    Server {
        ctx: Arc<ServiceCtx>,
        tls: TlsStream<Rewind<Stream>>,
        remote: Stream,
    },
}

/// Move the data until either side ends; a clean end closes both sockets
/// with FIN.
async fn transfer(
    entry: &Entry,
    ctx: Arc<ServiceCtx>,
    mut tls: TlsStream<impl OverSocket>,
    mut plain: impl OverSocket,
) -> Report {
    let report = entry
        .transfer(&mut tls, &mut plain, limits(&ctx.service))
        .await;
    entry.note_fatal_alert(tls.fatal_alert_received());
    if report.ending == Ending::Closed {
        tls.get_mut().socket().close_cleanly();
        plain.socket().close_cleanly();
    }
    report
}

/// A connection [`Stream`], or a layer over one (pushed-back bytes): the
/// socket that closes.
trait OverSocket: Io {
    fn socket(&mut self) -> &mut Stream;
}

impl OverSocket for Stream {
    fn socket(&mut self) -> &mut Stream {
        self
    }
}

impl OverSocket for Rewind<Stream> {
    fn socket(&mut self) -> &mut Stream {
        self.get_mut()
    }
}

/// What each mode starts from: the accepted side after the early protocol
/// hook, and the connection's hooks and registry entry.
struct Start<'a> {
    local: Rewind<Stream>,
    early: Outcome,
    hooks: &'a Hooks,
    entry: &'a Entry,
}

/// Client mode: backend first, TLS over it, the local side stays plain.
async fn client_mode(ctx: Arc<ServiceCtx>, mut start: Start<'_>) -> Result<Ready, Abort> {
    let (mut remote, target, _) = connect_first(&ctx, &mut start).await?;
    let (entry, mut local) = (start.entry, start.local);
    // The session offered is the one of the target reached (an `exec`
    // program has no index in the target list: it keeps slot 0).
    let alert = entry.alert_flag();
    remote.fin_after_alert(alert.clone());
    let connecting = ctx.tls.handshake(
        remote,
        Side::Client {
            target: Some(target.unwrap_or(0)),
        },
        Some(&alert),
    );
    let mut tls = handshake(&ctx, entry, connecting).await?;
    start
        .hooks
        .run(&ctx.service, Phase::Late, &mut local, Some(&mut tls), None)
        .await?;
    Ok(Ready::Client { ctx, local, tls })
}

/// The backend before TLS (client mode, and server mode with a protocol
/// that needs the backend's greeting): connect to the early hook's target
/// (if it named one), then the middle hook with both streams. Returns the
/// remote, its target index and the hook's outcome.
async fn connect_first(
    ctx: &ServiceCtx,
    start: &mut Start<'_>,
) -> Result<(Stream, Option<usize>, Outcome), Abort> {
    let early_target = start.early.target.take();
    let (mut remote, target) = connect(ctx, start.hooks, early_target, None, None, None).await?;
    let middle = start
        .hooks
        .run(
            &ctx.service,
            Phase::Middle,
            &mut start.local,
            Some(&mut remote),
            None,
        )
        .await?;
    Ok((remote, target, middle))
}

/// Server mode with `protocol = smtp|pop3|imap`: the backend's greeting is
/// needed before the client's STARTTLS, so connect first.
async fn server_connect_first(ctx: Arc<ServiceCtx>, mut start: Start<'_>) -> Result<Ready, Abort> {
    let (mut remote, _, middle) = connect_first(&ctx, &mut start).await?;
    let (entry, hooks, mut local) = (start.entry, start.hooks, start.local);
    local.unread(&middle.pushback);
    let mut tls = accept_tls(&ctx, entry, local).await?;
    hooks
        .run(&ctx.service, Phase::Late, &mut tls, Some(&mut remote), None)
        .await?;
    Ok(Ready::Server { ctx, tls, remote })
}

/// Server mode: TLS with the client, then the backend the (possibly
/// SNI-selected) service or the protocol names.
async fn server_mode(ctx: Arc<ServiceCtx>, start: Start<'_>) -> Result<Ready, Abort> {
    let (entry, hooks, early, mut local) = (start.entry, start.hooks, start.early, start.local);
    local.unread(&early.pushback);
    let mut tls = accept_tls(&ctx, entry, local).await?;
    let ctx = switch_sni(ctx, tls.selected_service(), entry);
    let service = &ctx.service;
    let redirect = if !service.redirect.is_empty() && !tls.authenticated() {
        crate::slog!(NOTICE, "Redirecting connection");
        Some(address::resolve_all_off_workers(&service.redirect, "redirect").await)
    } else {
        None
    };
    let middle = hooks
        .run(service, Phase::Middle, &mut tls, None, None)
        .await?;
    let target = middle.target.or(early.target);
    let (mut remote, _) = connect(
        &ctx,
        hooks,
        target,
        redirect,
        tls.peer_names(),
        tls.persistence(),
    )
    .await?;
    let facts = tls_facts::wanted(service).then(|| tls_facts::of(&tls));
    hooks
        .run(
            service,
            Phase::Late,
            &mut tls,
            Some(&mut remote),
            facts.as_ref(),
        )
        .await?;
    Ok(Ready::Server { ctx, tls, remote })
}

/// The server-side handshake with the client; a fatal alert it sends makes
/// the socket end with FIN, as stunnel's does.
async fn accept_tls(
    ctx: &ServiceCtx,
    entry: &Entry,
    mut local: Rewind<Stream>,
) -> Result<TlsStream<Rewind<Stream>>, Abort> {
    let alert = entry.alert_flag();
    local.get_mut().fin_after_alert(alert.clone());
    let accepting = ctx.tls.handshake(local, Side::Server, Some(&alert));
    handshake(ctx, entry, accepting).await
}

/// After an SNI match the connection belongs to the secondary service: its
/// targets, its log level (stunnel-reference §5.15).
fn switch_sni(ctx: Arc<ServiceCtx>, selected: Option<usize>, entry: &Entry) -> Arc<ServiceCtx> {
    let Some(index) = selected else { return ctx };
    match ctx.secondaries.iter().find(|(i, _)| *i == index) {
        Some((_, secondary)) => {
            crate::log::set_conn_level(secondary.service.options.debug_level);
            entry.rename(&secondary.service.options.name);
            secondary.clone()
        }
        None => ctx,
    }
}

/// Set up the remote side, in stunnel's order (stunnel-reference §5.4 item
/// 4, §5.8): a connection being redirected goes to the `redirect` targets
/// and nowhere else — not to `exec`, which is what `redirect` guards. Then
/// `exec` without `connect` spawns the program (stunnel's `connect_local`;
/// `client_dn` is the peer certificate's subject and issuer for its
/// environment). Otherwise connect: a protocol's target wins over the
/// original destination (`transparent = destination`), which wins over the
/// configured `connect` list.
async fn connect(
    ctx: &ServiceCtx,
    hooks: &Hooks,
    target: Option<Target>,
    redirect: Option<Vec<Address>>,
    client_dn: Option<(String, String)>,
    persistence: Option<Persistence>,
) -> Result<(Stream, Option<usize>), Abort> {
    let service = &ctx.service;
    let exec = service
        .exec
        .as_ref()
        .filter(|_| local::is_exec_remote(service));
    if let (None, Some(exec)) = (&redirect, exec) {
        let env = local::ExecEnv {
            peer: hooks.peer,
            client_dn,
        };
        return match local::spawn(exec, &env) {
            Ok(kind) => {
                let stream = Stream::new(kind, service.options.reset);
                apply_remote_options(service, &stream);
                Ok((stream, None))
            }
            Err(e) => {
                crate::slog!(
                    ERR,
                    "{}",
                    crate::os::errno::io_labelled("connect_local", &e)
                );
                Err(Abort::Reset)
            }
        };
    }
    let chosen = redirect
        .or_else(|| {
            target.map(|t| match t {
                Target::Addrs(addrs) => addrs.into_iter().map(Address::Inet).collect(),
                Target::Unix(path) => vec![Address::Unix(path)],
            })
        })
        .or_else(|| {
            transparent::destination(service.options.transparent)
                .then(|| hooks.original_dst.map(Address::Inet).into_iter().collect())
        });
    let client = hooks
        .peer
        .filter(|_| transparent::source(service.options.transparent));
    connect_remote(service, &ctx.targets, chosen, client, persistence.as_ref())
        .await
        .ok_or(Abort::Reset)
}

/// A handshake under `TIMEOUTbusy`, failures logged as stunnel logs them;
/// the outcome and its duration counted in the service's metrics.
async fn handshake<S>(
    ctx: &ServiceCtx,
    entry: &Entry,
    fut: impl std::future::Future<Output = Result<TlsStream<S>, TlsError>>,
) -> Result<TlsStream<S>, Abort> {
    let metrics = &ctx.metrics;
    let started = std::time::Instant::now();
    let outcome = match ctx.service.options.timeouts.busy {
        Some(limit) => match tokio::time::timeout(limit, fut).await {
            Ok(r) => r,
            Err(_) => {
                metrics.handshake_failed(HandshakeFailure::Timeout);
                crate::slog!(
                    ERR,
                    "ssl_start: s_poll_wait: TIMEOUTbusy exceeded: sending reset"
                );
                return Err(Abort::Reset);
            }
        },
        None => fut.await,
    };
    match outcome {
        Ok(tls) => {
            metrics.handshake_ok(tls.ssl().session_reused(), started.elapsed());
            Ok(tls)
        }
        Err(e) => {
            metrics.handshake_failed(e.cause.unwrap_or(HandshakeFailure::Other));
            entry.note_fatal_alert(e.fatal_alert_received);
            e.log();
            Err(Abort::Reset)
        }
    }
}

/// What the protocol hooks need to know about the accepted socket.
struct Hooks {
    peer: Option<std::net::SocketAddr>,
    local_addr: Option<std::net::SocketAddr>,
    original_dst: Option<std::net::SocketAddr>,
}

impl Hooks {
    /// Run `phase` of the service's protocol, telling it what the TLS
    /// handshake established if it asked for that (`tls`); no protocol =
    /// nothing to do.
    async fn run(
        &self,
        service: &Service,
        phase: Phase,
        local: &mut (dyn Io + '_),
        remote: Option<&mut (dyn Io + '_)>,
        tls: Option<&protocol::TlsFacts>,
    ) -> Result<Outcome, Abort> {
        let Some(settings) = &service.protocol else {
            return Ok(Outcome::default());
        };
        let ctx = protocol::Ctx {
            settings,
            client: service.options.client,
            busy: protocol::Busy::new(service.options.timeouts.busy),
            peer: self.peer,
            local_addr: self.local_addr,
            service: &service.options.name,
            original_dst: self.original_dst,
            net: &SystemNet,
            tls,
        };
        protocol::run(phase, &ctx, local, remote).await
    }
}

fn limits(service: &Service) -> Limits {
    Limits {
        idle: service.options.timeouts.idle,
        close: service.options.timeouts.close,
    }
}

/// stunnel's `local_start` checks, then the `accepted connection` line: a
/// local side that is not a socket cannot be the source of a transparent
/// connection; a TCP client must pass `ident` first.
async fn local_start(service: &Service, local: &Stream) -> Result<(), Abort> {
    let is_socket =
        matches!(local.kind(), Kind::Tcp(_) | Kind::Unix(_)) || local.peer_addr().is_some();
    if !is_socket && transparent::source(service.options.transparent) {
        crate::slog!(ERR, "Transparent source needs a socket");
        return Err(Abort::Reset);
    }
    if let Some(user) = &service.options.ident {
        match (local.peer_addr(), local.local_addr()) {
            (Some(peer), Some(ours)) => ident::check(service, user, peer, ours.port())
                .await
                .map_err(|crate::log::Logged| Abort::Reset)?,
            _ if matches!(local.kind(), Kind::Unix(_)) => {
                crate::slog!(INFO, "IDENT not supported on Unix sockets")
            }
            _ => {}
        }
    }
    log_accepted(service, local);
    Ok(())
}

fn log_accepted(service: &Service, local: &Stream) {
    match local.peer_text() {
        Some(peer) => crate::slog!(
            NOTICE,
            "Service [{}] accepted connection from {peer}",
            service.options.name
        ),
        None => crate::slog!(
            NOTICE,
            "Service [{}] accepted connection",
            service.options.name
        ),
    }
}

/// `l:` socket options on the accepted socket (not for Unix sockets).
fn apply_local_options(service: &Service, stream: &Stream) {
    if let (Kind::Tcp(_), Some(fd)) = (stream.kind(), stream.raw_fd()) {
        if let Err(e) =
            crate::os::sockopt::apply_socket_options(fd, &service.options.socket_options.local)
        {
            crate::slog!(WARNING, "Failed to set local socket options: {e}");
        }
    }
}

/// SO_ORIGINAL_DST of an accepted TCP socket (iptables REDIRECT/DNAT), for
/// `protocol = socks` in client mode and `transparent = destination`.
fn original_destination(stream: &Stream) -> Option<std::net::SocketAddr> {
    let Kind::Tcp(s) = stream.kind() else {
        return None;
    };
    let v4 = nix::sys::socket::getsockopt(s, nix::sys::socket::sockopt::OriginalDst).ok()?;
    let ip = std::net::Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr));
    let addr = std::net::SocketAddr::new(ip.into(), u16::from_be(v4.sin_port));
    // Without a NAT rule the kernel answers ENOENT; an answer equal to our
    // own address means the same (no redirection happened).
    (Some(addr) != s.local_addr().ok()).then_some(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn future_size<A, B, C, F>(_: impl Fn(A, B, C) -> F) -> usize {
        std::mem::size_of::<F>()
    }

    /// An idle connection's task holds `client_try` for its whole life: the
    /// preparation (2.2 KiB: hooks, handshake, connect) must not be part of
    /// it, only the streams and the transfer (1,072 bytes when written; 1,584
    /// while an async fn took the `Ready` and another took `local`).
    #[test]
    fn the_transfer_stage_holds_no_preparation() {
        let whole = future_size(client_try);
        let preparation = future_size(prepare);
        assert!(
            whole < preparation,
            "client_try is {whole} bytes, prepare {preparation}"
        );
        assert!(whole <= 1100, "client_try future is {whole} bytes");
    }
}
