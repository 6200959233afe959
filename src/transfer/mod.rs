//! The copy loop (stunnel-reference §5.7): both directions in one task.
//!
//! Generic over `AsyncRead + AsyncWrite`; knows nothing of OpenSSL or of
//! protocols. Which side is TLS is known only by parameter position, for the
//! log lines. The TLS side's `poll_shutdown` sends close_notify, the plain
//! side's does `shutdown(SHUT_WR)`.
//!
//! One poll function drives two [`Direction`]s (plain → TLS and TLS →
//! plain), each with its own buffer allocated once per connection. What it
//! reproduces from stunnel's `transfer()`:
//! * partial writes both ways; a side's EOF is followed, once its buffered
//!   bytes are written, by a shutdown of the other side's writer, while the
//!   other direction keeps running (half-close is preserved);
//! * `TIMEOUTidle` while both directions are open (or bytes are buffered),
//!   `TIMEOUTclose` once one direction has ended, both reset by progress;
//! * EPIPE/ECONNABORTED are a close (`Socket is closed`), other errors and a
//!   hang-up with unsent bytes are a reset.
//!
//! It does not close or reset sockets: the caller does that from [`Ending`].

mod direction;

use std::future::{poll_fn, Future};
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{Instant, Sleep};

use crate::log::{DEBUG, ERR, INFO};
use direction::{Direction, Fault, Labels, State};

pub use direction::BUFFER_SIZE;

/// The TIMEOUT* values that apply once data flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `TIMEOUTidle`: no progress while both directions are open → reset.
    pub idle: Option<Duration>,
    /// `TIMEOUTclose`: no progress after one direction ended → close.
    /// `Some(ZERO)` ends the loop as soon as nothing is immediately ready.
    pub close: Option<Duration>,
}

/// How the loop ended, for the `Connection closed/reset: …` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Both directions finished normally (or `TIMEOUTclose` expired).
    Closed,
    /// `TIMEOUTidle` expired: stunnel resets.
    IdleTimeout,
    /// An I/O error on one side: stunnel resets.
    Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    /// Bytes written into the TLS side ("sent to TLS").
    pub to_tls: u64,
    /// Bytes written to the plain side ("sent to socket").
    pub to_socket: u64,
    pub ending: Ending,
}

/// Plain → TLS: stunnel's `sock_buff`.
static TO_TLS: Labels = Labels {
    eof: "Read socket closed (readsocket)",
    read_op: "readsocket",
    write_op: "SSL_write",
    hangup: "TLS socket closed (SSL_write)",
    shutdown_op: "SSL_shutdown",
    shutdown_start: Some("Sending close_notify alert"),
    shutdown_done: (INFO, "SSL_shutdown successfully sent close_notify alert"),
    tls_reader: false,
};

/// TLS → plain: stunnel's `ssl_buff`.
static TO_SOCKET: Labels = Labels {
    eof: "TLS closed (SSL_read)",
    read_op: "SSL_read",
    write_op: "writesocket",
    hangup: "Write socket closed (write hangup)",
    shutdown_op: "shutdown",
    shutdown_start: None,
    shutdown_done: (DEBUG, "Sent socket write shutdown"),
    tls_reader: true,
};

/// Passes with progress in one poll before yielding to other tasks, so a
/// connection whose streams never return `Pending` cannot hog a worker.
const PASSES_PER_POLL: usize = 64;

/// Live byte counters of a transfer, readable while it runs (SIGUSR2's
/// listing of active connections).
#[derive(Debug, Default)]
pub struct Counters {
    pub to_tls: AtomicU64,
    pub to_socket: AtomicU64,
    /// The service's counters, to which the progress of each poll is added
    /// (the metrics' bytes sent each way).
    pub totals: Option<std::sync::Arc<crate::metrics::ServiceMetrics>>,
}

/// Move bytes both ways until both directions are closed or a limit expires.
pub async fn run<T, P>(tls: &mut T, plain: &mut P, limits: Limits) -> Report
where
    T: AsyncRead + AsyncWrite + Unpin,
    P: AsyncRead + AsyncWrite + Unpin,
{
    run_counting(tls, plain, limits, &Counters::default()).await
}

