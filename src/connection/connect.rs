//! The outgoing side: the failover list, `local` source address and
//! `TIMEOUTconnect` per address (stunnel-reference §5.4 item 4).

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpSocket, UnixStream};

use super::address::{self, Address};
use super::stream::{Kind, Stream};
use crate::config::model::{Failover, Service};
use crate::log::{DEBUG, ERR, INFO, NOTICE};
use crate::metrics::{ServiceMetrics, TargetMetrics};
use crate::os::errno;
use crate::tls::Persistence;

/// A service's `connect` list, resolved once at start-up unless `delay = yes`
/// (or start-up resolution failed, which switches to delayed lookups as
/// stunnel does).
pub struct Targets {
    /// `None`: resolve for every connection.
    fixed: Option<Vec<Address>>,
    /// Round-robin position: random start, then one step per connection.
    next: AtomicUsize,
    /// The counters of each address of `fixed`, found once here.
    counted: Vec<Arc<TargetMetrics>>,
    /// For delayed lists, whose addresses are only known per connection.
    metrics: Arc<ServiceMetrics>,
}

impl Targets {
    pub fn new(service: &Service, metrics: &Arc<ServiceMetrics>) -> Targets {
        let fixed = if service.options.delay || service.connect.is_empty() {
            None
        } else {
            match address::resolve_all(&service.connect) {
                Ok(list) => Some(list),
                Err(e) => {
                    crate::slog!(ERR, "Error resolving connect target: {e}");
                    crate::slog!(INFO, "Cannot resolve connect target - delaying DNS lookup");
                    None
                }
            }
        };
        let counted = fixed
            .iter()
            .flatten()
            .map(|a| metrics.target(&a.to_string()))
            .collect();
        Targets {
            fixed,
            next: AtomicUsize::new(random_start()),
            counted,
            metrics: metrics.clone(),
        }
    }

    /// The counters of configured target `index` (address `addr`).
    fn counters(&self, index: usize, addr: &Address) -> Arc<TargetMetrics> {
        match (&self.fixed, self.counted.get(index)) {
            (Some(_), Some(t)) => t.clone(),
            _ => self.metrics.target(&addr.to_string()),
        }
    }

    /// The failover list for one connection, resolved now when delayed.
    async fn list(&self, service: &Service) -> Vec<Address> {
        if let Some(list) = &self.fixed {
            return list.clone();
        }
        address::resolve_all_off_workers(&service.connect, "connect").await
    }

    /// Where to start in `list` (stunnel's `idx_cache_retrieve`): a
    /// resumed server session goes back to its backend while that is still
    /// in the list, else `failover` decides.
    fn start(
        &self,
        service: &Service,
        list: &[Address],
        persistence: Option<&Persistence>,
    ) -> usize {
        let len = list.len();
        if len <= 1 {
            return 0;
        }
        // `delay = yes` forces priority order (stunnel-reference §5.4.2).
        let round_robin =
            service.options.failover == Failover::RoundRobin && !service.options.delay;
        // The round-robin position moves on for every connection, also one
        // that persistence sends back to its backend: stunnel4 sends the
        // fifth of new, 3 resumed, new connections to the first one's
        // backend (tests/suite/session_persistence.rs).
        let rr = round_robin.then(|| self.next.fetch_add(1, Ordering::Relaxed) % len);
        match persistence.and_then(Persistence::remembered) {
            Some(Some(cached)) => {
                if let Some(i) = list.iter().position(|a| a.to_string() == cached) {
                    crate::slog!(INFO, "persistence: {cached} reused");
                    return i;
                }
                crate::slog!(INFO, "persistence: {cached} not available");
            }
            Some(None) => crate::slog!(NOTICE, "persistence: No cached address found"),
            None => {}
        }
        match rr {
            Some(i) => {
                crate::slog!(INFO, "failover: round-robin, starting at entry #{i}");
                i
            }
            None => {
                crate::slog!(INFO, "failover: priority, starting at entry #0");
                0
            }
        }
    }
}

/// The connect attempts of [`connect_remote`], on the heap while they run:
/// the stream reached and, for the configured list, its target index.
pub type Connecting<'a> = std::pin::Pin<
    Box<dyn std::future::Future<Output = Option<(Stream, Option<usize>)>> + Send + 'a>,
>;

/// Connect to the first reachable target of `service`, or of `override_list`
/// when a protocol or `redirect` chose the destination. `client` is the
/// address to bind to with `transparent = source`.
/// `persistence` is the server-mode TLS session: the backend reached is
/// kept in it (`persistence: ADDR cached`) and a resumed one starts there.
/// Returns the stream and, when the configured `connect` list was used,
/// the index of the target reached (client-mode sessions are kept per
/// target, stunnel-reference §5.11).
///
/// Boxed: the connect attempts' state (resolver, timers, failover) lives
/// on the heap only while they run, not in the connection task for the
/// connection's whole life.
pub fn connect_remote<'a>(
    service: &'a Service,
    targets: &'a Targets,
    override_list: Option<Vec<Address>>,
    client: Option<SocketAddr>,
    persistence: Option<&'a Persistence>,
) -> Connecting<'a> {
    Box::pin(connect_remote_inner(
        service,
        targets,
        override_list,
        client,
        persistence,
    ))
}

