//! The copy loop (stunnel-reference §5.7): both directions in one task.
//!
//! Generic over `AsyncRead + AsyncWrite`; knows nothing of OpenSSL or of
//! protocols. The TLS side's `poll_shutdown` sends close_notify, the plain
//! side's does `shutdown(SHUT_WR)`.

use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};

/// The TIMEOUT* values that apply once data flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `TIMEOUTidle`: no progress while both directions are open → reset.
    pub idle: Option<Duration>,
    /// `TIMEOUTclose`: no progress after one direction ended → close.
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

/// Move bytes both ways until both directions are closed or a limit expires.
pub async fn run<T, P>(tls: &mut T, plain: &mut P, limits: Limits) -> Report
where
    T: AsyncRead + AsyncWrite + Unpin,
    P: AsyncRead + AsyncWrite + Unpin,
{
    let _ = (tls, plain, limits);
    todo!("transfer helper")
}