/// [`run`], publishing the byte counts to `counters` after every poll.
pub async fn run_counting<T, P>(
    tls: &mut T,
    plain: &mut P,
    limits: Limits,
    counters: &Counters,
) -> Report
where
    T: AsyncRead + AsyncWrite + Unpin,
    P: AsyncRead + AsyncWrite + Unpin,
{
    let mut up = Direction::new(&TO_TLS);
    let mut down = Direction::new(&TO_SOCKET);
    let mut clock = Clock::new(limits);
    // What was already added to `counters.totals`.
    let (mut added_up, mut added_down) = (0, 0);
    let ending = poll_fn(|cx| {
        let poll = poll_transfer(cx, tls, plain, &mut up, &mut down, &mut clock);
        counters.to_tls.store(up.bytes, Ordering::Relaxed);
        counters.to_socket.store(down.bytes, Ordering::Relaxed);
        if let Some(totals) = &counters.totals {
            if up.bytes != added_up {
                totals
                    .to_tls
                    .fetch_add(up.bytes - added_up, Ordering::Relaxed);
                added_up = up.bytes;
            }
            if down.bytes != added_down {
                totals
                    .to_socket
                    .fetch_add(down.bytes - added_down, Ordering::Relaxed);
                added_down = down.bytes;
            }
        }
        poll
    })
    .await;
    Report {
        to_tls: up.bytes,
        to_socket: down.bytes,
        ending,
    }
}

fn poll_transfer<T, P>(
    cx: &mut Context<'_>,
    tls: &mut T,
    plain: &mut P,
    up: &mut Direction,
    down: &mut Direction,
    clock: &mut Clock,
) -> Poll<Ending>
where
    T: AsyncRead + AsyncWrite + Unpin,
    P: AsyncRead + AsyncWrite + Unpin,
{
    let mut progressed = false;
    let mut passes = 0;
    loop {
        // One step of each direction per pass, alternating, so neither
        // direction can use up the task's I/O budget alone; a step that
        // ends the connection ends the pass.
        let pass = step(cx, up, down, plain, tls)
            .and_then(|up_moved| Ok(step(cx, down, up, tls, plain)? || up_moved));
        let moved = match pass {
            Ok(moved) => moved,
            Err(ending) => return Poll::Ready(ending),
        };
        if up.state() == State::Done && down.state() == State::Done {
            return Poll::Ready(Ending::Closed);
        }
        if !moved {
            break;
        }
        progressed = true;
        passes += 1;
        if passes == PASSES_PER_POLL {
            clock.progress();
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
    }
    if progressed {
        clock.progress();
    }
    // stunnel waits TIMEOUTidle while both directions are open or bytes are
    // still buffered, TIMEOUTclose once the connection is closing.
    let idle = (up.state() == State::Open && down.state() == State::Open)
        || up.buffered() > 0
        || down.buffered() > 0;
    clock.poll_expired(cx, idle)
}

/// One step of `dir`, from `reader` to `writer` (none once it is done):
/// whether it moved, or how the connection ends.
fn step(
    cx: &mut Context<'_>,
    dir: &mut Direction,
    other: &mut Direction,
    reader: &mut (impl AsyncRead + Unpin),
    writer: &mut (impl AsyncWrite + Unpin),
) -> Result<bool, Ending> {
    if dir.state() == State::Done {
        return Ok(false);
    }
    match dir.step(cx, reader, writer) {
        Ok(moved) => Ok(moved),
        // A side that closed counts as movement: the loop goes on.
        Err(fault) => on_fault(fault, dir, other).map_or(Ok(true), Err),
    }
}

/// Decide what an I/O error on `dir` means (stunnel-reference §5.7.3);
/// `None` = it counts as that side closing and the loop goes on.
fn on_fault(fault: Fault, dir: &mut Direction, other: &mut Direction) -> Option<Ending> {
    let labels = dir.labels;
    match fault {
        Fault::Read(e) if labels.tls_reader && (is_transport_eof(&e) || is_reset(&e)) => {
            // The TLS transport is gone (EOF without close_notify, or the
            // peer's RST): nothing can be written into TLS any more either,
            // so the other direction ends now; only the plain side still
            // gets its SHUT_WR once the bytes read so far are written.
            if is_reset(&e) {
                crate::slog!(INFO, "{}", describe("TLS fd", &e));
            }
            if bytes_lost(other, "TLS socket closed (SSL_read)") {
                return Some(Ending::Error);
            }
            crate::slog!(INFO, "TLS socket closed (SSL_read)");
            dir.read_closed();
            other.abandon();
            None
        }
        Fault::Read(e) if is_reset(&e) => {
            // stunnel sees a peer's RST as an error event on the socket and
            // treats it as closed both ways at once: the direction writing
            // to it ends now rather than waiting for a peer that is gone
            // (which would pin both descriptors for TIMEOUTclose), and the
            // TLS side gets its close_notify. Lines as stunnel4 logs them.
            crate::slog!(INFO, "{}", describe("socket fd", &e));
            if bytes_lost(other, other.labels.hangup) {
                return Some(Ending::Error);
            }
            crate::slog!(INFO, "{}: Socket is closed", other.labels.write_op);
            dir.read_closed();
            other.abandon();
            None
        }
        Fault::Read(e) if is_closed(&e) => {
            crate::slog!(INFO, "{}: Socket is closed", labels.read_op);
            crate::slog!(INFO, "{}", labels.eof);
            dir.read_closed();
            None
        }
        Fault::Read(e) => failed(labels.read_op, &e),
        Fault::Write(e) if is_closed(&e) || is_reset(&e) || is_transport_eof(&e) => {
            crate::slog!(INFO, "{}: Socket is closed", labels.write_op);
            if bytes_lost(dir, labels.hangup) {
                return Some(Ending::Error);
            }
            crate::slog!(INFO, "{}", labels.hangup);
            dir.abandon();
            None
        }
        Fault::Write(e) => failed(labels.write_op, &e),
        Fault::Shutdown(e) if is_closed(&e) || e.raw_os_error() == Some(libc::ENOTCONN) => {
            // The peer is already gone: there is nobody left to tell.
            crate::slog!(DEBUG, "{}", describe(labels.shutdown_op, &e));
            dir.abandon();
            None
        }
        Fault::Shutdown(e) => failed(labels.shutdown_op, &e),
    }
}

/// Any other error: `OP: error text`, and the connection resets.
fn failed(op: &str, e: &io::Error) -> Option<Ending> {
    crate::slog!(ERR, "{}", describe(op, e));
    Some(Ending::Error)
}

/// The side `dir` writes to hung up before `dir`'s buffered bytes reached
/// it: stunnel logs `HANGUP with N unsent byte(s)` and the connection
/// resets.
fn bytes_lost(dir: &Direction, hangup: &str) -> bool {
    let unsent = dir.buffered();
    if unsent > 0 {
        crate::slog!(ERR, "{hangup} with {unsent} unsent byte(s)");
    }
    unsent > 0
}

/// stunnel's `parse_socket_error`: EPIPE and ECONNABORTED mean the socket is
/// closed; everything else is an error that resets, except a peer's RST
/// ([`is_reset`]), which stunnel's poll loop sees first and treats as a
/// close.
fn is_closed(e: &io::Error) -> bool {
    match e.raw_os_error() {
        Some(code) => code == libc::EPIPE || code == libc::ECONNABORTED,
        None => matches!(
            e.kind(),
            io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionAborted | io::ErrorKind::WriteZero
        ),
    }
}

/// The peer reset the connection (ECONNRESET).
fn is_reset(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::ECONNRESET) || e.kind() == io::ErrorKind::ConnectionReset
}

