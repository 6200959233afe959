//! The `metrics` endpoint (rstunnel extension): `GET /metrics` (Prometheus
//! text format), `GET /healthz` (200, or 503 naming the services that
//! should listen and do not), 404 for anything else.
//!
//! The port may be reachable by others, so the HTTP is the smallest that
//! Prometheus and load balancers need, with every resource bounded: one
//! request per connection, at most 8 KiB of request head read within 5 s
//! (then 431 or 408), the answer written within 5 s, at most 32 clients at a
//! time (more are closed at once). Nothing here runs on a tunnel's path.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use super::bind::Bound;
use super::listener::Listener;
use crate::config::model::Endpoint;
use crate::connection::address::{self, Address};
use crate::connection::Kind;
use crate::log::{Logged, ERR, INFO};

/// Longest request head (request line and headers) read.
const MAX_REQUEST: usize = 8 * 1024;
/// Time for the whole request head, and again for writing the answer.
const IO_LIMIT: Duration = Duration::from_secs(5);
/// Clients served at the same time.
const MAX_CLIENTS: usize = 32;

/// Bind the endpoint (before privileges are dropped, like the services).
pub fn bind(endpoint: &Endpoint) -> Result<Vec<Bound>, Logged> {
    let addrs = address::resolve_accept(endpoint).map_err(|e| {
        crate::slog!(ERR, "metrics: Cannot resolve {e}");
        Logged
    })?;
    let mut bound = Vec::new();
    for addr in addrs {
        match bind_one(&addr) {
            Ok(b) => {
                crate::slog!(INFO, "metrics (FD={}) bound to {}", b.fd(), b.address());
                bound.push(b);
            }
            Err(e) => crate::slog!(
                ERR,
                "metrics: Binding to {addr}: {}",
                crate::os::errno::of_io(&e)
            ),
        }
    }
    if bound.is_empty() {
        crate::slog!(ERR, "Binding metrics failed");
        return Err(Logged);
    }
    Ok(bound)
}

/// Bind one address, or take the socket a binary upgrade (or systemd)
/// passed for it: the old process still listens there.
fn bind_one(addr: &Address) -> io::Result<Bound> {
    match addr {
        Address::Inet(sa) => {
            let l = match crate::os::activation::take_inet(sa) {
                Some((passed, _)) => passed,
                None => std::net::TcpListener::bind(sa)?,
            };
            l.set_nonblocking(true)?;
            Ok(Bound::Tcp(l))
        }
        Address::Unix(path) => {
            let l = match crate::os::activation::take_unix(path) {
                Some((passed, _)) => passed,
                None => std::os::unix::net::UnixListener::bind(path)?,
            };
            l.set_nonblocking(true)?;
            Ok(Bound::Unix(l, PathBuf::from(path)))
        }
    }
}

/// The running endpoint; dropping it closes its sockets.
pub struct MetricsServer {
    /// The `metrics` value it serves (a reload rebinds when it changes).
    pub endpoint: Endpoint,
    tasks: Vec<JoinHandle<()>>,
    /// The listening sockets, handed to a binary upgrade.
    fds: Vec<i32>,
}

