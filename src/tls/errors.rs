//! OpenSSL failures as stunnel prints them (stunnel-reference §5.9.4).
//!
//! stunnel 5.68 dumps the OpenSSL error queue oldest first, every entry but
//! the newest as `error queue: FILE:LINE: ERR_error_string`, the newest as
//! `CONTEXT: FILE:LINE: ERR_error_string`. Errors of stunnel's own (a bad
//! `config` command, a wrong pass phrase) are plain lines without a queue.
//! This file only formats and logs; it does not decide what is fatal.

use std::fmt;

/// An OpenSSL failure with the context stunnel names (`SSL_accept`, …) and the
/// error-queue lines it logs before the reason.
#[derive(Debug, Clone)]
pub struct TlsError {
    /// What failed, e.g. `SSL_accept` or `SSL_CTX_use_PrivateKey_file`.
    /// Empty for stunnel's own messages, which are logged as they are.
    pub context: String,
    /// `file:line: error:…` lines, oldest first; for stunnel's own messages
    /// the message itself.
    pub queue: Vec<String>,
    /// Lines logged after the queue (our diagnostics, e.g. what a client
    /// offered and the option that would accept it), at notice level.
    pub hints: Vec<String>,
    /// A fatal TLS alert was received or sent: stunnel closes that socket
    /// with a FIN instead of a reset (stunnel-reference §5.7.4).
    pub fatal_alert_received: bool,
    /// Why a handshake failed, for the metrics (`None` outside handshakes).
    pub cause: Option<crate::metrics::HandshakeFailure>,
}

impl TlsError {
    /// Take the OpenSSL error queue `stack` with stunnel's `context`.
    pub fn new(context: impl Into<String>, stack: &openssl::error::ErrorStack) -> Self {
        let queue = stack.errors().iter().map(format_entry).collect();
        TlsError {
            context: context.into(),
            queue,
            hints: Vec::new(),
            fatal_alert_received: false,
            cause: None,
        }
    }

    /// Take whatever OpenSSL has queued on this thread now.
    pub fn from_queue(context: impl Into<String>) -> Self {
        Self::new(context, &openssl::error::ErrorStack::get())
    }

    /// `CONTEXT: MESSAGE` without an OpenSSL queue.
    pub fn plain(context: impl Into<String>, message: impl Into<String>) -> Self {
        TlsError {
            context: context.into(),
            queue: vec![message.into()],
            hints: Vec::new(),
            fatal_alert_received: false,
            cause: None,
        }
    }

    /// One of stunnel's own error lines, logged verbatim.
    pub fn message(message: impl Into<String>) -> Self {
        Self::plain(String::new(), message)
    }

    /// The newest queue entry (what stunnel prints after the context).
    pub fn last(&self) -> Option<&str> {
        self.queue.last().map(String::as_str)
    }

    /// Whether any queue entry mentions `text` (OpenSSL reason strings).
    pub fn mentions(&self, text: &str) -> bool {
        self.queue.iter().any(|q| q.contains(text))
    }

    /// Log as stunnel does: `error queue: …` lines, then `CONTEXT: last`.
    pub fn log(&self) {
        let n = self.queue.len();
        for (i, entry) in self.queue.iter().enumerate() {
            if i + 1 < n {
                crate::slog!(crate::log::ERR, "error queue: {entry}");
            } else if self.context.is_empty() {
                crate::slog!(crate::log::ERR, "{entry}");
            } else {
                crate::slog!(crate::log::ERR, "{}: {entry}", self.context);
            }
        }
        if n == 0 {
            crate::slog!(
                crate::log::ERR,
                "{}: Peer suddenly disconnected",
                self.context
            );
        }
        for hint in &self.hints {
            crate::slog!(crate::log::NOTICE, "{hint}");
        }
    }
}

/// `FILE:LINE: error:XXXXXXXX:LIB::REASON`, i.e. 5.68's
/// `ERR_error_string()` after the source position.
fn format_entry(e: &openssl::error::Error) -> String {
    format!(
        "{}:{}: {}",
        e.file(),
        e.line(),
        super::ffi::error_string(e.code())
    )
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.queue.last(), self.context.is_empty()) {
            (Some(last), true) => write!(f, "{last}"),
            (Some(last), false) => write!(f, "{}: {last}", self.context),
            (None, _) => write!(f, "{}: Peer suddenly disconnected", self.context),
        }
    }
}

impl std::error::Error for TlsError {}