async fn connect_remote_inner(
    service: &Service,
    targets: &Targets,
    override_list: Option<Vec<Address>>,
    client: Option<SocketAddr>,
    persistence: Option<&Persistence>,
) -> Option<(Stream, Option<usize>)> {
    let configured = override_list.is_none();
    let list = match override_list {
        Some(list) => list,
        None => targets.list(service).await,
    };
    if list.is_empty() {
        crate::slog!(ERR, "No remote host resolved");
        return None;
    }
    let start = targets.start(service, &list, persistence);
    for (index, addr) in list.iter().enumerate().cycle().skip(start).take(list.len()) {
        crate::slog!(INFO, "s_connect: connecting {addr}");
        let result = connect_one(service, addr, client).await;
        // Only the configured `connect` list is counted per target: what a
        // CONNECT or SOCKS client asks for would make one series per
        // destination.
        if configured && !matches!(result, Err(Failure::Skipped)) {
            targets.counters(index, addr).attempt(result.is_ok());
        }
        match result {
            Ok(stream) => {
                crate::slog!(NOTICE, "s_connect: connected {addr}");
                if persistence.is_some_and(|p| p.remember(&addr.to_string())) {
                    crate::slog!(INFO, "persistence: {addr} cached");
                }
                let local = stream.local_addr().map(|a| address::fmt_inet(&a));
                crate::slog!(
                    NOTICE,
                    "Service [{}] connected remote server from {}",
                    service.options.name,
                    local.as_deref().unwrap_or("unnamed socket")
                );
                apply_remote_options(service, &stream);
                return Some((stream, configured.then_some(index)));
            }
            Err(Failure::Timeout) => {
                crate::slog!(
                    ERR,
                    "s_connect: s_poll_wait {addr}: TIMEOUTconnect exceeded"
                )
            }
            Err(Failure::Io(e)) => {
                crate::slog!(ERR, "s_connect: connect {addr}: {}", errno::of_io(&e))
            }
            Err(Failure::Skipped) => {
                crate::slog!(
                    DEBUG,
                    "s_connect: {addr} skipped: address family differs from 'local'"
                )
            }
        }
    }
    crate::slog!(ERR, "No more addresses to connect");
    None
}

enum Failure {
    Timeout,
    Io(io::Error),
    /// `local` is of the other address family.
    Skipped,
}

async fn connect_one(
    service: &Service,
    addr: &Address,
    client: Option<SocketAddr>,
) -> Result<Stream, Failure> {
    let limit = service.options.timeouts.connect;
    match addr {
        Address::Unix(path) => with_timeout(limit, UnixStream::connect(path))
            .await
            .map(|s| Stream::new(Kind::Unix(s), service.options.reset)),
        Address::Inet(target) => {
            let socket = tcp_socket(service, target, client)?;
            with_timeout(limit, socket.connect(*target))
                .await
                .map(|s| Stream::new(Kind::Tcp(s), service.options.reset))
        }
    }
}

/// A socket bound to `local` (port 0) when configured, else to the client's
/// address with `transparent = source` (`local` wins, as in stunnel).
fn tcp_socket(
    service: &Service,
    target: &SocketAddr,
    client: Option<SocketAddr>,
) -> Result<TcpSocket, Failure> {
    let socket = if target.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    };
    let socket = socket.map_err(Failure::Io)?;
    if let Some(ip) = service.options.local {
        if ip.is_ipv4() != target.is_ipv4() {
            return Err(Failure::Skipped);
        }
        socket.bind(SocketAddr::new(ip, 0)).map_err(Failure::Io)?;
    } else if let Some(client) = client {
        super::transparent::bind_source(&socket, client).map_err(Failure::Io)?;
    }
    Ok(socket)
}

async fn with_timeout<T>(
    limit: Option<Duration>,
    fut: impl std::future::Future<Output = io::Result<T>>,
) -> Result<T, Failure> {
    match limit {
        Some(d) => match tokio::time::timeout(d, fut).await {
            Ok(r) => r.map_err(Failure::Io),
            Err(_) => Err(Failure::Timeout),
        },
        None => fut.await.map_err(Failure::Io),
    }
}

/// `r:` socket options, applied after connecting; a failure is a warning.
pub(super) fn apply_remote_options(service: &Service, stream: &Stream) {
    if let (Kind::Tcp(_), Some(fd)) = (stream.kind(), stream.raw_fd()) {
        if let Err(e) =
            crate::os::sockopt::apply_socket_options(fd, &service.options.socket_options.remote)
        {
            crate::slog!(
                crate::log::WARNING,
                "Failed to set remote socket options: {e}"
            );
        }
    }
}

fn random_start() -> usize {
    let mut b = [0u8; 8];
    let _ = openssl::rand::rand_bytes(&mut b);
    usize::from_ne_bytes(b)
}