impl MetricsServer {
    pub fn fds(&self) -> &[i32] {
        &self.fds
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Serve `bound` (inside the runtime).
pub fn start(endpoint: Endpoint, bound: Vec<Bound>) -> io::Result<MetricsServer> {
    let slots = Arc::new(Semaphore::new(MAX_CLIENTS));
    let mut tasks = Vec::new();
    let fds = bound.iter().map(Bound::fd).collect();
    for b in bound {
        let listener = match b {
            Bound::Tcp(l) => Listener::Tcp(tokio::net::TcpListener::from_std(l)?),
            Bound::Unix(l, _) => Listener::Unix(tokio::net::UnixListener::from_std(l)?),
        };
        tasks.push(tokio::spawn(accept_loop(listener, slots.clone())));
    }
    Ok(MetricsServer {
        endpoint,
        tasks,
        fds,
    })
}

async fn accept_loop(listener: Listener, slots: Arc<Semaphore>) {
    loop {
        let stream = match listener.accept().await {
            Ok(s) => s,
            Err(_) => {
                // Out of descriptors: the tunnels need them more.
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        // Full: the new client is closed at once (dropped).
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            continue;
        };
        tokio::spawn(async move {
            match stream {
                Kind::Tcp(s) => answer(s).await,
                Kind::Unix(s) => answer(s).await,
                Kind::Stdio(_) | Kind::Pty(_) => {}
            }
            drop(slot);
        });
    }
}

/// Read one request, write one answer, close.
async fn answer<S: AsyncRead + AsyncWrite + Unpin>(mut s: S) {
    let (status, content_type, body, head_only) =
        match tokio::time::timeout(IO_LIMIT, read_head(&mut s)).await {
            Err(_) => text(408, "request timeout\n"),
            Ok(Err(Refusal::TooLong)) => text(431, "request too long\n"),
            Ok(Err(Refusal::Closed)) => return,
            Ok(Ok(head)) => route(&head),
        };
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        _ => "Service Unavailable",
    };
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if !head_only {
        out.extend_from_slice(&body);
    }
    let _ = tokio::time::timeout(IO_LIMIT, async {
        s.write_all(&out).await?;
        s.shutdown().await
    })
    .await;
}

enum Refusal {
    TooLong,
    Closed,
}

/// The request head up to its blank line, at most `MAX_REQUEST` bytes.
async fn read_head<S: AsyncRead + Unpin>(s: &mut S) -> Result<Vec<u8>, Refusal> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 2048];
    loop {
        let n = s.read(&mut buf).await.map_err(|_| Refusal::Closed)?;
        if n == 0 {
            // A request without its blank line still gets an answer.
            return if head.is_empty() {
                Err(Refusal::Closed)
            } else {
                Ok(head)
            };
        }
        head.extend_from_slice(&buf[..n]);
        if head.windows(4).any(|w| w == b"\r\n\r\n") || head.windows(2).any(|w| w == b"\n\n") {
            return Ok(head);
        }
        if head.len() > MAX_REQUEST {
            return Err(Refusal::TooLong);
        }
    }
}

type Answer = (u16, &'static str, Vec<u8>, bool);

fn text(status: u16, body: &str) -> Answer {
    (status, "text/plain; charset=utf-8", body.into(), false)
}

/// `METHOD PATH HTTP/1.x` → the answer.
fn route(head: &[u8]) -> Answer {
    let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut words = line.trim_end().split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (words.next(), words.next(), words.next(), words.next())
    else {
        return text(400, "bad request\n");
    };
    if !version.starts_with("HTTP/1.") {
        return text(400, "bad request\n");
    }
    let head_only = match method {
        "GET" => false,
        "HEAD" => true,
        _ => return text(405, "only GET and HEAD\n"),
    };
    let path = target.split('?').next().unwrap_or_default();
    let (status, content_type, body, _) = match path {
        "/metrics" => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0);
            (
                200,
                crate::metrics::exposition::CONTENT_TYPE,
                crate::metrics::exposition::render(now),
                false,
            )
        }
        "/healthz" if crate::metrics::draining() => (
            503,
            "text/plain; charset=utf-8",
            b"draining\n".to_vec(),
            false,
        ),
        "/healthz" => match crate::metrics::health() {
            Ok(()) => text(200, "ok\n"),
            Err(down) => (
                503,
                "text/plain; charset=utf-8",
                format!("not listening: {}\n", down.join(", ")).into_bytes(),
                false,
            ),
        },
        _ => text(404, "not found\n"),
    };
    (status, content_type, body, head_only)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_and_refusals() {
        assert_eq!(route(b"GET /healthz HTTP/1.1\r\n\r\n").0, 200);
        assert_eq!(route(b"GET /nope HTTP/1.0\r\n\r\n").0, 404);
        assert_eq!(route(b"POST /metrics HTTP/1.1\r\n\r\n").0, 405);
        assert_eq!(route(b"\x16\x03\x01garbage\r\n\r\n").0, 400);
        let head = route(b"HEAD /metrics?x=1 HTTP/1.1\r\n\r\n");
        assert_eq!((head.0, head.3), (200, true));
    }

    #[tokio::test]
    async fn long_request_is_refused_without_reading_it_all() {
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        let task = tokio::spawn(answer(server));
        let _ = client.write_all(&vec![b'A'; 20_000]).await;
        let mut reply = Vec::new();
        let _ = client.read_to_end(&mut reply).await;
        task.await.unwrap();
        assert!(reply.starts_with(b"HTTP/1.1 431 "), "{reply:?}");
    }
}