/// A transport EOF that a TLS stream reports as an error (no close_notify).
fn is_transport_eof(e: &io::Error) -> bool {
    e.raw_os_error().is_none() && e.kind() == io::ErrorKind::UnexpectedEof
}

/// stunnel's `sockerror` text: `OP: strerror (errno)`.
fn describe(op: &str, e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => {
            let text = io::Error::from_raw_os_error(code).to_string();
            let text = text
                .strip_suffix(&format!(" (os error {code})"))
                .unwrap_or(&text);
            format!("{op}: {text} ({code})")
        }
        None => format!("{op}: {e}"),
    }
}

/// The idle/close timer: one `Sleep` per connection, re-armed lazily.
struct Clock {
    limits: Limits,
    /// When bytes or states last moved.
    last_progress: Instant,
    /// Created on first need; its deadline may lag behind `last_progress`
    /// (it is only moved forward when it fires, to keep the timer wheel
    /// quiet on busy connections).
    sleep: Option<Pin<Box<Sleep>>>,
}

impl Clock {
    fn new(limits: Limits) -> Clock {
        Clock {
            limits,
            last_progress: Instant::now(),
            sleep: None,
        }
    }

    fn progress(&mut self) {
        self.last_progress = Instant::now();
    }

    /// `Ready` with the ending when the timeout of the current phase has
    /// expired; otherwise `Pending` with the timer registered.
    fn poll_expired(&mut self, cx: &mut Context<'_>, idle: bool) -> Poll<Ending> {
        let limit = if idle {
            self.limits.idle
        } else {
            self.limits.close
        };
        let Some(limit) = limit else {
            return Poll::Pending; // negative TIMEOUT*: wait forever
        };
        let deadline = self.last_progress + limit;
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if sleep.deadline() > deadline {
            // The phase changed to a shorter timeout.
            sleep.as_mut().reset(deadline);
        }
        while !limit.is_zero() {
            match sleep.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(()) if Instant::now() < deadline => sleep.as_mut().reset(deadline),
                Poll::Ready(()) => break,
            }
        }
        if idle {
            crate::slog!(
                INFO,
                "transfer: s_poll_wait: TIMEOUTidle exceeded: sending reset"
            );
            Poll::Ready(Ending::IdleTimeout)
        } else {
            crate::slog!(ERR, "transfer: s_poll_wait: TIMEOUTclose exceeded: closing");
            Poll::Ready(Ending::Closed)
        }
    }
}

#[cfg(test)]
mod tests;
